"""Every bad input is rejected before any work: non-zero exit, one line naming the key, and
nothing written under out_dir (no run directory, no database, no report)."""
import json
import os

import pytest

from harness.cli import main

PPO = ["methods=ppo", "envs=overcooked/tomato-salad"]
TWOSOME = ["methods=twosome", "envs=overcooked/tomato-salad", "model=tiny"]
SAYCAN = ["methods=saycan", "envs=overcooked/tomato-salad", "model=tiny"]


def _preset(tmp_path, content: str) -> str:
    path = tmp_path / "preset.json"
    path.write_text(content)
    return f"preset={path}"


# (arguments, fragment the one line must contain); a callable builds arguments from tmp_path.
BAD_INPUTS = [
    # grid axes
    (["methods=nope"], "unknown method 'nope'"),
    (["envs=nope", "methods=ppo"], "unknown env 'nope'"),
    ([*PPO, "seeds=x"], "seeds='x': expected int"),
    ([*PPO, "seeds=-1"], "seeds='-1'"),
    ([*PPO, "seeds=1e20"], "seeds='1e20'"),
    ([*PPO, "seeds=1.5"], "seeds='1.5'"),
    ([*PPO, "seeds=12345678901234567"], "seeds='12345678901234567'"),
    (["methods=ppo", "method=ppo"], "methods= or method="),
    ([*PPO, "seeds="], "seeds=: empty value"),
    ([*PPO, "oops"], "'oops': expected key=value"),
    # run keys
    ([*PPO, "total_steps=0"], "total_steps='0'"),
    ([*PPO, "total_steps=-5"], "total_steps='-5'"),
    ([*PPO, "total_steps=1.5"], "total_steps='1.5'"),
    ([*PPO, "eval_every=0"], "eval_every='0'"),
    ([*PPO, "eval_episodes=0"], "eval_episodes='0'"),
    ([*PPO, "resume=bogus"], "resume='bogus'"),
    ([*PPO, "preset=nope"], "preset='nope'"),
    ([*PPO, "preset=missing.json"], "preset='missing.json': file not found"),
    (lambda t: [*PPO, _preset(t, "{not json")], "not readable JSON"),
    (lambda t: [*PPO, _preset(t, "[1, 2]")], "expected a JSON object"),
    (lambda t: [*PPO, _preset(t, json.dumps({"policy_lr": "abc"}))], "policy_lr='abc'"),
    (lambda t: [*PPO, _preset(t, json.dumps({"policy_lr": -5}))], "policy_lr=-5.0"),
    (lambda t: [*PPO, _preset(t, json.dumps({"params": {"nope": 1}}))], "sets 'nope'"),
    ([*PPO, "store=bogus://x"], "store='bogus://x'"),
    ([*PPO, "store=results.db"], "store='results.db'"),
    (lambda t: [*PPO, f"store=sqlite:///{t}"], "is a directory"),
    (lambda t: [*PPO, f"out_dir={_file(t)}"], "is a file, not a directory"),
    (lambda t: [*PPO, f"store=sqlite:///{_file(t)}/x.db"], "is a file, not a directory"),
    # method hyperparameters
    ([*PPO, "policy_lr=-1"], "policy_lr=-1.0: must be a finite number > 0"),
    ([*PPO, "policy_lr=nan"], "policy_lr=nan"),
    ([*PPO, "policy_lr=inf"], "policy_lr=inf"),
    ([*PPO, "policy_lr=abc"], "policy_lr='abc': expected float"),
    ([*PPO, "value_lr=0"], "value_lr=0.0"),
    ([*PPO, "clip_coef=-1"], "clip_coef=-1.0"),
    ([*PPO, "hidden=0"], "hidden=0"),
    ([*PPO, "num_envs=0"], "num_envs=0"),
    ([*PPO, "num_steps=0"], "num_steps=0"),
    ([*PPO, "update_epochs=0"], "update_epochs=0"),
    ([*PPO, "gamma=2"], "gamma=2.0: must be in [0, 1]"),
    ([*PPO, "gae_lambda=-0.1"], "gae_lambda=-0.1"),
    ([*PPO, "schedule=bogus"], "schedule='bogus'"),
    ([*PPO, "minibatch_size=7"], "minibatch_size"),
    ([*PPO, "minibatch_size=100000"], "minibatch_size=100000"),
    ([*PPO, "ent_coef=-1"], "ent_coef=-1.0"),
    ([*PPO, "max_grad_norm=0"], "max_grad_norm=0.0"),
    ([*PPO, "target_kl=0"], "target_kl=0.0"),
    ([*PPO, "adam_eps=0"], "adam_eps=0.0"),
    ([*PPO, "norm_adv=maybe"], "norm_adv='maybe': expected bool"),
    ([*PPO, "lr=3"], "unknown key 'lr'"),
    ([*PPO, "ppo.nope=1"], "method 'ppo' has no key 'nope'"),
    ([*PPO, "nope.policy_lr=1"], "'nope' is not a selected method"),
    ([*PPO, "env.colour=red"], "colour"),
    # LLM methods
    ([*TWOSOME[:2], "model=nonexistent"], "unknown model 'nonexistent'"),
    ([*TWOSOME, "dtype=int8"], "dtype 'int8'"),
    ([*TWOSOME, "lora_dropout=1.5"], "lora_dropout"),
    ([*TWOSOME, "lora_r=-1"], "lora_r"),
    ([*TWOSOME, "grad_chunk_tokens=0"], "grad_chunk_tokens=0"),
    ([*TWOSOME, "trunk_cache_mb=0"], "trunk_cache_mb"),
    ([*TWOSOME, "policy_lr=-1"], "policy_lr=-1.0"),
    ([*TWOSOME, "lora_layers=3"], "lora_layers=3 but model 'tiny' has 2 decoder layers"),
    (["methods=twosome", "envs=virtualhome/food-preparation", "model=tiny"], "lora_layers=4"),
    ([*SAYCAN[:2], "model=nope"], "unknown model 'nope'"),
    ([*SAYCAN, "normalization=bogus"], "bogus"),
]


def _file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


@pytest.mark.parametrize("args, fragment", BAD_INPUTS,
                         ids=[f"{i}-{f[:30]}" for i, (_, f) in enumerate(BAD_INPUTS)])
def test_bad_input_fails_before_any_work_with_one_line(args, fragment, tmp_path, capsys):
    args = args(tmp_path) if callable(args) else args
    out_dir = tmp_path / "out"
    given = [a for a in args if a.startswith(("out_dir=", "store="))]
    extra = [] if any(a.startswith("out_dir=") for a in given) else [f"out_dir={out_dir}"]
    before = set(os.listdir(tmp_path))
    code = main(["run", *args, *extra, "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1, err
    assert fragment in err[0], err[0]
    assert not out_dir.exists()
    assert set(os.listdir(tmp_path)) == before  # no database, report or run dir anywhere


def test_the_table_covers_at_least_45_bad_inputs():
    assert len(BAD_INPUTS) >= 45


def test_flags_may_follow_the_overrides(tmp_path, capsys):
    code = main(["run", "methods=random", "envs=overcooked/tomato-salad", "total_steps=4",
                 "eval_every=4", "eval_episodes=1", f"out_dir={tmp_path}", "--no-progress"])
    assert code == 0
    assert "unrecognized" not in capsys.readouterr().err
