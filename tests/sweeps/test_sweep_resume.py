"""`harness sweep` killed with SIGKILL mid-study and restarted continues the same study, and ends
where the uninterrupted sweep ends (SQLite and PostgreSQL)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tests.conftest import new_postgres_database

ROOT = Path(__file__).resolve().parents[2]
# The real CLI in a real process; tests.toy_env registers the slow-able toy/corridor env.
LAUNCH = "import sys, tests.toy_env; from harness.cli import main; sys.exit(main(sys.argv[1:]))"


def sweep_command(tmp_path: Path, trials: int, storage: str) -> list[str]:
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"params": {"num_envs": {"type": "int", "low": 1, "high": 64}}}))
    return [sys.executable, "-c", LAUNCH, "sweep", "method=random", "env=toy/corridor",
            f"trials={trials}", "seeds=0", "total_steps=24", "eval_every=8", "eval_episodes=2",
            "env.step_delay=0.02", f"space={space}", f"storage={storage}",
            f"out_dir={tmp_path}", "pruner=none", "heartbeat=0"]


def load(storage: str) -> optuna.Study:
    return optuna.load_study(study_name="random__toy-corridor__auc", storage=storage)


def completed(study: optuna.Study) -> list[tuple[dict, float]]:
    return [(t.params, t.value) for t in study.get_trials(states=(TrialState.COMPLETE,))]


def test_sweep_survives_sigkill_and_resumes_the_same_study(tmp_path, db_url):
    storage = db_url
    if storage.startswith("sqlite"):
        storage = f"sqlite:///{tmp_path}/sweep.db"  # the study and the trial runs in one file
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(sweep_command(tmp_path, trials=5, storage=storage), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killed_number = None
    try:
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
            try:
                trials = load(storage).get_trials(deepcopy=False)
            except KeyError:  # study not created yet
                continue
            done = [t for t in trials if t.state == TrialState.COMPLETE]
            running = [t for t in trials if t.state == TrialState.RUNNING and t.datetime_start
                       and (time.time() - t.datetime_start.timestamp()) > 0.4]
            if done and running:
                killed_number = running[0].number
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        if proc.poll() is None and killed_number is None:
            proc.kill()
        proc.wait(timeout=30)
    assert killed_number is not None, f"never saw a running trial: {proc.stdout.read().decode()}"
    before = load(storage).get_trials(deepcopy=False)
    assert {t.number: t.state for t in before}[killed_number] == TrialState.RUNNING
    finished_before = sum(t.state == TrialState.COMPLETE for t in before)
    assert finished_before < 5

    rerun = subprocess.run(sweep_command(tmp_path, trials=5, storage=storage), cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    output = rerun.stdout + rerun.stderr
    assert f"trial {killed_number} was left running by a stopped worker" in output

    from sweeps.study import make_storage

    studies = make_storage(storage, heartbeat=0).get_all_studies()
    assert [s.study_name for s in studies] == ["random__toy-corridor__auc"]
    after = load(storage).get_trials(deepcopy=False)
    assert len(after) > len(before)
    states = {t.number: t.state for t in after}
    assert states[killed_number] == TrialState.FAIL
    assert sum(s == TrialState.COMPLETE for s in states.values()) == 5
    retry = [t for t in after if t.user_attrs.get("retry_of") == killed_number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    killed = next(t for t in after if t.number == killed_number)
    assert retry[0].params == killed.params
    best_file = tmp_path / "sweeps" / "random__toy-corridor__auc" / "best.json"
    best = json.loads(best_file.read_text())
    assert best["params"].keys() == {"num_envs"} and best["finished_trials"] == 5

    # The same sweep never interrupted, in a fresh database (in this process, without the delay
    # that only gave the kill its time): the same trials, the same best.
    from sweeps.cli import parse_args
    from sweeps.study import run_sweep

    fresh = (f"sqlite:///{tmp_path}/ref/sweep.db" if storage.startswith("sqlite") else
             new_postgres_database(storage))
    (tmp_path / "ref").mkdir()
    argv = sweep_command(tmp_path / "ref", trials=5, storage=fresh)[4:]
    reference = run_sweep(parse_args([a for a in argv if not a.startswith("env.step_delay")]),
                          log=lambda line: None)
    assert completed(load(storage)) == completed(reference)
    assert load(storage).best_params == reference.best_params == best["params"]
    assert load(storage).best_value == reference.best_value

    # the exported preset is what `harness run ... preset=<file>` takes
    import tests.toy_env  # noqa: F401
    from harness.config import resolve_grid

    (config,) = resolve_grid({"method": "random", "env": "toy/corridor", "preset": str(best_file)})
    assert config.method_config.num_envs == best["params"]["num_envs"]
