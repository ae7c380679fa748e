"""Search spaces as data: ``sweeps/spaces/<method>.json`` maps hyperparameter names (fields of the
method's ``Config``) to distributions::

    {"description": "...",
     "params": {"policy_lr": {"type": "float", "low": 1e-7, "high": 1e-5, "log": true},
                "update_epochs": {"type": "int", "low": 1, "high": 4},
                "num_envs": {"type": "categorical", "choices": [2, 4, 8]}}}

``float``/``int`` take ``low``, ``high`` and optional ``log`` (or ``step``); ``categorical`` takes
``choices``. A space is validated before any trial runs, naming the bad key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

SPACES_DIR = Path(__file__).parent / "spaces"
TYPES = {"float": ("low", "high"), "int": ("low", "high"), "categorical": ("choices",)}
OPTIONAL = {"float": ("log", "step"), "int": ("log", "step"), "categorical": ()}


class SpaceError(ValueError):
    """An invalid search space; ``str()`` is the one-line message shown to users."""


def space_path(method: str, path: str | Path | None = None) -> Path:
    """The given file, else ``spaces/<method>.json``, else the base method's (``twosome-token`` ->
    ``twosome``: variants share their base method's hyperparameters)."""
    if path:
        return Path(path)
    own = SPACES_DIR / f"{method}.json"
    base = SPACES_DIR / f"{method.split('-')[0]}.json"
    return own if own.is_file() or not base.is_file() else base


def load_space(method: str, path: str | Path | None = None,
               config_fields: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """The validated ``params`` mapping of a space file (default: the method's built-in one)."""
    file = space_path(method, path)
    if not file.is_file():
        available = sorted(p.stem for p in SPACES_DIR.glob("*.json"))
        raise SpaceError(f"no search space for method {method!r} at {file}; built-in spaces: "
                         f"{', '.join(available) or '(none)'}; pass space=<file.json>")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise SpaceError(f"{file}: invalid JSON ({err})") from None
    params = data.get("params") if isinstance(data, dict) else None
    if not isinstance(params, dict) or not params:
        raise SpaceError(f"{file}: expected an object with a non-empty \"params\" object")
    for name, dist in params.items():
        validate_param(file, name, dist, config_fields)
    return params


def validate_param(file: Path, name: str, dist: Any, config_fields: set[str] | None) -> None:
    where = f"{file}: param {name!r}"
    if config_fields is not None and name not in config_fields:
        raise SpaceError(f"{where} is not a hyperparameter of the method; its keys: "
                         f"{', '.join(sorted(config_fields))}")
    if not isinstance(dist, dict) or dist.get("type") not in TYPES:
        raise SpaceError(f"{where}: \"type\" must be one of {', '.join(TYPES)}")
    kind = dist["type"]
    missing = [k for k in TYPES[kind] if k not in dist]
    unknown = sorted(set(dist) - {"type", *TYPES[kind], *OPTIONAL[kind]})
    if missing or unknown:
        raise SpaceError(f"{where}: {kind} needs {', '.join(TYPES[kind])}"
                         f"{' (optional: ' + ', '.join(OPTIONAL[kind]) + ')' if OPTIONAL[kind] else ''}"
                         f"; missing {missing or 'none'}, unknown {unknown or 'none'}")
    if kind == "categorical":
        if not isinstance(dist["choices"], list) or not dist["choices"]:
            raise SpaceError(f"{where}: choices must be a non-empty list")
    elif not dist["low"] < dist["high"]:
        raise SpaceError(f"{where}: low ({dist['low']}) must be below high ({dist['high']})")
    elif dist.get("log") and dist["low"] <= 0:
        raise SpaceError(f"{where}: a log scale needs low > 0 (got {dist['low']})")


def suggest(trial: Any, params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Draw one value per hyperparameter from an Optuna trial."""
    values = {}
    for name, dist in params.items():
        kind = dist["type"]
        if kind == "float":
            values[name] = trial.suggest_float(name, dist["low"], dist["high"],
                                               log=bool(dist.get("log")), step=dist.get("step"))
        elif kind == "int":
            values[name] = trial.suggest_int(name, dist["low"], dist["high"],
                                             log=bool(dist.get("log")), step=dist.get("step", 1))
        else:
            values[name] = trial.suggest_categorical(name, dist["choices"])
    return values


def method_config_fields(method: str) -> set[str] | None:
    """Hyperparameter names of a registered method (None if the method is not registered)."""
    from harness.registry import METHODS

    if method not in METHODS:
        return None
    return {f.name for f in dataclasses.fields(METHODS.get(method).Config)}
