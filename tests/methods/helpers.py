"""Building methods on toy envs directly (unit tests of a method without a store or run dir)."""
from __future__ import annotations

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


def evaluate(method, spec: EnvSpec, episodes: int = 20, seed: int = 123):
    """(mean logged return, success rate) over ``episodes`` episodes: the protocol's evaluation."""
    from harness.protocol import evaluate as protocol_evaluate

    result = protocol_evaluate(method, spec, {}, episodes, seed=seed, rng_seed=seed)
    return result["return_mean"], result["success_rate"]
