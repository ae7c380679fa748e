"""The original-ability check (methods/llm/ability.py) with the tiny model: the numbers come from
the right weights, results land in the store and the report, lm-eval runs end to end on a local
file task, and bad input fails with one line before any work."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness import checkpoint as ckpt
from harness.storage import Store
from methods.llm import ability
from methods.llm.ability import AbilityError, check_ability, corpus_windows, window_measures
from methods.llm.scoring import naive_joint_logprobs
from tests.llm.llm_testing import make_policy, perturb_lora

torch.set_num_threads(1)  # tiny networks: a second thread buys nothing on a busy machine

TRAIN = {"methods": "twosome", "envs": "overcooked/tomato-salad", "model": "tiny", "seeds": "0",
         "total_steps": "128", "eval_every": "128", "eval_episodes": "1", "num_envs": "4",
         "num_steps": "32", "minibatch_size": "32", "value_minibatch_size": "32"}
SMALL = {"windows": 2, "window_tokens": 48, "progress": False}
QUESTIONS = [(a, b) for a in range(1, 5) for b in range(2, 4)]  # 8 generated arithmetic items


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A store with one tiny TWOSOME run trained for one PPO update (its LoRA is non-zero)."""
    from harness.config import resolve_grid
    from harness.protocol import run

    out = tmp_path_factory.mktemp("ability-store")
    (config,) = resolve_grid({**TRAIN, "out_dir": str(out)})
    assert run(config, Store(config.store), progress=False).status == "finished"
    return out


def local_task(folder: Path, name: str = "arith_mc") -> Path:
    """An lm-eval local-file task (dataset_path: json) over a generated jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = [{"question": f"What is {a} plus {b}?", "choices": [str(a + b), str(a * b + 7)],
             "label": 0} for a, b in QUESTIONS]
    data = folder / f"{name}.jsonl"
    data.write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    (folder / f"{name}.yaml").write_text(
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\n"
        "output_type: multiple_choice\ntest_split: test\n"
        'doc_to_text: "Question: {{question}}\\nAnswer:"\n'
        "doc_to_target: label\ndoc_to_choice: choices\n"
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n")
    return folder


def rows_of(frame, task="pydoc"):
    return {(r.stage, r.metric): r for r in frame[frame["task"] == task].itertuples()}


# ------------------------------------------------------------------------------ right weights
def test_zero_lora_gives_exactly_zero_difference():
    policy = make_policy()  # B = 0 at init: the tuned model is the base model
    m = window_measures(policy, corpus_windows(policy.tokenizer, 3, 40))
    assert (m["nll_tuned"] == m["nll_base"]).all()
    assert (m["kl"] == 0).all() and (m["agree"] == 1).all()
    rows = {(r["stage"], r["metric"]): r for r in ability.offline_rows(m, "tiny", {})}
    assert rows[("diff", "perplexity")]["value"] == 0 and rows[("diff", "nll")]["stderr"] == 0


def test_perturbed_lora_moves_tuned_but_not_base():
    frozen = make_policy(lora_r=0)
    policy = make_policy()
    perturb_lora(policy, scale=0.5)
    ids = corpus_windows(policy.tokenizer, 2, 40)
    m = window_measures(policy, ids)
    assert (m["kl"] > 1e-4).all() and (abs(m["nll_tuned"] - m["nll_base"]) > 1e-4).all()
    # "base" is the frozen model itself: the same NLL as a policy that never had adapters
    with torch.no_grad():
        logits = ability.causal_lm_forward(frozen._causal_lm)(ids[:, :-1])
    nll = -torch.log_softmax(logits.float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1).mean(-1)
    assert torch.allclose(torch.tensor(m["nll_base"], dtype=torch.float32), nll, atol=1e-5)


def test_corpus_is_a_fixed_prefix_of_pydoc_topics():
    tokenizer = make_policy(lora_r=0).tokenizer
    a, b = corpus_windows(tokenizer, 2, 32), corpus_windows(tokenizer, 4, 16)
    assert a.flatten().tolist() == b.flatten().tolist()  # the same first 64 tokens
    assert tokenizer.decode(a.flatten()[:8]).strip()
    with pytest.raises(AbilityError, match="fewer than"):
        corpus_windows(tokenizer, 10**6, 256)


# ------------------------------------------------------------------------------ the stage
def test_check_ability_stores_rows_from_the_checkpoint(trained):
    frame = check_ability(trained, tasks=["pydoc"], **SMALL)
    stored = Store(f"sqlite:///{trained / 'results.db'}").ability_frame()
    assert len(stored) == len(frame) == 8 and set(stored["stage"]) == {"base", "tuned", "diff"}
    rows = rows_of(stored)
    assert rows[("diff", "kl_base_tuned")].value > 0  # trained LoRA: the models differ
    assert rows[("base", "nll")].model == "tiny (bfloat16)" and rows[("base", "nll")].n == 2
    assert rows[("diff", "nll")].value == pytest.approx(
        rows[("tuned", "nll")].value - rows[("base", "nll")].value, abs=1e-9)

    # The tuned numbers come from the checkpoint: zero its LoRA B matrices and they equal the base.
    run_dir = Path(stored["run_id"].map(lambda r: str(trained / "runs" / r)).iloc[0])
    path = run_dir / "checkpoint.pt"
    original = path.read_bytes()
    state = ckpt.load(path)
    agent = state["method"]["ppo"]["agent"]
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in agent.items())
    for key in agent:
        if "lora_B" in key:
            agent[key] = torch.zeros_like(agent[key])
    try:
        ckpt.save(path, state)
        again = rows_of(check_ability(trained, tasks=["pydoc"], **SMALL))
    finally:
        path.write_bytes(original)
    assert again[("diff", "kl_base_tuned")].value == 0
    assert again[("tuned", "nll")].value == again[("base", "nll")].value
    assert again[("base", "nll")].value == rows[("base", "nll")].value  # base never moves
    assert len(Store(f"sqlite:///{trained / 'results.db'}").ability_frame()) == 8  # replaced


def test_lm_eval_local_file_task_end_to_end(trained, tmp_path):
    tasks = local_task(tmp_path / "tasks")
    frame = check_ability(trained, tasks=["arith_mc"], include_path=tasks, **SMALL)
    rows = rows_of(frame, "arith_mc")
    assert {("base", "acc"), ("tuned", "acc"), ("diff", "acc")} <= set(rows)
    assert rows[("base", "acc")].n == len(QUESTIONS)
    assert rows[("diff", "acc")].value == pytest.approx(
        rows[("tuned", "acc")].value - rows[("base", "acc")].value)

    # lm-eval's base accuracy is the argmax of our own joint log-probs of " " + choice
    from harness.protocol import load_method

    store = Store(f"sqlite:///{trained / 'results.db'}")
    llm = load_method(store, frame["run_id"].iloc[0]).llm
    correct = 0
    with ability.stage_of(llm, "base"):
        for a, b in QUESTIONS:
            scores = naive_joint_logprobs(llm._causal_lm, llm.tokenizer,
                                          f"Question: What is {a} plus {b}?\nAnswer:",
                                          [str(a + b), str(a * b + 7)], True, None)
            correct += int(scores.argmax()) == 0
    assert rows[("base", "acc")].value == pytest.approx(correct / len(QUESTIONS))


def test_loglikelihood_matches_naive_scoring_and_greedy_flag():
    pytest.importorskip("lm_eval")
    from lm_eval.api.instance import Instance

    from methods.llm.lm_eval_model import HarnessLM

    policy = make_policy(lora_r=0)
    lm = HarnessLM(ability.causal_lm_forward(policy._causal_lm), policy.tokenizer)
    prompt, actions = "You are a cook. You should", ["chop the tomato", "serve", "wait a bit"]
    requests = [Instance("loglikelihood", {}, (prompt, " " + a), i) for i, a in enumerate(actions)]
    requests.append(Instance("loglikelihood", {}, ("", "hello world"), 3))
    got = lm.loglikelihood(requests)
    expected = naive_joint_logprobs(policy._causal_lm, policy.tokenizer, prompt, actions, True, None)
    assert [g for g, _ in got[:3]] == pytest.approx(expected.tolist(), abs=1e-4)
    assert all(isinstance(greedy, bool) for _, greedy in got)
    rolling = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, ("hello world",), 0)])
    assert rolling[0] == pytest.approx(got[3][0], abs=1e-4)  # both condition on the prefix token
    with pytest.raises(NotImplementedError, match="generation"):
        lm.generate_until([])


# ------------------------------------------------------------------------------ report
def test_report_renders_the_ability_table(trained, tmp_path):
    from reports.comparison import write_report

    check_ability(trained, tasks=["pydoc"], **SMALL)
    write_report(f"sqlite:///{trained / 'results.db'}", tmp_path)
    text = (tmp_path / "report.md").read_text()
    section = text[text.index("## Original ability"):]
    stored = rows_of(Store(f"sqlite:///{trained / 'results.db'}").ability_frame())
    kl = stored[("diff", "kl_base_tuned")]
    assert f"{kl.value:.4g} [" in section and "perplexity" in section
    assert "| twosome overcooked/tomato-salad s0 | tiny (bfloat16) | pydoc | kl_base_tuned |" in section
    assert "Original ability" in (tmp_path / "report.html").read_text()


def test_report_has_no_ability_section_without_results(tmp_path):
    from reports.ability import section

    store = Store(f"sqlite:///{tmp_path / 'results.db'}")
    assert section(store.url) is None


# ------------------------------------------------------------------------------ bad input
def test_store_without_trained_llm_runs(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'results.db'}")
    store.start_run("random__x__s0", method="random", env="overcooked/tomato-salad", seed=0,
                    preset="cpu", config_json="{}", run_dir=str(tmp_path))
    store.update_run("random__x__s0", status="finished")
    with pytest.raises(AbilityError, match="no finished trained LLM run.*random trains no LLM"):
        check_ability(tmp_path)
    with pytest.raises(AbilityError, match="no such run directory, file or store URL"):
        check_ability(tmp_path / "nowhere")


def test_unknown_task_and_missing_dataset_fail_before_any_model_loads(trained, tmp_path,
                                                                      monkeypatch):
    def boom(*_a, **_k):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(ability, "load_trained_llm", boom)
    tasks = local_task(tmp_path / "tasks")
    with pytest.raises(AbilityError, match="unknown task 'arith_mq'.*Did you mean 'arith_mc'"):
        check_ability(trained, tasks=["arith_mq"], include_path=tasks, include_defaults=False,
                      **SMALL)
    (tasks / "gone.yaml").write_text(
        "task: gone_mc\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {tmp_path / 'missing.jsonl'}\noutput_type: multiple_choice\ntest_split: test\n"
        "doc_to_text: q\ndoc_to_target: 0\ndoc_to_choice: '{{[\"a\", \"b\"]}}'\n")
    with pytest.raises(AbilityError, match="task 'gone_mc': its data is not available locally"):
        check_ability(trained, tasks=["gone_mc"], include_path=tasks, **SMALL)
    with pytest.raises(AbilityError, match="no run 'nope'"):
        check_ability(trained, run_ids=["nope"], **SMALL)


def test_cli_one_line_error_and_help(tmp_path, capsys):
    assert ability.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("harness ability:") and "\n" not in err
    out = subprocess.run([sys.executable, "-m", "harness", "--help"], capture_output=True,
                         text=True, cwd=Path(__file__).parents[2]).stdout
    assert "ability" in out


def test_registering_the_command_does_not_import_lm_eval():
    code = ("import sys; from harness.registry import COMMANDS; "
            "assert 'ability' in COMMANDS; print('lm_eval' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parents[2])
    assert out.stdout.split() == ["False"], out.stderr


@pytest.mark.slow
def test_paper_task_names_are_known_to_lm_eval_and_unknown_ones_fail():
    """With lm-eval's full task index (~30 s to build): the four paper tasks are known names."""
    names = ability.split_tasks(["paper"])[1]
    assert names == list(ability.PAPER_TASKS)
    tm = ability.import_lm_eval()()
    assert set(names) <= set(tm.all_tasks)
    with pytest.raises(AbilityError, match="unknown task 'arc_challeng'.*'arc_challenge'"):
        ability.load_lm_eval_tasks(["arc_challeng"])


@pytest.mark.slow
def test_real_smollm2_zero_lora_is_exact_and_lm_eval_scores_match_naive():
    """SmolLM2 (bf16, as the CPU preset trains it): B = 0 gives exactly zero KL and NLL
    difference; HarnessLM's log-likelihoods equal the policy's naive scoring."""
    from lm_eval.api.instance import Instance

    from methods.llm.lm_eval_model import HarnessLM

    policy = make_policy(model="smollm2", dtype="bfloat16", lora_layers=2)
    m = window_measures(policy, corpus_windows(policy.tokenizer, 2, 64))
    assert (m["kl"] == 0).all() and (m["nll_tuned"] == m["nll_base"]).all()
    perturb_lora(policy, scale=0.05)
    assert (window_measures(policy, corpus_windows(policy.tokenizer, 2, 64))["kl"] > 0).all()
    frozen = make_policy(model="smollm2", lora_r=0)
    lm = HarnessLM(ability.causal_lm_forward(frozen._causal_lm), frozen.tokenizer)
    prompt, actions = "Question: Where do you keep milk?\nAnswer:", ["in the fridge", "in a shoe"]
    got = lm.loglikelihood([Instance("loglikelihood", {}, (prompt, " " + a), i)
                            for i, a in enumerate(actions)])
    expected = naive_joint_logprobs(frozen._causal_lm, frozen.tokenizer, prompt, actions, True, None)
    assert [g for g, _ in got] == pytest.approx(expected.tolist(), abs=1e-3)
