import pytest

from tests.methods.fake_llm import FakeLLMPolicy


@pytest.fixture
def fake_llm(monkeypatch):
    """Replace the real LLMPolicy by the fast fake; yields the list of kwargs it was built with."""
    import methods.twosome

    built = []

    def build(kwargs, seed):
        built.append(dict(kwargs))
        return FakeLLMPolicy(**kwargs, seed=seed)

    monkeypatch.setattr(methods.twosome, "build_llm_policy", build)
    return built
