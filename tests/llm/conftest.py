"""Fixtures for the LLM policy tests: the tiny random model with the real SmolLM2 tokenizer."""
from __future__ import annotations

import pytest

from methods.llm.policy import LLMPolicy
from tests.llm.llm_testing import make_policy, perturb_lora


@pytest.fixture
def policy() -> LLMPolicy:
    """A tiny LoRA policy with non-zero adapters, normalization "none"."""
    pol = make_policy()
    perturb_lora(pol)
    return pol
