"""Curve metrics shared by the sweeps' objective and the reports' aggregates.

They live in the core because a sweep (which runs) and a report (which reads the store) both need
them, and neither may import the other.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def normalized_auc(steps: Sequence[float], values: Sequence[float]) -> float:
    """Area under a learning curve divided by its step span: the average value over training.

    Trapezoid rule between eval points, so it is comparable across budgets and eval spacings (a
    curve constant at v has AUC v). A single point gives that point's value.
    """
    x = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"steps and values must be non-empty and equal length; got {x.size}, {y.size}")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    span = x[-1] - x[0]
    if span == 0:
        return float(y.mean())
    return float(np.trapezoid(y, x) / span)


def steps_to_threshold(steps: Sequence[float], values: Sequence[float],
                       threshold: float) -> float | None:
    """First eval step whose value is >= ``threshold`` (eval points are not interpolated), or
    ``None`` if the curve never reaches it."""
    x = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="stable")
    hits = np.nonzero(y[order] >= threshold)[0]
    return float(x[order][hits[0]]) if hits.size else None
