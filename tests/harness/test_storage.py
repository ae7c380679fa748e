"""The results store and its run leases, on SQLite and on a real PostgreSQL server (``db_url``)."""
import os
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
import sqlalchemy as sa

from harness.storage import Store, load_frames, owner_is_dead, worker_id


def test_eval_points_round_trip_with_extra_counters(db_url):
    store = Store(db_url)
    store.start_run("r1", method="m", env="e", seed=0, preset="cpu", config_json="{}",
                    total_steps=10)
    store.add_eval_point("r1", {"step": 0, "return_mean": 0.5, "tokens_forwarded": 123})
    store.add_eval_point("r1", {"step": 0, "return_mean": 0.7})  # a resumed run rewrites a point
    store.add_eval_point("r1", {"step": 5, "return_mean": 0.9})
    runs, points = load_frames(store.url)
    assert isinstance(points, pd.DataFrame)
    assert points.step.tolist() == [0, 5] and points.return_mean.tolist() == [0.7, 0.9]
    assert set(points.method) == {"m"} and runs.status.tolist() == ["running"]


def test_unknown_status_is_rejected(db_url):
    store = Store(db_url)
    store.start_run("r1", method="m", env="e", seed=0, preset="cpu", config_json="{}")
    with pytest.raises(ValueError, match="status 'done' not in"):
        store.update_run("r1", status="done")


def test_a_store_from_before_env_returns_were_recorded_gets_them_from_the_registry(tmp_path):
    """Reports read ceilings from the store; an old store's runs are backfilled once, in place."""
    import sqlite3

    database = tmp_path / "old.db"
    with sqlite3.connect(database) as conn:  # the runs table as written before the two columns
        conn.execute("CREATE TABLE runs (run_id VARCHAR(64) PRIMARY KEY, method VARCHAR(128) NOT "
                     "NULL, env VARCHAR(128) NOT NULL, seed INTEGER NOT NULL, preset VARCHAR(256) "
                     "NOT NULL, config_json TEXT NOT NULL, status VARCHAR(16) NOT NULL)")
        conn.executemany("INSERT INTO runs VALUES (?, 'ppo', ?, 0, 'cpu', '{}', 'finished')",
                         [("a", "overcooked/tomato-salad"), ("b", "plugin/not-registered")])
    runs = Store(f"sqlite:///{database}").runs_frame().set_index("run_id")
    assert runs.loc["a", ["ceiling", "random_return"]].tolist() == [0.9205, -0.093]
    assert runs.loc["b", ["ceiling", "random_return"]].isna().all()


def test_a_live_lease_is_refused_and_an_expired_one_is_taken_over(db_url):
    store = Store(db_url)
    assert store.acquire_lease("r1", "host-a:1:aa", ttl=0.5) is None
    assert store.acquire_lease("r1", "host-b:2:bb", ttl=0.5) == "host-a:1:aa"
    assert store.acquire_lease("r1", "host-a:1:aa", ttl=0.5) is None  # its own: renewed
    assert store.renew_lease("r1", "host-a:1:aa", ttl=0.5)
    assert not store.renew_lease("r1", "host-b:2:bb")
    assert store.acquire_lease("r2", "host-b:2:bb") is None  # leases are per run
    time.sleep(0.7)  # host-a stopped renewing: its lease expired
    assert store.acquire_lease("r1", "host-b:2:bb", ttl=30) is None
    assert store.lease("r1")["owner"] == "host-b:2:bb"
    assert not store.renew_lease("r1", "host-a:1:aa"), "the old owner learns it lost the lease"
    store.release_lease("r1", "host-a:1:aa")  # not its lease: nothing happens
    assert store.lease("r1")["owner"] == "host-b:2:bb"
    store.release_lease("r1", "host-b:2:bb")
    assert store.lease("r1") is None


def test_a_lease_of_a_dead_process_on_this_host_is_stale_at_once(db_url):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    host = worker_id().split(":")[0]
    owner = f"{host}:{dead.stdout.strip()}:dead00"
    assert owner_is_dead(owner) and not owner_is_dead(worker_id())
    assert not owner_is_dead(f"{host}:{os.getppid()}:alive0")
    store = Store(db_url)
    assert store.acquire_lease("r1", owner, ttl=3600) is None
    assert store.acquire_lease("r1", worker_id(), ttl=60) is None


@pytest.mark.parametrize("stale", [False, True], ids=["free", "stale"])
def test_lease_acquisition_is_atomic_under_a_race(db_url, stale):
    """Eight workers, each with its own connection, race for one run: exactly one wins."""
    if stale:
        Store(db_url).acquire_lease("r1", "host-x:1:old", ttl=-1)  # already expired
    stores = [Store(db_url) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    results = {}

    def contend(i):
        barrier.wait()
        results[i] = stores[i].acquire_lease("r1", f"host-{i}:{i}:w", ttl=60)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, holder in results.items() if holder is None]
    assert len(winners) == 1, results
    owner = f"host-{winners[0]}:{winners[0]}:w"
    assert Store(db_url).lease("r1")["owner"] == owner
    assert all(holder == owner for i, holder in results.items() if i != winners[0])


def test_a_store_of_an_earlier_version_gets_the_leases_table_in_place(db_url):
    engine = sa.create_engine(Store(db_url).engine.url)
    with engine.begin() as conn:  # as an earlier version wrote it: no leases, no error column
        conn.exec_driver_sql("DROP TABLE leases")
        conn.exec_driver_sql("ALTER TABLE runs DROP COLUMN error")
    engine.dispose()
    store = Store(db_url)
    store.start_run("r1", method="m", env="e", seed=0, preset="cpu", config_json="{}")
    store.update_run("r1", status="failed", error="boom")
    assert store.get_run("r1")["error"] == "boom"
    assert store.acquire_lease("r1", "host-a:1:aa") is None


def test_a_missing_postgresql_driver_is_one_line_with_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "psycopg2" else real(name, *a))
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    with pytest.raises(ImportError) as err:
        Store("postgresql://user@db.example/harness")
    assert str(err.value) == ("the PostgreSQL driver is not installed: pip install "
                              "'llm-embodied-harness[postgres]' (from a checkout: pip install "
                              "'.[postgres]')")


def test_workers_opening_a_fresh_store_at_once_all_get_it(db_url):
    """Ray tasks or processes started together race to create the schema: none of them fails."""
    code = ("import os, sys; from harness.storage import Store; "
            "Store(sys.argv[1]).acquire_lease('r', f'h:{os.getpid()}:x'); print('ok')")
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [out.strip() for out, _ in outputs] == ["ok"] * 4, [err[-300:] for _, err in outputs]
    assert Store(db_url).lease("r") is not None
