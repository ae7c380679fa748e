"""The base of every method PPO trains (``ppo``, ``twosome*``): one wrapper around
:class:`methods.ppo_core.PPO`.

A subclass only says how its actor-critic is built (``build_agent``) and what it adds to the
counters and the checkpoint; rollouts, updates, acting, the decision counters and the PPO state
are here once.
"""
from __future__ import annotations

import abc
from typing import Any

import numpy as np

from harness.method_api import Method
from methods.ppo_core import PPOConfig


class PPOTrainedMethod(Method):
    """A :class:`harness.method_api.Method` whose learner is ``methods.ppo_core.PPO``."""

    Config = PPOConfig

    @classmethod
    def step_multiple(cls, config: PPOConfig) -> int:
        return config.num_envs * config.num_steps  # one rollout: eval points fall between updates

    def __init__(self, config, env_spec, observation_space, action_space, total_steps, seed):
        from methods.ppo_core import PPO

        super().__init__(config, env_spec, observation_space, action_space, total_steps, seed)
        n_actions = int(action_space.n)
        self.agent = self.build_agent(config, observation_space, n_actions, seed)
        self.ppo = PPO(self.agent, config, n_actions, total_steps, seed)
        self.eval_decisions = 0

    @abc.abstractmethod
    def build_agent(self, config: PPOConfig, observation_space, n_actions: int, seed: int):
        """The :class:`methods.ppo_core.ActorCritic` PPO trains."""

    def learn(self, pool, steps: int) -> dict[str, float]:
        return self.ppo.learn(pool, steps)

    def attach_logger(self, log) -> None:
        self.ppo.on_update = log  # called with (env step, update statistics) after every update

    def _log_probs(self, obs, infos):
        from methods.ppo_core import trim_info

        obs = np.asarray(obs, dtype=np.float32).reshape(len(infos), -1)
        return self.ppo.policy(obs, [trim_info(i) for i in infos])[0]

    def act(self, obs, infos, rng, greedy=False):
        from methods.ppo_core import sample_actions

        log_probs = self._log_probs(obs, infos)
        self.eval_decisions += len(infos)
        return sample_actions(log_probs, rng, greedy)

    def action_probabilities(self, obs, infos):
        return self._log_probs(obs, infos).exp().double().numpy()

    def extra_counters(self) -> dict[str, float]:
        """Counters a subclass adds (e.g. the LLM's tokens forwarded)."""
        return {}

    def counters(self) -> dict[str, float]:
        s = self.ppo.stats
        return {**self.extra_counters(), "train_decisions": s["train_decisions"],
                "eval_decisions": self.eval_decisions, "updates": s["updates"],
                "actor_steps": s["actor_steps"], "kl_stops": s["kl_stops"]}

    def extra_state(self) -> dict[str, Any]:
        """Checkpoint entries a subclass adds beside the PPO state."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore ``extra_state``; called after the PPO state (weights) is loaded."""

    def state_dict(self) -> dict[str, Any]:
        return {"ppo": self.ppo.state_dict(), "eval_decisions": self.eval_decisions,
                **self.extra_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ppo.load_state_dict(state["ppo"])
        self.eval_decisions = state["eval_decisions"]
        self.load_extra_state(state)
