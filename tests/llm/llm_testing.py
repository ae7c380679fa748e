"""Shared helpers of the LLM policy tests: spec prompts, the tiny policy, LoRA perturbation."""
from __future__ import annotations

import torch

from methods.llm.policy import LLMConfig, LLMPolicy

# Spec Appendix A, prompt 21 (the initial Tomato-Salad state) and its offered actions.
TOMATO_PROMPT = ("There is a fixed cutting board in the room. You notice a tomato on the table. "
                 "Currently you don't have anything in hand. To serve the dish of a bowl only "
                 "containing chopped tomato, you should first")
TOMATO_ACTIONS = ["pick up the tomato", "take the bowl", "walk to the cutting board",
                  "serve nothing", "chop nothing"]
# Spec Appendix B.1, the initial Food-Preparation state (offered ids [0, 2, 3, 4, 5]).
FOOD_PROMPT = ("There are four rooms: the kitchen, bathroom, bedroom, and living room. You are in the "
               "kitchen. You notice pancake and microwave. Currently, you are not grabbing anything in "
               "hand. The pancake and the microwave are not close to you. The microwave is not opend. "
               "In order to heat up the pancake in the microwave, your next step is to")
FOOD_ACTIONS = ["walk to the living room", "walk to the bathroom", "walk to the bedroom",
                "walk to the pancake", "walk to the microwave"]


def make_policy(**overrides) -> LLMPolicy:
    fields = dict(model="tiny", normalization="none")
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
