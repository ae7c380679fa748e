"""TensorBoard event files: read back by tensorboard's own reader, they hold exactly the store's
eval points and one value per learner update, also after an interruption and a resume."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import tensorboard as tb
from harness.config import ConfigError, resolve_grid
from harness.protocol import run
from harness.storage import Store

pytest.importorskip("tensorboard")
ROOT = Path(__file__).resolve().parents[2]
# Depend on wall-clock time, so they differ between two otherwise identical runs.
TIMED = {"charts/wall_time", "charts/SPS"}
LOSSES = ("losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/approx_kl",
          "charts/policy_lr")


def config_for(tmp_path, **overrides):
    values = {"methods": "ppo", "envs": "toy/corridor", "seeds": "0", "total_steps": "256",
              "eval_every": "128", "eval_episodes": "3", "out_dir": str(tmp_path),
              "num_envs": "2", "num_steps": "32", "minibatch_size": "32", **overrides}
    (config,) = resolve_grid(values)
    return config


def stored_points(store, run_id):
    return [{**{k: v for k, v in p.items() if k not in ("run_id", "extra_json")},
             **json.loads(p["extra_json"])} for p in store.eval_points(run_id)]


def assert_matches_store(run_dir, points):
    """Every scalar of every stored point is in the event files at its step, once; nothing else."""
    scalars = tb.read_scalars(run_dir)
    for tag, series in scalars.items():
        steps = [s for s, _ in series]
        assert len(steps) == len(set(steps)), f"{tag} has duplicate steps {steps}"
    steps = [p["step"] for p in points]
    assert [s for s, _ in scalars["charts/episodic_return"]] == steps
    for point in points:
        for tag, value in tb.point_scalars(point).items():
            logged = dict(scalars[tag])
            assert logged[point["step"]] == pytest.approx(value, rel=1e-6, abs=1e-6), (tag, point)
    return scalars


def without_time(scalars):
    return {tag: series for tag, series in scalars.items() if tag not in TIMED}


def test_a_ppo_run_logs_its_eval_points_and_every_update(tmp_path):
    config = config_for(tmp_path)
    store = Store(config.store)
    run(config, store, progress=False)
    points = stored_points(store, config.run_id)
    scalars = assert_matches_store(config.run_dir, points)
    assert [v for _, v in scalars["charts/episodic_return"]] == pytest.approx(
        [p["return_mean"] for p in points])
    assert [v for _, v in scalars["charts/success_rate"]] == pytest.approx(
        [p["success_rate"] for p in points])
    for tag in LOSSES:  # one value per PPO update (batch 2 x 32), at the env step it happened
        assert [s for s, _ in scalars[tag]] == [64, 128, 192, 256], tag
    lrs = [v for _, v in scalars["charts/policy_lr"]]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] > lrs[-1]  # annealed
    assert "costs/train_decisions" in scalars and "charts/SPS" in scalars


def test_an_interrupted_and_resumed_run_has_no_duplicate_or_lost_point(tmp_path, monkeypatch):
    reference = config_for(tmp_path / "ref")
    run(reference, Store(reference.store), progress=False)
    expected = without_time(tb.read_scalars(reference.run_dir))

    config = config_for(tmp_path / "crash")
    store = Store(config.store)
    learner = tb.RunLog.learner

    def dies_after_logging_past_the_checkpoint(self, step, stats):
        learner(self, step, stats)
        if step == 192:  # the checkpoint is at 128: this update's losses are in the file
            raise KeyboardInterrupt
    monkeypatch.setattr(tb.RunLog, "learner", dies_after_logging_past_the_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        run(config, store, progress=False)
    assert dict(tb.read_scalars(config.run_dir)["losses/policy_loss"]).keys() == {64, 128, 192}
    monkeypatch.setattr(tb.RunLog, "learner", learner)

    run(config, store, progress=False)
    assert len(tb.event_files(config.run_dir)) == 2
    scalars = assert_matches_store(config.run_dir, stored_points(store, config.run_id))
    assert without_time(scalars) == expected  # the resume is exact, so are its event files


def test_a_crash_right_after_an_eval_point_resumes_without_duplicates(tmp_path):
    config = config_for(tmp_path, eval_every="64")
    store = Store(config.store)

    def crash(step, point):
        if step == 128:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        run(config, store, progress=False, on_eval=crash)
    run(config, store, progress=False)
    scalars = assert_matches_store(config.run_dir, stored_points(store, config.run_id))
    assert [s for s, _ in scalars["losses/value_loss"]] == [64, 128, 192, 256]


def test_sigkill_and_rerun_keep_the_event_files_equal_to_the_store(tmp_path):
    args = ["methods=ppo", "envs=toy/corridor", "seeds=0", "total_steps=384", "eval_every=64",
            "eval_episodes=2", "num_envs=2", "num_steps=32", "minibatch_size=32",
            "env.step_delay=0.002", f"out_dir={tmp_path}"]
    command = [sys.executable, "-c",
               "import sys, tests.toy_env; from harness.cli import main; sys.exit(main(sys.argv[1:]))",
               "run", "--no-progress", *args]
    (config,) = resolve_grid(dict(a.split("=", 1) for a in args))
    store = Store(config.store)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    while time.time() < deadline and len(store.eval_points(config.run_id)) < 3:
        time.sleep(0.05)
    time.sleep(0.1)  # into the next interval: it logs losses that the kill then orphans
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 3 <= len(store.eval_points(config.run_id)) < 7, "the run was not killed mid-way"

    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    points = stored_points(store, config.run_id)
    assert [p["step"] for p in points] == list(range(0, 385, 64))
    scalars = assert_matches_store(config.run_dir, points)
    assert [s for s, _ in scalars["losses/policy_loss"]] == list(range(64, 385, 64))


def test_tensorboard_false_writes_no_event_file_and_bad_values_are_refused(tmp_path):
    config = config_for(tmp_path, tensorboard="false", total_steps="64", eval_every="64")
    assert config.tensorboard is False
    run(config, Store(config.store), progress=False)
    assert tb.event_files(config.run_dir) == []
    with pytest.raises(ConfigError, match="tensorboard='maybe': expected bool"):
        config_for(tmp_path, tensorboard="maybe")
    # not part of the identity: turning it off does not make another run
    assert config.run_id == config_for(tmp_path, total_steps="64", eval_every="64").run_id


def test_a_restarted_run_starts_new_event_files(tmp_path):
    config = config_for(tmp_path, total_steps="128", eval_every="64")
    store = Store(config.store)
    run(config, store, progress=False)
    (again,) = resolve_grid({**{"methods": "ppo", "envs": "toy/corridor", "seeds": "0",
                                "total_steps": "128", "eval_every": "64", "eval_episodes": "3",
                                "out_dir": str(tmp_path), "num_envs": "2", "num_steps": "32",
                                "minibatch_size": "32"}, "resume": "restart"})
    run(again, store, progress=False)
    assert len(tb.event_files(config.run_dir)) == 1
    assert_matches_store(config.run_dir, stored_points(store, config.run_id))
