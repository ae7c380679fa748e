import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.config import resolve_grid
from harness.protocol import RunStopped, run
from harness.storage import Store

ROOT = Path(__file__).resolve().parents[2]
COMPARED = ("step", "return_mean", "return_std", "success_rate", "length_mean", "episodes")


def curve(points):
    return [tuple(p[k] for k in COMPARED) for p in points]


def one_config(tmp_path, **overrides):
    values = {"methods": "random", "envs": "toy/corridor", "seeds": "3", "total_steps": "96",
              "eval_every": "16", "eval_episodes": "5", "out_dir": str(tmp_path), **overrides}
    (config,) = resolve_grid(values)
    return config


def test_step_zero_point_then_every_eval_interval(tmp_path):
    config = one_config(tmp_path)
    result = run(config, Store(config.store), progress=False)
    assert [p["step"] for p in result.points] == list(range(0, 97, 16))
    runs = Store(config.store).runs_frame()
    assert runs.loc[0, "status"] == "finished" and runs.loc[0, "steps_done"] == 96
    assert "gymnasium" in runs.loc[0, "versions_json"]


def test_same_seed_same_config_gives_identical_curves(tmp_path):
    a = one_config(tmp_path / "a")
    b = one_config(tmp_path / "b")
    curve_a = curve(run(a, Store(a.store), progress=False).points)
    curve_b = curve(run(b, Store(b.store), progress=False).points)
    assert curve_a == curve_b
    other = one_config(tmp_path / "c", seeds="4")
    assert curve(run(other, Store(other.store), progress=False).points) != curve_a


def test_finished_runs_are_skipped(tmp_path):
    config = one_config(tmp_path)
    store = Store(config.store)
    run(config, store, progress=False)
    again = run(config, store, progress=False)
    assert again.skipped and len(again.points) == 7


def test_interrupted_run_resumes_exactly(tmp_path):
    """Stop after 3 eval points (as a crash would), resume: same curve as an uninterrupted run."""
    reference = one_config(tmp_path / "ref")
    expected = curve(run(reference, Store(reference.store), progress=False).points)

    config = one_config(tmp_path / "crash")
    store = Store(config.store)

    def crash(step, point):
        if step == 32:
            raise KeyboardInterrupt  # like a kill: nothing after this point is written
    with pytest.raises(KeyboardInterrupt):
        run(config, store, progress=False, on_eval=crash)
    assert [p["step"] for p in store.eval_points(config.run_id)] == [0, 16, 32]
    assert store.get_run(config.run_id)["status"] == "failed"

    resumed = run(config, store, progress=False)
    assert curve(resumed.points) == expected
    assert curve(store.eval_points(config.run_id)) == expected


def test_on_eval_can_stop_a_run_as_pruned(tmp_path):
    config = one_config(tmp_path)
    store = Store(config.store)

    def prune(step, point):
        if step >= 16:
            raise RunStopped
    result = run(config, store, progress=False, on_eval=prune)
    assert result.status == "pruned" and store.get_run(config.run_id)["status"] == "pruned"


def test_sigkill_mid_run_loses_no_finished_eval_point(tmp_path):
    """A real process killed with SIGKILL, then the same command again."""
    args = ["methods=random", "envs=toy/corridor", "seeds=0", "total_steps=400", "eval_every=40",
            "eval_episodes=2", "env.step_delay=0.004", f"out_dir={tmp_path}"]
    command = [sys.executable, "-c",
               "import sys, tests.toy_env; from harness.cli import main; sys.exit(main(sys.argv[1:]))",
               "run", "--no-progress", *args]
    (config,) = resolve_grid(dict(a.split("=", 1) for a in args))
    store = Store(config.store)

    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and len(store.eval_points(config.run_id)) < 3:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = curve(store.eval_points(config.run_id))
    assert 3 <= len(before) < 11, "the run was not killed mid-way"

    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    after = curve(store.eval_points(config.run_id))
    assert after[:len(before)] == before
    assert [p[0] for p in after] == list(range(0, 401, 40))
    assert store.get_run(config.run_id)["status"] == "finished"


def test_load_method_restores_the_checkpoint_or_the_step0_policy(tmp_path):
    import numpy as np

    from harness.protocol import load_method

    config = one_config(tmp_path)
    store = Store(config.store)
    run(config, store, progress=False)
    trained = load_method(store, config.run_id)
    untrained = load_method(store, config.run_id, trained=False)
    # random's only state is its training RNG: fresh = seeded, trained = advanced by 96 steps.
    assert untrained.rng.bit_generator.state == np.random.default_rng(3).bit_generator.state
    assert trained.rng.bit_generator.state != untrained.rng.bit_generator.state


def test_load_method_refuses_a_vector_method_in_an_env_with_other_spaces(tmp_path):
    from harness.protocol import IncompatibleEnvError, load_method

    config = one_config(tmp_path, methods="ppo", total_steps="256", eval_every="256")
    store = Store(config.store)
    run(config, store, progress=False)
    with pytest.raises(IncompatibleEnvError, match="cannot act in overcooked/tomato-salad"):
        load_method(store, config.run_id, env="overcooked/tomato-salad")
    assert load_method(store, config.run_id).env_spec.name == "toy/corridor"


def test_code_version_marks_uncommitted_changes(tmp_path):
    from harness.protocol import _code_version
    from reports.comparison import short_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    assert _code_version(tmp_path) is None  # not a repository
    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-qm", "one")
    clean = _code_version(tmp_path)
    assert len(clean) == 40 and all(c in "0123456789abcdef" for c in clean)
    (tmp_path / "notes.txt").write_text("untracked files do not change the code\n")
    assert _code_version(tmp_path) == clean
    (tmp_path / "a.py").write_text("x = 2\n")
    assert _code_version(tmp_path) == clean + "+dirty"
    assert short_commit(clean + "+dirty") == clean[:10] + "+dirty"


def test_the_final_point_uses_final_eval_episodes(tmp_path):
    config = one_config(tmp_path, final_eval_episodes="11")
    points = run(config, Store(config.store), progress=False).points
    assert [p["episodes"] for p in points] == [5] * 6 + [11]
