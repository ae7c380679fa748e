"""A method with a full rollout collected and its update not yet run: what update benchmarks time."""
from __future__ import annotations

from harness.env_api import EnvPool, EnvSpec


def full_rollout(method_cls, spec: EnvSpec, preset: str, **overrides):
    """(method, pool, env kwargs) after one batch of ``num_envs x num_steps`` env steps."""
    cfg = method_cls.Config(**{**method_cls.preset_overrides(preset, spec), **overrides})
    kwargs = method_cls.env_kwargs(cfg, spec)
    env = spec.make(**kwargs)
    method = method_cls(cfg, spec, env.observation_space, env.action_space, 500_000, seed=0)
    pool = EnvPool([spec.make(**kwargs) for _ in range(cfg.num_envs)])
    pool.reset(seed=0)
    planned, batch = cfg.num_steps, cfg.batch_size  # the batch, before num_steps is raised
    cfg.num_steps = 10 ** 9  # collect one batch without triggering the update
    method.learn(pool, batch)
    cfg.num_steps = planned
    return method, pool, kwargs
