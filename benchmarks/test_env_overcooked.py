"""Macro steps per second of the Overcooked envs on one core (uniform-random macro actions).

Run: ``python -m pytest benchmarks/test_env_overcooked.py --benchmark-enable``. Each round replays
the same fixed random action sequence from a fresh reset, resetting whenever an episode ends, so
the figure includes resets and prompt/observation building (what a training loop pays).
``extra_info["macro_steps_per_s"]`` is the headline figure.
"""
from __future__ import annotations

import random

import pytest

from envs.overcooked import parallel_env
from envs.overcooked.env import OvercookedEnv

N_STEPS = 20_000


def _actions(n_actions: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(n_actions) for _ in range(N_STEPS)]


@pytest.mark.parametrize("task", ["tomato-salad", "tomato-lettuce-salad"])
@pytest.mark.parametrize("obs_radius", [2, 10])
def test_single_agent_macro_steps_per_second(benchmark, task, obs_radius):
    env = OvercookedEnv(task, obs_radius=obs_radius)
    actions = _actions(env.action_space.n)

    def run() -> int:
        env.reset(seed=0)
        episodes = 0
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
                episodes += 1
        return episodes

    episodes = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    assert episodes > 0
    benchmark.extra_info["macro_steps_per_s"] = round(N_STEPS / benchmark.stats.stats.mean)


@pytest.mark.parametrize("task", ["tomato-salad", "tomato-lettuce-salad"])
def test_two_chef_joint_steps_per_second(benchmark, task):
    env = parallel_env(task)
    actions = _actions(env.n_actions)
    pairs = list(zip(actions, reversed(actions)))

    def run() -> None:
        env.reset(seed=0)
        for a0, a1 in pairs:
            env.step({"chef_0": a0, "chef_1": a1})
            if not env.agents:
                env.reset()

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["joint_steps_per_s"] = round(N_STEPS / benchmark.stats.stats.mean)
