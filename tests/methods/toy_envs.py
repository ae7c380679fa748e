"""Tiny gymnasium envs that follow harness/env_api.py's info contract, for testing methods fast.

- ``ButtonChain``: press the right one of 4 buttons at each of 4 positions; a wrong button wastes a
  step. Every action is offered (like Overcooked) and each step reports ``macro_action_steps`` (a
  semi-MDP). Success within 20 decisions gives +1.
- ``RaggedRooms``: 6 global action ids, only a state-dependent subset offered (like VirtualHome);
  the offered list and ``action_mask`` change with the state.
- ``OneShot``: a single-decision bandit with a fixed prompt; action 0 pays 1, the rest 0.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

BUTTONS = ["press the red button", "press the blue button", "press the green button",
           "press the yellow button"]


class ButtonChain(gym.Env):
    n_positions = 4
    horizon = 20

    def __init__(self, macro: bool = True):
        self.macro = macro
        self.observation_space = gym.spaces.Box(0, 1, (self.n_positions + 1,), np.float32)
        self.action_space = gym.spaces.Discrete(len(BUTTONS))

    def _obs(self):
        o = np.zeros(self.n_positions + 1, np.float32)
        o[self.pos] = 1
        return o

    def _info(self):
        return {"prompt": f"The door has {self.n_positions} locks and {self.pos} are open. "
                          "To open the next lock, you should",
                "actions": list(BUTTONS), "action_ids": list(range(len(BUTTONS))),
                "action_mask": np.ones(len(BUTTONS), bool)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.t, self.ret = 0, 0, 0.0
        return self._obs(), self._info()

    def step(self, action):
        k = 1 + int(action) % 2 if self.macro else 1
        reward = -0.01
        if action == self.pos % len(BUTTONS):
            self.pos += 1
        success = self.pos == self.n_positions
        if success:
            reward += 1.0
        self.ret += 0.99 ** self.t * reward
        self.t += 1
        truncated = self.t >= self.horizon and not success
        info = self._info()
        if self.macro:
            info["macro_action_steps"] = k
        if success or truncated:
            info["episode"] = {"return": self.ret, "length": self.t, "success": success}
        return self._obs(), reward, success, truncated, info


class RaggedRooms(gym.Env):
    """Two rooms; in room r the offered ids are OFFERED[r]; id 5 in room 1 wins."""

    OFFERED = {0: [0, 2, 3], 1: [1, 4, 5]}
    NAMES = ["walk to the kitchen", "walk to the bedroom", "open the fridge", "grab the milk",
             "sit on the bed", "turn off the light"]
    horizon = 10

    def __init__(self):
        self.observation_space = gym.spaces.Box(0, 1, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(6)

    def _info(self):
        ids = self.OFFERED[self.room]
        mask = np.zeros(6, bool)
        mask[ids] = True
        return {"prompt": f"You are in the {'kitchen' if self.room == 0 else 'bedroom'}. "
                          "Your next step is to",
                "actions": [self.NAMES[i] for i in ids], "action_ids": list(ids),
                "action_mask": mask}

    def _obs(self):
        return np.eye(2, dtype=np.float32)[self.room]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.room, self.t, self.ret = 0, 0, 0.0
        return self._obs(), self._info()

    def step(self, action):
        if action not in self.OFFERED[self.room]:
            raise AssertionError(f"action {action} not offered in room {self.room}")
        reward = 0.0
        if action == 2:  # "open the fridge" moves to the bedroom in this toy world
            self.room = 1
        elif action == 1:
            self.room = 1
        elif action == 0:
            self.room = 0
        success = action == 5
        reward = 1.0 if success else 0.0
        self.ret += 0.95 ** self.t * reward
        self.t += 1
        truncated = self.t >= self.horizon and not success
        info = self._info()
        if success or truncated:
            info["episode"] = {"return": self.ret, "length": self.t, "success": success}
        return self._obs(), reward, success, truncated, info


class OneShot(gym.Env):
    ACTIONS = ["pick up the tomato", "serve nothing", "chop nothing", "walk to the cutting board"]

    def __init__(self):
        self.observation_space = gym.spaces.Box(0, 1, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(len(self.ACTIONS))

    def _info(self):
        return {"prompt": "There is a tomato on the table. To make a salad, you should first",
                "actions": list(self.ACTIONS), "action_ids": list(range(len(self.ACTIONS))),
                "action_mask": np.ones(len(self.ACTIONS), bool)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(1, np.float32), self._info()

    def step(self, action):
        reward = 1.0 if action == 0 else 0.0
        info = self._info()
        info["episode"] = {"return": reward, "length": 1, "success": reward > 0}
        return np.ones(1, np.float32), reward, True, False, info
