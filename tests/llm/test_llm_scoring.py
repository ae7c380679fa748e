"""Shared-prefix action scoring equals the naive definition, for any batch and padding."""
from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from methods.llm import scoring
from methods.llm.scoring import encode_pair, naive_joint_logprobs, normalize
from tests.llm.llm_testing import (
    FOOD_ACTIONS,
    FOOD_PROMPT,
    TOMATO_ACTIONS,
    TOMATO_PROMPT,
    make_policy,
    perturb_lora,
)

# Words chosen to stress tokenization: sub-word splits ("pancake" -> "panc"+"ake"), digits,
# punctuation, apostrophes, non-ASCII, an emoji, and case.
WORDS = ["the", "tomato", "pancake", "sofa", "Pick", "up", "café", "42", "-", "'s", ",", "TV",
         "microwave", "a.b", "🍅", "you", "should", "first", "is", "to", "naïve"]
word_lists = st.lists(st.sampled_from(WORDS), min_size=1, max_size=10)
prompts = st.builds(lambda ws, end: " ".join(ws) + end, word_lists,
                    st.sampled_from(["", "", "", " ", "\n"]))  # trailing space: tokenizer fallback
# A leading space on an action after a prompt's trailing space triggers the tokenizer fallback.
actions = st.builds(lambda start, ws: start + " ".join(ws), st.sampled_from(["", "", "", " "]),
                    st.lists(st.sampled_from(WORDS), min_size=1, max_size=5))


@pytest.fixture(scope="module")
def shared_policy():
    pol = make_policy()
    perturb_lora(pol, seed=3)
    return pol


def reference(policy, prompt, acts) -> torch.Tensor:
    """Each prompt + " " + action encoded alone, one forward per string, no padding."""
    with torch.no_grad():
        return naive_joint_logprobs(policy._causal_lm, policy.tokenizer, prompt, acts, batched=False)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), pool=st.lists(prompts, min_size=1, max_size=3),
       n_states=st.integers(1, 5), chunk=st.sampled_from([4096, 48]))
def test_shared_scoring_equals_naive_reference(shared_policy, data, pool, n_states, chunk):
    """Property: for random prompts, action lists, batch sizes, duplicate prompts and padding
    (and chunked forwards), the shared-prefix scores equal the one-string-at-a-time reference."""
    policy = shared_policy
    policy.chunk_tokens = chunk
    states_p = [data.draw(st.sampled_from(pool)) for _ in range(n_states)]
    states_a = [data.draw(st.lists(actions, min_size=1, max_size=4)) for _ in range(n_states)]
    policy.new_policy_version()
    with torch.no_grad():
        shared = policy.logits(states_p, states_a)
        cached = policy.logits(states_p, states_a)
    graded = policy.logits(states_p, states_a)
    for p, acts, s, c, g in zip(states_p, states_a, shared, cached, graded):
        ref = reference(policy, p, acts)
        assert s.dtype == torch.float32 and s.shape == (len(acts),)
        torch.testing.assert_close(s, ref, atol=1e-4, rtol=0)
        assert torch.equal(c, s)
        torch.testing.assert_close(g.detach(), ref, atol=1e-4, rtol=0)
    policy.chunk_tokens = scoring.DEFAULT_CHUNK_TOKENS


def test_batched_naive_equals_unbatched_naive(shared_policy):
    """The benchmark's naive path (original TWOSOME padding scheme) is the same function."""
    with torch.no_grad():
        batched = naive_joint_logprobs(shared_policy._causal_lm, shared_policy.tokenizer, FOOD_PROMPT,
                                       FOOD_ACTIONS + ["grab the pancake"], batched=True)
    ref = reference(shared_policy, FOOD_PROMPT, FOOD_ACTIONS + ["grab the pancake"])
    torch.testing.assert_close(batched, ref, atol=1e-4, rtol=0)


@pytest.mark.parametrize("prompt,acts", [(TOMATO_PROMPT, TOMATO_ACTIONS), (FOOD_PROMPT, FOOD_ACTIONS)])
def test_spec_prompts_split_at_the_prompt_boundary(shared_policy, prompt, acts):
    tok = shared_policy.tokenizer
    for action in acts:
        enc = encode_pair(tok, prompt, action)
        assert not enc.fallback
        assert list(enc.prefix) == tok(prompt).input_ids
        assert list(enc.action) == tok(" " + action, add_special_tokens=False).input_ids


def test_trailing_space_prompt_uses_the_full_string_split(shared_policy):
    """A prompt ending in whitespace and an action starting with whitespace: BPE groups the run of
    spaces differently in the full string, so prompt tokens + action tokens is not the full
    string's tokenization; the pair is split from the full string's tokens instead."""
    tok = shared_policy.tokenizer
    enc = encode_pair(tok, "you should first ", " walk")
    full = tok("you should first   walk").input_ids
    assert enc.fallback
    assert list(enc.prefix) + list(enc.action) == full
    assert len(enc.action) == len(tok("  walk", add_special_tokens=False).input_ids) == 2
    before = shared_policy.counters()["tokenization_fallbacks"]
    with torch.no_grad():
        got = shared_policy.logits(["you should first "], [[" walk", "\nwalk"]])[0]
    assert shared_policy.counters()["tokenization_fallbacks"] == before + 2
    torch.testing.assert_close(got, reference(shared_policy, "you should first ", [" walk", "\nwalk"]),
                               atol=1e-4, rtol=0)


# Token/word counts of real action strings under the SmolLM2 tokenizer (" " + action): sub-word
# splits make the token count exceed the word count ("panc"+"ake", "so"+"fa").
COUNTS = {"grab the pancake": (4, 3), "sit on the sofa": (5, 4), "open the microwave": (3, 3),
          "put the pancake in the microwave": (7, 6), "walk to the cutting board": (5, 5)}


def test_token_and_word_counts_of_action_strings(shared_policy):
    for action, (n_tokens, n_words) in COUNTS.items():
        assert len(shared_policy.tokenizer(" " + action, add_special_tokens=False).input_ids) == n_tokens
        assert scoring.word_count(action) == n_words


@pytest.mark.parametrize("mode", ["none", "token", "word"])
def test_normalizations_match_hand_computed_scores(mode):
    policy = make_policy(normalization=mode)
    perturb_lora(policy, seed=5)
    acts = list(COUNTS)
    joint = reference(policy, FOOD_PROMPT, acts)
    divisor = {"none": [1] * len(acts), "token": [c[0] for c in COUNTS.values()],
               "word": [c[1] for c in COUNTS.values()]}[mode]
    expected = joint / torch.tensor(divisor, dtype=torch.float32)
    with torch.no_grad():
        got = policy.logits([FOOD_PROMPT], [acts])[0]
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    if mode != "none":  # a sub-word split must make token and word normalization differ
        assert not torch.allclose(got, joint)


def test_normalize_arithmetic():
    joint = torch.tensor([-6.0, -10.0, -3.0])
    assert normalize(joint, "none", [3, 5, 1], [2, 4, 1]).tolist() == [-6.0, -10.0, -3.0]
    assert normalize(joint, "token", [3, 5, 1], [2, 4, 1]).tolist() == [-2.0, -2.0, -3.0]
    assert normalize(joint, "word", [3, 5, 1], [2, 4, 1]).tolist() == [-3.0, -2.5, -3.0]
    with pytest.raises(ValueError, match="unknown normalization 'toekn'.*none, token, word"):
        normalize(joint, "toekn", [1, 1, 1], [1, 1, 1])


def test_bad_batches_are_rejected(shared_policy):
    with pytest.raises(ValueError, match="2 prompts but 1 action lists"):
        shared_policy.logits(["a", "b"], [["x"]])
    with pytest.raises(ValueError, match="non-empty list"):
        shared_policy.logits(["a"], [[]])
    with pytest.raises(ValueError, match="at least one word"):
        shared_policy.logits(["a"], [["  "]])
    with pytest.raises(TypeError, match="single string"):
        shared_policy.logits("a", [["x"]])
    with pytest.raises(ValueError, match="prompt '' encodes to no context tokens"):
        shared_policy.logits([""], [["walk"]])


def test_bfloat16_runs_and_returns_float32_close_to_fp32():
    fp32, bf16 = make_policy(), make_policy(dtype="bfloat16")
    with torch.no_grad():
        a = fp32.logits([TOMATO_PROMPT], [TOMATO_ACTIONS])[0]
        b = bf16.logits([TOMATO_PROMPT], [TOMATO_ACTIONS])[0]
    assert b.dtype == torch.float32 and torch.isfinite(b).all()
    assert (a - b).abs().max() < 0.5  # bf16 moves log-probs by tenths of a nat (offline-llm.md)
