"""Steps-to-threshold learning benchmark: how many env steps a method needs to reach a target return.

For each (env, seed): one run of the protocol exactly as ``harness run`` does it (same config
resolution, evaluation, checkpoints and store, in ``--out-dir``), evaluated at step 0 and every
``--eval-every`` env steps, stopped (status ``pruned``) at the first evaluation whose mean return
reaches the env's threshold (Tomato Salad 0.85, Food Preparation 0.7; otherwise 90% of the env's
ceiling), at ``--total-steps`` (default: the original budget) or at ``--max-minutes``. Every evaluation is appended to a JSON-lines log as it happens, so a background
run can be watched with ``tail -f``; a summary table is printed at the end.

    python scripts/learning_benchmark.py --method ppo --envs overcooked/tomato-salad \
        virtualhome/food-preparation --seeds 0 1 2
    python scripts/learning_benchmark.py --method twosome --envs overcooked/tomato-salad --seeds 0 \
        --eval-episodes 10 --max-minutes 60 --log runs/twosome-bench.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

THRESHOLDS = {"overcooked/tomato-salad": 0.85, "virtualhome/food-preparation": 0.7}


def threshold_for(spec) -> float:
    if spec.name in THRESHOLDS:
        return THRESHOLDS[spec.name]
    if spec.ceiling is None:
        raise SystemExit(f"no threshold for {spec.name}: it has no ceiling; pass --threshold")
    return 0.9 * spec.ceiling


def run_one(method: str, env: str, seed: int, args, log) -> dict:
    """One run through the protocol itself (``harness.protocol.run``), stopped at the threshold by
    its ``on_eval`` hook; the run and its points land in ``--out-dir``'s store like any other."""
    from harness.config import resolve_grid
    from harness.protocol import RunStopped, run
    from harness.registry import ENVS
    from harness.storage import Store

    overrides = {"methods": method, "envs": env, "seeds": str(seed), "preset": args.preset,
                 "eval_episodes": str(args.eval_episodes), "out_dir": args.out_dir,
                 "resume": "restart", **dict(kv.split("=", 1) for kv in args.set)}
    spec = ENVS.get(env)
    total = args.total_steps or spec.paper_total_steps or 50_000
    overrides["total_steps"] = str(total)
    if args.eval_every:
        overrides["eval_every"] = str(args.eval_every)
    (config,) = resolve_grid(overrides)
    threshold = args.threshold if args.threshold is not None else threshold_for(spec)
    reached: list[tuple[int, float]] = []
    last: dict = {}

    def on_eval(step: int, point: dict) -> None:
        last.update(point)
        wall = point["wall_time"]
        log.write(json.dumps({"method": method, "env": env, "seed": seed, "preset": args.preset,
                              **point}) + "\n")
        log.flush()
        print(f"{method} {env} seed {seed}: step {step:>7} return {point['return_mean']:+.3f} "
              f"success {point['success_rate']:.2f} ({wall / 60:.1f} min)", flush=True)
        if point["return_mean"] >= threshold and not reached:
            reached.append((step, wall))
            if not args.no_stop:
                raise RunStopped
        if args.max_minutes and wall > 60 * args.max_minutes:
            raise RunStopped

    run(config, Store(config.store), progress=False, on_eval=on_eval)
    return {"method": method, "env": env, "seed": seed, "threshold": threshold,
            "steps_to_threshold": reached[0][0] if reached else None,
            "minutes_to_threshold": round(reached[0][1] / 60, 2) if reached else None,
            "steps_run": last["step"], "minutes_run": round(last["wall_time"] / 60, 2),
            "last_return": last["return_mean"], "eval_every": config.eval_every,
            "budget": config.total_steps}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="ppo")
    parser.add_argument("--envs", nargs="+",
                        default=["overcooked/tomato-salad", "virtualhome/food-preparation"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="method/env overrides as for `harness run` (e.g. policy_lr=3e-4)")
    parser.add_argument("--total-steps", type=int, default=None,
                        help="budget per run (default: the env's original budget)")
    parser.add_argument("--eval-every", type=int, default=None)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--no-stop", action="store_true", help="keep training past the threshold")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock cap per run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (shared CPU: 1)")
    parser.add_argument("--log", default="runs/learning_benchmark.jsonl")
    parser.add_argument("--out-dir", default="runs/learning_benchmark",
                        help="where the runs' store and checkpoints go (runs restart each time)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    results = []
    with open(args.log, "a") as log:
        for env in args.envs:
            for seed in args.seeds:
                results.append(run_one(args.method, env, seed, args, log))
                log.write(json.dumps({"summary": results[-1]}) + "\n")
                log.flush()

    print("\n| method | env | seed | steps to threshold | minutes | steps run | last return |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        reached = r["steps_to_threshold"]
        print(f"| {r['method']} | {r['env']} (>= {r['threshold']}) | {r['seed']} | "
              f"{reached if reached is not None else 'not reached'} | "
              f"{r['minutes_to_threshold'] if reached is not None else r['minutes_run']} | "
              f"{r['steps_run']} / {r['budget']} | {r['last_return']:+.3f} |")


if __name__ == "__main__":
    main()
