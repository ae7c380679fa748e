import pytest

from harness.registry import ENVS, METHODS, Registry, UnknownNameError


def test_unknown_name_lists_valid_names_and_close_match():
    registry = Registry("method")
    registry.add("twosome", object())
    registry.add("saycan", object())
    with pytest.raises(UnknownNameError) as err:
        registry.get("twosom")
    message = str(err.value)
    assert "twosome, saycan" in message and "Did you mean 'twosome'?" in message
    assert "\n" not in message


def test_registering_a_different_entry_twice_fails():
    registry = Registry("env")
    registry.add("a", 1)
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("a", 2)


def test_builtin_plugins_are_discovered_by_name():
    assert "random" in METHODS
    assert METHODS.get("random").description
    assert "toy/corridor" in ENVS  # registered by tests/toy_env.py through the same decorator
