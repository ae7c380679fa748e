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
    # The discount of the logged return (per decision; Overcooked: per primitive step, gamma**k
    # for a k-step macro). A method that discounts as the env logs uses it as its gamma.
    discount: float | None = None
    paper_total_steps: int | None = None  # the original training budget (decisions x envs)
    # The harness's default budget: enough for TWOSOME with SmolLM2 to learn on a 2-core CPU in
    # well under an hour where it can. preset=paper uses paper_total_steps instead.
    default_total_steps: int | None = None
    tags: tuple[str, ...] = ()  # e.g. ("unseen",) for the generalization set
    # For an unseen variant: the task it is a word substitution of. harness/transfer.py evaluates
    # policies trained on base_task on it zero-shot.
    base_task: str | None = None
    # Other tasks whose trained policies are evaluated on this one zero-shot (crossover transfer,
    # e.g. Food Preparation -> Entertainment).
    transfer_from: tuple[str, ...] = ()
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


class EnvContractError(AssertionError):
    """An env breaks the interface above; ``str()`` names the env, the step and the rule."""


def check_env(spec: EnvSpec, seed: int = 0, episodes: int = 2, max_steps: int = 2_000,
              **kwargs: Any) -> None:
    """Check a registered env against gymnasium's API and the text interface every method reads.

    Gymnasium's own checker (spaces, reset/step signatures, seeding determinism), then, over
    ``episodes`` episodes of uniformly random *offered* actions: every info carries ``INFO_KEYS``;
    ``actions`` and ``action_ids`` are non-empty, equally long and distinct; ``action_mask`` is a
    bool array over the action space that is True exactly at ``action_ids``; the prompt is a
    non-empty string; ``macro_action_steps`` (if present) is an int >= 1; the same seed gives the
    same first observation and prompt; and the ending step's ``info["episode"]`` holds the
    episode's return, its length in decisions and a bool success. Raises EnvContractError.
    """
    from gymnasium.utils.env_checker import check_env as gymnasium_check_env
    from harness.errors import first_line

    def fail(where: str, rule: str) -> None:
        raise EnvContractError(f"{spec.name}: {where}: {rule}")

    env = spec.make(**kwargs)
    try:
        gymnasium_check_env(env, skip_render_check=True)
    except Exception as err:  # noqa: BLE001 -- gymnasium raises AssertionError and others
        fail("gymnasium check_env", first_line(err))
    if not isinstance(env.action_space, gym.spaces.Discrete):
        fail("action_space", f"must be Discrete over global action ids, got {env.action_space}")
    n = int(env.action_space.n)

    def check_info(info: dict, where: str) -> list[int]:
        missing = [k for k in INFO_KEYS if k not in info]
        if missing:
            fail(where, f"info lacks {missing} (every reset and step carries {list(INFO_KEYS)})")
        prompt, actions, ids, mask = (info[k] for k in INFO_KEYS)
        if not isinstance(prompt, str) or not prompt.strip():
            fail(where, f"prompt must be a non-empty str, got {prompt!r}")
        if not actions or not all(isinstance(a, str) and a for a in actions):
            fail(where, f"actions must be non-empty strings, got {actions!r}")
        if len(actions) != len(ids) or len(set(ids)) != len(ids) or len(set(actions)) != len(actions):
            fail(where, f"actions {actions!r} and action_ids {ids!r}: equal length, no repeats")
        if not all(isinstance(i, (int, np.integer)) and 0 <= i < n for i in ids):
            fail(where, f"action_ids {ids!r} must be ints in [0, {n})")
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (n,):
            fail(where, f"action_mask must be bool of shape ({n},), got {mask.dtype} {mask.shape}")
        if sorted(np.flatnonzero(mask).tolist()) != sorted(int(i) for i in ids):
            fail(where, f"action_mask is True at {np.flatnonzero(mask).tolist()}, not exactly "
                        f"at action_ids {sorted(ids)}")
        if "macro_action_steps" in info:
            k = info["macro_action_steps"]
            if not isinstance(k, (int, np.integer)) or k < 1:
                fail(where, f"macro_action_steps must be an int >= 1, got {k!r}")
        return [int(i) for i in ids]

    try:
        first_obs, first_info = env.reset(seed=seed)
        again_obs, again_info = env.reset(seed=seed)
        if not np.array_equal(first_obs, again_obs) or first_info["prompt"] != again_info["prompt"]:
            fail("reset", f"reset(seed={seed}) twice gave different observations or prompts")
        rng = np.random.default_rng(seed)
        for episode in range(episodes):
            obs, info = env.reset(seed=seed + episode)
            total, decisions = 0.0, 0
            for step in range(max_steps):
                where = f"episode {episode}, step {step}"
                ids = check_info(info, where)
                obs, reward, terminated, truncated, info = env.step(ids[rng.integers(len(ids))])
                if not np.isfinite(reward):
                    fail(where, f"reward {reward!r} is not finite")
                decisions += 1
                if terminated or truncated:
                    stats = info.get("episode")
                    if not isinstance(stats, dict) or not {"return", "length", "success"} <= set(stats):
                        fail(where, "the ending step's info['episode'] must hold return, length "
                                    f"and success, got {stats!r}")
                    if stats["length"] != decisions:
                        fail(where, f"info['episode']['length'] = {stats['length']}, but the "
                                    f"episode took {decisions} decisions")
                    if not isinstance(stats["success"], (bool, np.bool_)):
                        fail(where, f"info['episode']['success'] must be a bool, got "
                                    f"{stats['success']!r}")
                    if not np.isfinite(stats["return"]):
                        fail(where, f"info['episode']['return'] {stats['return']!r} is not finite")
                    check_info(info, f"{where} (ending step)")
                    break
                if "episode" in info:
                    fail(where, "info['episode'] appears before the episode ends")
            else:
                fail(f"episode {episode}", f"did not end within {max_steps} decisions "
                                           "(no truncation?)")
    finally:
        env.close()
