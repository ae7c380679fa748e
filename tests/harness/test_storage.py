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
