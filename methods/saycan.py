"""``saycan``: the frozen LLM's action probabilities times an affordance, acting greedily.

A reconstruction (spec §2.6): the original repository contains no SayCan code. "Say" is the same
word-normalized action distribution TWOSOME starts from (LLMPolicy with ``lora_r=0``, so the model
never changes); "can" is 1 for every offered action and 0 otherwise (the env's ``action_mask``;
Overcooked offers all actions). The action with the highest product is taken.

Nothing is trained (``trains = False``). ``learn`` does not step the envs: a frozen policy's returns
do not depend on how many training steps pass, so spending LLM time on training rollouts would buy
nothing. It reports ``env_steps = steps`` so the protocol's step axis advances and SayCan's flat
evaluations line up with the trained methods' curves.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.method_api import Method, MethodConfig
from harness.registry import register_method


@dataclass
class SayCanConfig(MethodConfig):
    model: str = "smollm2"
    dtype: str = "float32"
    normalization: str = "word"  # of the "say" score; word = the same as twosome's initial policy
    sample: bool = False  # True: sample from say*can instead of taking the argmax

    def validate(self) -> None:
        super().validate()
        from methods.llm.policy import LLMConfig  # the LLM fields are checked where they live

        LLMConfig(model=self.model, dtype=self.dtype, normalization=self.normalization,
                  lora_r=0).validate()


@register_method("saycan", "SayCan (reconstruction): frozen LLM action probability x affordance, "
                 "greedy; no training")
class SayCan(Method):
    Config = SayCanConfig
    presets = {"cpu": lambda spec: {}, "paper": lambda spec: {}}
    trains = False
    reads_text = True

    def __init__(self, config, env_spec, observation_space, action_space, total_steps, seed):
        from methods.llm import factory

        super().__init__(config, env_spec, observation_space, action_space, total_steps, seed)
        self.llm = factory.build_llm_policy(dict(model=config.model, dtype=config.dtype, lora_r=0,
                                                 normalization=config.normalization), seed)
        self.llm_counters = factory.LLMCounters(self.llm)
        self.n_actions = int(action_space.n)
        self.decisions = 0

    def learn(self, pool, steps: int) -> dict[str, float]:
        return {"env_steps": steps}

    def say_can(self, infos: list[dict]):
        """(B, n) log(say * can): log-softmax of the LLM scores over the offered ids, -inf-like
        (probability 0) elsewhere."""
        import torch

        from methods.ppo_core import action_mask, masked_log_probs

        mask = action_mask(infos, self.n_actions)
        with torch.no_grad():
            scores = self.llm.logits([i["prompt"] for i in infos], [i["actions"] for i in infos])
            logits = torch.zeros(len(infos), self.n_actions)
            for row, (info, s) in enumerate(zip(infos, scores)):
                logits[row, list(info["action_ids"])] = s.float()
            return masked_log_probs(logits, torch.as_tensor(mask))

    def act(self, obs, infos, rng, greedy=False):
        from methods.ppo_core import sample_actions

        self.decisions += len(infos)
        # SayCan is defined by its argmax; the protocol's greedy=False does not change that.
        return sample_actions(self.say_can(infos), rng, greedy=not self.config.sample)

    def action_probabilities(self, obs, infos):
        """say x can, normalized over the offered actions (SayCan takes its argmax)."""
        return self.say_can(infos).exp().double().numpy()

    def counters(self) -> dict[str, float]:
        return {**self.llm_counters(), "eval_decisions": self.decisions}

    def state_dict(self) -> dict[str, Any]:
        return {"decisions": self.decisions, "llm_counters": self.llm_counters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decisions = state["decisions"]
        self.llm_counters.load(state["llm_counters"])
