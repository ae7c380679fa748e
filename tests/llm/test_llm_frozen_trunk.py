"""Top-K LoRA with the frozen-layer cache equals the full, uncached forward of the same model."""
from __future__ import annotations

import contextlib

import pytest
import torch

from tests.llm.llm_testing import (
    FOOD_ACTIONS,
    FOOD_PROMPT,
    TOMATO_ACTIONS,
    TOMATO_PROMPT,
    make_policy,
    perturb_lora,
)
from tests.llm.test_llm_gradients import STATES, grads, policy_loss

SHORT_PROMPT = "You are in the bedroom. Your next step is to"
PROMPTS = [TOMATO_PROMPT, FOOD_PROMPT, SHORT_PROMPT]
ACTIONS = [TOMATO_ACTIONS, FOOD_ACTIONS, ["walk to the kitchen", "grab the pancake"]]


@contextlib.contextmanager
def uncached(policy):
    """The same model forwarded through all its layers (HF forward), with no cache of any kind."""
    trunk, policy.trunk = policy.trunk, None
    policy._scores.clear()
    policy._features.clear()
    try:
        yield
    finally:
        policy.trunk = trunk
        policy._scores.clear()
        policy._features.clear()


def max_diff(a, b) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def test_adapters_sit_on_the_top_k_layers_only():
    policy = make_policy(lora_layers=1)
    names = [n for n, _ in policy.lm.named_parameters() if "lora_" in n]
    assert names and all(".layers.1." in n for n in names)
    assert policy.split == 1 and policy.trunk is not None
    assert make_policy().trunk is None                  # lora_layers=None: every layer, no trunk
    assert make_policy(lora_layers=2).trunk is None     # K = L is the original model too


def test_split_scores_and_values_equal_the_full_forward_at_several_policy_versions():
    policy = make_policy(lora_layers=1, normalization="word")
    for version in range(3):
        perturb_lora(policy, seed=version)
        with torch.no_grad():
            split = policy.logits(PROMPTS, ACTIONS)
            values = policy.values(PROMPTS)
            with uncached(policy):
                full = policy.logits(PROMPTS, ACTIONS)
                full_values = policy.values(PROMPTS)
                naive = policy.naive_logits(PROMPTS, ACTIONS, batched=False)
        assert max_diff(split, full) <= 1e-5 and max_diff(split, naive) <= 1e-5
        assert float((values - full_values).abs().max()) <= 1e-5
        # Not trivially equal: the adapters move the scores between versions.
        if version:
            assert max_diff(split, previous) > 1e-3
        previous = split
    c = policy.counters()
    # Each prompt's lower layers ran once for the whole run, whatever the policy version.
    assert c["trunk_misses"] == len(PROMPTS) and c["trunk_hits"] >= 2 * len(PROMPTS)
    assert c["trunk_evictions"] == 0 and c["trunk_cache_rows"] == len(PROMPTS)


def test_the_upper_layers_alone_are_forwarded_once_the_trunk_is_cached():
    policy = make_policy(lora_layers=1)
    with torch.no_grad():
        policy.logits(PROMPTS, ACTIONS)
        c1 = policy.counters()
        perturb_lora(policy, seed=4)
        policy.logits(PROMPTS, ACTIONS)
        c2 = policy.counters()
    padded = c2["padded_tokens_forwarded"] - c1["padded_tokens_forwarded"]
    assert padded > 0 and c2["trunk_tokens_forwarded"] == c1["trunk_tokens_forwarded"]
    assert c2["layer_tokens_forwarded"] - c1["layer_tokens_forwarded"] == padded * 1  # 1 of 2 layers


def test_split_gradients_equal_the_full_path():
    policy = make_policy(lora_layers=1, normalization="word")
    perturb_lora(policy, seed=11)
    prompts, acts = [s[0] for s in STATES], [s[1] for s in STATES]

    def actor_and_critic_grads():
        for p in policy.actor_parameters() + policy.critic_parameters():
            p.grad = None
        policy_loss(policy.logits(prompts, acts), STATES).backward()
        policy.values(prompts).square().sum().backward()
        critic = torch.cat([p.grad.flatten() for p in policy.critic_parameters()])
        return grads(policy), critic

    split_actor, split_critic = actor_and_critic_grads()
    with uncached(policy):
        full_actor, full_critic = actor_and_critic_grads()
    for split, full in ((split_actor, full_actor), (split_critic, full_critic)):
        assert full.norm() > 0
        rel = float((split - full).norm() / full.norm())
        assert rel <= 1e-5, f"relative gradient error {rel:.2e}"


def test_cache_eviction_never_changes_a_result():
    roomy = make_policy(lora_layers=1)
    cramped = make_policy(lora_layers=1, trunk_cache_mb=1e-4)  # holds one row at a time
    for version in range(2):
        for pol in (roomy, cramped):
            perturb_lora(pol, seed=version)
        for _ in range(2):  # the second pass re-scores evicted rows (the score cache is dropped)
            for pol in (roomy, cramped):
                pol.new_policy_version()
            with torch.no_grad():
                a = roomy.logits(PROMPTS, ACTIONS)
                b = cramped.logits(PROMPTS, ACTIONS)
            # Recomputed rows were batched differently: equal up to rounding (see frozen_trunk).
            assert all(torch.allclose(x, y, rtol=1e-6, atol=1e-6) for x, y in zip(a, b))
    c = cramped.counters()
    assert c["trunk_evictions"] > 0 and c["trunk_cache_rows"] == 1
    assert c["trunk_cache_mb"] < roomy.counters()["trunk_cache_mb"]


def test_bf16_split_path_agrees_with_a_bf16_naive_reference():
    """bf16 keeps ~3 significant digits per op and the two paths round differently (packed rows
    vs one string per forward), so they agree to a stated tolerance, not exactly: 2e-3 relative
    + 1e-2 (measured: at most 0.048 on joint log-probs of ~50; the same model in fp32 differs by
    up to 0.23). LoRA and the value head stay fp32 (master weights and optimizer state)."""
    policy = make_policy(lora_layers=1, dtype="bfloat16")
    perturb_lora(policy, seed=5)
    assert all(p.dtype == torch.float32 for p in policy.actor_parameters() + policy.critic_parameters())
    with torch.no_grad():
        split = policy.logits(PROMPTS, ACTIONS)
        naive = policy.naive_logits(PROMPTS, ACTIONS, batched=False)
    for s, n in zip(split, naive):
        assert s.dtype == torch.float32
        assert torch.allclose(s, n, rtol=BF16_RTOL, atol=BF16_ATOL), (s - n).abs().max()


BF16_RTOL, BF16_ATOL = 2e-3, 1e-2


@pytest.mark.parametrize("value, message", [
    (0, "lora_layers must be >= 1"),
    (3, r"lora_layers=3 but model 'tiny' has 2 decoder layers: use 1..2, or None for all"),
])
def test_bad_lora_layers_is_a_clear_error(value, message):
    with pytest.raises(ValueError, match=message):
        make_policy(lora_layers=value)


def test_bad_trunk_cache_size_is_a_clear_error():
    with pytest.raises(ValueError, match="trunk_cache_mb must be > 0, got 0"):
        make_policy(lora_layers=1, trunk_cache_mb=0)
