"""A tiny env following harness/env_api.py's contract, for testing the harness core alone.

A corridor of ``length`` cells: action 1 ("walk forward") moves right, action 0 ("wait") stays.
Reaching the end gives +1 and terminates; ``horizon`` decisions truncate. Logged return is
discounted by 0.9 per step.
"""
from __future__ import annotations

import time

import gymnasium as gym
import numpy as np

from harness.registry import ENVS, register_env


class Corridor(gym.Env):
    metadata = {"render_modes": []}
    ACTIONS = ("wait here", "walk forward")

    def __init__(self, length: int = 4, horizon: int = 12, step_delay: float = 0.0):
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.length, self.horizon, self.step_delay = length, horizon, step_delay
        self.observation_space = gym.spaces.Box(0, length, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def _info(self):
        return {"prompt": f"You are {self.length - self.pos} steps from the door. You should",
                "actions": list(self.ACTIONS), "action_ids": [0, 1],
                "action_mask": np.ones(2, dtype=bool)}

    def _obs(self):
        return np.array([self.pos], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.t, self.ret = 0, 0, 0.0
        return self._obs(), self._info()

    def step(self, action):
        if self.step_delay:
            time.sleep(self.step_delay)  # lets a test kill a run mid-way
        self.pos += int(action == 1)
        reward = 1.0 if self.pos >= self.length else 0.0
        self.ret += 0.9 ** self.t * reward
        self.t += 1
        terminated = self.pos >= self.length
        truncated = not terminated and self.t >= self.horizon
        info = self._info()
        if terminated or truncated:
            info["episode"] = {"return": self.ret, "length": self.t, "success": terminated}
        return self._obs(), reward, terminated, truncated, info


if "toy/corridor" not in ENVS._entries:
    register_env("toy/corridor", description="test corridor", family="toy", ceiling=0.9 ** 3,
                 paper_total_steps=400)(Corridor)
