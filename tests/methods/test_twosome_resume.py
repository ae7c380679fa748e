"""TWOSOME (tiny model) interrupted at three eval points resumes bit-exactly, counters included:
its checkpoint carries the LLM's caches (scores, critic features, frozen trunk), without which the
resumed run recomputes them in other batches and drifts by rounding."""
import json

import pytest

from harness import checkpoint as ckpt
from harness.config import resolve_grid
from harness.protocol import run
from harness.storage import Store

VALUES = {"methods": "twosome", "envs": "overcooked/tomato-salad", "model": "tiny", "seeds": "0",
          "total_steps": "1536", "eval_every": "512", "eval_episodes": "2", "num_envs": "4",
          "num_steps": "32", "minibatch_size": "32", "value_minibatch_size": "32"}


def everything(point):
    """Every stored field of an eval point but the wall clock (counters included)."""
    extra = json.loads(point.get("extra_json") or "{}")
    return {k: v for k, v in {**point, **extra}.items()
            if k not in ("wall_time", "extra_json", "run_id")}


def test_twosome_killed_at_three_points_resumes_bit_exactly(tmp_path):
    (reference,) = resolve_grid({**VALUES, "out_dir": str(tmp_path / "ref")})
    expected = run(reference, Store(reference.store), progress=False).points

    (config,) = resolve_grid({**VALUES, "out_dir": str(tmp_path / "crash")})
    store = Store(config.store)
    for stop in (0, 512, 1024):
        def crash(step, point, stop=stop):
            if step == stop:
                raise KeyboardInterrupt  # as a kill right after the point: nothing else written
        with pytest.raises(KeyboardInterrupt):
            run(config, store, progress=False, on_eval=crash)
        assert store.eval_points(config.run_id)[-1]["step"] == stop
    run(config, store, progress=False)

    resumed = store.eval_points(config.run_id)
    assert [everything(p) for p in resumed] == [everything(p) for p in expected]
    a = ckpt.load(reference.run_dir / "checkpoint.pt")["method"]["ppo"]
    b = ckpt.load(config.run_dir / "checkpoint.pt")["method"]["ppo"]
    assert a["agent"].keys() == b["agent"].keys()
    assert all(a["agent"][k].equal(b["agent"][k]) for k in a["agent"])
