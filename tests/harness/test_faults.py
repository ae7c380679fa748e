"""Fault injection: planted code in checkpoints never runs, corrupted files are detected with one
line, NaN stops a run as failed with its earlier points kept, a store that lost points is caught."""
import os
import pickle

import numpy as np
import pytest

from harness import checkpoint as ckpt
from harness import protocol
from harness.config import resolve_grid
from harness.method_api import NonFiniteError
from harness.protocol import run
from harness.storage import Store

COMPARED = ("step", "return_mean", "return_std", "success_rate", "length_mean")


class Planted:
    """What an attacker would put in a shared run directory: unpickling it writes a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def config_for(tmp_path, **overrides):
    values = {"methods": "ppo", "envs": "toy/corridor", "seeds": "0", "total_steps": "192",
              "eval_every": "64", "eval_episodes": "3", "out_dir": str(tmp_path),
              "num_envs": "2", "num_steps": "32", "minibatch_size": "32", **overrides}
    (config,) = resolve_grid(values)
    return config


def crashed_at(config, step):
    """Run until the eval point at ``step`` is stored, then die there (as a kill would)."""
    store = Store(config.store)

    def crash(at, point):
        if at == step:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        run(config, store, progress=False, on_eval=crash)
    return store


def curve(points):
    return [tuple(p[k] for k in COMPARED) for p in points]


def test_a_planted_checkpoint_is_refused_and_never_runs(tmp_path):
    config = config_for(tmp_path)
    store = crashed_at(config, 64)
    marker = tmp_path / "pwned"
    ckpt.save(config.run_dir / protocol.CHECKPOINT, {"method": Planted(marker), "step": 64})
    with pytest.raises(ckpt.CheckpointError, match="'posix.system', which is not allowed"):
        run(config, store, progress=False)
    assert not marker.exists()
    record = store.get_run(config.run_id)
    assert record["status"] == "failed" and "not allowed" in record["error"]


def test_a_legacy_pickle_checkpoint_is_never_unpickled(tmp_path):
    config = config_for(tmp_path)
    config.run_dir.mkdir(parents=True)
    marker = tmp_path / "pwned"
    (config.run_dir / ckpt.LEGACY_FILENAME).write_bytes(pickle.dumps(Planted(marker)))
    with pytest.raises(ckpt.CheckpointError, match="pickle of an earlier version"):
        run(config, Store(config.store), progress=False)
    assert not marker.exists()


def test_a_planted_store_row_loads_nothing_outside_the_allow_list(tmp_path):
    """``load_method`` follows ``runs.run_dir`` from the store: point it at a planted directory."""
    config = config_for(tmp_path / "real")
    store = Store(config.store)
    run(config, store, progress=False)
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "pwned"
    ckpt.save(planted / protocol.CHECKPOINT, {"method": Planted(marker)})
    store.update_run(config.run_id, run_dir=str(planted))
    with pytest.raises(ckpt.CheckpointError, match="not allowed"):
        protocol.load_method(store, config.run_id)
    assert not marker.exists()


@pytest.mark.parametrize("where", ["payload", "header", "truncated"])
def test_corrupted_checkpoints_are_detected_with_one_line_and_restart_recovers(tmp_path, where):
    reference = config_for(tmp_path / "ref")
    expected = curve(run(reference, Store(reference.store), progress=False).points)
    config = config_for(tmp_path / "crash")
    store = crashed_at(config, 128)
    path = config.run_dir / protocol.CHECKPOINT
    blob = bytearray(path.read_bytes())
    if where == "payload":
        blob[-200] ^= 0x01  # one flipped bit in a tensor's bytes
    elif where == "header":
        blob[len(ckpt.MAGIC) + 3] = ord("#")
    else:
        blob = blob[: len(blob) // 2]
    path.write_bytes(bytes(blob))
    with pytest.raises(ckpt.CheckpointError) as err:
        run(config, store, progress=False)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "resume=restart" in message
    assert store.get_run(config.run_id)["status"] == "failed"

    (restarted,) = resolve_grid({**_values(config), "resume": "restart"})
    assert curve(run(restarted, store, progress=False).points) == expected
    assert store.get_run(config.run_id)["status"] == "finished"


def _values(config):
    return {"methods": "ppo", "envs": "toy/corridor", "seeds": "0", "total_steps": "192",
            "eval_every": "64", "eval_episodes": "3", "out_dir": config.out_dir,
            "num_envs": "2", "num_steps": "32", "minibatch_size": "32"}


def test_a_store_that_lost_points_is_not_resumed_into_a_finished_partial_curve(tmp_path):
    config = config_for(tmp_path)
    store = crashed_at(config, 128)
    with store.engine.begin() as conn:  # e.g. a deleted SQLite WAL took the step-64 point with it
        conn.exec_driver_sql(f"DELETE FROM eval_points WHERE run_id = '{config.run_id}' AND step = 64")
    with pytest.raises(ckpt.CheckpointError, match=r"lost eval points \[64\]"):
        run(config, store, progress=False)
    assert store.get_run(config.run_id)["status"] == "failed"


def _poison_after(monkeypatch, calls: int, poison):
    """Let the method learn ``calls`` times, then apply ``poison(method)`` before the next learn."""
    built = {}
    real_build = protocol.build_method

    def build(config, spec=None):
        method = built["method"] = real_build(config, spec)
        real_learn, count = method.learn, [0]

        def learn(pool, steps):
            count[0] += 1
            if count[0] == calls + 1:
                poison(method)
            return real_learn(pool, steps)
        method.learn = learn
        return method
    monkeypatch.setattr(protocol, "build_method", build)


def test_nan_in_a_weight_stops_the_run_as_failed_with_earlier_points_kept(tmp_path, monkeypatch):
    import torch

    def poison(method):
        with torch.no_grad():
            method.ppo.agent.actor_parameters()[0].fill_(float("nan"))
    _poison_after(monkeypatch, 1, poison)
    config = config_for(tmp_path)
    store = Store(config.store)
    with pytest.raises(NonFiniteError, match="non-finite .* in update 2"):
        run(config, store, progress=False)
    record = store.get_run(config.run_id)
    assert record["status"] == "failed" and record["error"].startswith("non-finite")
    assert [p["step"] for p in store.eval_points(config.run_id)] == [0, 64]


def test_nan_in_a_loss_stops_the_run(tmp_path, monkeypatch):
    import methods.ppo_core as core

    real = core.clipped_policy_loss

    def nan_loss(*args, **kwargs):
        pg, kl, clip = real(*args, **kwargs)
        return pg * float("nan"), kl, clip
    _poison_after(monkeypatch, 2, lambda method: monkeypatch.setattr(core, "clipped_policy_loss",
                                                                     nan_loss))
    config = config_for(tmp_path)
    store = Store(config.store)
    with pytest.raises(NonFiniteError, match="non-finite policy loss in update 3"):
        run(config, store, progress=False)
    assert [p["step"] for p in store.eval_points(config.run_id)] == [0, 64, 128]


def test_a_non_finite_weight_outside_the_losses_is_caught_at_the_eval_point(tmp_path):
    with pytest.raises(NonFiniteError, match=r"non-finite method state a\.b\[1\] at step 7"):
        protocol.check_finite("method state", {"a": {"b": [1.0, np.array([0.0, np.inf])]}}, 7)
    protocol.check_finite("method state", {"a": [1, "text", np.zeros(3)]}, 7)
