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

# One recorded evaluation episode per (run, kind): harness/replay.py writes it, reports render it.
replays_table = sa.Table(
    "replays", metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # "untrained" (step 0) | "trained" (final)
    sa.Column("policy_step", sa.Integer),  # env steps of training behind the policy (0: untrained)
    sa.Column("env", sa.String(128)),
    sa.Column("episode_seed", sa.Integer),
    sa.Column("return_", sa.Float),
    sa.Column("length", sa.Integer),
    sa.Column("success", sa.Boolean),
    sa.Column("steps_json", sa.Text),  # [{prompt, actions: [{id, text, p}], chosen, reward}, ...]
    sa.Column("animation_gif", sa.LargeBinary),  # the episode as an animated GIF, or NULL
    sa.Column("created_at", sa.String(32)),
)

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

    # -- replays ---------------------------------------------------------------------------------
    def add_replay(self, run_id: str, kind: str, **fields: Any) -> None:
        """Insert (or replace) the recorded episode of ``run_id``'s ``kind`` policy."""
        with self.engine.begin() as conn:
            conn.execute(replays_table.delete().where(
                (replays_table.c.run_id == run_id) & (replays_table.c.kind == kind)))
            conn.execute(replays_table.insert().values(run_id=run_id, kind=kind,
                                                       created_at=now_iso(), **fields))

    def replays(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Recorded episodes (of one run, or all), ``steps`` decoded from ``steps_json``."""
        query = sa.select(replays_table).order_by(replays_table.c.run_id, replays_table.c.kind.desc())
        if run_id is not None:
            query = query.where(replays_table.c.run_id == run_id)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["steps"] = json.loads(row.pop("steps_json") or "[]")
        return rows

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
