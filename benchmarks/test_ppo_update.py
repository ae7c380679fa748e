"""Cost of one PPO update (GAE + all epochs/minibatches/optimizer steps) on a full rollout.

    python -m pytest benchmarks/test_ppo_update.py --benchmark-enable

- ``ppo``: the baseline MLPs with the paper preset (batch 512 = 4 x 128, 4 epochs x 4 minibatches).
- ``twosome`` with the tiny 2-layer test model and the paper schedule (batch 128, value phase
  4 x 32, policy phase 32 x 4 accumulated 8 at a time): the loop's own overhead plus LoRA
  forward/backward on a small model, on the original all-layer path and on the split engine;
  real SmolLM2 costs are in benchmarks/test_llm_engine.py and docs/llm.md.
Both on Overcooked Tomato Salad when it is registered, else on the toy ButtonChain env.
"""
import copy

import pytest
import torch

from benchmarks.rollout import full_rollout
from harness.env_api import EnvSpec
from harness.registry import ENVS
from methods.ppo import PPOMethod
from methods.twosome import Twosome
from tests.methods.toy_envs import ButtonChain


def _spec() -> EnvSpec:
    if "overcooked/tomato-salad" in ENVS:
        return ENVS.get("overcooked/tomato-salad")
    return EnvSpec(name="toy/button-chain", factory=ButtonChain, family="toy")


def _full_rollout(method_cls, **overrides):
    """A method whose rollout buffer is full (the update not yet run), and its pool."""
    method, pool, _ = full_rollout(method_cls, _spec(), "paper", **overrides)
    return method, pool


def _bench_update(benchmark, method, pool, rounds):
    rollout = copy.deepcopy(method.ppo.rollout)

    def setup():
        method.ppo.rollout = copy.deepcopy(rollout)

    stats = benchmark.pedantic(lambda: method.ppo.update(pool), setup=setup, rounds=rounds,
                               iterations=1)
    assert stats["policy_loss"] == stats["policy_loss"]  # not nan


def test_ppo_mlp_update(benchmark):
    torch.set_num_threads(1)
    method, pool = _full_rollout(PPOMethod)
    _bench_update(benchmark, method, pool, rounds=10)


def test_twosome_tiny_update(benchmark):
    pytest.importorskip("peft")
    torch.set_num_threads(1)
    method, pool = _full_rollout(Twosome, model="tiny", target_kl=None)
    _bench_update(benchmark, method, pool, rounds=3)


def test_twosome_tiny_update_split_engine(benchmark):
    """The same update on the cpu preset's engine: LoRA on the top layer over the cached frozen
    trunk (the tiny model has 2 layers), policy backward in chunks (docs/llm.md, cost model)."""
    pytest.importorskip("peft")
    torch.set_num_threads(1)
    method, pool = _full_rollout(Twosome, model="tiny", target_kl=None, lora_layers=1,
                                 grad_chunk_tokens=512)
    assert method.llm.trunk is not None
    _bench_update(benchmark, method, pool, rounds=3)
    assert method.llm.counters()["trunk_hits"] > 0
