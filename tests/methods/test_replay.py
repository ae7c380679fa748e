"""Episode replays: what they record is what the policy computes, for a real (tiny) LLM on
Overcooked, before and after training, with a GIF of the kitchen."""
import io
import json

import numpy as np
import pytest
import torch

from harness import replay
from harness.config import resolve_grid
from harness.protocol import load_method, run
from harness.storage import Store

pytest.importorskip("peft")


def twosome_run(tmp_path):
    (config,) = resolve_grid({
        "methods": "twosome", "envs": "overcooked/tomato-salad", "seeds": "0", "model": "tiny",
        "dtype": "float32", "num_envs": "2", "num_steps": "8", "minibatch_size": "16",
        "value_minibatch_size": "16", "policy_lr": "0.05", "target_kl": "none",
        "total_steps": "16", "eval_every": "16", "eval_episodes": "1", "tensorboard": "false",
        "out_dir": str(tmp_path)})
    store = Store(config.store)
    run(config, store, progress=False)
    return config, store


def softmax_of_llm_logits(method, step):
    """The LLMPolicy's scores of the recorded state's offered actions, softmaxed."""
    with torch.no_grad():
        logits = method.llm.logits([step["prompt"]], [[a["text"] for a in step["actions"]]])[0]
    return torch.softmax(logits.double(), dim=0).numpy()


def test_replays_hold_the_llm_policy_probabilities_before_and_after_training(tmp_path):
    config, store = twosome_run(tmp_path)
    assert replay.record_pending(config.store) == 1
    assert replay.pending_runs(store) == []
    replays = {r["kind"]: r for r in store.replays(config.run_id)}
    assert set(replays) == {"untrained", "trained"}
    assert replays["untrained"]["policy_step"] == 0 and replays["trained"]["policy_step"] == 16

    first = {}
    for kind, trained in (("untrained", False), ("trained", True)):
        record = replays[kind]
        method = load_method(store, config.run_id, trained=trained)
        assert record["length"] == len(record["steps"]) >= 1
        for step in record["steps"]:
            recorded = np.array([a["p"] for a in step["actions"]])
            np.testing.assert_allclose(recorded, softmax_of_llm_logits(method, step),
                                       rtol=1e-5, atol=1e-7)
            assert recorded.sum() == pytest.approx(1.0)
            assert step["chosen"] in [a["id"] for a in step["actions"]]
        assert sum(s["reward"] for s in record["steps"]) != 0  # step penalties at least
        first[kind] = np.array([a["p"] for a in record["steps"][0]["actions"]])
        # The kitchen, one frame per decision plus the end, decodes as an animated GIF.
        from PIL import Image

        gif = Image.open(io.BytesIO(record["animation_gif"]))
        assert gif.format == "GIF" and gif.n_frames == len(record["steps"]) + 1
        assert gif.width == 7 * 16 * replay.FRAME_SCALE
        saved = json.loads((config.run_dir / f"replay-{kind}.json").read_text())
        assert saved["steps"] == record["steps"]
    # Same start state (the first eval seed) for both; the trained adapters moved the policy.
    assert replays["untrained"]["steps"][0]["prompt"] == replays["trained"]["steps"][0]["prompt"]
    assert not np.allclose(first["untrained"], first["trained"], atol=1e-4)


def test_a_method_without_probabilities_still_gets_a_replay(tmp_path):
    """A method that does not implement action_probabilities: steps are recorded, p is None."""
    from harness.registry import ENVS
    from methods.random_policy import RandomPolicy

    spec = ENVS.get("overcooked/tomato-salad")
    env = spec.make()
    method = RandomPolicy(RandomPolicy.Config(), spec, env.observation_space, env.action_space,
                          total_steps=1, seed=0)
    method.action_probabilities = lambda obs, infos: None
    episode = replay.record_episode(method, spec, {}, seed=5, frames=False)
    assert episode["frames"] == [] and episode["steps"]
    assert all(a["p"] is None for s in episode["steps"] for a in s["actions"])


def test_a_run_without_its_checkpoint_gets_no_trained_replay_and_a_broken_run_is_skipped(tmp_path):
    config, store = twosome_run(tmp_path)
    good = config.to_json()
    store.update_run(config.run_id, config_json=good.replace("tomato-salad", "nope"))
    # only the grid's own runs are replayed: another grid's hook leaves this run alone
    assert replay.record_after_run(config.store, tmp_path, ["another-run"]) is None
    line = replay.record_after_run(config.store, tmp_path, [config.run_id])  # the run still ends
    assert line.startswith(f"replay: {config.run_id}: skipped (unknown env 'overcooked/nope'")
    assert store.replays() == []

    store.update_run(config.run_id, config_json=good)
    (config.run_dir / "checkpoint.pt").unlink()
    assert replay.record_run(store, config.run_id, frames=False) == ["untrained"]
