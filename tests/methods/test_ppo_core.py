"""Exact checks of the PPO pieces on hand-computed numbers, and of the learner's control flow."""
import math

import numpy as np
import pytest
import torch

from methods.ppo import PPOMethod
from methods.ppo_core import (PPOConfig, action_mask, clipped_policy_loss, clipped_value_loss,
                              compute_gae, log_prob_and_entropy, masked_log_probs, sample_actions)
from tests.methods.helpers import build, make_pool, toy_spec
from tests.methods.toy_envs import ButtonChain, RaggedRooms


def test_gae_semi_mdp_hand_worked():
    # gamma=0.9, lambda=0.5, k = 1, 2, 3 primitive steps; env 0 never ends, env 1 ends at step 0
    # (dones[1] = 1 marks obs 1 as a fresh episode). Worked by hand:
    # t=2: delta = 2 + 0.9**3 * 2.0 - 1.5 = 1.958                      A2 = 1.958
    # t=1: delta = 0 + 0.9**2 * 1.5 - 1.0 = 0.215    A1 = 0.215 + 0.81*0.5*1.958 = 1.00799
    # t=0: delta = 1 + 0.9 * 1.0 - 0.5 = 1.4         A0 = 1.4 + 0.9*0.5*1.00799 = 1.8535955
    #      env 1: nonterminal 0 -> delta = 1 - 0.5 = 0.5, A0 = 0.5
    rewards = np.array([[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
    values = np.array([[0.5, 0.5], [1.0, 1.0], [1.5, 1.5]])
    dones = np.array([[0, 0], [0, 1], [0, 0]], dtype=float)
    k = np.array([[1, 1], [2, 2], [3, 3]], dtype=float)
    adv, ret = compute_gae(rewards, values, dones, next_value=np.array([2.0, 2.0]),
                           next_done=np.array([0.0, 0.0]), macro_steps=k, gamma=0.9,
                           gae_lambda=0.5)
    np.testing.assert_allclose(adv[:, 0], [1.8535955, 1.00799, 1.958], rtol=0, atol=1e-9)
    np.testing.assert_allclose(adv[:, 1], [0.5, 1.00799, 1.958], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ret, adv + values)


def test_gae_next_done_cuts_bootstrap():
    adv, _ = compute_gae(np.array([[1.0]]), np.array([[0.25]]), np.array([[0.0]]),
                         next_value=np.array([100.0]), next_done=np.array([1.0]),
                         macro_steps=np.array([[4.0]]), gamma=0.99, gae_lambda=0.95)
    assert adv[0, 0] == pytest.approx(0.75)


def test_gae_with_k_1_equals_standard_gae():
    rng = np.random.default_rng(0)
    r, v = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    d = (rng.random((5, 3)) < 0.3).astype(float)
    nv, nd = rng.normal(size=3), np.zeros(3)
    adv, _ = compute_gae(r, v, d, nv, nd, np.ones((5, 3)), 0.97, 0.9)
    expected, last = np.zeros_like(r), np.zeros(3)  # textbook recursion
    for t in reversed(range(5)):
        nnt = 1 - (nd if t == 4 else d[t + 1])
        nxt = nv if t == 4 else v[t + 1]
        last = r[t] + 0.97 * nxt * nnt - v[t] + 0.97 * 0.9 * nnt * last
        expected[t] = last
    np.testing.assert_allclose(adv, expected, atol=1e-12)


def test_clipped_policy_loss_hand_computed():
    new = torch.log(torch.tensor([1.5, 0.5, 1.1])).requires_grad_()
    old = torch.zeros(3)
    adv = torch.tensor([1.0, 1.0, -2.0])
    loss, kl, clip_frac = clipped_policy_loss(new, old, adv, 0.2)
    # per sample max(-A r, -A clip(r)): max(-1.5, -1.2) = -1.2; max(-0.5, -0.8) = -0.5; 2.2
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 2.2) / 3, abs=1e-6)
    expected_kl = np.mean([0.5 - math.log(1.5), -0.5 - math.log(0.5), 0.1 - math.log(1.1)])
    assert kl.item() == pytest.approx(expected_kl, abs=1e-6)
    assert clip_frac.item() == pytest.approx(2 / 3)
    loss.backward()
    # sample 0 sits on the clipped branch (no gradient); the others: -A * r / 3
    np.testing.assert_allclose(new.grad.numpy(), [0.0, -0.5 / 3, 2.2 / 3], atol=1e-6)


def test_clipped_value_loss_hand_computed():
    new, old, ret = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5]), torch.tensor([2.0, 0.0])
    # sample 0: max((1-2)^2, (0.7-2)^2) = 1.69; sample 1: max(0, 0.3^2) = 0.09
    assert clipped_value_loss(new, old, ret, 0.2).item() == pytest.approx(0.5 * (1.69 + 0.09) / 2)
    assert clipped_value_loss(new, old, ret, 0.2, clip=False).item() == pytest.approx(0.25)


def test_masked_entropy_and_log_prob_ignore_unoffered_ids():
    logits = torch.tensor([[0.0, 100.0, 0.0, 0.0]], requires_grad=True)
    mask = torch.tensor([[True, False, True, True]])
    lp, ent = log_prob_and_entropy(logits, mask, torch.tensor([2]))
    assert lp.item() == pytest.approx(math.log(1 / 3))
    assert ent.item() == pytest.approx(math.log(3))
    (lp + ent).sum().backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[0, 1] == 0


def test_masked_actions_never_sampled():
    rng = np.random.default_rng(0)
    logits = torch.randn(2000, 6) * 3
    logits[:, 1] = 50.0  # the most likely id if the mask were ignored
    mask = torch.ones(2000, 6, dtype=torch.bool)
    mask[:, 1] = False
    mask[::2, 5] = False  # masked trailing id: exercises the CDF-end clamp
    lp = masked_log_probs(logits, mask)
    for greedy in (False, True):
        picks = sample_actions(lp, rng, greedy)
        assert mask[np.arange(2000), picks].all()


def test_sampling_follows_the_distribution():
    rng = np.random.default_rng(1)
    lp = torch.log(torch.tensor([[0.1, 0.6, 0.3]])).expand(20000, 3)
    counts = np.bincount(sample_actions(lp, rng), minlength=3) / 20000
    np.testing.assert_allclose(counts, [0.1, 0.6, 0.3], atol=0.015)


def test_action_mask_from_ids_when_no_mask_given():
    m = action_mask([{"action_ids": [0, 3]}, {}], 4)
    assert m.tolist() == [[True, False, False, True], [True] * 4]
    with pytest.raises(ValueError, match="offers no action"):
        action_mask([{"action_mask": np.zeros(3, bool)}], 3)


def test_ppo_on_ragged_env_never_takes_an_unoffered_action():
    spec = toy_spec(RaggedRooms, family="virtualhome")
    method = build(PPOMethod, spec, num_steps=8, minibatch_size=8)
    pool = make_pool(spec, 4)
    method.learn(pool, 400)  # RaggedRooms.step asserts the action is offered


def test_macro_steps_are_read_from_the_step_info_including_autoreset():
    spec = toy_spec(ButtonChain)
    method = build(PPOMethod, spec, num_steps=64, minibatch_size=64)
    pool = make_pool(spec, 4)
    method.learn(pool, 4 * 40)  # 40 < 64 steps: the rollout is still in memory
    r = method.ppo.rollout
    assert np.array_equal(np.stack(r["macro_steps"]), 1 + np.stack(r["actions"]) % 2)
    assert np.stack(r["dones"]).sum() > 0  # some episodes ended (autoreset path exercised)


def test_config_validation_names_the_value():
    with pytest.raises(ValueError, match="schedule='sgd'"):
        PPOConfig(schedule="sgd").validate()
    with pytest.raises(ValueError, match="minibatch_size\\*grad_accum_steps=96"):
        PPOConfig(num_envs=4, num_steps=32, minibatch_size=48, grad_accum_steps=2).validate()


@pytest.mark.parametrize("schedule", ["joint", "value-then-policy"])
def test_kl_early_stop_triggers_and_drops_the_step(schedule):
    spec = toy_spec(ButtonChain)
    common = dict(num_steps=16, minibatch_size=8, value_minibatch_size=16, update_epochs=2,
                  schedule=schedule, policy_lr=0.05, value_lr=1e-3)
    free = build(PPOMethod, spec, target_kl=None, **common)
    free.learn(make_pool(spec, 4), 64)
    assert free.ppo.stats["kl_stops"] == 0
    assert free.ppo.stats["actor_steps"] == 2 * 64 // 8  # epochs x minibatches, one update

    tight = build(PPOMethod, spec, target_kl=1e-12, **common)
    before = [p.detach().clone() for p in tight.agent.actor_parameters()]
    tight.learn(make_pool(spec, 4), 64)
    # The first step sees ratio == 1 (KL 0) and is taken; the second sees KL > 0 and stops.
    assert tight.ppo.stats["kl_stops"] == 1 and tight.ppo.stats["actor_steps"] == 1
    after_one = [p.detach().clone() for p in tight.agent.actor_parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(before, after_one))


def test_lr_anneals_linearly():
    spec = toy_spec(ButtonChain)
    method = build(PPOMethod, spec, total_steps=4 * 16 * 4, num_steps=16, minibatch_size=16,
                   policy_lr=1e-3, value_lr=1e-3)
    pool = make_pool(spec, 4)
    lrs = [method.learn(pool, 64)["policy_lr"] for _ in range(4)]
    np.testing.assert_allclose(lrs, [1e-3, 0.75e-3, 0.5e-3, 0.25e-3])


def test_learn_takes_exactly_the_requested_steps_rounded_up_to_the_pool():
    spec = toy_spec(ButtonChain)
    method = build(PPOMethod, spec, num_steps=16, minibatch_size=16)
    pool = make_pool(spec, 4)
    assert method.learn(pool, 10)["env_steps"] == 12
    assert method.learn(pool, 64)["env_steps"] == 64
    assert method.ppo.stats["updates"] == 1 and len(method.ppo.rollout["obs"]) == 3
