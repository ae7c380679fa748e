"""Building methods on toy envs without the protocol (which lands on main later)."""
from __future__ import annotations

import numpy as np

from harness.env_api import EnvPool, EnvSpec


# The discounts the real families declare (their logged returns), so presets see what they would.
FAMILY_DISCOUNT = {"overcooked": 0.99, "virtualhome": 0.95}


def toy_spec(env_cls, family: str = "toy", name: str = "toy/env") -> EnvSpec:
    return EnvSpec(name=name, factory=env_cls, family=family, discount=FAMILY_DISCOUNT.get(family))


def build(method_cls, spec: EnvSpec, total_steps: int = 10_000, seed: int = 0, preset: str = "cpu",
          num_envs: int | None = 4, **overrides):
    """``num_envs=4`` by default, as the toy tests step pools of 4; None keeps the preset's."""
    if num_envs is not None:
        overrides["num_envs"] = num_envs
    cfg = method_cls.Config(**{**method_cls.preset_overrides(preset, spec), **overrides})
    env = spec.make()
    return method_cls(cfg, spec, env.observation_space, env.action_space, total_steps, seed)


def make_pool(spec: EnvSpec, n: int, seed: int = 0) -> EnvPool:
    pool = EnvPool([spec.make() for _ in range(n)])
    pool.reset(seed=seed)
    return pool


def evaluate(method, spec: EnvSpec, episodes: int = 20, seed: int = 123, greedy: bool = False):
    """Mean logged return and success rate over ``episodes`` episodes (run in lockstep)."""
    rng = np.random.default_rng(seed)
    envs = [spec.make() for _ in range(episodes)]
    obs, infos = zip(*(e.reset(seed=seed + i) for i, e in enumerate(envs)))
    obs, infos = list(obs), list(infos)
    done = [False] * episodes
    results = [None] * episodes
    while not all(done):
        live = [i for i in range(episodes) if not done[i]]
        acts = method.act(np.stack([obs[i] for i in live]), [infos[i] for i in live], rng, greedy)
        for i, a in zip(live, acts):
            o, r, term, trunc, info = envs[i].step(int(a))
            obs[i], infos[i] = o, info
            if term or trunc:
                done[i], results[i] = True, info["episode"]
    return (float(np.mean([r["return"] for r in results])),
            float(np.mean([r["success"] for r in results])))
