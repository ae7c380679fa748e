"""The aggregate table: final IQM return and success with CIs, steps to a threshold, area under the
curve, and the probability of improvement between methods, per env."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from reports import stats

DEFAULT_THRESHOLD = 0.9  # fraction of each env's ceiling for the steps-to-threshold column


@dataclass(frozen=True)
class EnvInfo:
    ceiling: float | None
    random_return: float | None
    note: str = ""


def env_info(runs: pd.DataFrame | None, env: str) -> EnvInfo:
    """Ceiling and random-policy return that ``env``'s runs recorded in the store (None where
    they recorded none: an env registered without them, or a store from before they were)."""
    recorded = runs[runs["env"] == env] if runs is not None else pd.DataFrame()

    def last(column: str) -> float | None:
        values = recorded[column].dropna() if column in recorded else pd.Series(dtype=float)
        return float(values.iloc[-1]) if len(values) else None

    ceiling = last("ceiling")
    note = "" if ceiling is not None else (f"{env}: its runs recorded no ceiling (none registered "
                                           "for the env), so no steps-to-threshold")
    return EnvInfo(ceiling, last("random_return"), note)


def final_points(evals: pd.DataFrame) -> pd.DataFrame:
    """Each run's last eval point."""
    return evals.sort_values("step").groupby("run_id", sort=False).tail(1)


def run_aucs(evals: pd.DataFrame, metric: str = "return_mean") -> pd.Series:
    """Normalized area under each run's curve (mean value over the steps it covers), by run_id."""
    return evals.groupby("run_id").apply(
        lambda g: stats.normalized_auc(g["step"], g[metric]), include_groups=False)


def fmt_ci(point: float, lower: float, upper: float, digits: int = 3) -> str:
    if np.isnan(point):
        return "n/a"
    return f"{point:.{digits}f} [{lower:.{digits}f}, {upper:.{digits}f}]"


def fmt_duration(seconds: float) -> str:
    if seconds is None or np.isnan(seconds):
        return "n/a"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def aggregate_table(evals: pd.DataFrame, runs: pd.DataFrame | None = None,
                    threshold: float = DEFAULT_THRESHOLD, reps: int = 2000, seed: int = 0,
                    env_infos: dict[str, EnvInfo] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """(table, notes). One row per (env, label) with numeric columns and their CIs.

    - final return / success: IQM over runs of each run's last eval point, 95% bootstrap CI;
    - auc: IQM over runs of the normalized area under the run's return curve (its mean return over
      training), with CI;
    - steps_to_threshold: first eval step where the IQM-over-seeds return curve reaches
      ``threshold x ceiling``; ``reached`` counts the seeds whose own curve reaches it.
    """
    env_infos = dict(env_infos or {})
    notes: list[str] = []
    rows = []
    aucs = run_aucs(evals)
    finals = final_points(evals)
    status = (runs.set_index("run_id")["status"] if runs is not None and "status" in runs
              else evals.groupby("run_id")["status"].first())
    for env, env_evals in evals.groupby("env", sort=False):
        info = env_infos.setdefault(env, env_info(runs, env))
        if info.note:
            notes.append(info.note)
        target = None if info.ceiling is None else threshold * info.ceiling
        for label, group in env_evals.groupby("label", sort=True):
            run_ids = list(dict.fromkeys(group["run_id"]))
            last = finals[finals["run_id"].isin(run_ids)]
            row = {"env": env, "label": label, "runs": len(run_ids),
                   "finished": int(sum(status.get(r) == "finished" for r in run_ids)),
                   "final_step": int(last["step"].median()),
                   # training + evaluation wall clock to the final point (cumulative over resumes)
                   "wall_time": stats.iqm(last["wall_time"].dropna().to_numpy(float))
                   if "wall_time" in last else float("nan")}
            for metric, name in (("return_mean", "final_return"), ("success_rate", "final_success")):
                p, lo, hi = stats.bootstrap_ci(last[metric].to_numpy(float), stats.iqm, reps=reps,
                                               seed=seed)
                row.update({name: p, f"{name}_lo": lo, f"{name}_hi": hi})
            p, lo, hi = stats.bootstrap_ci(aucs.loc[run_ids].to_numpy(float), stats.iqm, reps=reps,
                                           seed=seed)
            row.update({"auc": p, "auc_lo": lo, "auc_hi": hi})
            if target is None:
                row.update({"threshold": np.nan, "steps_to_threshold": np.nan, "reached": ""})
            else:
                curve = group.groupby("step")["return_mean"].apply(stats.iqm)
                hit = stats.steps_to_threshold(curve.index, curve.values, target)
                reached = sum(
                    stats.steps_to_threshold(g["step"], g["return_mean"], target) is not None
                    for _, g in group.groupby("run_id"))
                row.update({"threshold": target,
                            "steps_to_threshold": np.nan if hit is None else hit,
                            "reached": f"{reached}/{len(run_ids)}"})
            rows.append(row)
    return pd.DataFrame(rows), list(dict.fromkeys(notes))


def normalized_table(evals: pd.DataFrame, runs: pd.DataFrame | None = None, reps: int = 2000,
                     seed: int = 0, env_infos: dict[str, EnvInfo] | None = None) -> pd.DataFrame:
    """rliable's aggregate across tasks: final return normalized per env to
    ``(return - random) / (ceiling - random)`` (0 = uniform random, 1 = the ceiling), IQM over all
    runs of all envs a method covers, CI from a bootstrap stratified by env. Only envs whose runs
    recorded both ceiling and random return count; a method needs two such envs."""
    env_infos = dict(env_infos or {})
    finals = final_points(evals)
    scores: dict[str, dict[str, np.ndarray]] = {}
    for env, group in finals.groupby("env", sort=True):
        info = env_infos.setdefault(env, env_info(runs, env))
        if info.ceiling is None or info.random_return is None or info.ceiling == info.random_return:
            continue
        for label, g in group.groupby("label"):
            normalized = (g["return_mean"].to_numpy(float) - info.random_return) / (
                info.ceiling - info.random_return)
            scores.setdefault(label, {})[env] = normalized
    rows = []
    for label, by_env in sorted(scores.items()):
        if len(by_env) < 2:
            continue
        p, lo, hi = stats.bootstrap_ci(list(by_env.values()), stats.iqm, reps=reps, seed=seed)
        rows.append({"label": label, "envs": len(by_env), "runs": sum(map(len, by_env.values())),
                     "normalized": p, "lower": lo, "upper": hi})
    return pd.DataFrame(rows, columns=["label", "envs", "runs", "normalized", "lower", "upper"])


def improvement_table(evals: pd.DataFrame, reps: int = 2000, seed: int = 0) -> pd.DataFrame:
    """P(X > Y) on final return for every pair of labels within an env, with a 95% CI."""
    finals = final_points(evals)
    rows = []
    for env, group in finals.groupby("env", sort=False):
        by_label = {label: g["return_mean"].to_numpy(float)
                    for label, g in group.groupby("label", sort=True)}
        for x, y in combinations(sorted(by_label), 2):
            if stats.probability_of_improvement(by_label[x], by_label[y]) < 0.5:
                x, y = y, x  # orient each pair so that X is the (point-estimate) better method
            p, lo, hi = stats.probability_of_improvement_ci(by_label[x], by_label[y], reps=reps,
                                                            seed=seed)
            rows.append({"env": env, "x": x, "y": y, "p_x_better": p, "lower": lo, "upper": hi,
                         "runs_x": by_label[x].size, "runs_y": by_label[y].size})
    return pd.DataFrame(rows, columns=["env", "x", "y", "p_x_better", "lower", "upper", "runs_x",
                                       "runs_y"])


def display_table(table: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """The aggregate table as strings for Markdown/HTML."""
    shown = pd.DataFrame({
        "env": table["env"], "method": table["label"],
        "runs (finished)": [f"{r} ({f})" for r, f in zip(table["runs"], table["finished"])],
        "final step": table["final_step"],
        "final return IQM [95% CI]": [fmt_ci(r.final_return, r.final_return_lo, r.final_return_hi)
                                      for r in table.itertuples()],
        "final success IQM [95% CI]": [fmt_ci(r.final_success, r.final_success_lo,
                                              r.final_success_hi, 2) for r in table.itertuples()],
        "AUC (mean return) [95% CI]": [fmt_ci(r.auc, r.auc_lo, r.auc_hi)
                                       for r in table.itertuples()],
        "wall time to final (IQM)": [fmt_duration(t) for t in table["wall_time"]],
    })
    if table["threshold"].notna().any():
        shown[f"steps to {threshold:g}x ceiling (seeds reaching)"] = [
            "n/a (no ceiling)" if np.isnan(r.threshold)
            else (f"never ({r.reached})" if np.isnan(r.steps_to_threshold)
                  else f"{int(r.steps_to_threshold):,} ({r.reached})")
            for r in table.itertuples()]
    return shown
