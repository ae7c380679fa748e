"""Run configuration: typed dataclasses, per-(method, env, preset) defaults, ``key=value`` overrides.

Resolution order for one run: the method's ``Config`` defaults <- its preset for the env
(``cpu`` by default, ``paper`` for the original hyperparameters, or a JSON file of overrides such as
a sweep's exported best parameters) <- command-line overrides. Every key and value of the whole grid
is validated before any run starts, so a typo fails in a second, not an hour in.

Grammar of overrides (what ``harness run`` takes):

- ``methods=a,b``, ``envs=x,y``, ``seeds=0,1,2`` (singular spellings accepted): grid axes;
- any other ``key=v1,v2`` is a grid axis too (``policy_lr=1e-6,1e-5`` runs both);
- run keys: ``preset``, ``total_steps``, ``eval_every``, ``eval_episodes``, ``final_eval_episodes``,
  ``out_dir``, ``store``, ``resume``, ``tensorboard``;
- execution keys (one value each, not part of a run's identity): ``executor`` (``local``, the
  default, or ``ray``), ``ray_address`` (attach to a Ray cluster; implies ``executor=ray``),
  ``num_cpus`` (CPUs per Ray task), ``lease_ttl`` (seconds a run's lease outlives its last
  heartbeat);
- ``suite=<name>`` expands a registered suite of grids (``harness list``); ``methods=``/``envs=``
  given with it select among its runs, every other key overrides each grid (``out_dir``, ``seeds``);
- ``env.<kwarg>=v`` passes a keyword to the env factory (e.g. ``env.obs_radius=10``);
- a method hyperparameter by name (``policy_lr=1e-6``: applied to every selected method that has
  it) or qualified (``twosome.policy_lr=1e-6``).
"""
from __future__ import annotations

import dataclasses
import decimal
import difflib
import os
import hashlib
import itertools
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.registry import ENVS, METHODS
from harness.storage import POSTGRES_EXTRA, default_store_url, normalize_url

GRID_KEYS = {"methods": "method", "method": "method", "envs": "env", "env": "env",
             "seeds": "seed", "seed": "seed"}
RUN_KEYS = ("preset", "total_steps", "eval_every", "eval_episodes", "final_eval_episodes", "out_dir",
            "store", "resume", "tensorboard", "executor", "ray_address", "num_cpus", "lease_ttl")
# How a grid is executed, never what a run computes: one value per grid, not a grid axis.
EXECUTION_KEYS = ("executor", "ray_address", "num_cpus", "lease_ttl")
EXECUTORS = ("local", "ray")
RAY_EXTRA = "pip install 'llm-embodied-harness[ray]' (from a checkout: pip install '.[ray]')"
# resume=auto continues an interrupted run from its checkpoint; restart trains it again from step 0.
RESUME_CHOICES = ("auto", "restart")
DEFAULTS = {"methods": "twosome,saycan", "envs": "overcooked/tomato-salad", "seeds": "0"}
# When eval_every is not given: about this many eval points (besides step 0), at a multiple of
# DEFAULT_EVAL_ALIGN so that methods with different rollout sizes share one eval grid.
DEFAULT_EVAL_POINTS = 24
DEFAULT_EVAL_ALIGN = 512
# Env seeds are seed * 1000 + i and numpy/torch take 32-bit-safe seeds: keep seeds well inside.
MAX_SEED = 2**31 // 1000


class ConfigError(ValueError):
    """A bad key or value; ``str()`` is the one-line message shown to users."""


@dataclass
class RunConfig:
    method: str
    env: str
    seed: int
    preset: str
    total_steps: int
    eval_every: int
    eval_episodes: int
    out_dir: str
    store: str
    method_config: Any  # the method's Config dataclass instance
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    resume: str = "auto"  # not part of the identity: how to treat an existing checkpoint
    # Episodes of the last eval point (the reported number; spec §3.4: 100); None = eval_episodes.
    final_eval_episodes: int | None = None
    # TensorBoard event files in the run dir (harness/tensorboard.py); not part of the identity.
    tensorboard: bool = True
    # Execution (not identity): harness/executor.py.
    executor: str = "local"
    ray_address: str | None = None
    num_cpus: float = 1.0
    lease_ttl: float = 60.0

    def identity(self) -> dict[str, Any]:
        """Everything that changes results (not where they are written)."""
        identity = {"method": self.method, "env": self.env, "seed": self.seed,
                    "total_steps": self.total_steps, "eval_every": self.eval_every,
                    "eval_episodes": self.eval_episodes,
                    "method_config": dataclasses.asdict(self.method_config),
                    "env_kwargs": self.env_kwargs}
        if self.final_eval_episodes is not None:  # absent when unset: earlier run ids stay valid
            identity["final_eval_episodes"] = self.final_eval_episodes
        return identity

    def episodes_at(self, step: int) -> int:
        """Eval episodes of the point at ``step``: more at the final one when asked."""
        if step >= self.total_steps and self.final_eval_episodes is not None:
            return self.final_eval_episodes
        return self.eval_episodes

    @property
    def run_id(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=str)
        digest = hashlib.sha1(blob.encode()).hexdigest()[:10]
        return f"{self.method}__{self.env.replace('/', '-')}__s{self.seed}__{digest}"

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / "runs" / self.run_id

    def to_json(self) -> str:
        return json.dumps({**self.identity(), "preset": self.preset}, sort_keys=True, default=str)


# -- value parsing ---------------------------------------------------------------------------------
def split_list(value: str) -> list[str]:
    """Split a comma list, keeping commas inside brackets (``[1024,512]`` is one value)."""
    items, depth, current = [], 0, ""
    for ch in value:
        depth += ch in "[("
        depth -= ch in "])"
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    return [item.strip() for item in items]


def parse_value(key: str, text: str, type_: Any) -> Any:
    """Convert ``text`` to ``type_`` (int, float, bool, str, tuples/lists of those, Optional)."""
    origin = typing.get_origin(type_)
    args = typing.get_args(type_)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null"):
            return None
        return parse_value(key, text, next(a for a in args if a is not type(None)))
    if origin in (tuple, list):
        body = text.strip()
        if body.startswith("[") or body.startswith("("):
            body = body[1:-1]
        parts = [p for p in (s.strip() for s in body.replace("/", ",").split(",")) if p]
        item_type = args[0] if args else str
        return origin(parse_value(key, p, item_type) for p in parts)
    try:
        if type_ is bool:
            low = text.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if type_ is int:
            # Exact: "1e3" is 1000, but never through a float ("12345678901234567" stays itself).
            number = decimal.Decimal(text.strip().replace("_", ""))
            if not number.is_finite() or number != number.to_integral_value():
                raise ValueError
            return int(number)
        if type_ is float:
            return float(text)
    except (ValueError, decimal.InvalidOperation):
        raise ConfigError(f"{key}={text!r}: expected {type_.__name__}") from None
    return text


def _field_types(config_cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls)}


def _positive_int(key: str, text: str) -> int:
    value = parse_value(key, text, int)
    if value <= 0:
        raise ConfigError(f"{key}={text!r}: must be a positive integer")
    return value


# -- presets ---------------------------------------------------------------------------------------
def preset_overrides(method_cls: type, preset: str, env_spec: Any) -> dict[str, Any]:
    """A named preset of the method, or a JSON file of overrides (e.g. a sweep's best params)."""
    if preset in method_cls.presets:
        return method_cls.preset_overrides(preset, env_spec)
    path = Path(preset)
    if path.suffix == ".json":
        if not path.is_file():
            raise ConfigError(f"preset={preset!r}: file not found")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"preset={preset!r}: not readable JSON ({err})") from None
        params = data.get("params", data) if isinstance(data, dict) else data
        if not isinstance(params, dict):
            raise ConfigError(f"preset={preset!r}: expected a JSON object of key: value overrides "
                              f"(or {{\"params\": {{...}}}}), got a {type(params).__name__}")
        return params
    raise ConfigError(f"preset={preset!r} for method {method_cls.name!r}: valid presets: "
                      f"{', '.join(method_cls.presets)}, or a path to a .json file of overrides")


# -- grid resolution -------------------------------------------------------------------------------
def parse_overrides(tokens: list[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise ConfigError(f"{token!r}: expected key=value (e.g. methods=twosome seeds=0,1)")
        if value == "":
            raise ConfigError(f"{key}=: empty value")
        overrides[key.strip()] = value.strip()
    return overrides


def resolve_suite(overrides: dict[str, str]) -> list[RunConfig]:
    """``suite=<name>`` plus overrides: every grid of the registered suite, concatenated (a run
    two grids share appears once); ``methods``/``envs`` select among the suite's runs, any other
    override is applied to each grid. Without ``suite``: :func:`resolve_grid`."""
    from harness.registry import SUITES, UnknownNameError

    overrides = dict(overrides)
    name = overrides.pop("suite", None)
    if name is None:
        return resolve_grid(overrides)
    try:
        suite = SUITES.get(name)
    except UnknownNameError as err:
        raise ConfigError(f"suite: {err}") from None
    # methods=/envs= given with a suite select among the suite's runs (its budgets per env stay);
    # every other key, seeds included, overrides each grid.
    selected = {}
    for plural, singular in (("methods", "method"), ("envs", "env")):
        value = overrides.pop(plural, overrides.pop(singular, None))
        if value is not None:
            selected[plural] = split_list(value)
    configs: dict[str, RunConfig] = {}
    for grid in suite.grids:
        grid = dict(grid)
        for plural, wanted in selected.items():
            grid[plural] = ",".join(v for v in split_list(grid[plural]) if v in wanted)
        if any(not grid[plural] for plural in selected):
            continue
        for config in resolve_grid({**grid, **overrides}):
            configs.setdefault(config.run_id, config)
    if not configs:
        raise ConfigError(f"suite={name!r} has no run with "
                          + " and ".join(f"{k}={','.join(v)}" for k, v in selected.items()))
    return list(configs.values())


def resolve_grid(overrides: dict[str, str]) -> list[RunConfig]:
    """Expand ``key=value`` overrides into validated run configs (methods x envs x seeds x ...)."""
    overrides = dict(overrides)
    if "suite" in overrides:
        return resolve_suite(overrides)
    axes: dict[str, list[str]] = {}
    for plural, default in DEFAULTS.items():
        singular = GRID_KEYS[plural]
        if plural in overrides and singular in overrides:
            raise ConfigError(f"give either {plural}= or {singular}=, not both")
        value = overrides.pop(plural, overrides.pop(singular, default))
        axes[singular] = split_list(value)

    for name in axes["method"]:
        if name not in METHODS:
            raise ConfigError(f"methods: {METHODS.unknown_message(name)}")
    for name in axes["env"]:
        if name not in ENVS:
            raise ConfigError(f"envs: {ENVS.unknown_message(name)}")
    seeds = []
    for text in axes["seed"]:
        seed = parse_value("seeds", text, int)
        if not 0 <= seed < MAX_SEED:
            raise ConfigError(f"seeds={text!r}: must be an integer in [0, {MAX_SEED})")
        seeds.append(seed)
    axes["seed"] = seeds

    method_classes = {name: METHODS.get(name) for name in axes["method"]}
    _check_keys(overrides, method_classes)
    execution = _execution_settings({k: overrides.pop(k) for k in EXECUTION_KEYS if k in overrides})

    # Every remaining key is a grid axis over its comma-separated values.
    extra_keys = sorted(overrides)
    extra_values = [split_list(overrides[k]) for k in extra_keys]
    configs = []
    for method, env, seed, *values in itertools.product(axes["method"], axes["env"], axes["seed"],
                                                       *extra_values):
        config = _resolve_one(method_classes[method], env, seed, dict(zip(extra_keys, values)))
        configs.append(dataclasses.replace(config, **execution))
    _check_env_kwargs(configs)
    ids = [c.run_id for c in configs]
    if len(set(ids)) != len(ids):
        # e.g. twosome.policy_lr=1e-6,1e-5 with saycan in the grid: saycan runs would repeat.
        configs = list({c.run_id: c for c in configs}.values())
    return configs


def split_key(key: str) -> tuple[str | None, str]:
    """The one parser of the ``a.b`` key grammar: ``env.obs_radius`` -> ("env", "obs_radius"),
    ``twosome.policy_lr`` -> ("twosome", "policy_lr"), ``policy_lr`` -> (None, "policy_lr")."""
    qualifier, _, name = key.rpartition(".")
    return qualifier or None, name


def _execution_settings(values: dict[str, str]) -> dict[str, Any]:
    """``executor``, ``ray_address``, ``num_cpus``, ``lease_ttl``: checked, Ray's presence too."""
    for key, value in values.items():
        if len(split_list(value)) > 1:
            raise ConfigError(f"{key}={value!r}: one value per grid (it is not a grid axis)")
    settings: dict[str, Any] = {}
    executor = values.get("executor", "ray" if "ray_address" in values else "local")
    if executor not in EXECUTORS:
        raise ConfigError(f"executor={executor!r}: valid choices: {', '.join(EXECUTORS)}")
    if "ray_address" in values and executor != "ray":
        raise ConfigError("ray_address= attaches to a Ray cluster: it needs executor=ray")
    if executor == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ConfigError(f"executor=ray needs Ray, which is not installed: {RAY_EXTRA}")
    settings["executor"] = executor
    settings["ray_address"] = values.get("ray_address")
    for key in ("num_cpus", "lease_ttl"):
        if key in values:
            number = parse_value(key, values[key], float)
            if not number > 0 or number != number or number == float("inf"):
                raise ConfigError(f"{key}={values[key]!r}: must be a positive number")
            settings[key] = number
    return settings


def _check_keys(overrides: dict[str, str], method_classes: dict[str, type]) -> None:
    for key in overrides:
        qualifier, name = split_key(key)
        if key in RUN_KEYS or qualifier == "env":
            continue
        if qualifier is not None:
            if qualifier not in method_classes:
                raise ConfigError(f"{key}: {qualifier!r} is not a selected method "
                                  f"(selected: {', '.join(method_classes)})")
            fields = _field_types(method_classes[qualifier].Config)
            if name not in fields:
                raise ConfigError(f"{key}: method {qualifier!r} has no key {name!r}; its keys: "
                                  f"{', '.join(fields)}")
            continue
        if not any(key in _field_types(cls.Config) for cls in method_classes.values()):
            valid = sorted(set(RUN_KEYS) | {"methods", "envs", "seeds", "env.<kwarg>"}
                           | {k for cls in method_classes.values() for k in _field_types(cls.Config)})
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown key {key!r}; valid keys: {', '.join(valid)}.{hint}")


def _check_env_kwargs(configs: list[RunConfig]) -> None:
    """Build each distinct (env, kwargs) once, so a bad env.<kwarg> fails before any run starts."""
    checked = set()
    for config in configs:
        key = (config.env, json.dumps(config.env_kwargs, sort_keys=True, default=str))
        if key in checked:
            continue
        checked.add(key)
        try:
            ENVS.get(config.env).make(**config.env_kwargs).close()
        except (TypeError, ValueError) as err:
            raise ConfigError(f"env {config.env!r} with {config.env_kwargs}: {err}") from None


def _resolve_one(method_cls: type, env_name: str, seed: int, values: dict[str, str]) -> RunConfig:
    env_spec = ENVS.get(env_name)
    preset = values.get("preset", "cpu")
    fields = _field_types(method_cls.Config)

    merged: dict[str, Any] = {}
    run_level: dict[str, Any] = {}
    for key, value in preset_overrides(method_cls, preset, env_spec).items():
        if key in ("total_steps", "eval_every", "eval_episodes"):
            run_level[key] = value
        elif key in fields:
            merged[key] = _typed_preset_value(preset, key, value, fields[key])
        else:
            raise ConfigError(f"preset {preset!r} sets {key!r}, which method "
                              f"{method_cls.name!r} does not have")
    env_kwargs: dict[str, Any] = {}
    for key, text in values.items():
        qualifier, name = split_key(key)
        if key in RUN_KEYS:
            continue
        if qualifier == "env":
            env_kwargs[name] = _parse_literal(text)
        elif qualifier == method_cls.name:
            merged[name] = parse_value(key, text, fields[name])
        elif qualifier is None and key in fields:
            merged[key] = parse_value(key, text, fields[key])
    try:
        method_config = method_cls.Config(**merged)
        method_config.validate()
    except (TypeError, ValueError) as err:
        raise ConfigError(f"method {method_cls.name!r}: {err}") from None

    total_steps = (_positive_int("total_steps", values["total_steps"]) if "total_steps" in values
                   else int(run_level.get("total_steps") or _default_budget(env_spec, preset)))
    eval_every = (_positive_int("eval_every", values["eval_every"]) if "eval_every" in values
                  else int(run_level.get("eval_every") or _default_eval_every(total_steps)))
    # Round up to whole learn() units so eval points lie exactly on multiples of eval_every.
    multiple = method_cls.step_multiple(method_config)
    eval_every = -(-eval_every // multiple) * multiple
    total_steps = -(-total_steps // multiple) * multiple
    eval_episodes = (_positive_int("eval_episodes", values["eval_episodes"])
                     if "eval_episodes" in values else int(run_level.get("eval_episodes", 10)))
    final_eval_episodes = (_positive_int("final_eval_episodes", values["final_eval_episodes"])
                           if "final_eval_episodes" in values else None)
    out_dir = values.get("out_dir", "runs")
    store = values.get("store") or default_store_url(out_dir)
    _check_store_url(store)
    _check_writable("out_dir", Path(out_dir))
    env_kwargs = {**method_cls.env_kwargs(method_config, env_spec), **env_kwargs}
    resume = values.get("resume", "auto")
    if resume not in RESUME_CHOICES:
        raise ConfigError(f"resume={resume!r}: valid choices: {', '.join(RESUME_CHOICES)}")
    tensorboard = parse_value("tensorboard", values.get("tensorboard", "true"), bool)
    return RunConfig(method=method_cls.name, env=env_name, seed=seed, preset=preset,
                     total_steps=total_steps, eval_every=eval_every, eval_episodes=eval_episodes,
                     out_dir=out_dir, store=store, method_config=method_config,
                     env_kwargs=env_kwargs, resume=resume,
                     final_eval_episodes=final_eval_episodes, tensorboard=tensorboard)


def _typed_preset_value(preset: str, key: str, value: Any, type_: Any) -> Any:
    """A preset's value as the field's type, through the command line's parser (``"3e-4"`` or
    ``3`` for a float field; a list for a tuple field), so a preset file is checked like a key."""
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value))
    try:
        return parse_value(key, "none" if value is None else str(value), type_)
    except ConfigError as err:
        raise ConfigError(f"preset {preset!r}: {err}") from None


def _check_store_url(store: str) -> None:
    """The URL parses, its dialect and driver are installed, and a SQLite file's directory is
    writable: checked before any run, so a typo never leaves a half-started grid behind."""
    import sqlalchemy as sa

    hint = "expected an SQLAlchemy URL such as sqlite:///runs/results.db or postgresql://user@host/db"
    try:
        url = sa.engine.make_url(store)
        dialect = url.get_dialect()
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError):
        raise ConfigError(f"store={store!r}: {hint}") from None
    if url.get_backend_name() == "postgresql":
        url = sa.engine.make_url(normalize_url(store))
        dialect = url.get_dialect()
    try:
        dialect.import_dbapi()
    except ImportError as err:
        if url.get_backend_name() == "postgresql":
            raise ConfigError(f"store={store!r}: the PostgreSQL driver ({url.get_driver_name()}) is "
                              f"not installed: {POSTGRES_EXTRA}") from None
        raise ConfigError(f"store={store!r}: the database driver is not installed: "
                          f"{err}") from None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(url.database)
        if database.is_dir():
            raise ConfigError(f"store={store!r}: {database} is a directory, not a database file")
        _check_writable("store", database.parent)


def _check_writable(key: str, directory: Path) -> None:
    """``directory`` is (or can be created as) a writable directory."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"{key}={str(directory)!r}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}={str(directory)!r}: {probe} is not writable")


def _default_eval_every(total_steps: int) -> int:
    if total_steps < DEFAULT_EVAL_ALIGN * DEFAULT_EVAL_POINTS:  # short runs: no alignment
        return max(1, total_steps // DEFAULT_EVAL_POINTS)
    return -(-total_steps // (DEFAULT_EVAL_POINTS * DEFAULT_EVAL_ALIGN)) * DEFAULT_EVAL_ALIGN


def _default_budget(env_spec: Any, preset: str) -> int:
    """The env's default budget (``preset=paper``: the original's); a variant without one inherits
    its base task's, so every method in a grid trains for the same number of env steps."""
    budget = env_spec.paper_total_steps if preset == "paper" else (
        env_spec.default_total_steps or env_spec.paper_total_steps)
    if budget:
        return budget
    if env_spec.base_task:
        return _default_budget(ENVS.get(env_spec.base_task), preset)
    return 50_000


def _parse_literal(text: str) -> Any:
    """Env kwargs have no declared types: read JSON-ish literals, else keep the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
