"""The environment interface every method reads, and a small same-step-autoreset env pool.

Every registered env is a ``gymnasium.Env`` whose observation is the numeric vector the PPO baseline
reads and whose action space is ``Discrete(n)`` over *global* action ids. ``info`` (from ``reset``
and from every ``step``) carries the text interface the LLM methods read:

- ``prompt`` (str): the observation sentence(s), ending so that ``prompt + " " + action`` is one
  sentence;
- ``actions`` (list[str]): the offered action strings, in the order shown to the LLM;
- ``action_ids`` (list[int]): the global action id of each offered string;
- ``action_mask`` (np.ndarray[bool], shape (n,)): True for offered ids;
- ``macro_action_steps`` (int, Overcooked ``step`` only): primitive steps the macro took, the k of
  the semi-MDP discount gamma**k (absent = 1).

On the step that ends an episode, ``info["episode"]`` holds ``{"return": logged return (discounted
as the original logs it), "length": decisions in the episode, "success": bool}``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

INFO_KEYS = ("prompt", "actions", "action_ids", "action_mask")


@dataclass(frozen=True)
class EnvSpec:
    """What the harness knows about a registered env besides how to build it."""

    name: str
    factory: Callable[..., gym.Env]
    description: str = ""
    family: str = ""  # "overcooked" | "virtualhome" | ...: methods key their presets on it
    ceiling: float | None = None  # best achievable logged return (for thresholds in reports)
    random_return: float | None = None  # uniform-random policy's mean logged return
    paper_total_steps: int | None = None  # the original training budget (decisions x envs)
    # The harness's default budget: enough for TWOSOME with SmolLM2 to learn on a 2-core CPU in
    # well under an hour where it can. preset=paper uses paper_total_steps instead.
    default_total_steps: int | None = None
    tags: tuple[str, ...] = ()  # e.g. ("unseen",) for the generalization set
    base_task: str | None = None  # for variants: the task they are a word substitution of
    default_kwargs: dict[str, Any] = field(default_factory=dict)

    def make(self, **kwargs: Any) -> gym.Env:
        return self.factory(**{**self.default_kwargs, **kwargs})


class EnvPool:
    """``n`` copies of one env stepped in lockstep, resetting an env in the same step it ends.

    Unlike gymnasium's vector envs this keeps ``infos`` as a list of plain dicts (prompts and action
    lists are ragged) and hands the ending step's info over in ``info["final_info"]``. It is plain
    Python state, so it pickles into a checkpoint and a resumed run continues exactly.
    """

    def __init__(self, envs: Sequence[gym.Env]):
        self.envs = list(envs)
        self.obs: np.ndarray | None = None
        self.infos: list[dict] | None = None

    def __len__(self) -> int:
        return len(self.envs)

    def reset(self, seed: int) -> tuple[np.ndarray, list[dict]]:
        results = [env.reset(seed=seed + i) for i, env in enumerate(self.envs)]
        self.obs = np.stack([o for o, _ in results])
        self.infos = [info for _, info in results]
        return self.obs, self.infos

    def step(self, actions: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """Returns (obs, rewards, dones, infos); ``dones`` = terminated or truncated."""
        obs, rewards, dones, infos = [], [], [], []
        for env, action in zip(self.envs, actions):
            o, r, terminated, truncated, info = env.step(int(action))
            done = terminated or truncated
            if done:
                final_info = info
                o, info = env.reset()
                info = {**info, "final_info": final_info}
            obs.append(o)
            rewards.append(r)
            dones.append(done)
            infos.append(info)
        self.obs, self.infos = np.stack(obs), infos
        return self.obs, np.asarray(rewards, dtype=np.float64), np.asarray(dones), infos
