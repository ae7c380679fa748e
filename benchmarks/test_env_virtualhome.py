"""Steps per second of the VirtualHome envs on one core (pytest-benchmark).

    python -m pytest benchmarks/test_env_virtualhome.py --benchmark-enable

Each round plays STEPS decisions with a fixed random choice among the *offered* actions (uniform
draws precomputed from a seeded RNG, so the policy costs almost nothing), resetting on episode end as
a training loop would. ``extra_info["steps_per_s"]`` is STEPS / mean round time.
"""
from __future__ import annotations

import random

import pytest

from harness.registry import ENVS

STEPS = 20_000


@pytest.mark.parametrize("name", ["virtualhome/food-preparation", "virtualhome/entertainment"])
def test_steps_per_second(benchmark, name):
    env = ENVS.get(name).make()
    rng = random.Random(0)
    draws = [rng.random() for _ in range(STEPS)]

    def play():
        _, info = env.reset(seed=0)
        episodes = 0
        for u in draws:
            ids = info["action_ids"]
            _, _, terminated, truncated, info = env.step(ids[int(u * len(ids))])
            if terminated or truncated:
                episodes += 1
                _, info = env.reset()
        return episodes

    episodes = benchmark.pedantic(play, rounds=5, iterations=1, warmup_rounds=1)
    assert episodes >= STEPS // 50  # every episode ends by the 50-step horizon
    if benchmark.stats is not None:  # None when run with --benchmark-disable
        benchmark.extra_info["steps_per_s"] = round(STEPS / benchmark.stats.stats.mean)
