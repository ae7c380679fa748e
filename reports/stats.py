"""Aggregate statistics for few-seed RL results, following the rliable protocol.

Agarwal et al., "Deep RL at the edge of the statistical precipice" (NeurIPS 2021): report the
interquartile mean (IQM) over runs, with 95% percentile confidence intervals from a *stratified*
bootstrap (runs are resampled with replacement within each task, so every task keeps its number of
runs), and the probability of improvement P(X > Y) between two methods.

We implement these with numpy rather than depending on ``rliable``: rliable 1.2.0 imports
``arch``, whose current release fails to import with pandas 3 (``deprecate_kwarg`` signature
change), and the three estimators below are a few lines each. The definitions match rliable's
(``aggregate_iqm`` = ``scipy.stats.trim_mean(x, 0.25)`` over all runs and tasks;
``probability_of_improvement`` = mean over tasks of the Mann-Whitney U statistic / (n*m)).

Score matrices are ``(runs, tasks)`` arrays, the layout rliable uses.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy import stats as _sps

# The curve metrics live in the core (a sweep's objective needs them too); re-exported here.
from harness.curve_metrics import normalized_auc, steps_to_threshold  # noqa: F401

ScoreFn = Callable[[np.ndarray], float]


def iqm(scores: np.ndarray | Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle 50% of all values (25% trimmed from each end).

    As in rliable (``scipy.stats.trim_mean(..., 0.25, axis=None)``): ``floor(0.25 n)`` values are
    cut from each end, so with fewer than 4 values it is the plain mean.
    """
    values = np.asarray(scores, dtype=float).ravel()
    if values.size == 0:
        return float("nan")
    return float(_sps.trim_mean(values, 0.25, axis=None))


def mean(scores: np.ndarray | Sequence[float]) -> float:
    values = np.asarray(scores, dtype=float).ravel()
    return float(values.mean()) if values.size else float("nan")


def _as_matrix(scores: np.ndarray | Sequence[float]) -> np.ndarray:
    matrix = np.asarray(scores, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix[:, None]  # one task, runs along axis 0
    if matrix.ndim != 2:
        raise ValueError(f"scores must be (runs,) or (runs, tasks); got shape {matrix.shape}")
    return matrix


def _as_strata(scores) -> list[np.ndarray]:
    """Per-task run arrays: the columns of a (runs, tasks) matrix, or a list of 1-D arrays (tasks
    may then have different numbers of runs)."""
    if isinstance(scores, (list, tuple)) and scores and np.ndim(scores[0]) == 1:
        strata = [np.asarray(s, dtype=float) for s in scores]
    else:
        matrix = _as_matrix(scores)
        strata = [matrix[:, t] for t in range(matrix.shape[1])]
    if any(s.size == 0 for s in strata):
        raise ValueError("every task needs at least one run")
    return strata


def bootstrap_ci(scores, statistic: ScoreFn = iqm, reps: int = 2000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """(point estimate, lower, upper): percentile CI of ``statistic`` under a stratified bootstrap.

    ``scores`` is ``(runs, tasks)``, ``(runs,)`` for one task, or a list of per-task 1-D arrays.
    Each replicate resamples every task's runs with replacement (keeping its run count) and applies
    ``statistic`` to all resampled values together. A task with a single run contributes that run
    unchanged, so with one run everywhere the interval collapses to the point estimate.
    """
    strata = _as_strata(scores)
    pooled = np.concatenate(strata)
    point = float(statistic(pooled))
    if all(s.size < 2 for s in strata):
        return point, point, point
    rng = np.random.default_rng(seed)
    resampled = np.concatenate(
        [s[rng.integers(0, s.size, size=(reps, s.size))] for s in strata], axis=1)  # (reps, N)
    if statistic is iqm:
        estimates = _sps.trim_mean(resampled, 0.25, axis=1)  # vectorized fast path
    elif statistic is mean:
        estimates = resampled.mean(axis=1)
    else:
        estimates = np.array([statistic(r) for r in resampled])
    alpha = (1.0 - confidence) / 2.0
    lower, upper = np.quantile(estimates, [alpha, 1.0 - alpha])
    return point, float(lower), float(upper)


def probability_of_improvement(x: np.ndarray | Sequence[float],
                               y: np.ndarray | Sequence[float]) -> float:
    """P(X > Y): chance that a random run of X beats a random run of Y on the same task (ties 1/2),
    averaged over tasks. ``x`` is ``(runs_x, tasks)``, ``y`` is ``(runs_y, tasks)``."""
    a, b = _as_matrix(x), _as_matrix(y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y cover different numbers of tasks: {a.shape[1]} vs {b.shape[1]}")
    per_task = []
    for t in range(a.shape[1]):
        diff = a[:, t][:, None] - b[:, t][None, :]
        per_task.append(np.mean((diff > 0) + 0.5 * (diff == 0)))
    return float(np.mean(per_task))


def probability_of_improvement_ci(x, y, reps: int = 2000, confidence: float = 0.95,
                                  seed: int = 0) -> tuple[float, float, float]:
    """P(X > Y) with a percentile CI; X's and Y's runs are bootstrapped independently per task."""
    a, b = _as_matrix(x), _as_matrix(y)
    point = probability_of_improvement(a, b)
    if a.shape[0] < 2 and b.shape[0] < 2:
        return point, point, point
    rng = np.random.default_rng(seed)
    estimates = np.zeros(reps)
    for t in range(a.shape[1]):  # each task's runs resampled on their own (stratified)
        xa = a[rng.integers(0, a.shape[0], size=(reps, a.shape[0])), t]  # (reps, runs_x)
        yb = b[rng.integers(0, b.shape[0], size=(reps, b.shape[0])), t]  # (reps, runs_y)
        diff = xa[:, :, None] - yb[:, None, :]
        estimates += ((diff > 0) + 0.5 * (diff == 0)).mean(axis=(1, 2))
    estimates /= a.shape[1]
    alpha = (1.0 - confidence) / 2.0
    lower, upper = np.quantile(estimates, [alpha, 1.0 - alpha])
    return point, float(lower), float(upper)
