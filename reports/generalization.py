"""Zero-shot generalization to unseen tasks (the paper's Figure 6), stored so reports can rebuild it.

Checkpoints trained on Food Preparation are evaluated on the six prompt-substitution variants and on
Entertainment; checkpoints trained on Entertainment on Food Preparation (stage ``final``: the run's
last checkpoint). Next to them, for the trainable methods named in ``untrained``, the *step-0*
policy (a freshly built method: for TWOSOME the frozen LLM with word normalization, i.e. the
zero-shot LLM; stage ``step0``). Methods with nothing to learn (saycan, random) appear once.

Every (method, unseen evaluation) pair gets a row: a measured result, or ``n/a`` with the reason
(no run trained on the source task, observation/action spaces that do not fit the target env, a run
without a checkpoint, a target env not registered), never a crash.
"""
from __future__ import annotations

import json
import traceback
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from reports import stats

FOOD = "virtualhome/food-preparation"
ENTERTAINMENT = "virtualhome/entertainment"
VARIANTS = ("cheese", "hamburger", "apple-pie", "pizza", "washing-plate", "laundry")
# (trained on, evaluated on): the eight unseen evaluations, in the paper's order.
UNSEEN: tuple[tuple[str, str], ...] = (
    *((FOOD, f"{FOOD}-{v}") for v in VARIANTS),
    (FOOD, ENTERTAINMENT),
    (ENTERTAINMENT, FOOD),
)
DEFAULT_EPISODES = 100  # the original inference scripts and ADRL use 100 sampled episodes
DEFAULT_EVAL_SEED = 10

metadata = sa.MetaData()
generalization_table = sa.Table(
    "generalization", metadata,
    sa.Column("source_run_id", sa.String(128), primary_key=True),  # "" for a missing source
    sa.Column("stage", sa.String(16), primary_key=True),  # final (last checkpoint) | step0 (fresh)
    sa.Column("method", sa.String(128), primary_key=True),
    sa.Column("train_env", sa.String(128), primary_key=True),
    sa.Column("eval_env", sa.String(128), primary_key=True),
    sa.Column("eval_seed", sa.Integer, primary_key=True),
    sa.Column("episodes", sa.Integer, primary_key=True),
    sa.Column("seed", sa.Integer),  # the training run's seed
    sa.Column("status", sa.String(16), nullable=False),  # ok | n/a
    sa.Column("note", sa.Text),
    sa.Column("return_mean", sa.Float),
    sa.Column("return_std", sa.Float),
    sa.Column("success_rate", sa.Float),
    sa.Column("length_mean", sa.Float),
    sa.Column("created_at", sa.String(32)),
)


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def task_name(train_env: str, eval_env: str) -> str:
    """Short row label of an unseen evaluation, e.g. ``cheese`` or ``food-preparation -> entertainment``."""
    if eval_env.startswith(f"{FOOD}-"):
        return eval_env.removeprefix(f"{FOOD}-")
    short = lambda e: e.split("/")[-1]  # noqa: E731
    return f"{short(train_env)} -> {short(eval_env)}"


# -- evaluation ------------------------------------------------------------------------------------
@dataclass
class Hooks:
    """How a trained or fresh method is obtained and evaluated (the protocol's; replaceable in
    tests)."""

    load_method: Callable[[Any, str, str], Any]  # (store, run_id, target env) -> trained Method
    fresh_method: Callable[[Any, str, str], Any]  # same, but untrained (step 0)
    evaluate: Callable[..., dict]  # (method, env_spec, env_kwargs, episodes, seed) -> dict
    incompatible: tuple[type[BaseException], ...] = ()


def protocol_hooks() -> Hooks:
    from harness import protocol

    def load_trained(store: Any, run_id: str, env: str) -> Any:
        # load_method falls back to a fresh method without a checkpoint; here that would pass an
        # untrained policy off as the trained one.
        run_dir = (store.get_run(run_id) or {}).get("run_dir") or ""
        if not (Path(run_dir) / protocol.CHECKPOINT).is_file():
            raise FileNotFoundError(f"run {run_id} has no checkpoint in {run_dir or '(no run_dir)'}")
        return protocol.load_method(store, run_id, env)

    return Hooks(load_method=load_trained, fresh_method=fresh_method,
                 evaluate=protocol.evaluate, incompatible=(protocol.IncompatibleEnvError,))


def fresh_method(store: Any, run_id: str, env: str) -> Any:
    """The run's method as built before any training (its step-0 policy), to act in ``env``."""
    from harness import protocol

    return protocol.load_method(store, run_id, env, trained=False)


def run_generalization(store_url: str, methods: list[str] | None = None,
                       untrained: tuple[str, ...] = ("twosome",), episodes: int = DEFAULT_EPISODES,
                       eval_seed: int = DEFAULT_EVAL_SEED, hooks: Hooks | None = None,
                       log: Callable[[str], None] = print) -> pd.DataFrame:
    """Evaluate every trained run (and the untrained baselines) on the eight unseen tasks and store
    the results in the ``generalization`` table; returns the rows written."""
    from harness.registry import ENVS, METHODS, UnknownNameError
    from harness.storage import Store

    hooks = hooks or protocol_hooks()
    store = Store(store_url)
    metadata.create_all(store.engine)
    runs = store.runs_frame()
    if methods:
        runs = runs[runs["method"].isin(methods)]
    sources = runs[runs["env"].isin({FOOD, ENTERTAINMENT})]
    names = list(dict.fromkeys(methods or sorted(sources["method"])))
    if not names:
        raise ValueError(f"store {store_url} has no runs on {FOOD} or {ENTERTAINMENT} to take "
                         "checkpoints from; train some first (harness run envs=...)")
    rows = []

    def record(base: dict, **result: Any) -> None:
        row = {**base, "eval_seed": eval_seed, "episodes": episodes, "created_at": _now(), **result}
        rows.append(row)
        shown = (f"return {row['return_mean']:.3f} success {row['success_rate']:.2f}"
                 if row["status"] == "ok" else f"n/a ({row['note']})")
        log(f"  {row['method']:<14} {row['stage']:<9} seed {row['seed']}  "
            f"{task_name(row['train_env'], row['eval_env']):<38} {shown}")

    for name in names:
        try:
            trains = bool(getattr(METHODS.get(name), "trains", True))
        except UnknownNameError:
            trains = True
        stages = ["final"] + (["step0"] if trains and name in untrained else [])
        for stage in stages:
            for train_env, eval_env in UNSEEN:
                candidates = sources[(sources["method"] == name) & (sources["env"] == train_env)]
                base = {"method": name, "stage": stage,
                        "train_env": train_env, "eval_env": eval_env}
                if candidates.empty:
                    record({**base, "source_run_id": "", "seed": None}, status="n/a",
                           note=f"no {name} run trained on {train_env}")
                    continue
                if stage == "step0":
                    candidates = candidates.head(1)  # before training, seeds do not matter
                for run in candidates.to_dict("records"):
                    base_run = {**base, "source_run_id": run["run_id"], "seed": int(run["seed"])}
                    record(base_run, **_evaluate_one(hooks, store, run, stage, eval_env,
                                                     episodes, eval_seed, ENVS))
    frame = pd.DataFrame(rows)
    _write(store.engine, frame)
    return frame


def _evaluate_one(hooks: Hooks, store: Any, run: dict, stage: str, eval_env: str, episodes: int,
                  eval_seed: int, envs: Any) -> dict:
    from harness.registry import UnknownNameError

    if eval_env not in envs:
        return {"status": "n/a", "note": f"env {eval_env} is not registered"}
    if stage == "final" and run.get("status") != "finished":
        return {"status": "n/a", "note": f"run {run['run_id']} is {run.get('status')}, not finished"}
    try:
        load = hooks.load_method if stage == "final" else hooks.fresh_method
        method = load(store, run["run_id"], eval_env)
        env_kwargs = json.loads(run["config_json"]).get("env_kwargs") or {}
        result = hooks.evaluate(method, envs.get(eval_env), env_kwargs, episodes, eval_seed)
    except hooks.incompatible as err:
        return {"status": "n/a", "note": f"incompatible: {err}"}
    except UnknownNameError as err:
        return {"status": "n/a", "note": str(err)}
    except FileNotFoundError as err:
        return {"status": "n/a", "note": f"no checkpoint: {err}"}
    except Exception as err:  # noqa: BLE001 -- one broken pair must not stop the other seven
        detail = traceback.format_exception_only(type(err), err)[-1].strip()
        return {"status": "n/a", "note": f"error: {detail}"}
    return {"status": "ok", "note": "",
            **{k: float(result[k]) for k in ("return_mean", "return_std", "success_rate",
                                             "length_mean") if k in result}}


def _write(engine: sa.Engine, frame: pd.DataFrame) -> None:
    keys = [c.name for c in generalization_table.primary_key.columns]
    columns = {c.name for c in generalization_table.columns}
    with engine.begin() as conn:
        for row in frame.to_dict("records"):
            row = {k: (None if isinstance(v, float) and np.isnan(v) else v)
                   for k, v in row.items() if k in columns}
            row["source_run_id"] = row.get("source_run_id") or ""
            where = sa.and_(*(generalization_table.c[k] == row[k] for k in keys))
            conn.execute(generalization_table.delete().where(where))
            conn.execute(generalization_table.insert().values(**row))


# -- presentation ----------------------------------------------------------------------------------
def read_generalization(store_url: str) -> pd.DataFrame:
    """The stored generalization rows (empty frame if the store has none)."""
    engine = sa.create_engine(store_url)
    try:
        if not sa.inspect(engine).has_table("generalization"):
            return pd.DataFrame(columns=[c.name for c in generalization_table.columns])
        with engine.connect() as conn:
            return pd.read_sql_table("generalization", conn)
    finally:
        engine.dispose()


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
    order = {pair: i for i, pair in enumerate(UNSEEN)}
    for (train_env, eval_env, label), group in frame.groupby(["train_env", "eval_env", "label"]):
        ok = group[group["status"] == "ok"]
        row = {"task": task_name(train_env, eval_env), "train_env": train_env,
               "eval_env": eval_env, "label": label, "seeds": len(ok),
               "order": order.get((train_env, eval_env), len(order))}
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
