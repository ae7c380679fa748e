"""Registered methods: presets, the twosome variants, SayCan, counters and exact checkpoint resume."""
import copy
import dataclasses
import pickle

import numpy as np
import pytest
import torch

from harness.registry import METHODS
from methods.ppo import PPOMethod
from methods.saycan import SayCan
from methods.twosome import Twosome, TwosomeNone
from tests.methods.helpers import build, make_pool, toy_spec
from tests.methods.toy_envs import ButtonChain, OneShot, RaggedRooms

VARIANTS = {"twosome": "word", "twosome-token": "token", "twosome-none": "none"}


def test_all_methods_registered():
    for name in ("ppo", "saycan", *VARIANTS):
        assert name in METHODS.names()
    assert METHODS.get("twosome") is Twosome and METHODS.get("twosome-none") is TwosomeNone


@pytest.mark.parametrize("preset", ["cpu", "paper"])
@pytest.mark.parametrize("family", ["overcooked", "virtualhome"])
def test_twosome_variants_differ_only_in_normalization(fake_llm, preset, family):
    spec = toy_spec(ButtonChain, family=family)
    methods = {name: build(METHODS.get(name), spec, preset=preset, num_envs=None)
               for name in VARIANTS}
    configs = [dataclasses.asdict(m.config) for m in methods.values()]
    assert configs[0] == configs[1] == configs[2]
    for kwargs, norm in zip(fake_llm, VARIANTS.values()):
        assert kwargs == {**fake_llm[0], "normalization": norm}
    # ...and the normalization really changes the policy.
    env = spec.make()
    obs, info = env.reset()
    lps = [m.ppo.policy(obs[None], [info])[0] for m in methods.values()]
    assert not torch.allclose(lps[0], lps[1]) and not torch.allclose(lps[0], lps[2])


def test_paper_presets_match_the_spec(fake_llm):
    oc, vh = toy_spec(ButtonChain, "overcooked"), toy_spec(RaggedRooms, "virtualhome")
    tw = Twosome.preset_overrides("paper", oc)
    assert (tw["policy_lr"], tw["value_lr"], tw["gamma"]) == (5e-7, 1e-5, 0.99)
    assert (tw["num_steps"], tw["minibatch_size"], tw["grad_accum_steps"],
            tw["value_minibatch_size"], tw["target_kl"]) == (32, 4, 8, 32, 0.02)
    tw = Twosome.preset_overrides("paper", vh)
    assert (tw["policy_lr"], tw["value_lr"], tw["gamma"]) == (1e-6, 5e-5, 0.95)
    ts = dataclasses.replace(oc, name="overcooked/tomato-salad")
    pp = PPOMethod.preset_overrides("paper", ts)
    assert (pp["policy_lr"], pp["num_steps"], pp["minibatch_size"], pp["update_epochs"],
            pp["target_kl"], pp["gamma"]) == (1e-4, 128, 128, 4, None, 0.99)
    assert PPOMethod.preset_overrides("paper", vh)["policy_lr"] == 1e-3
    cfg = PPOMethod.Config(**PPOMethod.preset_overrides("paper", ts))
    assert PPOMethod.env_kwargs(cfg, ts) == {"obs_radius": 10}
    assert PPOMethod.env_kwargs(cfg, vh) == {}


def test_mlp_init_is_the_baselines():
    spec = toy_spec(ButtonChain)
    m = build(PPOMethod, spec)
    w = m.agent.actor[0].weight.detach()
    # orthogonal rows scaled by sqrt(2) (64 x 5: rows span, so W W^T is not I; W^T W = 2 I)
    np.testing.assert_allclose((w.T @ w).numpy(), 2 * np.eye(w.shape[1]), atol=1e-5)
    assert m.agent.actor[4].weight.norm() < 0.05 and m.agent.actor[0].bias.abs().sum() == 0


def test_saycan_is_greedy_masked_and_frozen(fake_llm):
    spec = toy_spec(RaggedRooms, family="virtualhome")
    method = build(SayCan, spec)
    assert fake_llm[0]["lora_r"] == 0 and fake_llm[0]["normalization"] == "word"
    assert not SayCan.trains and method.llm.actor_parameters() == []
    env = spec.make()
    obs, info = env.reset()
    rng = np.random.default_rng(0)
    picks = {int(method.act(obs[None], [info], rng)[0]) for _ in range(20)}
    log_probs = method.say_can([info])[0]
    assert picks == {int(log_probs.argmax())} and info["action_mask"][picks.pop()]
    assert torch.exp(log_probs)[~torch.as_tensor(info["action_mask"])].sum() == 0
    pool = make_pool(spec, 4)
    before = copy.deepcopy(pool.obs)
    assert method.learn(pool, 100) == {"env_steps": 100}
    assert np.array_equal(pool.obs, before)
    assert method.counters()["eval_decisions"] == 20 and method.counters()["llm_forwards"] >= 1


def _run_segment(method, pool, steps):
    stats = method.learn(pool, steps)
    rng = np.random.default_rng(7)
    env = ButtonChain()
    obs, info = env.reset()
    actions = [int(method.act(obs[None], [info], rng)[0]) for _ in range(10)]
    return stats, actions


@pytest.mark.parametrize("method_cls", [PPOMethod, Twosome])
def test_checkpoint_round_trip_resumes_identically(fake_llm, method_cls):
    spec = toy_spec(ButtonChain, family="overcooked")
    kw = dict(num_steps=16, minibatch_size=16, value_minibatch_size=16, total_steps=4000, seed=3)
    a = build(method_cls, spec, **kw)
    pool = make_pool(spec, 4, seed=3)
    a.learn(pool, 100)  # ends mid-rollout: the partial rollout must be in the checkpoint
    blob = pickle.dumps((a.state_dict(), pool))
    continued = _run_segment(a, pool, 200)

    b = build(method_cls, spec, **{**kw, "seed": 99})  # different init: load must overwrite it
    state, pool_b = pickle.loads(blob)
    b.load_state_dict(state)
    resumed = _run_segment(b, pool_b, 200)
    assert continued == resumed
    for pa, pb in zip(a.agent.actor_parameters() + a.agent.critic_parameters(),
                      b.agent.actor_parameters() + b.agent.critic_parameters()):
        assert torch.equal(pa, pb)
    # Cost counters of the LLM differ legitimately (b's score cache started cold); the rest match.
    llm_costs = {"llm_forwards", "tokens_forwarded", "score_cache_hits"}
    strip = lambda c: {k: v for k, v in c.items() if k not in llm_costs}
    assert strip(a.counters()) == strip(b.counters())


def test_twosome_counters_pass_llm_counters_through(fake_llm):
    spec = toy_spec(OneShot)
    m = build(Twosome, spec, num_steps=4, minibatch_size=16, value_minibatch_size=16)
    m.learn(make_pool(spec, 4), 16)
    c = m.counters()
    assert c["train_decisions"] == 16 and c["updates"] == 1
    assert c["tokens_forwarded"] > 0 and c["llm_forwards"] >= 2 and c["score_cache_hits"] > 0
