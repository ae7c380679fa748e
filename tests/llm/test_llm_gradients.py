"""With grad, states sharing a prompt share one forward/backward and the gradient is unchanged."""
from __future__ import annotations

import torch

from tests.llm.llm_testing import (
    FOOD_ACTIONS,
    FOOD_PROMPT,
    TOMATO_ACTIONS,
    TOMATO_PROMPT,
    make_policy,
    perturb_lora,
)

# A PPO-like minibatch: repeated prompts, identical and different action lists, a subset.
STATES = [
    (TOMATO_PROMPT, TOMATO_ACTIONS, 0),
    (FOOD_PROMPT, FOOD_ACTIONS, 3),
    (TOMATO_PROMPT, TOMATO_ACTIONS, 2),
    (TOMATO_PROMPT, TOMATO_ACTIONS[:3], 1),
    (FOOD_PROMPT, FOOD_ACTIONS, 3),
    ("You are in the bedroom. Your next step is to", ["walk to the kitchen", "grab the pancake"], 1),
]
WEIGHTS = [0.7, -1.3, 0.4, 1.1, 0.2, -0.5]  # stand-ins for advantages


def policy_loss(logits, states):
    """-Σ w_i log π(a_i|s_i): the shape of a policy-gradient loss."""
    terms = [w * torch.log_softmax(l, -1)[a] for l, (_, _, a), w in zip(logits, states, WEIGHTS)]
    return -torch.stack(terms).sum()


def grads(policy):
    return torch.cat([p.grad.flatten() for p in policy.actor_parameters()])


def test_deduplicated_gradient_equals_per_sample_gradient():
    policy = make_policy(normalization="word")
    perturb_lora(policy, seed=11)
    prompts, acts = [s[0] for s in STATES], [s[1] for s in STATES]

    before = policy.counters()
    policy_loss(policy.logits(prompts, acts), STATES).backward()
    after = policy.counters()
    shared = grads(policy).clone()
    # One forward for the whole minibatch, each of the 3 distinct prompts encoded once.
    assert after["llm_forwards"] - before["llm_forwards"] == 1
    distinct = {TOMATO_PROMPT, FOOD_PROMPT, STATES[-1][0]}
    prompt_tokens = sum(len(policy.tokenizer(p).input_ids) for p in distinct)
    action_tokens = sum(len(policy.tokenizer(" " + a, add_special_tokens=False).input_ids) - 1
                        for p in distinct for a in {a for q, acts_, _ in STATES if q == p for a in acts_})
    assert after["actor_tokens_forwarded"] - before["actor_tokens_forwarded"] == prompt_tokens + action_tokens

    # Per-sample reference: every state alone, every prompt + action string encoded alone.
    for p in policy.actor_parameters():
        p.grad = None
    for i, state in enumerate(STATES):
        logits = policy.naive_logits([state[0]], [state[1]], batched=False)
        loss = -WEIGHTS[i] * torch.log_softmax(logits[0], -1)[state[2]]
        loss.backward()
    reference = grads(policy)

    assert reference.norm() > 0
    rel = (shared - reference).norm() / reference.norm()
    assert rel <= 1e-5, f"relative gradient error {rel:.2e}"


def test_gradients_reach_only_lora_parameters():
    policy = make_policy()
    perturb_lora(policy, seed=2)
    policy.logits([TOMATO_PROMPT], [TOMATO_ACTIONS])[0].sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.actor_parameters())
    frozen = [p for n, p in policy.lm.named_parameters() if "lora_" not in n]
    assert frozen and all(not p.requires_grad and p.grad is None for p in frozen)
    assert all(p.grad is None for p in policy.critic_parameters())


def test_value_gradients_reach_only_the_head():
    policy = make_policy()
    policy.values([TOMATO_PROMPT, FOOD_PROMPT]).sum().backward()
    assert all(p.grad is not None for p in policy.critic_parameters())
    assert all(p.grad is None for p in policy.actor_parameters())
