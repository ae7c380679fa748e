"""The gymnasium env shared by every VirtualHome task (interface: ``harness/env_api.py``)."""
from __future__ import annotations

import operator
from typing import Any

import gymnasium as gym
import numpy as np

from envs.virtualhome.graph import TaskGraph, task_graph


class VirtualHomeEnv(gym.Env):
    """One TWOSOME VirtualHome task as a gymnasium env.

    Observation: the task's binary flag vector (float32). Action: a global action id. ``info`` has
    ``prompt``, ``actions``, ``action_ids``, ``action_mask`` and, on the last step,
    ``episode = {"return": sum 0.95**t r_t, "length": steps, "success": return > 0}``.
    Reward 1 on success (which terminates); truncation at 50 decisions.

    ``fix_typos`` and ``legacy_wording`` change only text (see the package docstring).

    Like the original, any id in the action space is executed, offered or not (a failing action is a
    no-op that costs a step). ``strict_actions=True`` raises ``ValueError`` for ids that are not
    offered instead, to catch a method that ignores the mask (such an env cannot pass gymnasium's
    ``check_env``, which steps random ids).
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, task: str = "food-preparation", fix_typos: bool = False, legacy_wording: bool = False,
                 strict_actions: bool = False, render_mode: str | None = None):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode {render_mode!r} is not supported; valid: None, 'ansi'")
        self.task_name = task
        self.fix_typos = bool(fix_typos)
        self.legacy_wording = bool(legacy_wording)
        self.strict_actions = bool(strict_actions)
        self.render_mode = render_mode
        self._attach(task_graph(task, self.fix_typos, self.legacy_wording))
        self._i = 0  # current node of the task graph
        self._done = True  # no episode running: reset() first
        self._t = 0
        self._return = 0.0
        self._discount = 1.0

    def _attach(self, graph: TaskGraph) -> None:
        self._graph = graph
        self._nodes = graph.nodes
        self.task = graph.task
        self._horizon = graph.task.horizon
        self._gamma = graph.task.gamma
        self._n_actions = len(graph.task.actions)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (len(graph.task.flags),), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(self._n_actions)

    # The table is shared per process and rebuilt on load, so a pickled env is only its position.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("_graph", "_nodes", "task", "observation_space", "action_space"):
            state.pop(key)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._attach(task_graph(self.task_name, self.fix_typos, self.legacy_wording))

    @staticmethod
    def _info(node) -> dict[str, Any]:
        return {"prompt": node.prompt, "actions": list(node.actions), "action_ids": list(node.action_ids),
                "action_mask": node.action_mask.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)  # the task is deterministic; the seed only seeds np_random
        self._i, self._done, self._t, self._return, self._discount = 0, False, 0, 0.0, 1.0
        node = self._nodes[0]
        return node.obs.copy(), self._info(node)

    def step(self, action):
        try:
            a = operator.index(action)
        except TypeError:
            raise ValueError(f"action must be an integer action id, got {action!r}") from None
        if not 0 <= a < self._n_actions:
            raise ValueError(f"action id {a} is out of range for {self.task_name}: valid ids are 0..{self._n_actions - 1}")
        if self._done:
            raise RuntimeError("step() called before reset() or after the episode ended; call reset()")
        node = self._nodes[self._i]
        if self.strict_actions and not node.action_mask[a]:
            offered = ", ".join(f"{i} ({text!r})" for i, text in zip(node.action_ids, node.actions))
            raise ValueError(f"action id {a} ({self.task.action_text(a)!r}) is not offered in this state; "
                             f"offered ids: {offered}")
        self._i = node.next[a]
        node = self._nodes[self._i]
        self._t += 1
        terminated = node.success
        reward = 1.0 if terminated else 0.0
        self._return += self._discount * reward
        self._discount *= self._gamma
        truncated = not terminated and self._t >= self._horizon
        info = self._info(node)
        if terminated or truncated:
            info["episode"] = {"return": self._return, "length": self._t, "success": self._return > 0}
            self._done = True
        return node.obs.copy(), reward, terminated, truncated, info

    def render(self):
        if self.render_mode != "ansi":
            return None
        node = self._nodes[self._i]
        options = "\n".join(f"  [{i}] {text}" for i, text in zip(node.action_ids, node.actions))
        return f"{node.prompt}\n{options}"
