"""The results store: runs and their eval points in a real database.

SQLAlchemy Core over any URL; the default is an embedded SQLite file under the run directory, and a
PostgreSQL URL works unchanged. Reports read only this store, so any past result can be re-reported
without re-running. Every write is its own committed transaction: a crash loses nothing written.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

metadata = sa.MetaData()

runs_table = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("method", sa.String(128), nullable=False),
    sa.Column("env", sa.String(128), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("preset", sa.String(256), nullable=False),
    sa.Column("config_json", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # running | finished | failed | pruned
    sa.Column("git_commit", sa.String(64)),
    sa.Column("versions_json", sa.Text),
    sa.Column("host", sa.String(256)),
    sa.Column("run_dir", sa.Text),
    sa.Column("created_at", sa.String(32)),
    sa.Column("updated_at", sa.String(32)),
    sa.Column("total_steps", sa.Integer),
    sa.Column("steps_done", sa.Integer, default=0),
    sa.Column("error", sa.Text),  # one-line reason of a failed run
)

eval_points_table = sa.Table(
    "eval_points", metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("wall_time", sa.Float),
    sa.Column("return_mean", sa.Float),
    sa.Column("return_std", sa.Float),
    sa.Column("success_rate", sa.Float),
    sa.Column("length_mean", sa.Float),
    sa.Column("episodes", sa.Integer),
    sa.Column("extra_json", sa.Text),
)

# Original-ability results (methods/llm/ability.py): one row per (run, stage, task, metric).
# stage: "base" (the frozen model, adapters off), "tuned" (the run's final LoRA applied) or
# "diff" (tuned - base, paired per window / document; pair measures such as the KL live here).
ability_table = sa.Table(
    "ability", metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("stage", sa.String(16), primary_key=True),
    sa.Column("task", sa.String(128), primary_key=True),
    sa.Column("metric", sa.String(64), primary_key=True),
    sa.Column("model", sa.String(256)),   # the base LLM (e.g. smollm2) and its dtype
    sa.Column("value", sa.Float),
    sa.Column("stderr", sa.Float),       # standard error of value (NaN where unknown)
    sa.Column("n", sa.Integer),          # samples behind it (documents, or corpus windows)
    sa.Column("extra_json", sa.Text),    # how it was measured (corpus slice, lm-eval version, ...)
    sa.Column("created_at", sa.String(32)),
)
ABILITY_STAGES = ("base", "tuned", "diff")

RUN_STATUSES = ("running", "finished", "failed", "pruned")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def default_store_url(out_dir: str | Path) -> str:
    return f"sqlite:///{Path(out_dir).resolve() / 'results.db'}"


class Store:
    """Runs and eval points behind one SQLAlchemy URL."""

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url)
        if self.engine.dialect.name == "sqlite":
            # WAL lets a report or a sweep worker read while a run writes.
            with self.engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        metadata.create_all(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Stores written by earlier versions lack later nullable columns: add them in place."""
        present = {c["name"] for c in sa.inspect(self.engine).get_columns("runs")}
        with self.engine.begin() as conn:
            for column in runs_table.columns:
                if column.name not in present and column.nullable:
                    conn.exec_driver_sql(f"ALTER TABLE runs ADD COLUMN {column.name} "
                                         f"{column.type.compile(self.engine.dialect)}")

    # -- runs -------------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs_table).where(runs_table.c.run_id == run_id)).first()
        return dict(row._mapping) if row else None

    def start_run(self, run_id: str, **fields: Any) -> None:
        """Insert the run, or mark an existing one as running again (a resume)."""
        fields = {**fields, "status": "running", "updated_at": now_iso()}
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(runs_table.c.run_id)
                                  .where(runs_table.c.run_id == run_id)).first()
            if exists:
                conn.execute(runs_table.update().where(runs_table.c.run_id == run_id).values(**fields))
            else:
                conn.execute(runs_table.insert().values(run_id=run_id, created_at=now_iso(), **fields))

    def update_run(self, run_id: str, **fields: Any) -> None:
        if "status" in fields and fields["status"] not in RUN_STATUSES:
            raise ValueError(f"status {fields['status']!r} not in {RUN_STATUSES}")
        with self.engine.begin() as conn:
            conn.execute(runs_table.update().where(runs_table.c.run_id == run_id)
                         .values(updated_at=now_iso(), **fields))

    # -- eval points ------------------------------------------------------------------------------
    def add_eval_point(self, run_id: str, point: dict[str, Any]) -> None:
        """Insert (or replace, on a resumed run) the eval point at ``point["step"]``."""
        columns = {c.name for c in eval_points_table.columns} - {"run_id", "extra_json"}
        row = {k: v for k, v in point.items() if k in columns}
        extra = {k: v for k, v in point.items() if k not in columns}
        with self.engine.begin() as conn:
            conn.execute(eval_points_table.delete().where(
                (eval_points_table.c.run_id == run_id) & (eval_points_table.c.step == row["step"])))
            conn.execute(eval_points_table.insert().values(
                run_id=run_id, extra_json=json.dumps(extra, sort_keys=True), **row))

    def delete_eval_points(self, run_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(eval_points_table.delete().where(eval_points_table.c.run_id == run_id))

    def eval_points(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(eval_points_table)
                                .where(eval_points_table.c.run_id == run_id)
                                .order_by(eval_points_table.c.step)).all()
        return [dict(r._mapping) for r in rows]

    # -- original-ability results ------------------------------------------------------------------
    def add_ability_results(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        """Store one run's results of some tasks, replacing that run's earlier rows of those tasks
        (one transaction: a reader sees the old rows or the new ones)."""
        for row in rows:
            if row["stage"] not in ABILITY_STAGES:
                raise ValueError(f"stage {row['stage']!r} not in {ABILITY_STAGES}")
        t = ability_table
        with self.engine.begin() as conn:
            for task in {row["task"] for row in rows}:
                conn.execute(t.delete().where((t.c.run_id == run_id) & (t.c.task == task)))
            if not rows:
                return
            conn.execute(t.insert(), [{
                "run_id": run_id, "stage": r["stage"], "task": r["task"], "metric": r["metric"],
                "model": r.get("model"), "value": r["value"], "stderr": r.get("stderr"),
                "n": r.get("n"), "extra_json": json.dumps(r.get("extra", {}), sort_keys=True),
                "created_at": now_iso()} for r in rows])

    def ability_frame(self) -> pd.DataFrame:
        """Ability rows joined with their run's method, env and seed."""
        r, a = runs_table, ability_table
        query = (sa.select(a, r.c.method, r.c.env, r.c.seed).join(r, r.c.run_id == a.c.run_id)
                 .order_by(a.c.run_id, a.c.task, a.c.metric, a.c.stage))
        with self.engine.connect() as conn:
            return pd.read_sql(query, conn)

    # -- pandas -----------------------------------------------------------------------------------
    def runs_frame(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(sa.select(runs_table), conn)

    def eval_frame(self) -> pd.DataFrame:
        """Eval points joined with their run's method, env, seed, preset and status."""
        r, e = runs_table, eval_points_table
        query = (sa.select(e, r.c.method, r.c.env, r.c.seed, r.c.preset, r.c.status)
                 .join(r, r.c.run_id == e.c.run_id).order_by(e.c.run_id, e.c.step))
        with self.engine.connect() as conn:
            return pd.read_sql(query, conn)


def load_frames(url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(runs, eval_points)`` of a store in one call."""
    store = Store(url)
    return store.runs_frame(), store.eval_frame()
