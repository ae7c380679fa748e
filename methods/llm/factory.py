"""Building an LLMPolicy for a method, and the LLM cost counters a method reports.

Shared by every LLM method (``saycan``, ``twosome*``). ``build_llm_policy`` is the one place a
policy is built, so the method tests replace it with a fast fake in one spot.
"""
from __future__ import annotations

from typing import Any


def build_llm_policy(kwargs: dict[str, Any], seed: int):
    """An ``LLMPolicy`` from ``LLMConfig`` fields (torch and the model load only here)."""
    from methods.llm.policy import LLMConfig, LLMPolicy

    return LLMPolicy(LLMConfig(**kwargs), seed=seed)


class LLMCounters:
    """LLM cost counters that survive a resume: counts before the checkpoint are added back (a
    resumed process's policy starts its own counters at zero)."""

    def __init__(self, llm):
        self.llm, self.base = llm, {}

    def __call__(self) -> dict[str, float]:
        now = self.llm.counters()
        return {k: self.base.get(k, 0) + now.get(k, 0) for k in {*now, *self.base}}

    def load(self, saved: dict[str, float]) -> None:
        now = self.llm.counters()
        self.base = {k: saved.get(k, 0) - now.get(k, 0) for k in {*saved, *now}}
