"""Sample-efficiency curves: eval return and success rate vs env steps, IQM over seeds with 95%
stratified-bootstrap bands, one line per method (label), one figure per env."""
from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")  # reports are files; never open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from reports import stats  # noqa: E402

METRICS = {"return_mean": "eval return (IQM over seeds)",
           "success_rate": "success rate (IQM over seeds)"}


def aggregate_curves(evals: pd.DataFrame, metrics=tuple(METRICS), reps: int = 2000,
                     confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per (env, label, step, metric): ``iqm``, ``lower``, ``upper``, ``n_runs``.

    At each eval step the runs that reached it are aggregated (runs still in progress drop out of
    later steps, which ``n_runs`` shows).
    """
    rows = []
    for (env, label, step), group in evals.groupby(["env", "label", "step"], sort=True):
        for metric in metrics:
            values = group[metric].dropna().to_numpy(dtype=float)
            if values.size == 0:
                continue
            point, lower, upper = stats.bootstrap_ci(values, stats.iqm, reps=reps,
                                                     confidence=confidence, seed=seed)
            rows.append({"env": env, "label": label, "step": int(step), "metric": metric,
                         "iqm": point, "lower": lower, "upper": upper, "n_runs": int(values.size)})
    return pd.DataFrame(rows, columns=["env", "label", "step", "metric", "iqm", "lower", "upper",
                                       "n_runs"])


def label_colors(labels) -> dict[str, tuple]:
    """A stable colour per label, so a method has the same colour in every figure."""
    labels = sorted(dict.fromkeys(labels))
    palette = sns.color_palette("colorblind", n_colors=max(len(labels), 1))
    return {label: palette[i % len(palette)] for i, label in enumerate(labels)}


def plot_env(curves: pd.DataFrame, env: str, colors: dict[str, tuple] | None = None,
             ceiling: float | None = None, random_return: float | None = None) -> plt.Figure:
    """Two panels (return, success rate) for one env: an IQM line and a CI band per label.

    Each label's band is a ``fill_between`` PolyCollection whose ``gid`` is ``"band:<label>"`` and
    whose line has ``gid`` ``"iqm:<label>"`` (tests and post-processing find them by these ids).
    """
    sns.set_theme(style="whitegrid", context="notebook")
    frame = curves[curves["env"] == env]
    colors = colors or label_colors(frame["label"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for ax, (metric, ylabel) in zip(axes, METRICS.items()):
        part = frame[frame["metric"] == metric]
        for label, line in part.groupby("label", sort=True):
            line = line.sort_values("step")
            color = colors.get(label)
            ax.plot(line["step"], line["iqm"], color=color, label=label, lw=2,
                    marker="o" if len(line) < 3 else None, gid=f"iqm:{label}")
            ax.fill_between(line["step"], line["lower"], line["upper"], color=color, alpha=0.2,
                            lw=0, gid=f"band:{label}")
        if metric == "return_mean":
            if ceiling is not None:
                ax.axhline(ceiling, color="0.3", ls="--", lw=1, label=f"ceiling {ceiling:g}")
            if random_return is not None:
                ax.axhline(random_return, color="0.6", ls=":", lw=1,
                           label=f"uniform random {random_return:g}")
        else:
            ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("environment steps")
        ax.set_ylabel(ylabel)
    axes[0].legend(loc="best", fontsize="small")
    n_runs = frame.groupby("label")["n_runs"].max()
    seeds = ", ".join(f"{k}: {v}" for k, v in n_runs.items())
    # Wrapped: with several variants the one-line title ran off the figure.
    title = f"{env}  (shaded: 95% stratified-bootstrap CI; runs per method: {seeds})"
    fig.suptitle(textwrap.fill(title, width=110), fontsize="medium")
    return fig


def band_and_line(fig: plt.Figure, label: str, panel: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(band polygon vertices, IQM line xy) of ``label`` in panel ``panel`` of a :func:`plot_env`
    figure."""
    ax = fig.axes[panel]
    band = next(c for c in ax.collections if c.get_gid() == f"band:{label}")
    line = next(ln for ln in ax.lines if ln.get_gid() == f"iqm:{label}")
    vertices = np.concatenate([p.vertices for p in band.get_paths()])
    return vertices, np.asarray(line.get_xydata())
