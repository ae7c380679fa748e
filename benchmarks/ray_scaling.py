"""Wall clock of one grid, sequential vs ``executor=ray``, and the per-run overhead Ray adds.

    .venv/bin/python -m benchmarks.ray_scaling [--runs 8] [--workers 2] [--total-steps 1024]

Not a test and not part of the gate: run it on a quiet machine. It trains ``--runs`` ppo runs on
overcooked/tomato-salad (seeds 0..runs-1) twice, into two fresh stores under a temp dir: once with
the sequential executor (one torch thread, as a Ray task gets), once as Ray tasks on a local
cluster of ``--workers`` CPUs. It prints both wall clocks, their ratio (target: >= 1.7 with two
workers on two cores) and the overhead per run: the Ray grid's wall clock times the workers, less
the runs' own training time (their last eval point's wall time), divided by the runs. The Ray
cluster's start is reported apart.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def grid(out_dir: Path, runs: int, total_steps: int, **execution: str) -> dict[str, str]:
    return {"methods": "ppo", "envs": "overcooked/tomato-salad",
            "seeds": ",".join(map(str, range(runs))), "total_steps": str(total_steps),
            "eval_every": str(total_steps), "eval_episodes": "2", "out_dir": str(out_dir),
            **execution}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--total-steps", type=int, default=1024)
    args = parser.parse_args(argv)

    import ray
    import torch

    from harness.config import resolve_grid
    from harness.executor import run_grid
    from harness.storage import Store

    root = Path(tempfile.mkdtemp(prefix="ray-scaling-"))
    torch.set_num_threads(1)
    sequential = resolve_grid(grid(root / "sequential", args.runs, args.total_steps))
    start = time.perf_counter()
    outcome = run_grid(sequential, progress=False)
    sequential_s = time.perf_counter() - start
    assert not outcome.failures, outcome.failures

    start = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False)
    ray_start_s = time.perf_counter() - start
    on_ray = resolve_grid(grid(root / "ray", args.runs, args.total_steps, executor="ray"))
    start = time.perf_counter()
    outcome = run_grid(on_ray, progress=False)
    ray_s = time.perf_counter() - start
    ray.shutdown()
    assert not outcome.failures, outcome.failures

    store = Store(on_ray[0].store)
    trained_s = sum(store.eval_points(c.run_id)[-1]["wall_time"] for c in on_ray)
    print(json.dumps({
        "runs": args.runs, "workers": args.workers, "total_steps": args.total_steps,
        "sequential_s": round(sequential_s, 2), "ray_s": round(ray_s, 2),
        "speedup": round(sequential_s / ray_s, 3), "ray_cluster_start_s": round(ray_start_s, 2),
        "ray_overhead_per_run_s": round((ray_s * args.workers - trained_s) / args.runs, 3),
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
