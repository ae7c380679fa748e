"""Synthetic results stores with known curves, written through the real Store."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.storage import Store

STEPS = [0, 1000, 2000, 3000, 4000]


def write_store(url: str, curves: dict[tuple[str, str], list[list[float]]],
                success: dict[tuple[str, str], list[list[float]]] | None = None,
                status: str = "finished", config_extra: dict | None = None) -> Store:
    """One run per (method, env, seed) row of ``curves[(method, env)]`` (eval returns at STEPS)."""
    store = Store(url)
    for (method, env), per_seed in curves.items():
        for seed, returns in enumerate(per_seed):
            run_id = f"{method}__{env.replace('/', '-')}__s{seed}"
            config = {"method": method, "env": env, "seed": seed, "total_steps": STEPS[-1],
                      "eval_every": 1000, "eval_episodes": 10,
                      "method_config": {"num_envs": 4, **(config_extra or {}).get(method, {})},
                      "env_kwargs": {}}
            store.start_run(run_id, method=method, env=env, seed=seed, preset="cpu",
                            config_json=json.dumps(config), git_commit="abc1234def",
                            total_steps=STEPS[-1], steps_done=0, run_dir="", host="test",
                            versions_json="{}")
            succ = (success or {}).get((method, env), [[float(r > 0.5) for r in returns]
                                                       for returns in per_seed])[seed]
            for step, ret, s in zip(STEPS, returns, succ):
                store.add_eval_point(run_id, {"step": step, "wall_time": step / 1000.0,
                                              "return_mean": ret, "return_std": 0.1,
                                              "success_rate": s, "length_mean": 20.0,
                                              "episodes": 10})
            store.update_run(run_id, status=status, steps_done=STEPS[-1])
    return store


@pytest.fixture
def make_store(tmp_path):
    def make(curves, name="results.db", **kwargs):
        url = f"sqlite:///{tmp_path / name}"
        write_store(url, curves, **kwargs)
        return url

    return make


@pytest.fixture
def two_method_store(make_store):
    """'good' rises from 0 to 0.9 on env a/x; 'bad' stays at 0.1; 5 seeds each with small noise."""
    rng = np.random.default_rng(0)
    good = [[0.0, 0.3, 0.6, 0.9, 0.9] + rng.normal(0, 0.01, 5) for _ in range(5)]
    bad = [[0.1] * 5 + rng.normal(0, 0.01, 5) for _ in range(5)]
    return make_store({("good", "a/x"): [list(map(float, c)) for c in good],
                       ("bad", "a/x"): [list(map(float, c)) for c in bad]})
