"""The transfer table of the report (the paper's Figure 6): zero-shot results on unseen tasks.

harness/transfer.py measures them (``harness transfer``); this module only renders what the store's
``transfer`` table holds.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.storage import Store
from reports import stats


def task_name(train_env: str, eval_env: str) -> str:
    """Short row label: ``cheese`` for a variant of the training task, else ``a -> b``."""
    if eval_env.startswith(f"{train_env}-"):
        return eval_env.removeprefix(f"{train_env}-")
    short = lambda e: e.split("/")[-1]  # noqa: E731
    return f"{short(train_env)} -> {short(eval_env)}"


def read_transfer(store_url: str) -> pd.DataFrame:
    """The stored transfer rows (an empty frame if there are none; opening the store copies a
    legacy ``generalization`` table's rows over, harness/storage.py)."""
    return Store(store_url).transfer_frame()


def method_label(method: str, stage: str) -> str:
    return method if stage == "final" else f"{method} (step 0)"


def summary(frame: pd.DataFrame, reps: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Long table: one row per (unseen task, method label) with IQM over training seeds of return
    and success and a 95% bootstrap CI of the return; ``status`` n/a where nothing was measured."""
    if frame.empty:
        return pd.DataFrame(columns=["task", "train_env", "eval_env", "label", "status",
                                     "return_iqm", "return_lo", "return_hi", "success", "seeds",
                                     "note"])
    frame = frame.assign(label=[method_label(m, s) for m, s in zip(frame["method"],
                                                                  frame["stage"])])
    rows = []
    # Variants first, then crossovers, each in the order the transfer stage wrote them.
    crossover = frame["kind"].eq("crossover")
    first_seen = {pair: i for i, pair in enumerate(dict.fromkeys(
        zip(frame["train_env"], frame["eval_env"])))}
    frame = frame.assign(crossover=crossover)
    for (train_env, eval_env, label), group in frame.groupby(["train_env", "eval_env", "label"]):
        ok = group[group["status"] == "ok"]
        is_crossover = bool(group["crossover"].iloc[0])
        row = {"task": task_name(train_env, eval_env), "train_env": train_env,
               "eval_env": eval_env, "label": label, "seeds": len(ok),
               "order": (len(first_seen) if is_crossover else 0)
               + first_seen[(train_env, eval_env)]}
        if ok.empty:
            row.update(status="n/a", note="; ".join(dict.fromkeys(group["note"].fillna(""))),
                       return_iqm=np.nan, return_lo=np.nan, return_hi=np.nan, success=np.nan)
        else:
            p, lo, hi = stats.bootstrap_ci(ok["return_mean"].to_numpy(float), reps=reps, seed=seed)
            row.update(status="ok", note="", success=stats.iqm(ok["success_rate"].to_numpy(float)),
                       return_iqm=p, return_lo=lo, return_hi=hi)
        rows.append(row)
    out = pd.DataFrame(rows).sort_values(["order", "label"]).drop(columns="order")
    return out.reset_index(drop=True)


def display_table(summ: pd.DataFrame) -> pd.DataFrame:
    """Unseen tasks as rows, method labels as columns: ``return IQM [CI] / success`` or ``n/a``."""
    if summ.empty:
        return pd.DataFrame()
    cell = [("n/a" if r.status != "ok" else
             f"{r.return_iqm:.3f} [{r.return_lo:.3f}, {r.return_hi:.3f}] / {r.success:.2f}")
            for r in summ.itertuples()]
    wide = summ.assign(cell=cell).pivot(index="task", columns="label", values="cell")
    tasks = list(dict.fromkeys(summ["task"]))
    wide = wide.reindex(tasks).fillna("n/a")
    wide.columns.name = None
    return wide.reset_index().rename(columns={"task": "unseen task (trained on -> evaluated on)"})


def bar_plot(summ: pd.DataFrame):
    """Grouped bars: IQM return per unseen task and method label, 95% CI whiskers, n/a marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from reports.curves import label_colors

    sns.set_theme(style="whitegrid", context="notebook")
    tasks = list(dict.fromkeys(summ["task"]))
    labels = sorted(dict.fromkeys(summ["label"]))
    colors = label_colors(labels)
    width = 0.8 / max(len(labels), 1)
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(tasks) * max(1, len(labels) / 2)), 4.5),
                           constrained_layout=True)
    for j, label in enumerate(labels):
        part = summ[summ["label"] == label].set_index("task").reindex(tasks)
        x = np.arange(len(tasks)) + (j - (len(labels) - 1) / 2) * width
        heights = part["return_iqm"].to_numpy(float)
        err = np.vstack([heights - part["return_lo"].to_numpy(float),
                         part["return_hi"].to_numpy(float) - heights])
        ax.bar(x, np.nan_to_num(heights), width, color=colors[label], label=label,
               yerr=np.nan_to_num(err), capsize=2, gid=f"bars:{label}")
        for xi, h in zip(x, heights):
            if np.isnan(h):
                ax.text(xi, 0.01, "n/a", rotation=90, ha="center", va="bottom", fontsize="x-small",
                        color="0.4")
    ax.set_xticks(np.arange(len(tasks)))
    ax.set_xticklabels(tasks, rotation=20, ha="right")
    ax.set_ylabel("eval return (IQM over training seeds)")
    ax.set_title("Zero-shot generalization to unseen tasks (whiskers: 95% bootstrap CI)",
                 fontsize="medium")
    ax.legend(fontsize="small")
    return fig
