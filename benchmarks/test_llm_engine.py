"""The LLM training engine on real SmolLM2: today's fp32 all-layer path vs the cpu preset's path.

    python -m pytest benchmarks/test_llm_engine.py --benchmark-enable -s
    python -m benchmarks.test_llm_engine --peak-memory     # peak RSS of each path, own processes

One 512-step TWOSOME update (16 envs x 32 steps, value phase then 4 policy steps of 128, target KL
off so both paths do the same work) and one 10-episode evaluation under a new policy version, on
Overcooked Tomato-Lettuce Salad (787 distinct prompts: the task that made training unaffordable).

- ``fp32-all-layers``: the landed path: LoRA on all 30 layers, fp32, every forward and backward
  through every layer.
- ``cpu``: the cpu preset (docs/methods.md): LoRA on the top ``lora_layers`` layers with the frozen
  layers below cached per prompt (methods/llm/frozen_trunk.py), bf16 frozen weights with fp32
  LoRA/critic masters, the policy backward in chunks of ``grad_chunk_tokens``.

Both paths collect their own rollout with the same seeds first (that also fills the ``cpu`` path's
frozen-layer cache with the rollout's prompts, as in a run); the eval meets prompts the rollout
never saw, so its figure includes their lower-layer passes. ``extra_info`` holds tokens per second
and the decoder-layer GFLOP/s (2 x layer parameters x layer-tokens per second; attention scores
and the LM head not counted), beside ``test_matmul_peak``'s dense matmul rate of this machine.
2 threads (a 2-core machine as a new user has it); run alone on a quiet machine.
"""
from __future__ import annotations

import copy
import sys
import time

import pytest
import torch

ENV = "overcooked/tomato-lettuce-salad"
PATHS = {
    "fp32-all-layers": dict(lora_layers=None, dtype="float32", grad_chunk_tokens=None),
    "cpu": {},  # the preset as it stands
}
ROUNDS = {"fp32-all-layers": 1, "cpu": 3}
EVAL_EPISODES = 10


def build(path: str):
    """A twosome method with a full 512-step rollout collected (the update not yet run)."""
    from benchmarks.rollout import full_rollout
    from harness.registry import ENVS
    from methods.twosome import Twosome

    spec = ENVS.get(ENV)
    method, pool, kwargs = full_rollout(Twosome, spec, "cpu", target_kl=None, **PATHS[path])
    return method, pool, spec, kwargs


def layer_params(method) -> int:
    from methods.llm.layers import decoder_layers

    layer = decoder_layers(method.llm._causal_lm.base_model)[0]
    return sum(p.numel() for n, p in layer.named_parameters() if "lora_" not in n)


class Meter:
    """Counter deltas over the benchmarked calls, turned into rates for ``extra_info``."""

    def __init__(self, method):
        self.method, self.seconds, self.delta = method, 0.0, {}

    def __call__(self, fn):
        before = self.method.llm.counters()
        start = time.perf_counter()
        out = fn()
        self.seconds += time.perf_counter() - start
        after = self.method.llm.counters()
        for key in ("tokens_forwarded", "layer_tokens_forwarded"):
            self.delta[key] = self.delta.get(key, 0.0) + after[key] - before[key]
        return out

    def info(self, backward: bool) -> dict[str, float]:
        flops = 2 * layer_params(self.method) * self.delta["layer_tokens_forwarded"]
        # A frozen linear's backward is one more matmul of the forward's size (input grads only).
        flops *= 2 if backward else 1
        return {"tokens_per_s": round(self.delta["tokens_forwarded"] / self.seconds),
                "layer_gflop_per_s": round(flops / self.seconds / 1e9, 1)}


@pytest.fixture(scope="module", params=list(PATHS))
def engine(request):
    pytest.importorskip("peft")
    torch.set_num_threads(2)
    return request.param, *build(request.param)


def test_matmul_peak(benchmark):
    """This machine's dense matmul rate, fp32 and bf16 (the ceiling the GFLOP/s compare with)."""
    torch.set_num_threads(2)
    rates = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
        a @ b
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        rates[f"{dtype}".replace("torch.", "") + "_gflop_per_s"] = round(
            10 * 2 * 2048 ** 3 / (time.perf_counter() - start) / 1e9, 1)
    benchmark.extra_info.update(rates)
    a = torch.randn(2048, 2048, dtype=torch.bfloat16)
    benchmark.pedantic(lambda: a @ a, rounds=5, iterations=1)


def test_update(benchmark, engine):
    path, method, pool, _, _ = engine
    rollout = copy.deepcopy(method.ppo.rollout)
    meter = Meter(method)

    def setup():
        method.ppo.rollout = copy.deepcopy(rollout)

    stats = benchmark.pedantic(lambda: meter(lambda: method.ppo.update(pool)), setup=setup,
                               rounds=ROUNDS[path], iterations=1)
    assert stats["policy_loss"] == stats["policy_loss"] and method.ppo.stats["actor_steps"] > 0
    benchmark.extra_info.update(path=path, **meter.info(backward=True))


def test_eval(benchmark, engine):
    from harness.protocol import evaluate

    path, method, _, spec, kwargs = engine
    meter = Meter(method)

    def one_eval():
        method.llm.new_policy_version()  # as after an update: no score served from the last one
        return evaluate(method, spec, kwargs, EVAL_EPISODES, seed=10_000)

    result = benchmark.pedantic(lambda: meter(one_eval), rounds=ROUNDS[path], iterations=1)
    assert result["episodes"] == EVAL_EPISODES
    benchmark.extra_info.update(path=path, **meter.info(backward=False))


def peak_memory(path: str) -> None:
    """One rollout, update and eval of ``path`` in this process; prints its peak RSS."""
    import resource

    from harness.protocol import evaluate

    torch.set_num_threads(2)
    method, pool, spec, kwargs = build(path)
    method.ppo.update(pool)
    evaluate(method, spec, kwargs, EVAL_EPISODES, seed=10_000)
    print(f"{path}: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")


if __name__ == "__main__":
    import subprocess

    if sys.argv[1:2] == ["--peak-memory"]:
        for name in PATHS:
            subprocess.run([sys.executable, "-m", "benchmarks.test_llm_engine", "--path", name],
                           check=True)
    elif sys.argv[1:2] == ["--path"]:
        peak_memory(sys.argv[2])
    else:
        raise SystemExit("usage: python -m benchmarks.test_llm_engine --peak-memory")
