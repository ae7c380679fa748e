"""The results store: runs, eval points, leases, transfer, ability and replay results in a database.

SQLAlchemy Core over any URL; the default is an embedded SQLite file under the run directory, and a
PostgreSQL URL (``pip install '.[postgres]'``) works unchanged; the test suite runs the store against
both. Reports read only this store, so any past result can be re-reported without re-running:
every run records what a report needs of its env (ceiling, random-policy return) next to its
config. Every write is its own committed transaction: a crash loses nothing written.

Leases: a worker (a process or a Ray task) takes the lease of a run before training it and renews
its heartbeat while it trains, so two workers never train the same run. A lease is live until its
``expires`` time; a lease past it, or one whose owner ran on this host and whose process is gone, is
stale and the next worker takes it over (the run then resumes from its checkpoint). Taking a lease
is one conditional INSERT or UPDATE in one transaction, atomic in SQLite (``BEGIN IMMEDIATE``: one
writer at a time) and in PostgreSQL (the UPDATE re-checks its condition on the row it locks).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import time
import uuid
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
    # The env's best achievable and uniform-random returns, as registered when the run started:
    # the report's thresholds and normalized scores, without the report reading the env registry.
    sa.Column("ceiling", sa.Float),
    sa.Column("random_return", sa.Float),
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

# Zero-shot evaluations of trained (stage "final") and untrained ("step0") policies on the tasks
# the envs declare as unseen (harness/transfer.py writes it; reports read it).
transfer_table = sa.Table(
    "transfer", metadata,
    sa.Column("source_run_id", sa.String(128), primary_key=True),  # "" for a missing source
    sa.Column("stage", sa.String(16), primary_key=True),  # final (last checkpoint) | step0 (fresh)
    sa.Column("method", sa.String(128), primary_key=True),
    sa.Column("train_env", sa.String(128), primary_key=True),
    sa.Column("eval_env", sa.String(128), primary_key=True),
    sa.Column("eval_seed", sa.Integer, primary_key=True),
    sa.Column("episodes", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16)),  # variant (a word substitution of train_env) | crossover
    sa.Column("seed", sa.Integer),  # the training run's seed
    sa.Column("status", sa.String(16), nullable=False),  # ok | n/a
    sa.Column("note", sa.Text),
    sa.Column("return_mean", sa.Float),
    sa.Column("return_std", sa.Float),
    sa.Column("success_rate", sa.Float),
    sa.Column("length_mean", sa.Float),
    sa.Column("created_at", sa.String(32)),
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

# One row per run being trained: who trains it, when it last said so, and until when it holds it.
leases_table = sa.Table(
    "leases", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(256), nullable=False),  # host:pid:token of the worker
    sa.Column("heartbeat", sa.Float, nullable=False),  # unix time of the last renewal
    sa.Column("expires", sa.Float, nullable=False),  # unix time after which the lease is stale
    sa.Column("acquired_at", sa.String(32)),
)

RUN_STATUSES = ("running", "finished", "failed", "pruned")
DEFAULT_LEASE_TTL = 60.0  # seconds a lease stays live without a heartbeat
STORE_FILENAME = "results.db"  # the SQLite file `harness run` writes under out_dir


class StoreSourceError(ValueError):
    """A store source (URL, run directory, file) that does not name an existing store."""


def resolve_store_url(source: str | Path) -> str:
    """The SQLAlchemy URL of ``source`` (a URL, a run directory or a SQLite file).

    Reading must never create an empty database, so a SQLite source must exist and be non-empty.
    """
    text = str(source)
    if text.startswith("sqlite:///"):
        database = Path(text.removeprefix("sqlite:///"))
        if not database.is_file() or database.stat().st_size == 0:
            raise StoreSourceError(f"{text!r}: no such SQLite store (missing or empty file); give "
                                   "the results.db a `harness run` wrote")
        return text
    if "://" in text:
        return text
    path = Path(text)
    if path.is_dir():
        candidate = path / STORE_FILENAME
        if not candidate.is_file():
            raise StoreSourceError(f"{text!r} is a directory without {STORE_FILENAME}; give a run "
                                   "directory (harness run out_dir=...) or a store URL")
        path = candidate
    elif not path.is_file() or path.stat().st_size == 0:
        raise StoreSourceError(f"{text!r}: no such run directory, file or store URL "
                               "(e.g. runs/ or sqlite:///runs/results.db)")
    return f"sqlite:///{path.resolve()}"


def worker_id() -> str:
    """``host:pid:token``: unique per process and per call site that takes leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def owner_is_dead(owner: str) -> bool:
    """True if ``owner`` (a :func:`worker_id`, or any ``host:pid...``) ran on this host and its
    process no longer exists."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


POSTGRES_EXTRA = ("pip install 'llm-embodied-harness[postgres]' "
                  "(from a checkout: pip install '.[postgres]')")


def normalize_url(url: str) -> str:
    """``postgresql://`` means SQLAlchemy's psycopg2 driver; the ``[postgres]`` extra installs
    psycopg 3, so a bare PostgreSQL URL uses it when psycopg2 is absent."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            import importlib.util

            if importlib.util.find_spec("psycopg2") is None:
                return "postgresql+psycopg://" + url.removeprefix(scheme)
            return "postgresql://" + url.removeprefix(scheme)
    return url


def default_store_url(out_dir: str | Path) -> str:
    return f"sqlite:///{Path(out_dir).resolve() / STORE_FILENAME}"


class Store:
    """Runs and eval points behind one SQLAlchemy URL."""

    def __init__(self, url: str):
        self.url = url
        url = normalize_url(url)
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if url.startswith("sqlite"):
            self.engine = sa.create_engine(url, connect_args={"timeout": 60,
                                                              "check_same_thread": False})
            _serialize_sqlite_writes(self.engine)
        else:
            try:
                self.engine = sa.create_engine(url, pool_pre_ping=True)
            except ImportError:
                if not url.startswith("postgres"):
                    raise
                raise ImportError(f"the PostgreSQL driver is not installed: "
                                  f"{POSTGRES_EXTRA}") from None
        # Writes go through this handle: on SQLite they BEGIN IMMEDIATE (see _serialize_...).
        self.writer = self.engine.execution_options(harness_write=True)
        for attempt in range(5):
            # Several workers may open a fresh store at once: the loser of a CREATE/ALTER race
            # finds the winner's table or column on its next look.
            try:
                metadata.create_all(self.writer)  # also adds later tables to older stores
                self._migrate()
                break
            except sa.exc.DBAPIError:
                if attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))

    def _migrate(self) -> None:
        """Bring a store written by an earlier version up to this schema, in place."""
        inspector = sa.inspect(self.engine)
        added = self._add_missing_columns(runs_table, inspector)
        self._add_missing_columns(transfer_table, inspector)
        if {"ceiling", "random_return"} & added:
            self._backfill_env_returns()
        if inspector.has_table("generalization"):  # the transfer table's name before 2026-12
            self._copy_legacy_transfer_rows()

    def _add_missing_columns(self, table: sa.Table, inspector: sa.Inspector) -> set[str]:
        """Stores written by earlier versions lack later nullable columns: add them in place."""
        present = {c["name"] for c in inspector.get_columns(table.name)}
        missing = [c for c in table.columns if c.name not in present and c.nullable]
        with self.writer.begin() as conn:
            for column in missing:
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} "
                                     f"{column.type.compile(self.engine.dialect)}")
        return {c.name for c in missing}

    def _backfill_env_returns(self) -> None:
        """Runs stored before envs' returns were recorded get them from the env registry, once."""
        from harness.registry import ENVS

        with self.writer.begin() as conn:
            envs = conn.execute(sa.select(runs_table.c.env).distinct()).scalars().all()
            for env in envs:
                if env in ENVS:
                    spec = ENVS.get(env)
                    conn.execute(runs_table.update().where(runs_table.c.env == env).values(
                        ceiling=spec.ceiling, random_return=spec.random_return))

    def _copy_legacy_transfer_rows(self) -> None:
        with self.writer.begin() as conn:
            if conn.execute(sa.select(sa.func.count()).select_from(transfer_table)).scalar():
                return
            legacy = sa.Table("generalization", sa.MetaData(), autoload_with=conn)
            rows = [dict(r._mapping) for r in conn.execute(sa.select(legacy))]
            for row in rows:
                row["kind"] = ("variant" if row["eval_env"].startswith(f"{row['train_env']}-")
                               else "crossover")
            if rows:
                columns = {c.name for c in transfer_table.columns}
                conn.execute(transfer_table.insert(),
                             [{k: v for k, v in row.items() if k in columns} for row in rows])

    # -- runs -------------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs_table).where(runs_table.c.run_id == run_id)).first()
        return dict(row._mapping) if row else None

    def start_run(self, run_id: str, **fields: Any) -> None:
        """Insert the run, or mark an existing one as running again (a resume)."""
        fields = {**fields, "status": "running", "updated_at": now_iso()}
        with self.writer.begin() as conn:
            exists = conn.execute(sa.select(runs_table.c.run_id)
                                  .where(runs_table.c.run_id == run_id)).first()
            if exists:
                conn.execute(runs_table.update().where(runs_table.c.run_id == run_id).values(**fields))
            else:
                conn.execute(runs_table.insert().values(run_id=run_id, created_at=now_iso(), **fields))

    def update_run(self, run_id: str, **fields: Any) -> None:
        if "status" in fields and fields["status"] not in RUN_STATUSES:
            raise ValueError(f"status {fields['status']!r} not in {RUN_STATUSES}")
        with self.writer.begin() as conn:
            conn.execute(runs_table.update().where(runs_table.c.run_id == run_id)
                         .values(updated_at=now_iso(), **fields))

    # -- eval points ------------------------------------------------------------------------------
    def add_eval_point(self, run_id: str, point: dict[str, Any]) -> None:
        """Insert (or replace, on a resumed run) the eval point at ``point["step"]``."""
        columns = {c.name for c in eval_points_table.columns} - {"run_id", "extra_json"}
        row = {k: v for k, v in point.items() if k in columns}
        extra = {k: v for k, v in point.items() if k not in columns}
        with self.writer.begin() as conn:
            conn.execute(eval_points_table.delete().where(
                (eval_points_table.c.run_id == run_id) & (eval_points_table.c.step == row["step"])))
            conn.execute(eval_points_table.insert().values(
                run_id=run_id, extra_json=json.dumps(extra, sort_keys=True), **row))

    def delete_eval_points(self, run_id: str) -> None:
        with self.writer.begin() as conn:
            conn.execute(eval_points_table.delete().where(eval_points_table.c.run_id == run_id))

    def eval_points(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(eval_points_table)
                                .where(eval_points_table.c.run_id == run_id)
                                .order_by(eval_points_table.c.step)).all()
        return [dict(r._mapping) for r in rows]

    # -- transfer results -------------------------------------------------------------------------
    def put_transfer_rows(self, rows: list[dict[str, Any]]) -> None:
        """Insert (or replace, for the same key) zero-shot evaluation results."""
        keys = [c.name for c in transfer_table.primary_key.columns]
        columns = {c.name for c in transfer_table.columns}
        with self.writer.begin() as conn:
            for row in rows:
                row = {k: v for k, v in row.items() if k in columns}
                row["source_run_id"] = row.get("source_run_id") or ""
                conn.execute(transfer_table.delete().where(
                    sa.and_(*(transfer_table.c[k] == row[k] for k in keys))))
                conn.execute(transfer_table.insert().values(**row))

    def transfer_frame(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(sa.select(transfer_table), conn)

    # -- original-ability results ------------------------------------------------------------------
    def add_ability_results(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        """Store one run's results of some tasks, replacing that run's earlier rows of those tasks
        (one transaction: a reader sees the old rows or the new ones)."""
        for row in rows:
            if row["stage"] not in ABILITY_STAGES:
                raise ValueError(f"stage {row['stage']!r} not in {ABILITY_STAGES}")
        t = ability_table
        with self.writer.begin() as conn:
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

    # -- replays ---------------------------------------------------------------------------------
    def add_replay(self, run_id: str, kind: str, **fields: Any) -> None:
        """Insert (or replace) the recorded episode of ``run_id``'s ``kind`` policy."""
        with self.writer.begin() as conn:
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

    # -- leases ---------------------------------------------------------------------------------------
    def acquire_lease(self, run_id: str, owner: str, ttl: float = DEFAULT_LEASE_TTL) -> str | None:
        """Take the lease of ``run_id`` for ``owner`` (free, stale or already ``owner``'s) and
        return None; or return the live holder's name and take nothing."""
        lease = leases_table
        now = time.time()
        values = {"owner": owner, "heartbeat": now, "expires": now + ttl, "acquired_at": now_iso()}
        with self.writer.begin() as conn:
            dialect = self.engine.dialect.name
            if dialect in ("sqlite", "postgresql"):
                insert = getattr(__import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"]),
                                 "insert")
                inserted = conn.execute(insert(lease).values(run_id=run_id, **values)
                                        .on_conflict_do_nothing(index_elements=["run_id"])).rowcount
            else:  # any other database: the primary key refuses a second row
                try:
                    with conn.begin_nested():
                        conn.execute(lease.insert().values(run_id=run_id, **values))
                    inserted = 1
                except sa.exc.IntegrityError:
                    inserted = 0
            if inserted == 1:
                return None
            row = conn.execute(sa.select(lease).where(lease.c.run_id == run_id)).first()
            if row is None:  # released between the insert and this read: try again
                conn.execute(lease.insert().values(run_id=run_id, **values))
                return None
            stale = row.expires < now or row.owner == owner or owner_is_dead(row.owner)
            if not stale:
                return row.owner
            # Conditional on the row being the one judged stale: of two workers taking over the
            # same stale lease, the second one's UPDATE matches nothing.
            taken = conn.execute(lease.update().where(
                (lease.c.run_id == run_id) & (lease.c.owner == row.owner)
                & (lease.c.heartbeat == row.heartbeat)).values(**values)).rowcount
            if taken == 1:
                return None
            current = conn.execute(sa.select(lease.c.owner).where(lease.c.run_id == run_id)).first()
            return current.owner if current else "another worker"

    def renew_lease(self, run_id: str, owner: str, ttl: float = DEFAULT_LEASE_TTL) -> bool:
        """Heartbeat: extend ``owner``'s lease; False if it is no longer ``owner``'s."""
        now = time.time()
        with self.writer.begin() as conn:
            return conn.execute(leases_table.update().where(
                (leases_table.c.run_id == run_id) & (leases_table.c.owner == owner))
                .values(heartbeat=now, expires=now + ttl)).rowcount == 1

    def release_lease(self, run_id: str, owner: str) -> None:
        with self.writer.begin() as conn:
            conn.execute(leases_table.delete().where(
                (leases_table.c.run_id == run_id) & (leases_table.c.owner == owner)))

    def lease(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(leases_table)
                               .where(leases_table.c.run_id == run_id)).first()
        return dict(row._mapping) if row else None

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


def _serialize_sqlite_writes(engine: sa.engine.Engine) -> None:
    """SQLite: WAL (readers never wait for a writer), and every write transaction starts with
    ``BEGIN IMMEDIATE`` so it holds the write lock from its first statement: a read-then-write
    transaction can then neither interleave with another process's write nor fail with "database
    is locked" when it upgrades; writers queue on the busy timeout instead."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # transactions are begun below, not by pysqlite
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        write = conn.get_execution_options().get("harness_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def load_frames(url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(runs, eval_points)`` of a store in one call."""
    store = Store(url)
    return store.runs_frame(), store.eval_frame()
