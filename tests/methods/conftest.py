import pytest
import torch

from tests.methods.fake_llm import FakeLLMPolicy

# These tests run tiny networks: a second intra-op thread buys nothing, and on a busy machine
# OpenMP threads contending for cores made them 10-20x slower (200 s instead of 9 s).
torch.set_num_threads(1)


@pytest.fixture
def fake_llm(monkeypatch):
    """Replace the real LLMPolicy by the fast fake; yields the list of kwargs it was built with."""
    import methods.llm.factory

    built = []

    def build(kwargs, seed):
        built.append(dict(kwargs))
        return FakeLLMPolicy(**kwargs, seed=seed)

    monkeypatch.setattr(methods.llm.factory, "build_llm_policy", build)
    return built
