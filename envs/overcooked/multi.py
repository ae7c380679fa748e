"""Two cooperating chefs in the same TWOSOME kitchen, as a PettingZoo ``ParallelEnv``.

It shares the single-agent env's simulation core (``Kitchen``), macro-action rules (``MacroRunner``),
observation vector and prompt renderer. Choices (TWOSOME itself is single-agent):

* Map and items are the task's 7x7 map A. ``chef_0`` starts at (1, 4) as in TWOSOME, ``chef_1`` at
  (1, 2), the second start cell of the original 2-agent map A.
* Each chef sees its own (2r+1)^2 view. Its vector is the single-agent layout with the other chef's
  position appended after its own (0, 0 when out of view), so it is 2 entries longer; its prompt and
  action strings are rendered by the single-agent templates from its own vector (the partner is not
  mentioned; items it carries are out of place and so are silent, as any unseen item).
* One ``step`` takes a macro for every live chef and runs the primitive steps jointly until **both**
  macros have ended (a chef that finishes first stays in place meanwhile). ``macro_action_steps`` is
  that joint primitive-step count k, the exponent of gamma**k for both chefs.
* Primitive moves resolve one chef after the other; a chef may step into the cell the other is
  leaving, but never onto or through the other. A blocked move ends that chef's macro (a collision,
  as in the original multi-agent code). Navigation follows the single-agent path but steps around
  the partner when it stands on that path (shortest detour); when both chefs are in each other's
  way, only ``chef_1`` steps aside. A macro whose target is being
  carried by the partner ends at once (stay), like one whose target the chef carries itself.
* The reward is one team reward, given to both chefs: event rewards of both plus one step penalty
  per primitive step, discounted 0.99 per primitive step within the macro (as the single-agent env).
* The episode terminates for both when either delivers the correct dish, and is truncated for both
  when the shared primitive-step counter reaches ``max_primitive_steps`` (checked between joint
  macros, so the running macros complete). ``infos[chef]["episode"]`` on the last step has the team's
  logged discounted return, the number of joint decisions, primitive steps and success.
"""
from __future__ import annotations

from typing import Any, Mapping

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from envs.overcooked.env import DEFAULT_OBS_RADIUS, check_action, check_settings
from envs.overcooked.kitchen import Kitchen, Rewards
from envs.overcooked.layout import CHOP, STAY, Task
from envs.overcooked.macro import DISCOUNT, MacroRunner
from envs.overcooked.observation import Observer
from envs.overcooked.render import render_ansi, render_rgb
from envs.overcooked.text import PromptRenderer

# Safety bound on one joint macro; real macros end far earlier (at most ~15 primitive steps).
MAX_JOINT_MACRO_STEPS = 100


class OvercookedParallelEnv(ParallelEnv):
    """Two chefs, one kitchen, shared team reward. See the module docstring for the semantics."""

    metadata = {"name": "overcooked_twosome_v0", "render_modes": ["ansi", "rgb_array"], "render_fps": 4}

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
        self.possible_agents = ["chef_0", "chef_1"]
        self.agents: list[str] = []
        self.kitchen = Kitchen(self.task, n_agents=2, rewards=self.rewards)
        self.macros = MacroRunner(self.kitchen, self.obs_radius)
        self.observer = Observer(self.kitchen, self.obs_radius)
        self.prompts = PromptRenderer(self.task)
        self.n_actions = len(self.task.macros)
        high = float(max(self.task.size) - 1)
        self._observation_spaces = {
            a: gym.spaces.Box(0.0, high, (self.observer.size,), np.float32) for a in self.possible_agents
        }
        self._action_spaces = {a: gym.spaces.Discrete(self.n_actions) for a in self.possible_agents}

    def observation_space(self, agent: str) -> gym.spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Discrete:
        return self._action_spaces[agent]

    # ------------------------------------------------------------------ PettingZoo API
    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.np_random, _ = gym.utils.seeding.np_random(seed)
        self.kitchen.reset()
        self.agents = list(self.possible_agents)
        self.episode_return = 0.0
        self.discount = 1.0
        self.primitive_steps = 0
        self.decisions = 0
        observations = {}
        infos = {}
        for i, agent in enumerate(self.agents):
            obs = self.observer.observe(i)
            observations[agent] = np.array(obs, dtype=np.float32)
            infos[agent] = self._info(obs)
        return observations, infos

    def step(self, actions: dict[str, int]):
        if not self.agents:
            raise RuntimeError("the episode has ended; call reset() before step()")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"missing actions for {missing}; expected one for each of {self.agents}")
        macros = []
        for agent in self.agents:
            macros.append(check_action(actions[agent], self.n_actions, agent))
        reward, k = self._run_joint(macros)
        self.episode_return += self.discount * reward
        self.discount *= DISCOUNT**k
        self.primitive_steps += k
        self.decisions += 1
        terminated = self.kitchen.delivered
        truncated = not terminated and self.primitive_steps >= self.max_primitive_steps
        observations, rewards, terminations, truncations, infos = {}, {}, {}, {}, {}
        for i, agent in enumerate(self.agents):
            obs = self.observer.observe(i)
            observations[agent] = np.array(obs, dtype=np.float32)
            rewards[agent] = reward
            terminations[agent] = terminated
            truncations[agent] = truncated
            infos[agent] = self._info(obs)
            infos[agent]["macro_action_steps"] = k
            if terminated or truncated:
                infos[agent]["episode"] = {
                    "return": self.episode_return,
                    "length": self.decisions,
                    "primitive_steps": self.primitive_steps,
                    "success": terminated,
                }
        if terminated or truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self):
        if self.render_mode == "ansi":
            return render_ansi(self.kitchen)
        if self.render_mode == "rgb_array":
            return render_rgb(self.kitchen)
        return None

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ helpers
    def _run_joint(self, macros: list[int]) -> tuple[float, int]:
        """Run both chefs' macros until both have ended; returns (sum_k 0.99**k r_k, k)."""
        k = self.kitchen
        runner = self.macros
        active = [True, True]
        chops = [0, 0]
        total, discount, steps = 0.0, 1.0, 0
        while any(active) and steps < MAX_JOINT_MACRO_STEPS:
            primitive = [STAY, STAY]
            ending = [False, False]
            detoured = [False, False]
            for a in (0, 1):
                if active[a]:
                    primitive[a], ending[a] = runner.plan(a, macros[a], chops[a])
                    detoured[a] = runner.detoured
            if detoured[0] and detoured[1]:  # in each other's way: chef_0 has the right of way
                primitive[0], ending[0] = runner.plan(0, macros[0], chops[0], detour=False)
            reward, blocked = k.step(primitive)
            total += discount * reward
            discount *= DISCOUNT
            steps += 1
            if k.delivered:
                break
            for a in (0, 1):
                if not active[a]:
                    continue
                if runner.macros[macros[a]][0] == CHOP:
                    chops[a] += 1
                if ending[a] or a in blocked or runner.ends_after(a, macros[a]):
                    active[a] = False
        return total, steps

    def _info(self, obs: tuple[int, ...]) -> dict[str, Any]:
        prompt, actions = self.prompts.render(obs)
        return {
            "prompt": prompt,
            "actions": list(actions),
            "action_ids": list(range(self.n_actions)),
            "action_mask": np.ones(self.n_actions, dtype=bool),
        }
