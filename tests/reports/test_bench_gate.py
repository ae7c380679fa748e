"""The CI gate's comparison logic on synthetic pytest-benchmark JSON and learning curves."""
import json

from benchmarks import gate


def bench_json(medians: dict[str, float]) -> dict:
    return {"machine_info": {"cpu": {"brand_raw": "Test CPU"}, "python_version": "3.11"},
            "commit_info": {"id": "abc"},
            "benchmarks": [{"fullname": name, "stats": {"median": m, "mean": m * 1.1}}
                           for name, m in medians.items()]}


def test_speed_gate_fails_only_beyond_the_threshold_on_the_median():
    baseline = gate.medians(bench_json({"a": 0.010, "b": 0.020, "gone": 0.5}))
    current = gate.medians(bench_json({"a": 0.0199, "b": 0.0401, "new": 1.0}))
    rows = {r.name: r for r in gate.compare(baseline, current)}
    assert rows["a"].status(2.0) == "ok"  # 1.99x
    assert rows["b"].status(2.0) == "SLOWER"  # 2.005x
    assert rows["new"].status(2.0) == "new" and rows["gone"].status(2.0) == "missing"
    passed, table = gate.speed_verdict(list(rows.values()), 2.0)
    assert not passed
    assert "FAIL: 1 benchmark(s) more than 2x slower" in table and ": b" in table
    passed, _ = gate.speed_verdict([rows["a"], rows["new"], rows["gone"]], 2.0)
    assert passed  # new and missing benchmarks are reported, not gated


def test_compact_baseline_round_trips_and_gates_from_json(tmp_path, monkeypatch, capsys):
    report = bench_json({"x": 0.001, "y": 0.002})
    compact = gate.compact_baseline(report, "box")
    assert compact["medians"] == {"x": 0.001, "y": 0.002} and compact["cpu"] == "Test CPU"
    monkeypatch.setattr(gate, "BASELINE_DIR", tmp_path)
    (tmp_path / "box.json").write_text(json.dumps(compact))
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps(bench_json({"x": 0.001, "y": 0.0041})))
    assert gate.main(["--json", str(slow), "--machine", "box", "--no-learning"]) == 1
    assert "y" in capsys.readouterr().out.split("FAIL:")[1]
    fine = tmp_path / "fine.json"
    fine.write_text(json.dumps(bench_json({"x": 0.0015, "y": 0.002})))
    assert gate.main(["--json", str(fine), "--machine", "box", "--no-learning"]) == 0


def test_learning_band_from_seeds_and_check():
    curves = [[{"step": 0, "return_mean": 0.0}, {"step": 100, "return_mean": 0.5}],
              [{"step": 0, "return_mean": 0.2}, {"step": 100, "return_mean": 0.7}]]
    band = gate.band_from_runs(curves, margin=0.1)
    assert band == [{"step": 0, "lo": -0.1, "hi": 0.3}, {"step": 100, "lo": 0.4, "hi": 0.8}]
    assert gate.check_band(curves[0], band) == []
    problems = gate.check_band([{"step": 0, "return_mean": 0.0},
                                {"step": 100, "return_mean": 0.35}], band)
    assert problems == ["step 100: return 0.3500 outside [0.4000, 0.8000]"]
    assert gate.check_band([{"step": 0, "return_mean": 0.0}], band) == [
        "step 100: no eval point (the run's eval schedule changed)"]


def test_committed_learning_checks_are_well_formed():
    checks = json.loads(gate.LEARNING_FILE.read_text())["checks"]
    assert {c["name"] for c in checks} >= {"random/tomato-salad"}
    for check in checks:
        assert {"method", "env", "total_steps", "eval_every"} <= set(check["overrides"])
        assert check["seed"] in check["band_seeds"]
        if check["band"]:  # a stored band covers the run's eval schedule, from step 0 to the end
            steps = [b["step"] for b in check["band"]]
            assert steps[0] == 0 and steps == sorted(set(steps))
            assert steps[-1] >= int(check["overrides"]["total_steps"])
            assert all(b["lo"] < b["hi"] for b in check["band"])
    assert next(c for c in checks if c["name"] == "random/tomato-salad")["band"]


def test_learning_gate_end_to_end_on_a_toy_run(tmp_path, monkeypatch, capsys):
    """--refresh-learning measures a band with real protocol runs; the gate then passes, and fails
    once the stored band no longer contains the curve."""
    import tests.toy_env  # noqa: F401  registers toy/corridor

    learning = tmp_path / "learning.json"
    learning.write_text(json.dumps({"checks": [{
        "name": "random/toy", "seed": 0, "band_seeds": [0, 1], "margin": 0.01, "band": [],
        "overrides": {"method": "random", "env": "toy/corridor", "total_steps": "16",
                      "eval_every": "8", "eval_episodes": "4"}}]}))
    monkeypatch.setattr(gate, "LEARNING_FILE", learning)
    monkeypatch.setattr(gate, "ROOT", tmp_path)
    assert gate.main(["--refresh-learning"]) == 0
    band = json.loads(learning.read_text())["checks"][0]["band"]
    assert [b["step"] for b in band] == [0, 8, 16]
    assert gate.main(["--no-speed"]) == 0
    data = json.loads(learning.read_text())
    data["checks"][0]["band"][1].update(lo=5.0, hi=6.0)  # returns of the corridor are < 1
    learning.write_text(json.dumps(data))
    assert gate.main(["--no-speed"]) == 1
    assert "step 8: return" in capsys.readouterr().out
