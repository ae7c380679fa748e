"""Opt-in checks with the real SmolLM2-135M-Instruct (``python -m pytest -m slow tests/llm``)."""
from __future__ import annotations

import pytest
import torch

from tests.llm.llm_testing import (
    FOOD_ACTIONS,
    FOOD_PROMPT,
    TOMATO_ACTIONS,
    TOMATO_PROMPT,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    torch.set_num_threads(2)
    from methods.llm.policy import LLMConfig, LLMPolicy

    return LLMPolicy(LLMConfig(model="smollm2", normalization="none", lora_r=8))


@pytest.mark.parametrize("prompt,actions", [(TOMATO_PROMPT, TOMATO_ACTIONS), (FOOD_PROMPT, FOOD_ACTIONS)])
def test_real_model_shared_scoring_equals_naive(smollm2, prompt, actions):
    with torch.no_grad():
        shared = smollm2.logits([prompt, prompt], [actions, actions[::-1]])
        naive = smollm2.naive_logits([prompt], [actions], batched=False)[0]
    torch.testing.assert_close(shared[0], naive, atol=1e-4, rtol=0)
    torch.testing.assert_close(shared[1], naive.flip(0), atol=1e-4, rtol=0)
    assert smollm2.counters()["tokenization_fallbacks"] == 0


def test_real_model_zero_shot_prior_and_critic(smollm2):
    """SmolLM2's measured zero-shot preference (docs/llm.md): on the initial Tomato-Salad state the
    right first step, "pick up the tomato", is the most likely action under every normalization."""
    with torch.no_grad():
        joint = smollm2.logits([TOMATO_PROMPT], [TOMATO_ACTIONS])[0]
    assert joint.argmax().item() == TOMATO_ACTIONS.index("pick up the tomato")
    values = smollm2.values([TOMATO_PROMPT, FOOD_PROMPT])
    assert torch.isfinite(values).all() and values.abs().max() < 5
