"""The "Original ability" section of the comparison report: base vs tuned LLM per run and task,
read from the store's ``ability`` table (written by ``harness ability``, methods/llm/ability.py)."""
from __future__ import annotations

import math

import pandas as pd

from harness.storage import Store

Z95 = 1.959964

NOTE = (
    "Base = the frozen LLM (adapters off), tuned = the run's final LoRA applied, same dtype and "
    "inputs. Difference = tuned - base with a 95% CI (±1.96 standard errors), paired per corpus "
    "window or per document; for a task group, unpaired from the two aggregates. pydoc: "
    "next-token NLL (nats/token) and perplexity on a fixed slice of Python's pydoc_data.topics; "
    "kl_base_tuned = mean per-token KL(base || tuned); top1_agreement = share of positions where "
    "both models predict the same next token (difference column). What each measure can and "
    "cannot show: docs/ability.md.")


def read_ability(url: str) -> pd.DataFrame:
    """The stored ability rows (an empty frame if there are none)."""
    return Store(url).ability_frame()


def _fmt(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}g}"


def display_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One line per (run, task, metric): base, tuned, difference [95% CI]."""
    lines = []
    for (run_id, task, metric), group in frame.groupby(["run_id", "task", "metric"], sort=True):
        by_stage = {r.stage: r for r in group.itertuples()}
        first = group.iloc[0]
        diff = by_stage.get("diff")
        if diff is not None and diff.stderr is not None and not math.isnan(diff.stderr):
            half = Z95 * diff.stderr
            difference = f"{_fmt(diff.value)} [{_fmt(diff.value - half)}, {_fmt(diff.value + half)}]"
        else:
            difference = _fmt(diff.value) if diff is not None else ""
        lines.append({
            "run": f"{first['method']} {first['env']} s{first['seed']}", "model": first["model"],
            "task": task, "metric": metric,
            "base": _fmt(by_stage["base"].value) if "base" in by_stage else "",
            "tuned": _fmt(by_stage["tuned"].value) if "tuned" in by_stage else "",
            "difference [95% CI]": difference,
            "n": int(first["n"]) if pd.notna(first["n"]) else ""})
    return pd.DataFrame(lines)


def section(url: str) -> tuple[str, list] | None:
    """The report section, or None when the store holds no ability results."""
    frame = read_ability(url)
    if frame.empty:
        return None
    return ("Original ability (base vs tuned LLM)", [display_table(frame), NOTE])
