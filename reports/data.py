"""Read a results store into tidy frames, the only input every report uses.

A report source is a store URL (``sqlite:///runs/results.db``, ``postgresql://...``), a run
directory holding ``results.db``, or the ``.db`` file itself.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness import storage
from harness.errors import first_line
from harness.storage import load_frames


class ReportError(ValueError):
    """A report cannot be built; ``str()`` is the one-line message shown to users."""


class EmptyStoreError(ReportError):
    """The store exists but holds no eval points yet."""


def resolve_store_url(source: str | Path) -> str:
    """The SQLAlchemy URL of ``source`` (a URL, a run directory or a SQLite file)."""
    try:
        return storage.resolve_store_url(source)
    except storage.StoreSourceError as err:
        raise ReportError(str(err)) from None


def _variant_fields(config_json: str) -> dict:
    """The settings that distinguish two runs of one method (everything but seed and env)."""
    try:
        config = json.loads(config_json or "{}")
    except json.JSONDecodeError:
        return {}
    flat = {k: v for k, v in config.items()
            if k not in ("seed", "env", "method", "method_config", "env_kwargs")}
    flat.update(config.get("method_config") or {})
    flat.update({f"env.{k}": v for k, v in (config.get("env_kwargs") or {}).items()})
    return flat


def _values_key(fields: dict, names: list[str]) -> str:
    return json.dumps([fields.get(k) for k in names], sort_keys=True, default=str)


def variant_labels(runs: pd.DataFrame) -> pd.Series:
    """A curve label per run: the method name, plus the settings in which its runs differ.

    Seeds of one configuration share a label; a grid such as ``policy_lr=1e-6,1e-5`` yields
    ``twosome (policy_lr=1e-06)`` and ``twosome (policy_lr=1e-05)`` instead of pooling the two.
    """
    labels = pd.Series(runs["method"].astype(str).values, index=runs.index)
    for (method, env), group in runs.groupby(["method", "env"], sort=False):
        fields = {i: _variant_fields(c) for i, c in zip(group.index, group["config_json"])}
        keys = sorted({k for f in fields.values() for k in f})
        differing = [k for k in keys
                     if len({json.dumps(f.get(k), sort_keys=True, default=str)
                             for f in fields.values()}) > 1]
        if not differing:
            continue
        # A preset changes many fields at once (budget, eval grid, learning rates...): when the
        # preset alone tells the variants apart, it is the label ("ppo (preset=paper)").
        if "preset" in differing and (len({_values_key(f, differing) for f in fields.values()})
                                      == len({_values_key(f, ["preset"]) for f in fields.values()})):
            differing = ["preset"]
        for i, f in fields.items():
            detail = ", ".join(f"{k}={f.get(k)}" for k in differing)
            labels[i] = f"{method} ({detail})"
    return labels


@dataclass
class Results:
    url: str
    runs: pd.DataFrame  # one row per run, plus "label"
    evals: pd.DataFrame  # one row per eval point, with method, env, seed, status, label

    @property
    def envs(self) -> list[str]:
        return list(dict.fromkeys(self.evals["env"]))

    def labels(self, env: str | None = None) -> list[str]:
        frame = self.evals if env is None else self.evals[self.evals["env"] == env]
        return sorted(dict.fromkeys(frame["label"]))


def load_results(source: str | Path, include_unfinished: bool = False) -> Results:
    """Runs and eval points of a store, with a per-run ``label`` for grouping seeds.

    Only finished runs' points are compared unless ``include_unfinished``: a failed or still-running
    run's partial curve would otherwise enter the final-return IQM as if it were a result. ``runs``
    keeps every run (the report lists the others separately)."""
    url = resolve_store_url(source)
    try:
        runs, evals = load_frames(url)
    except Exception as err:  # noqa: BLE001 - a malformed database is one line, not a traceback
        raise ReportError(f"store {url} cannot be read ({first_line(err)[:200]})") from None
    if not include_unfinished:
        evals = evals[evals["status"] == "finished"]
    if runs.empty or evals.empty:
        raise EmptyStoreError(f"store {url} holds no eval points of finished runs yet (runs: "
                              f"{len(runs)}; --include-unfinished shows partial curves)")
    runs = runs.copy()
    runs["label"] = variant_labels(runs)
    evals = evals.merge(runs[["run_id", "label"]], on="run_id", how="left")
    evals = evals.sort_values(["env", "label", "seed", "step"], kind="stable").reset_index(drop=True)
    return Results(url=url, runs=runs, evals=evals)
