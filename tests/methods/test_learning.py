"""CI-sized learning checks: each fails if the learning signal is broken (sign, masking, GAE, ...)."""
import numpy as np
import pytest
import torch

from methods.ppo import PPOMethod
from methods.twosome import Twosome
from tests.methods.helpers import build, evaluate, make_pool, toy_spec
from tests.methods.toy_envs import ButtonChain, OneShot, RaggedRooms


@pytest.mark.parametrize("env_cls, family", [(ButtonChain, "overcooked"),
                                             (RaggedRooms, "virtualhome")])
def test_ppo_improves_over_its_initial_policy(env_cls, family):
    torch.manual_seed(0)  # nothing should depend on it; fixed so a failure reproduces
    spec = toy_spec(env_cls, family=family)
    method = build(PPOMethod, spec, total_steps=6000, num_steps=32, minibatch_size=32,
                   policy_lr=3e-3, value_lr=3e-3)
    before, success_before = evaluate(method, spec, episodes=50)
    method.learn(make_pool(spec, 4), 6000)
    after, success_after = evaluate(method, spec, episodes=50)
    assert success_after >= 0.95 and after > before + 0.2, (before, after)


def _p_rewarded(method, spec):
    env = spec.make()
    obs, info = env.reset()
    return float(method.ppo.policy(obs[None], [info])[0][0, 0].exp())


def test_twosome_raises_the_probability_of_the_rewarded_action(fake_llm):
    spec = toy_spec(OneShot)
    method = build(Twosome, spec, total_steps=640, num_steps=8, minibatch_size=16,
                   value_minibatch_size=16, policy_lr=0.05, value_lr=1e-2, target_kl=None)
    p0 = _p_rewarded(method, spec)
    method.learn(make_pool(spec, 4), 640)
    p1 = _p_rewarded(method, spec)
    assert p1 > p0 + 0.3, (p0, p1)
