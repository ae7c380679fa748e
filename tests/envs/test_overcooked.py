"""Single-agent Overcooked against the TWOSOME reference spec (§1a, Appendix A and C)."""
from __future__ import annotations

import json
import math
import pickle
import random
import statistics
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.overcooked.env import OvercookedEnv
from envs.overcooked.kitchen import Rewards
from envs.overcooked.macro import DISCOUNT
from envs.overcooked.observation import observation_names
from harness.registry import ENVS

SPEC = json.loads((Path(__file__).parent / "data" / "overcooked_spec.json").read_text())
TASKS = ("tomato-salad", "tomato-lettuce-salad")
GOLDEN = ("c1_tomato_salad_best", "c2_tomato_salad_textbook", "c3_tomato_lettuce_salad_best")
RANDOM_TRACES = ("c4_tomato_salad_random", "c5_tomato_lettuce_salad_random")
SPEC_ROUNDING = 5e-7  # the spec prints rewards and returns with 6 decimals
DEFAULT = Rewards()


def vec(obs: np.ndarray) -> list[int]:
    assert obs.dtype == np.float32
    ints = obs.astype(int)
    assert np.array_equal(ints, obs), "observation entries must be whole numbers"
    return ints.tolist()


def exact_macro_reward(spec_reward: float, k: int, rewards: Rewards = DEFAULT) -> float:
    """The exact R = sum_i 0.99**i r_i behind a rounded spec value: a step penalty every step plus at
    most one event, which always happens on the macro's last step (a chop completing, a delivery)."""
    penalties = sum(rewards.step * DISCOUNT**i for i in range(k))
    candidates = [penalties + e * DISCOUNT ** (k - 1) for e in (0.0, rewards.subtask, rewards.correct, rewards.wrong)]
    best = min(candidates, key=lambda r: abs(r - spec_reward))
    assert abs(best - spec_reward) < SPEC_ROUNDING
    return best


# ---------------------------------------------------------------------------------- Appendix C
@pytest.mark.parametrize("key", GOLDEN)
def test_golden_trace(key):
    trace = SPEC[key]
    env = OvercookedEnv(trace["task"])
    obs, info = env.reset()
    logged = 0.0
    for t, row in enumerate(trace["steps"]):
        assert vec(obs) == row["obs_before"], f"step {t}"
        assert info["actions"][row["action"]] == row["action_string"], f"step {t}"
        assert env.task.macro_names[row["action"]] == row["macro_name"]
        obs, reward, terminated, truncated, info = env.step(row["action"])
        assert reward == pytest.approx(exact_macro_reward(row["reward"], row["k"]), abs=1e-9), f"step {t}"
        assert info["macro_action_steps"] == row["k"]
        assert terminated == row["done"] and not truncated
        assert env.primitive_steps == row["env_step_after"]
        logged += DISCOUNT ** (row["env_step_after"] - row["k"]) * reward
    episode = info["episode"]
    assert episode["return"] == pytest.approx(trace["return"], abs=SPEC_ROUNDING)
    assert episode["return"] == pytest.approx(logged, abs=1e-12)
    assert episode["primitive_steps"] == trace["primitive_steps"]
    assert episode["length"] == len(trace["steps"])
    assert episode["success"] is True


@pytest.mark.parametrize("key", RANDOM_TRACES)
def test_seeded_random_trace(key):
    trace = SPEC[key]
    env = OvercookedEnv(trace["task"])
    obs, _ = env.reset(seed=0)
    assert vec(obs) == trace["initial_obs"]
    random.seed(trace["seed"])
    for t, row in enumerate(trace["steps"]):
        action = random.randrange(env.action_space.n)
        assert action == row["action"], f"step {t}: the spec's RNG protocol is not reproduced"
        obs, reward, terminated, truncated, info = env.step(action)
        assert reward == pytest.approx(exact_macro_reward(row["reward"], row["k"]), abs=1e-9), f"step {t}"
        assert info["macro_action_steps"] == row["k"], f"step {t}"
        assert terminated == row["done"] and not truncated
        assert vec(obs) == row["obs_after"], f"step {t}"


@pytest.mark.parametrize("task, ceiling", [("tomato-salad", 0.920518), ("tomato-lettuce-salad", 0.947656)])
def test_ceiling_is_the_optimal_discounted_return(task, ceiling):
    """Value iteration over every reachable state: the spec's best sequences (C.1, C.3) are optimal,
    and the registered ceiling is their return."""
    env = OvercookedEnv(task)
    graph = reachable_graph(env)
    value = {s: 0.0 for s in graph}
    for _ in range(1000):  # every state can reach a delivery in a few macros: converges fast
        new = {
            s: max(r + (0.0 if end else DISCOUNT**k * value[nxt]) for r, k, end, nxt in edges)
            for s, edges in graph.items()
        }
        if max(abs(new[s] - value[s]) for s in graph) < 1e-13:
            break
        value = new
    start = initial_snapshot(env)
    assert value[start] == pytest.approx(ceiling, abs=SPEC_ROUNDING)
    assert ENVS.get(f"overcooked/{task}").ceiling == round(ceiling, 4)


# ---------------------------------------------------------------------------------- Appendix A
def initial_snapshot(env: OvercookedEnv):
    env.reset()
    return env.kitchen.snapshot()


def reachable_graph(env: OvercookedEnv) -> dict:
    """state -> [(R, k, ends episode, next state)] for every macro, over all reachable non-terminal states."""
    kitchen = env.kitchen
    start = initial_snapshot(env)
    graph: dict = {}
    frontier = [start]
    while frontier:
        state = frontier.pop()
        if state in graph:
            continue
        edges = []
        for action in range(env.action_space.n):
            kitchen.restore(state)
            reward, k, delivered = env.macros.run(action)
            nxt = kitchen.snapshot()
            edges.append((reward, k, delivered, nxt))
            if not delivered and nxt not in graph:
                frontier.append(nxt)
        graph[state] = edges
    return graph


def reachable_prompts(env: OvercookedEnv) -> set[tuple[str, tuple[str, ...]]]:
    prompts = set()
    for state in reachable_graph(env):
        env.kitchen.restore(state)
        prompts.add(env.prompts.render(env.observer.observe(0)))
    return prompts


def appendix_a() -> set[tuple[str, tuple[str, ...]]]:
    return {(e["prompt"], tuple(e["actions"])) for e in SPEC["appendix_a_tomato_salad_prompts"]}


@pytest.mark.parametrize("index", range(21))
def test_appendix_a_prompt_from_its_observation(index):
    entry = SPEC["appendix_a_tomato_salad_prompts"][index]
    env = OvercookedEnv("tomato-salad")
    prompt, actions = env.prompts.render(tuple(entry["obs"]))
    assert prompt == entry["prompt"]
    assert list(actions) == entry["actions"]


def test_reachable_tomato_salad_prompts_are_exactly_appendix_a():
    assert len(appendix_a()) == 21
    assert reachable_prompts(OvercookedEnv("tomato-salad")) == appendix_a()


def test_random_exploration_sees_only_appendix_a_prompts():
    env = OvercookedEnv("tomato-salad")
    rng = random.Random(7)
    seen = set()
    for _ in range(300):
        _, info = env.reset()
        done = False
        while not done:
            seen.add((info["prompt"], tuple(info["actions"])))
            _, _, terminated, truncated, info = env.step(rng.randrange(5))
            done = terminated or truncated
    assert seen == appendix_a()


def test_tomato_lettuce_initial_prompt_matches_spec_example():
    _, info = OvercookedEnv("tomato-lettuce-salad").reset()
    assert info["prompt"] == (
        "There are two fixed cutting boards in the room. You notice a tomato, a lettuce and an onion on "
        "the different tables. Currently you don't have anything in hand. To serve the dish of a bowl "
        "only containing chopped tomato and lettuce, you should first"
    )
    assert info["actions"] == [
        "pick up the tomato", "pick up the lettuce", "pick up the onion", "take the empty bowl",
        "walk to the first cutting board", "walk to the second cutting board", "serve nothing", "chop nothing",
    ]


def test_tomato_lettuce_state_dependent_strings():
    """Strings of §1a.4/1a.7 along C.3 (bowl carried, food on the second board, bowl with contents)."""
    env = OvercookedEnv("tomato-lettuce-salad")
    env.reset()
    for action in (0, 4, 7, 1, 5):
        *_, info = env.step(action)
    # the onion at (2, 6) is out of the 5x5 view from (2, 1), so it is not mentioned
    assert info["prompt"] == (
        "There are two fixed cutting boards in the room. "
        "A chopped tomato is on the first cutting board. An unchopped lettuce is on the second cutting board. "
        "Currently you are standing in front of the second cutting board without anything in hand. "
        "To serve the dish of a bowl only containing chopped tomato and lettuce, you should first"
    )
    assert info["actions"][7] == "chop the lettuce"
    for action in (7, 3):
        *_, info = env.step(action)
    assert info["actions"] == [
        "put the tomato in the bowl", "put the lettuce in the bowl", "put the onion in the bowl", "take the empty bowl",
        "put the bowl on the first cutting board", "put the bowl on the second cutting board", "serve the dish",
        "chop nothing",
    ]
    for action in (1, 0):
        *_, info = env.step(action)
    assert info["prompt"].endswith(
        "Currently you are standing in front of the first cutting board, carrying a bowl containing chopped "
        "tomato and lettuce in hand. To serve the dish of a bowl only containing chopped tomato and lettuce, "
        "you should first"
    )
    assert info["actions"][3] == "take the bowl"


# ---------------------------------------------------------------------------------- statistics
# Spec §1a.3: uniform-random macro policy over 2000 episodes. Both the spec's figures and ours are
# 2000-episode estimates, so their difference has standard error sqrt(2) * SE; we allow 4 of those
# (a false alarm rate below 1e-4 per quantity, while a real dynamics change moves them much more).
RANDOM_POLICY = {
    "tomato-salad": {"return": -0.093, "success": 0.46, "length": 56},
    "tomato-lettuce-salad": {"return": -0.227, "success": 0.013, "length": 65},
}


@pytest.mark.parametrize("task", TASKS)
def test_random_policy_statistics(task):
    env = OvercookedEnv(task)
    rng = random.Random(2024)
    returns, successes, lengths = [], [], []
    n = env.action_space.n
    for _ in range(2000):
        env.reset()
        while True:
            _, _, terminated, truncated, info = env.step(rng.randrange(n))
            if terminated or truncated:
                break
        returns.append(info["episode"]["return"])
        successes.append(info["episode"]["success"])
        lengths.append(info["episode"]["length"])
    expected = RANDOM_POLICY[task]
    for name, sample in (("return", returns), ("success", successes), ("length", lengths)):
        mean = statistics.fmean(sample)
        se = statistics.stdev(sample) / math.sqrt(len(sample))
        # the spec rounds: half a unit of its last printed digit is added to the tolerance
        rounding = {"return": 5e-4, "success": 5e-4, "length": 0.5}[name]
        assert abs(mean - expected[name]) <= 4 * math.sqrt(2) * se + rounding, (name, mean, se)
    assert ENVS.get(f"overcooked/{task}").random_return == expected["return"]


# ---------------------------------------------------------------------------------- semantics
def test_macro_overruns_the_step_limit_and_truncates():
    env = OvercookedEnv("tomato-salad")
    env.reset()
    for _ in range(198):  # "chop nothing": one wasted primitive step each
        *_, terminated, truncated, info = env.step(4)
        assert info["macro_action_steps"] == 1 and not (terminated or truncated)
    *_, terminated, truncated, info = env.step(1)  # take the bowl: 6 steps from (1, 4), crosses 200
    assert info["macro_action_steps"] == 6
    assert truncated and not terminated
    assert info["episode"]["primitive_steps"] == 204
    assert info["episode"]["length"] == 199
    assert info["episode"]["success"] is False
    assert info["episode"]["return"] == pytest.approx(sum(-0.001 * 0.99**t for t in range(204)), abs=1e-12)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_navigation_is_vertical_first():
    """Only the path (not its length) differs between vertical-first and horizontal-first, and it
    shows through rule 1: "get tomato" for a tomato in the bowl on board 1 walks until (1, 0) is in
    the 5x5 view. From (2, 5) vertical-first goes up, then left, and sees it from (1, 2) after 4 moves
    (+1 stay); horizontal-first would see it from (2, 2) after 3."""
    env = OvercookedEnv("tomato-lettuce-salad")
    env.reset()
    # tomato chopped into the bowl, bowl left on board 1, then carry the onion from (2, 6)
    for action in (0, 4, 7, 3, 4, 4, 2):
        env.step(action)
    assert env.kitchen.agents[0] == (2, 5)
    obs, _, _, _, info = env.step(0)
    assert info["macro_action_steps"] == 5
    assert vec(obs)[17:19] == [1, 2]


def test_wrong_delivery_sends_the_food_home_unchopped():
    env = OvercookedEnv("tomato-salad")
    env.reset()
    for action in (0, 2, 4, 0):  # carry the chopped tomato from the board
        env.step(action)
    _, reward, terminated, _, info = env.step(3)  # serve it without a bowl: wrong delivery
    assert info["macro_action_steps"] == 3 and not terminated
    assert reward == pytest.approx(-0.001 * (1 + 0.99) + (-0.1 - 0.001) * 0.99**2, abs=1e-12)
    assert env.kitchen.pos[0] == (0, 5) and env.kitchen.chops[0] == 0
    *_, info = env.step(0)
    assert "carrying an unchopped tomato" in info["prompt"]


def test_works_in_the_harness_env_pool():
    from harness.env_api import EnvPool

    spec = ENVS.get("overcooked/tomato-salad")
    pool = EnvPool([spec.make() for _ in range(3)])
    obs, infos = pool.reset(seed=0)
    assert obs.shape == (3, 18) and all(i["actions"][1] == "take the bowl" for i in infos)
    rng = random.Random(0)
    finished = []
    for _ in range(400):
        _, rewards, dones, infos = pool.step([rng.randrange(5) for _ in range(3)])
        finished += [i["final_info"]["episode"] for i, d in zip(infos, dones) if d]
    assert finished and all(e["primitive_steps"] >= 200 or e["success"] for e in finished)
    clone = pickle.loads(pickle.dumps(pool))
    assert np.array_equal(clone.obs, pool.obs)


def test_max_primitive_steps_is_configurable():
    env = OvercookedEnv("tomato-salad", max_primitive_steps=3)
    env.reset()
    assert env.step(4)[3] is False
    assert env.step(4)[3] is False
    assert env.step(4)[3] is True


def test_obs_radius_10_sees_the_whole_map_and_changes_rule_1():
    full = OvercookedEnv("tomato-lettuce-salad", obs_radius=10)
    obs, _ = full.reset()
    assert vec(obs) == [0, 5, 0, 1, 6, 0, 2, 6, 0, 6, 5, 1, 0, 2, 0, 3, 0, 1, 4, 0, 0, 0, 1, 0, 0, 0]
    # tomato chopped, into the bowl on board 1, bowl left there; then fetch the lettuce at (1, 5)
    sequence = (0, 4, 7, 3, 4, 4, 1)
    partial = OvercookedEnv("tomato-lettuce-salad")
    partial.reset()
    for action in sequence:
        full.step(action)
        partial.step(action)
    assert full.kitchen.snapshot() == partial.kitchen.snapshot()
    assert full.kitchen.agents[0] == (1, 5)
    # "get tomato" while the tomato is in the bowl on (1, 0): with the whole map in view the macro
    # stops at once; with the 5x5 view the agent walks left until (1, 0) is in view, from (1, 2)
    assert full.step(0)[4]["macro_action_steps"] == 1
    assert partial.step(0)[4]["macro_action_steps"] == 4
    assert partial.kitchen.agents[0] == (1, 2)


def test_default_rewards_are_the_twosome_scripts():
    assert Rewards() == Rewards(subtask=0.2, correct=1.0, wrong=-0.1, step=-0.001)


def test_reward_overrides_and_errors():
    env = OvercookedEnv("tomato-salad", rewards={"subtask": 0.1})  # the PPO baseline's setting
    env.reset()
    env.step(0)
    env.step(2)
    reward = env.step(4)[1]
    assert reward == pytest.approx(-0.001 * (1 + 0.99 + 0.99**2) + 0.1 * 0.99**2, abs=1e-12)
    with pytest.raises(ValueError, match="valid keys: subtask, correct, wrong, step"):
        OvercookedEnv("tomato-salad", rewards={"chop": 1.0})
    with pytest.raises(ValueError, match="valid tasks: tomato-salad, tomato-lettuce-salad"):
        OvercookedEnv("onion-salad")
    with pytest.raises(ValueError, match="obs_radius"):
        OvercookedEnv("tomato-salad", obs_radius=-1)
    for bad in (5, -1, 1.5, "0", None):
        with pytest.raises(ValueError, match=r"Tomato Salad must be an int in \[0, 4\]"):
            env.step(bad)
    assert env.step(np.int64(4))[4]["macro_action_steps"] == 1


def test_info_contract():
    for task, n in (("tomato-salad", 5), ("tomato-lettuce-salad", 8)):
        env = ENVS.get(f"overcooked/{task}").make()
        _, info = env.reset(seed=3)
        for step_info in (info, env.step(0)[4]):
            assert isinstance(step_info["prompt"], str) and step_info["prompt"].endswith("you should first")
            assert len(step_info["actions"]) == n and all(isinstance(a, str) for a in step_info["actions"])
            assert step_info["action_ids"] == list(range(n))
            assert step_info["action_mask"].dtype == bool and step_info["action_mask"].all()
        assert step_info["macro_action_steps"] == 2
        assert "episode" not in step_info
        assert len(observation_names(env.task)) == env.observation_space.shape[0]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("obs_radius", [2, 10])
def test_gymnasium_env_checker(task, obs_radius):
    check_env(ENVS.get(f"overcooked/{task}").make(obs_radius=obs_radius), skip_render_check=True)
    env = gymnasium.make(f"overcooked/{task}", obs_radius=obs_radius, render_mode="rgb_array")
    check_env(env.unwrapped)


def test_deterministic_and_seed_accepted():
    a, b = OvercookedEnv("tomato-lettuce-salad"), OvercookedEnv("tomato-lettuce-salad")
    obs_a, _ = a.reset(seed=1)
    obs_b, _ = b.reset(seed=99)
    assert np.array_equal(obs_a, obs_b)
    rng = random.Random(5)
    for _ in range(300):
        action = rng.randrange(8)
        out_a, out_b = a.step(action), b.step(action)
        assert np.array_equal(out_a[0], out_b[0]) and out_a[1:4] == out_b[1:4]
        assert out_a[4]["prompt"] == out_b[4]["prompt"]
        if out_a[2] or out_a[3]:
            a.reset(seed=2)
            b.reset()


def test_pickle_mid_episode_continues_identically():
    env = OvercookedEnv("tomato-lettuce-salad")
    env.reset()
    for action in (0, 4, 7):
        env.step(action)
    clone = pickle.loads(pickle.dumps(env))
    for action in (1, 5, 7, 3, 1, 0, 6):
        out, out_clone = env.step(action), clone.step(action)
        assert np.array_equal(out[0], out_clone[0]) and out[1:4] == out_clone[1:4]
    assert out[2]
    assert out[4]["episode"] == out_clone[4]["episode"]


def test_render_modes():
    env = OvercookedEnv("tomato-lettuce-salad", render_mode="ansi")
    env.reset()
    text = env.render()
    assert text.splitlines()[:3] == ["#####t#", "1...A.l", "2.....o"]
    assert "agent A carries nothing" in text
    env.step(0)
    assert env.render().splitlines()[:2] == ["#######", "1....al"]
    picture = OvercookedEnv("tomato-salad", render_mode="rgb_array")
    picture.reset()
    before = picture.render()
    assert before.shape == (112, 112, 3) and before.dtype == np.uint8
    picture.step(0)
    assert not np.array_equal(before, picture.render())
    assert OvercookedEnv("tomato-salad").render() is None
    with pytest.raises(ValueError, match="render_mode"):
        OvercookedEnv("tomato-salad", render_mode="human")


def test_float_actions_are_refused_as_in_virtualhome():
    import gymnasium
    import numpy as np

    for name in ("overcooked/tomato-salad", "virtualhome/food-preparation"):
        env = gymnasium.make(name)
        env.reset(seed=0)
        with pytest.raises(ValueError, match="action"):
            env.step(1.0)
        env.step(np.int64(0))  # numpy integers are integers
