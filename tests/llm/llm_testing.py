"""Shared helpers of the LLM policy tests: spec prompts, the tiny policy, LoRA perturbation."""
from __future__ import annotations

import torch

from methods.llm.policy import LLMConfig, LLMPolicy
from methods.llm.prompts import FOOD_INITIAL, TOMATO_INITIAL

TOMATO_PROMPT, TOMATO_ACTIONS = TOMATO_INITIAL
FOOD_PROMPT, FOOD_ACTIONS = FOOD_INITIAL


def make_policy(**overrides) -> LLMPolicy:
    fields = {"model": "tiny", "normalization": "none"}
    fields.update(overrides)
    seed = fields.pop("seed", 0)
    return LLMPolicy(LLMConfig(**fields), seed=seed)


def perturb_lora(policy: LLMPolicy, seed: int = 0, scale: float = 0.2) -> None:
    """Give every LoRA matrix random values (B starts at 0, which would hide adapter bugs)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in policy.actor_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    policy.new_policy_version()
