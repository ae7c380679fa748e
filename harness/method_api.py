"""The interface every method implements; the protocol (harness/protocol.py) drives it.

A method is one class registered with :func:`harness.registry.register_method`. It declares its
hyperparameters as a dataclass ``Config`` and named presets (``cpu``, the default, and ``paper``):
functions of the env's spec that override the Config defaults; the protocol builds the method
once per run and then alternates ``learn`` and evaluation.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import gymnasium as gym
import numpy as np

from harness.env_api import EnvPool, EnvSpec


class NonFiniteError(RuntimeError):
    """A NaN or infinity in a loss, gradient, weight or eval return; ``str()`` names it and where.
    Raised by learners and by the protocol; the run stops as ``failed`` with earlier points kept."""


@dataclass
class MethodConfig:
    """Fields every method has. Subclass it (as a dataclass) to add hyperparameters."""

    num_envs: int = 4  # parallel training envs; env steps count decisions summed over them

    def validate(self) -> None:
        """Raise ValueError naming the first out-of-range field (called before any run starts;
        subclasses extend it and call ``super().validate()``)."""
        require(self, "num_envs", lambda v: v >= 1, ">= 1")


def require(config: Any, name: str, ok: Any, allowed: str) -> None:
    """``ValueError("name=value: must be <allowed>")`` unless ``ok(value)``; NaN/inf floats never
    pass (a NaN learning rate would train silently into NaN weights)."""
    import math

    value = getattr(config, name)
    if isinstance(value, float) and not math.isfinite(value) or not ok(value):
        raise ValueError(f"{name}={value!r}: must be {allowed}")


class Method(abc.ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    # Preset name -> callable(env_spec) -> dict of Config overrides. "cpu" is the default preset.
    presets: ClassVar[dict[str, Any]] = {"cpu": lambda spec: {}}
    trains: ClassVar[bool] = True  # False for methods with nothing to learn (random, saycan)
    # True when the method reads only the text interface (prompt/actions), so a trained agent can be
    # evaluated on an env with other observation/action spaces (crossover generalization).
    reads_text: ClassVar[bool] = False

    @classmethod
    def preset_overrides(cls, preset: str, env_spec: EnvSpec) -> dict[str, Any]:
        return dict(cls.presets[preset](env_spec))

    @classmethod
    def step_multiple(cls, config: MethodConfig) -> int:
        """Env steps one unit of ``learn`` takes (PPO: num_envs x rollout length). The protocol
        rounds ``eval_every`` up to a multiple of it so every run's eval points lie on one grid."""
        return config.num_envs

    @classmethod
    def env_kwargs(cls, config: MethodConfig, env_spec: EnvSpec) -> dict[str, Any]:
        """Keyword arguments for the env factory (train and eval envs), e.g. a wider view for PPO."""
        return {}

    def __init__(self, config: MethodConfig, env_spec: EnvSpec, observation_space: gym.Space,
                 action_space: gym.spaces.Discrete, total_steps: int, seed: int):
        self.config = config
        self.env_spec = env_spec
        self.observation_space = observation_space
        self.action_space = action_space
        self.total_steps = total_steps
        self.seed = seed

    @abc.abstractmethod
    def learn(self, pool: EnvPool, steps: int) -> dict[str, float]:
        """Train on ``pool`` for about ``steps`` env steps (decisions summed over the pool's envs).

        The pool is already reset; keep stepping it where the last call left it. Return
        statistics of this call; ``"env_steps"`` (the steps actually taken) is required.
        """

    @abc.abstractmethod
    def act(self, obs: np.ndarray, infos: list[dict], rng: np.random.Generator,
            greedy: bool = False) -> np.ndarray:
        """Global action ids for a batch of states (one per row of ``obs``/entry of ``infos``).

        Sample with ``rng`` (never a global RNG) so evaluation does not disturb training.
        """

    def action_probabilities(self, obs: np.ndarray, infos: list[dict]) -> np.ndarray | None:
        """Optional: (B, n) probabilities over the global action ids for a batch of states (0 for
        ids not offered), the distribution ``act`` samples from (a greedy method takes its argmax).
        Episode replays (harness/replay.py) show them; None (the default) = not available."""
        return None

    def attach_logger(self, log: Callable[[int, dict[str, float]], None]) -> None:
        """Optional: the protocol hands a function that the learner calls during ``learn`` with
        (env steps so far, statistics) after each update; it writes them to TensorBoard."""

    def counters(self) -> dict[str, float]:
        """Cumulative cost counters reported with each eval point (e.g. tokens forwarded)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume training exactly (weights, optimizers, RNG states)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
