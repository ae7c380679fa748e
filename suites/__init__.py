"""Built-in suites: named lists of grids that one ``harness run suite=<name>`` command runs.

``paper-cpu`` is the reproduction of the paper (spec §3.1/§3.3) on this project's CPU budgets
(docs/reproduction.md): the four tasks x {twosome, saycan, ppo} x 3 seeds with the cpu presets,
PPO with the paper's hyperparameters and budgets (the original baseline), and the normalization
ablation on Tomato-Lettuce (the paper's task) and on Food Preparation (where token and word
normalization differ under SmolLM2's tokenizer). Every final eval point has 100 episodes (spec
§3.4). Runs resume from their checkpoints, so the suite can be stopped and re-run (or topped up) at any time; the
generalization figure is a second command on the same store::

    harness run suite=paper-cpu out_dir=runs/paper-cpu
    harness report runs/paper-cpu --generalization
"""
from harness.registry import register_suite

SEEDS = "0,1,2"
FINAL = {"final_eval_episodes": "100"}
# The cpu presets' budgets; Tomato-Lettuce and Entertainment get more than the env defaults
# (12,288 / 20,480), where the tuned ppo is still at 0.17 and 0.0 (it needs 63k / 21k steps).
BUDGETS = {
    "overcooked/tomato-salad": None,            # 12,288 (the env's CPU budget)
    "overcooked/tomato-lettuce-salad": 61_440,
    "virtualhome/food-preparation": None,       # 30,720
    "virtualhome/entertainment": 102_400,
}


# One eval grid per env for every method (a multiple of each method's learn unit: twosome's
# 16 x 32 or 32 x 32 rollout, ppo's 4 x 64), so their curves are compared at the same steps.
EVAL_EVERY = {"overcooked/tomato-salad": 512, "overcooked/tomato-lettuce-salad": 2560,
              "virtualhome/food-preparation": 2048, "virtualhome/entertainment": 5120}


def _grid(env: str, methods: str, **extra: str) -> dict[str, str]:
    grid = {"methods": methods, "envs": env, "seeds": SEEDS, **FINAL, **extra}
    if env in BUDGETS and "preset" not in extra:  # preset=paper: the original budgets and grid
        grid["eval_every"] = str(EVAL_EVERY[env])
        if BUDGETS[env] is not None:
            grid["total_steps"] = str(BUDGETS[env])
    return grid


register_suite(
    "paper-cpu",
    "the paper's comparison on all four tasks, the paper-preset PPO baseline and the "
    "normalization ablation, 3 seeds each (docs/reproduction.md)",
    grids=[
        *(_grid(env, "twosome,saycan,ppo") for env in BUDGETS),
        _grid(",".join(BUDGETS), "ppo", preset="paper"),
        # twosome-token is not in it: every Tomato-Lettuce action has as many SmolLM2 tokens as
        # words (docs/llm.md), so its runs would repeat twosome's exactly.
        _grid("overcooked/tomato-lettuce-salad", "twosome-none"),
        # Where token != word under SmolLM2's tokenizer ("pancake" is two tokens, docs/llm.md),
        # so the three normalizations can differ; 3 min per run.
        _grid("virtualhome/food-preparation", "twosome-token,twosome-none"),
    ],
    expected="about 3 h of one CPU core, most of it TWOSOME on Tomato-Lettuce",
)
