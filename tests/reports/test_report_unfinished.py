"""Failed and running runs are listed, not compared; reading a store never creates one."""
import pytest

from harness.config import resolve_grid
from harness.protocol import run
from harness.storage import Store
from reports import comparison
from reports.data import ReportError, load_results, resolve_store_url


def _store_with_a_failed_run(tmp_path):
    values = {"methods": "random", "envs": "toy/corridor", "total_steps": "48", "eval_every": "16",
              "eval_episodes": "2", "out_dir": str(tmp_path)}
    finished, failed = resolve_grid({**values, "seeds": "0,1"})
    store = Store(finished.store)
    run(finished, store, progress=False)

    def crash(step, point):
        if step == 16:
            raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        run(failed, store, progress=False, on_eval=crash)
    return store, finished, failed


def test_failed_runs_are_left_out_of_the_comparison_and_listed_with_their_reason(tmp_path):
    store, finished, failed = _store_with_a_failed_run(tmp_path)
    results = load_results(store.url)
    assert set(results.evals["run_id"]) == {finished.run_id}
    assert set(load_results(store.url, include_unfinished=True).evals["run_id"]) == {
        finished.run_id, failed.run_id}
    markdown = (comparison.write_report(store.url, tmp_path).with_suffix(".md")).read_text()
    assert "## Runs not finished" in markdown
    assert failed.run_id in markdown and "disk full" in markdown and "16 / 48" in markdown


def test_reading_a_missing_or_empty_sqlite_store_never_creates_one(tmp_path):
    missing = tmp_path / "nope.db"
    with pytest.raises(ReportError, match="no such SQLite store"):
        resolve_store_url(f"sqlite:///{missing}")
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(ReportError, match="no such SQLite store"):
        resolve_store_url(f"sqlite:///{empty}")
    assert empty.stat().st_size == 0


def test_a_malformed_database_is_one_line(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ReportError, match="cannot be read") as err:
        load_results(f"sqlite:///{bad}")
    assert "\n" not in str(err.value)
