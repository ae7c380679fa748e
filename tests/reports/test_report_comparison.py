"""Curves, tables and the written report, from synthetic stores with known curves."""
import base64
import re
from pathlib import Path

import numpy as np
import pytest

from reports import aggregate, comparison, curves
from reports.aggregate import EnvInfo
from reports.data import ReportError, load_results, resolve_store_url


def test_curves_have_ci_bands_that_bracket_the_iqm_line(two_method_store):
    results = load_results(two_method_store)
    frame = curves.aggregate_curves(results.evals, reps=500)
    fig = curves.plot_env(frame, "a/x")
    for panel in (0, 1):
        for label in ("good", "bad"):
            vertices, line = curves.band_and_line(fig, label, panel)
            assert len(vertices) >= 2 * len(line)
            for x, y in line:
                ys = vertices[np.isclose(vertices[:, 0], x), 1]
                assert ys.min() - 1e-9 <= y <= ys.max() + 1e-9
    # the bands are real intervals, not degenerate lines: 'good' has seed noise at step 4000
    vertices, _ = curves.band_and_line(fig, "good", 0)
    at_end = vertices[np.isclose(vertices[:, 0], 4000), 1]
    assert at_end.max() - at_end.min() > 0.005


def test_aggregate_table_known_values(make_store):
    # 4 seeds with final returns 0.2, 0.4, 0.6, 0.8 -> IQM 0.5; threshold 0.5 x ceiling 0.9 = 0.45
    curves_in = {("m", "a/x"): [[0.0, 0.1, r / 2, r, r] for r in (0.2, 0.4, 0.6, 0.8)]}
    results = load_results(make_store(curves_in))
    table, notes = aggregate.aggregate_table(
        results.evals, results.runs, threshold=0.5, reps=200,
        env_infos={"a/x": EnvInfo(ceiling=0.9, random_return=0.0)})
    row = table.iloc[0]
    assert row["final_return"] == pytest.approx(0.5)
    assert row["final_return_lo"] <= 0.5 <= row["final_return_hi"]
    # run AUC by hand: trapezoids of width 1000 over a span of 4000
    expected_aucs = [(0.05 + (0.1 + r / 2) / 2 + 0.75 * r + r) / 4 for r in (0.2, 0.4, 0.6, 0.8)]
    assert row["auc"] == pytest.approx(np.mean(expected_aucs[1:3]))  # IQM of 4 = middle two
    # IQM curve at 3000 = mean(0.4, 0.6) = 0.5 >= 0.45; at 2000 it is 0.25
    assert row["steps_to_threshold"] == 3000
    assert row["reached"] == "2/4"  # the seeds ending at 0.2 and 0.4 never reach 0.45
    assert row["runs"] == 4 and row["finished"] == 4 and notes == []


def test_missing_ceiling_skips_threshold_column_with_a_note(two_method_store):
    results = load_results(two_method_store)
    table, notes = aggregate.aggregate_table(results.evals, results.runs, reps=100)
    assert table["steps_to_threshold"].isna().all()
    assert any("a/x: its runs recorded no ceiling" in n for n in notes)
    shown = aggregate.display_table(table)
    assert not any("steps to" in c for c in shown.columns)


def test_improvement_table_orients_pairs_and_finds_dominance(two_method_store):
    results = load_results(two_method_store)
    table = aggregate.improvement_table(results.evals, reps=200)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["x"], row["y"], row["p_x_better"], row["lower"]) == ("good", "bad", 1.0, 1.0)


def test_runs_with_different_settings_get_separate_labels(make_store):
    url = make_store({("m", "a/x"): [[0.0] * 5, [1.0] * 5]},
                     config_extra={"m": {"policy_lr": 1e-6}})
    results = load_results(url)
    assert results.labels() == ["m"]  # seeds of one config pool together
    from reports import data

    runs = results.runs.copy()
    runs.loc[1, "config_json"] = runs.loc[1, "config_json"].replace("1e-06", "1e-05")
    assert sorted(data.variant_labels(runs)) == ["m (policy_lr=1e-05)", "m (policy_lr=1e-06)"]


def test_write_report_is_self_contained(two_method_store, tmp_path):
    path = comparison.write_report(two_method_store, tmp_path / "out", reps=200)
    html = path.read_text()
    assert path.name == "report.html"
    images = re.findall(r"<img [^>]*src='([^']*)'", html)
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    png = base64.b64decode(images[0].split(",", 1)[1])
    assert png.startswith(b"\x89PNG")
    assert "src='plots/" not in html and "http" not in html.split("<body>")[1]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "![Sample efficiency on a/x](plots/curves-a-x.png)" in md
    assert (tmp_path / "out" / "plots" / "curves-a-x.png").is_file()
    assert "| a/x | good | 5 (5) | 4000 |" in md


def test_report_source_resolution(two_method_store, tmp_path):
    run_dir = two_method_store.removeprefix("sqlite:///").rsplit("/", 1)[0]
    assert resolve_store_url(run_dir) == two_method_store
    with pytest.raises(ReportError, match="no such run directory"):
        resolve_store_url(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="without results.db"):
        resolve_store_url(tmp_path / "empty")


def test_report_of_an_empty_store_says_so(tmp_path):
    from harness.storage import Store

    url = f"sqlite:///{tmp_path / 'results.db'}"
    Store(url)  # tables, no runs
    html = comparison.write_report(url, tmp_path).read_text()
    assert "No results to compare" in html and "holds no eval points of finished runs yet" in html


def test_report_cli_errors_are_one_line(tmp_path, capsys):
    from reports.cli import main

    assert main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness report: ") and "no such run directory" in err
    assert len(err.strip().splitlines()) == 1


def test_report_cli_writes_next_to_the_store(two_method_store, capsys):
    from reports.cli import main

    assert main([two_method_store, "--reps", "100"]) == 0
    folder = two_method_store.removeprefix("sqlite:///").rsplit("/", 1)[0]
    assert capsys.readouterr().out.strip() == f"open file://{Path(folder).resolve()}/report.html"
    md = open(f"{folder}/report.md").read()
    assert "wall time to final (IQM)" in md and "| a/x | bad | 5 (5) | 4000 |" in md


def test_normalized_table_across_envs(make_store):
    # env a: random 0, ceiling 1; env b: random -1, ceiling 1. Final returns normalize to
    # a: 0.5, 0.5 and b: (0 + 1) / 2 = 0.5, (1 + 1) / 2 = 1.0 -> pooled [0.5, 0.5, 0.5, 1.0]
    url = make_store({("m", "a"): [[0.5] * 5, [0.5] * 5], ("m", "b"): [[0.0] * 5, [1.0] * 5],
                      ("solo", "a"): [[0.2] * 5]})
    results = load_results(url)
    infos = {"a": EnvInfo(1.0, 0.0), "b": EnvInfo(1.0, -1.0)}
    table = aggregate.normalized_table(results.evals, reps=500, env_infos=infos)
    assert list(table["label"]) == ["m"]  # 'solo' covers one env only
    row = table.iloc[0]
    assert (row["envs"], row["runs"]) == (2, 4)
    assert row["normalized"] == pytest.approx(0.5)  # IQM of [0.5, 0.5, 0.5, 1.0]: middle two
    # env a's runs are identical and env b's resamples give {0.5,0.5},{0.5,1},{1,1}: bounded CI
    assert 0.5 - 1e-9 <= row["lower"] <= row["upper"] <= 0.75 + 1e-9
