"""Single-agent macro-action Overcooked as a ``gymnasium.Env`` (TWOSOME's Tomato / Tomato-Lettuce Salad).

One ``step(action_id)`` is one macro decision. It runs the macro's primitive steps to completion and
returns ``R = sum_k 0.99**k r_k`` over them; ``info["macro_action_steps"]`` is that k, the exponent of
the semi-MDP discount gamma**k a method should use. The observation is the raw-integer vector of
spec §1a.6 (partial: items outside the (2r+1)^2 view read 0, 0); ``info`` carries the prompt, the
offered action strings (all of them: Overcooked has no masking), ``action_ids`` and ``action_mask``.

Episode end: ``terminated`` when the correct dish is delivered. ``truncated`` when the primitive step
counter reaches ``max_primitive_steps`` (200): the limit is checked only between macros, so the macro
running at step 200 still completes (episodes can last a few primitive steps longer), exactly like
the original. A truncated episode is a time-out, not a terminal state: bootstrap from the last
observation's value. The logged return ``info["episode"]["return"]`` is the per-primitive-step
discounted sum ``sum_t 0.99**t r_t`` over the whole episode (step penalties included), the quantity
the original writes to ``charts/episodic_return``.

The start state is fixed and transitions are deterministic; ``reset(seed=...)`` is accepted (it seeds
``self.np_random`` as gymnasium requires) but changes nothing in the kitchen.
"""
from __future__ import annotations

import operator

from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from envs.overcooked.kitchen import Kitchen, Rewards
from envs.overcooked.layout import Task, get_task
from envs.overcooked.macro import DISCOUNT, MacroRunner
from envs.overcooked.observation import Observer
from envs.overcooked.render import render_ansi, render_rgb
from envs.overcooked.text import PromptRenderer

DEFAULT_OBS_RADIUS = 2  # TWOSOME's 5x5 view; the PPO baseline used 10 (the whole 7x7 map)


def check_obs_radius(obs_radius: int) -> int:
    if isinstance(obs_radius, bool) or not isinstance(obs_radius, (int, np.integer)) or obs_radius < 0:
        raise ValueError(f"obs_radius must be an int >= 0 (0 = whole map), got {obs_radius!r}")
    return int(obs_radius)


def check_settings(task: str | Task, obs_radius: int, rewards: Any, max_primitive_steps: int,
                   render_mode: str | None, render_modes: list[str]
                   ) -> tuple[Task, int, Rewards, int, str | None]:
    """Validate the constructor arguments shared by the one- and two-chef envs."""
    if not isinstance(max_primitive_steps, (int, np.integer)) or max_primitive_steps < 1:
        raise ValueError(f"max_primitive_steps must be a positive int, got {max_primitive_steps!r}")
    if render_mode is not None and render_mode not in render_modes:
        raise ValueError(
            f"unknown render_mode {render_mode!r}; valid: {', '.join(render_modes)} or None")
    return (get_task(task), check_obs_radius(obs_radius), Rewards.build(rewards),
            int(max_primitive_steps), render_mode)


def check_action(action: Any, n_actions: int, who: str) -> int:
    """The action as an int, or a ValueError naming the valid range. Integers only (Python or
    numpy, via ``operator.index``): a float such as 1.0 is refused, as in VirtualHome."""
    try:
        index = operator.index(action)
    except TypeError:
        index = None
    if index is None or not 0 <= index < n_actions:
        raise ValueError(f"action for {who} must be an int in [0, {n_actions - 1}], got {action!r}")
    return index


class OvercookedEnv(gym.Env):
    """Macro-action Overcooked, one chef. See the module docstring for the interface."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        task: str | Task = "tomato-salad",
        obs_radius: int = DEFAULT_OBS_RADIUS,
        rewards: Rewards | Mapping[str, float] | None = None,
        max_primitive_steps: int = 200,
        render_mode: str | None = None,
    ):
        self.task, self.obs_radius, self.rewards, self.max_primitive_steps, self.render_mode = (
            check_settings(task, obs_radius, rewards, max_primitive_steps, render_mode,
                           self.metadata["render_modes"]))

        self.kitchen = Kitchen(self.task, n_agents=1, rewards=self.rewards)
        self.macros = MacroRunner(self.kitchen, self.obs_radius)
        self.observer = Observer(self.kitchen, self.obs_radius)
        self.prompts = PromptRenderer(self.task)
        self.n_actions = len(self.task.macros)
        self.action_space = gym.spaces.Discrete(self.n_actions)
        high = max(self.task.size) - 1
        self.observation_space = gym.spaces.Box(0.0, float(high), (self.observer.size,), np.float32)
        self._action_ids = list(range(self.n_actions))
        self._needs_reset = True
        self._start_episode()

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._start_episode()
        obs = self.observer.observe(0)
        return np.array(obs, dtype=np.float32), self._info(obs)

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError("the episode has ended; call reset() before step()")
        reward, k, delivered = self.macros.run(check_action(action, self.n_actions, self.task.title))
        self.episode_return += self.discount * reward
        self.discount *= DISCOUNT**k
        self.primitive_steps += k
        self.decisions += 1
        terminated = delivered
        truncated = not terminated and self.primitive_steps >= self.max_primitive_steps
        obs = self.observer.observe(0)
        info = self._info(obs)
        info["macro_action_steps"] = k
        if terminated or truncated:
            self._needs_reset = True
            info["episode"] = {
                "return": self.episode_return,
                "length": self.decisions,
                "primitive_steps": self.primitive_steps,
                "success": delivered,
            }
        return np.array(obs, dtype=np.float32), reward, terminated, truncated, info

    def render(self):
        if self.render_mode == "ansi":
            return render_ansi(self.kitchen)
        if self.render_mode == "rgb_array":
            return render_rgb(self.kitchen)
        return None

    # ------------------------------------------------------------------ helpers
    def _start_episode(self) -> None:
        self.kitchen.reset()
        self.episode_return = 0.0
        self.discount = 1.0
        self.primitive_steps = 0
        self.decisions = 0
        self._needs_reset = False

    def _info(self, obs: tuple[int, ...]) -> dict[str, Any]:
        prompt, actions = self.prompts.render(obs)
        return {
            "prompt": prompt,
            "actions": list(actions),
            "action_ids": list(self._action_ids),
            "action_mask": np.ones(self.n_actions, dtype=bool),
        }
