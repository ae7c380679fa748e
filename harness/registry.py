"""Name -> class/factory registries for methods and environments.

A method or environment is added by one decorator and found by name, in the style of
lm-evaluation-harness::

    @register_method("twosome", description="LLM policy + LoRA PPO, word normalization")
    class Twosome(Method): ...

    @register_env("overcooked/tomato-salad", description="...", family="overcooked", ...)
    def make_tomato_salad(**kwargs) -> gymnasium.Env: ...

Plugins (our own ``envs``, ``methods``, ``suites``, ``reports`` and ``sweeps`` packages, and any
third-party package declaring a module in the ``harness.plugins`` entry-point group) are imported
lazily on the first lookup, so ``harness`` itself never imports a concrete method, env or command.
Subcommands of ``harness`` (``report``, ``sweep``, ...) register the same way, as lazy
``"module:function"`` strings that are imported only when the command runs.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")

# Imported when no entry points are installed (running from a source checkout without `pip install`).
_BUILTIN_PLUGINS = ("envs", "methods", "suites", "reports", "sweeps")
_plugins_loaded = False


def load_plugins() -> None:
    """Import every plugin module once so that its decorators fill the registries."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    modules = {ep.value for ep in importlib.metadata.entry_points(group="harness.plugins")}
    modules.update(_BUILTIN_PLUGINS)
    for module in sorted(modules):
        importlib.import_module(module)


class UnknownNameError(KeyError):
    """A name not in a registry. ``str()`` is the one-line message shown to users."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0])


class Registry(Generic[T]):
    """An ordered name -> entry mapping with helpful errors."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        valid = ", ".join(self._entries) or "(none registered)"
        close = difflib.get_close_matches(str(name), self._entries, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind} {name!r}; valid {self.kind}s: {valid}.{hint}"

    def names(self) -> list[str]:
        load_plugins()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        load_plugins()
        return list(self._entries.items())


METHODS: Registry[Any] = Registry("method")
ENVS: Registry[Any] = Registry("env")
SUITES: Registry[Any] = Registry("suite")
COMMANDS: Registry[Any] = Registry("command")
AFTER_RUN_HOOKS: Registry[Any] = Registry("after-run hook")


def _load_target(target: str) -> Callable:
    """``"package.module:function"`` -> the function (imported now, not at registration)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Command:
    """A ``harness <name> ...`` subcommand that owns its whole argument list."""

    name: str
    help: str
    target: str  # "module:function"; the function takes argv (list[str]) and returns an exit code

    def load(self) -> Callable[[list[str]], int]:
        return _load_target(self.target)


def register_command(name: str, help: str, target: str) -> Command:
    """Register ``harness <name>``: ``target`` names ``main(argv) -> int``, imported when it runs.

    The core CLI only knows this registry, so a package (ours or a plugin) adds a command without
    the core importing it by name.
    """
    return COMMANDS.add(name, Command(name, help, target))


@dataclass(frozen=True)
class AfterRunHook:
    """Called after every ``harness run`` with (store URL, out_dir, the grid's run ids); returns a
    line to show or None."""

    name: str
    target: str

    def load(self) -> Callable[[str, Any, list[str]], str | None]:
        return _load_target(self.target)


def register_after_run(name: str, target: str) -> AfterRunHook:
    """Register a function run after every ``harness run`` (the comparison report is one)."""
    return AFTER_RUN_HOOKS.add(name, AfterRunHook(name, target))


@dataclass(frozen=True)
class Suite:
    """A named list of grids (each a dict of ``harness run`` overrides) run as one command."""

    name: str
    description: str
    grids: tuple[dict[str, str], ...]
    expected: str = ""  # how long it takes, for ``harness list`` and the docs


def register_suite(name: str, description: str, grids: list[dict[str, str]],
                   expected: str = "") -> Suite:
    """Register a suite: ``harness run suite=<name> [overrides]`` expands and runs every grid."""
    return SUITES.add(name, Suite(name, description, tuple(dict(g) for g in grids), expected))


def register_method(name: str, description: str = "") -> Callable[[type], type]:
    """Class decorator: register a :class:`harness.method_api.Method` subclass under ``name``."""

    def decorate(cls: type) -> type:
        cls.name = name
        cls.description = description or (cls.__doc__ or "").strip().splitlines()[0]
        return METHODS.add(name, cls)

    return decorate


def _register_gymnasium_id(name: str, factory: Callable) -> None:
    """``gymnasium.make(name)`` builds the same env (the factory's defaults), for every family."""
    import gymnasium

    if name not in gymnasium.registry:
        try:
            gymnasium.register(id=name, entry_point=factory)
        except gymnasium.error.Error:  # a name gymnasium's id grammar rejects: harness-only
            pass


def register_env(name: str, **spec_fields: Any) -> Callable[[Callable], Callable]:
    """Function decorator: register an env factory under ``name``.

    ``spec_fields`` fill a :class:`harness.env_api.EnvSpec` (description, family, ceiling, ...). The
    factory takes keyword arguments (e.g. ``obs_radius``) and returns a fresh ``gymnasium.Env``; it
    is also registered as the gymnasium id ``name``.
    """
    from harness.env_api import EnvSpec

    def decorate(factory: Callable) -> Callable:
        ENVS.add(name, EnvSpec(name=name, factory=factory, **spec_fields))
        _register_gymnasium_id(name, factory)
        return factory

    return decorate


# The core's own stages that are commands (``list`` and ``run`` are in harness/cli.py) and its
# after-run hook. Registered here, before any plugin, so the replays are recorded before a plugin's
# after-run report is written.
register_command("transfer", help="evaluate trained checkpoints zero-shot on the unseen tasks the "
                 "envs declare (harness transfer --help)", target="harness.transfer:main")
register_command("replay", help="record one episode per run, before and after training "
                 "(harness replay --help)", target="harness.replay:main")
register_after_run("replays", target="harness.replay:record_after_run")
