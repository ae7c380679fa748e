"""TWOSOME and SayCan on the real LLM core with the tiny random-init model (real tokenizer)."""
import pickle

import numpy as np
import pytest
import torch

from methods.saycan import SayCan
from methods.twosome import Twosome, TwosomeNone, TwosomeToken
from tests.methods.helpers import build, make_pool, toy_spec
from tests.methods.toy_envs import ButtonChain, OneShot

pytest.importorskip("peft")
TINY = dict(model="tiny", dtype="float32")  # exact comparisons below: the fp32 reference


def _state(spec):
    obs, info = spec.make().reset()
    return obs[None], [info]


def test_variants_differ_exactly_by_the_normalizing_count():
    """The three registered names build the same LLM up to the divisor of the log-likelihood."""
    spec = toy_spec(OneShot)
    prompt = "You are in the kitchen. In order to heat up the pancake, your next step is to"
    actions = ["defrost the microwaveable pancake", "grab the pancake", "open it"]
    with torch.no_grad():
        scores = {cls.normalization: build(cls, spec, **TINY).llm.logits([prompt], [actions])[0]
                  for cls in (Twosome, TwosomeToken, TwosomeNone)}
    tok = build(Twosome, spec, **TINY).llm.tokenizer
    n_tokens = torch.tensor([len(tok(" " + a, add_special_tokens=False).input_ids)
                             for a in actions], dtype=torch.float32)
    n_words = torch.tensor([len(a.split()) for a in actions], dtype=torch.float32)
    assert not torch.equal(n_tokens, n_words)  # the example separates token from word
    torch.testing.assert_close(scores["word"] * n_words, scores["none"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(scores["token"] * n_tokens, scores["none"], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(scores["word"], scores["token"])


def test_saycan_acts_greedily_on_the_frozen_word_normalized_policy():
    spec = toy_spec(ButtonChain)
    obs, infos = _state(spec)
    saycan, twosome = build(SayCan, spec, **TINY), build(Twosome, spec, **TINY)
    assert saycan.llm.actor_parameters() == []
    initial = twosome.ppo.policy(obs, infos)[0]  # LoRA B = 0: the frozen model
    torch.testing.assert_close(saycan.say_can(infos), initial, rtol=1e-5, atol=1e-5)
    rng = np.random.default_rng(0)
    assert {int(saycan.act(obs, infos, rng)[0]) for _ in range(5)} == {int(initial.argmax())}


def test_twosome_tiny_raises_the_probability_of_the_rewarded_action():
    spec = toy_spec(OneShot)
    method = build(Twosome, spec, **TINY, total_steps=640, num_steps=8, minibatch_size=16,
                   value_minibatch_size=16, policy_lr=1e-2, value_lr=1e-2, target_kl=None)
    obs, infos = _state(spec)
    p0 = float(method.ppo.policy(obs, infos)[0][0, 0].exp())
    method.learn(make_pool(spec, 4), 320)
    p1 = float(method.ppo.policy(obs, infos)[0][0, 0].exp())
    assert p1 > max(0.8, p0 + 0.3), (p0, p1)


def test_twosome_tiny_checkpoint_resumes_identically():
    spec = toy_spec(ButtonChain, family="overcooked")
    kw = dict(**TINY, num_steps=8, minibatch_size=8, value_minibatch_size=16, total_steps=1000,
              policy_lr=1e-3)
    a = build(Twosome, spec, seed=1, **kw)
    pool = make_pool(spec, 4, seed=1)
    a.learn(pool, 36)  # one update + a partial rollout
    blob = pickle.dumps((a.state_dict(), pool))
    stats_a = a.learn(pool, 64)
    b = build(Twosome, spec, seed=2, **kw)
    state, pool_b = pickle.loads(blob)
    b.load_state_dict(state)
    stats_b = b.learn(pool_b, 64)
    assert stats_a.keys() == stats_b.keys()
    for k in stats_a:
        assert stats_a[k] == pytest.approx(stats_b[k], rel=1e-5, abs=1e-6), k
    assert np.array_equal(pool.obs, pool_b.obs)
    for pa, pb in zip(a.llm.actor_parameters(), b.llm.actor_parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lora_layers", [None, 1])
def test_chunked_policy_backward_equals_the_unchunked_gradient(lora_layers):
    """grad_chunk_tokens splits a minibatch's backward by prompt; the accumulated gradient is the
    minibatch's. One policy step per update, no clipping: p.grad is that step's raw gradient."""
    spec = toy_spec(ButtonChain)
    kw = dict(**TINY, lora_layers=lora_layers, num_steps=8, minibatch_size=32,
              value_minibatch_size=32, max_grad_norm=1e9, target_kl=None, policy_lr=1e-3)
    whole = build(Twosome, spec, seed=3, **kw)
    chunked = build(Twosome, spec, seed=3, grad_chunk_tokens=1, **kw)  # one part per prompt
    seen = []
    split = chunked.agent.loss_chunks
    chunked.agent.loss_chunks = lambda infos: seen.append(split(infos)) or seen[-1]
    for method in (whole, chunked):
        method.learn(make_pool(spec, 4, seed=3), 32)
        assert method.ppo.stats["actor_steps"] == 1
    assert len(seen) == 1 and len(seen[0]) > 1  # the minibatch really went back in parts
    infos = [{"prompt": p, "actions": ["press the button", "wait"]}
             for p in ("a b c d", "e f", "a b c d")]
    assert [list(p) for p in split(infos)] == [[0, 2], [1]]  # states sharing a prompt stay together
    full = torch.cat([p.grad.flatten() for p in whole.llm.actor_parameters()])
    parts = torch.cat([p.grad.flatten() for p in chunked.llm.actor_parameters()])
    assert full.norm() > 0
    rel = float((parts - full).norm() / full.norm())
    assert rel <= 1e-5, f"relative gradient error {rel:.2e}"
    for a, b in zip(whole.llm.actor_parameters(), chunked.llm.actor_parameters()):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)  # Adam moves each by ~lr = 1e-3
