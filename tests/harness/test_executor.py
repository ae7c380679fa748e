"""The grid executors (local and Ray) and the run leases that keep workers from colliding."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.config import ConfigError, resolve_grid
from harness.executor import run_grid, run_leased
from harness.protocol import LeaseLost
from harness.storage import Store

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = "import sys, tests.toy_env; from harness.cli import main; sys.exit(main(sys.argv[1:]))"
# Six short runs: two methods (ppo trains a network: its points must match bit for bit) x 3 seeds.
GRID = {"methods": "random,ppo", "envs": "toy/corridor", "seeds": "0,1,2", "total_steps": "128",
        "eval_every": "64", "eval_episodes": "2", "num_envs": "2", "num_steps": "32",
        "minibatch_size": "32"}


def stored_points(store: Store, run_id: str) -> list[dict]:
    """Every stored column of every eval point but the wall clock (counters and train stats are
    in extra_json, compared as written)."""
    return [{k: v for k, v in p.items() if k != "wall_time"} for p in store.eval_points(run_id)]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install '.[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


def test_a_ray_grid_lands_the_same_eval_points_as_the_sequential_executor(tmp_path, ray_cluster):
    import torch

    ray_configs = resolve_grid({**GRID, "out_dir": str(tmp_path / "ray"), "executor": "ray"})
    lines = []
    outcome = run_grid(ray_configs, progress=True, log=lines.append)
    assert len(ray_configs) == 6 and not outcome.failures and not outcome.leased
    assert len(lines) == 6 and all(re.search(r"\[\d/6\] .*: finished$", ln) for ln in lines)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the Ray tasks (num_cpus=1): same float reduction order
    try:
        local_configs = resolve_grid({**GRID, "out_dir": str(tmp_path / "local")})
        assert not run_grid(local_configs, progress=False).failures
    finally:
        torch.set_num_threads(threads)
    ray_store, local_store = Store(ray_configs[0].store), Store(local_configs[0].store)
    for ray_config, local_config in zip(ray_configs, local_configs):
        assert ray_config.run_id == local_config.run_id  # the executor is not part of the identity
        points = stored_points(ray_store, ray_config.run_id)
        assert [p["step"] for p in points] == [0, 64, 128]
        assert points == stored_points(local_store, local_config.run_id), ray_config.run_id
        assert ray_store.get_run(ray_config.run_id)["status"] == "finished"
        assert ray_store.lease(ray_config.run_id) is None  # released at the end
    ppo = [c.run_id for c in ray_configs if c.method == "ppo"]
    assert "train/policy_loss" in json.loads(ray_store.eval_points(ppo[0])[-1]["extra_json"])


def test_a_killed_ray_worker_leaves_a_stale_lease_that_the_retry_takes_over_and_resumes_exactly(
        tmp_path, ray_cluster):
    slow = {"methods": "random", "envs": "toy/corridor", "seeds": "5", "total_steps": "240",
            "eval_every": "24", "eval_episodes": "2", "env.step_delay": "0.01"}
    (reference,) = resolve_grid({**slow, "out_dir": str(tmp_path / "ref")})
    assert not run_grid([reference], progress=False).failures
    (config,) = resolve_grid({**slow, "out_dir": str(tmp_path / "ray"), "executor": "ray",
                              "lease_ttl": "3600"})  # stale only because its process is gone
    store = Store(config.store)
    outcome = {}
    driver = threading.Thread(target=lambda: outcome.update(out=run_grid([config], progress=False)))
    driver.start()
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(store.eval_points(config.run_id)) < 3:
            time.sleep(0.05)
        lease = store.lease(config.run_id)
        assert lease is not None, "the run never started"
        pid = int(lease["owner"].split(":")[1])
        assert pid != os.getpid()
        os.kill(pid, signal.SIGKILL)  # the Ray worker dies mid-run, its lease still live by time
        before = {p["step"]: p["wall_time"] for p in store.eval_points(config.run_id)}
        assert lease["expires"] > time.time() + 3000 and max(before) < 240
    finally:
        driver.join(timeout=180)
    result = outcome["out"]
    assert not result.failures and not result.leased and len(result.results) == 1
    after = store.eval_points(config.run_id)
    assert stored_points(store, config.run_id) == stored_points(Store(reference.store),
                                                                reference.run_id)
    # resumed from the checkpoint, not trained again: the points before the kill are untouched
    resumed = {p["step"]: p["wall_time"] for p in after}
    assert all(resumed[step] == wall for step, wall in before.items() if step < max(before))
    assert store.get_run(config.run_id)["status"] == "finished"
    assert store.lease(config.run_id) is None


def test_two_processes_on_one_grid_do_every_run_exactly_once(tmp_path):
    store_url = f"sqlite:///{tmp_path}/results.db"  # SQLite: the one with a single writer lock
    args = ["methods=random", "envs=toy/corridor", "seeds=0,1,2,3", "total_steps=48",
            "eval_every=16", "eval_episodes=2", "env.step_delay=0.01", f"out_dir={tmp_path}",
            f"store={store_url}"]
    command = [sys.executable, "-c", LAUNCH, "run", "--no-progress", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, out + err
    configs = resolve_grid(dict(a.split("=", 1) for a in args))
    trained = re.findall(r"^(\S+): finished;", "".join(out for out, _ in outputs), re.M)
    assert sorted(trained) == sorted(c.run_id for c in configs), outputs  # each exactly once
    both = "".join(out for out, _ in outputs)
    assert both.count(": leased by ") + both.count("already finished, skipped") == len(configs)
    store = Store(store_url)
    for config in configs:
        assert [p["step"] for p in store.eval_points(config.run_id)] == [0, 16, 32, 48]
        assert store.get_run(config.run_id)["status"] == "finished"


def one_run(tmp_path, **overrides):
    values = {"methods": "random", "envs": "toy/corridor", "seeds": "0", "total_steps": "64",
              "eval_every": "8", "eval_episodes": "2", "env.step_delay": "0.005",
              "out_dir": str(tmp_path), **overrides}
    (config,) = resolve_grid(values)
    return config


def test_the_heartbeat_keeps_a_long_run_leased_past_its_ttl(tmp_path):
    config = one_run(tmp_path, lease_ttl="0.3")
    store, other = Store(config.store), Store(config.store)
    refused = []

    def contend(step, point):
        if step >= 24:  # > 0.3 s into the run: only the heartbeat keeps the lease live
            refused.append(other.acquire_lease(config.run_id, "host-z:1:zz", ttl=0.3))

    result = run_leased(config, store, progress=False, on_eval=contend)
    assert result.status == "finished" and refused and all(refused)
    assert run_leased(config, other, progress=False).skipped  # finished: skipped, not leased


def test_a_live_lease_skips_the_run_and_a_lost_lease_stops_it_untouched(tmp_path):
    config = one_run(tmp_path)
    store = Store(config.store)
    assert store.acquire_lease(config.run_id, "host-z:1:zz") is None
    outcome = run_grid([config], progress=False)
    assert [(c.run_id, h) for c, h in outcome.leased] == [(config.run_id, "host-z:1:zz")]
    assert store.get_run(config.run_id) is None  # nothing started
    store.release_lease(config.run_id, "host-z:1:zz")

    def hijack(step, point):  # another worker judged this one dead and took the run over
        if step == 16:
            with store.writer.begin() as conn:
                conn.exec_driver_sql("UPDATE leases SET owner = 'host-z:1:zz'")
    with pytest.raises(LeaseLost, match="lost its lease to host-z:1:zz"):
        run_leased(config, store, progress=False, on_eval=hijack)
    assert store.get_run(config.run_id)["status"] == "running"  # left to the new owner
    assert store.lease(config.run_id)["owner"] == "host-z:1:zz"


def test_execution_keys_are_validated_before_any_work(tmp_path, monkeypatch):
    base = {"methods": "random", "envs": "toy/corridor", "out_dir": str(tmp_path)}
    for values, message in [({"executor": "slurm"}, "executor='slurm': valid choices: local, ray"),
                            ({"executor": "local,ray"}, "one value per grid"),
                            ({"executor": "local", "ray_address": "auto"}, "needs executor=ray"),
                            ({"lease_ttl": "0"}, "lease_ttl='0': must be a positive number")]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            resolve_grid({**base, **values})
    (config,) = resolve_grid({**base, "ray_address": "ray://head:10001", "num_cpus": "2"})
    assert (config.executor, config.ray_address, config.num_cpus) == ("ray", "ray://head:10001", 2)
    assert config.run_id == resolve_grid(base)[0].run_id

    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("ray", "psycopg", "psycopg2")
                        else real(name, *a))
    with pytest.raises(ConfigError) as err:
        resolve_grid({**base, "executor": "ray"})
    assert str(err.value) == ("executor=ray needs Ray, which is not installed: pip install "
                              "'llm-embodied-harness[ray]' (from a checkout: pip install '.[ray]')")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    with pytest.raises(ConfigError) as err:
        resolve_grid({**base, "store": "postgresql://user@db.example/harness"})
    assert "\n" not in str(err.value)
    assert "PostgreSQL driver (psycopg) is not installed: pip install" in str(err.value)
    assert "'.[postgres]'" in str(err.value)


def test_sweep_workers_as_ray_tasks_share_one_postgresql_study(tmp_path, ray_cluster,
                                                                postgres_server):
    from optuna.trial import TrialState

    from sweeps.study import SweepConfig, run_sweep
    from tests.conftest import new_postgres_database

    space = tmp_path / "space.json"
    space.write_text(json.dumps({"params": {"num_envs": {"type": "int", "low": 1, "high": 64}}}))
    cfg = SweepConfig(method="random", env="toy/corridor", trials=2, seeds=(0,), pruner="none",
                      out_dir=str(tmp_path), heartbeat=0, space=str(space), workers=2,
                      executor="ray", storage=new_postgres_database(postgres_server),
                      fixed={"total_steps": "16", "eval_every": "8", "eval_episodes": "2"})
    logged = []
    study = run_sweep(cfg, log=logged.append)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert "2 workers (Ray tasks)" in logged[1] and 2 <= len(done) <= 3
    assert len({t.params["num_envs"] for t in done}) == len(done)
    assert Store(cfg.store).runs_frame()["status"].tolist() == ["finished"] * len(done)
