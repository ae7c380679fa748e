import pandas as pd
import pytest

from harness.storage import Store, load_frames


def test_eval_points_round_trip_with_extra_counters(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/r.db")
    store.start_run("r1", method="m", env="e", seed=0, preset="cpu", config_json="{}",
                    total_steps=10)
    store.add_eval_point("r1", {"step": 0, "return_mean": 0.5, "tokens_forwarded": 123})
    store.add_eval_point("r1", {"step": 0, "return_mean": 0.7})  # a resumed run rewrites a point
    store.add_eval_point("r1", {"step": 5, "return_mean": 0.9})
    runs, points = load_frames(store.url)
    assert isinstance(points, pd.DataFrame)
    assert points.step.tolist() == [0, 5] and points.return_mean.tolist() == [0.7, 0.9]
    assert set(points.method) == {"m"} and runs.status.tolist() == ["running"]


def test_unknown_status_is_rejected(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/r.db")
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
