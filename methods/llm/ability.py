"""The original-ability check (paper §5.5): does RL alignment cost the LLM its language abilities?

For each trained LLM run in a store (``twosome*`` with a final checkpoint) the *base* model (the
frozen LLM, adapters switched off) and the *tuned* model (the run's final LoRA applied) are
evaluated on the same tasks, in the run's own model and dtype; the rows go to the store's
``ability`` table (harness/storage.py) and from there into the comparison report.

Tasks:
  * ``pydoc`` (the default, offline everywhere): next-token negative log-likelihood, perplexity,
    per-token KL(base || tuned) and top-1 agreement on a fixed slice of the standard library's
    ``pydoc_data.topics`` (Python's own documentation text): the topics in sorted key order joined
    by blank lines, tokenized, the first ``windows * window_tokens`` tokens cut into consecutive
    windows of ``window_tokens`` (default 16 x 256 = 4,096 tokens; each window predicts its tokens
    2..256 from the ones before, with no context across windows).
  * any lm-evaluation-harness task (``arc_challenge``, ``hellaswag``, ``piqa``, ``mmlu``; ``paper``
    names these four) whose data is available locally (the Hugging Face datasets cache; the check
    runs with ``HF_DATASETS_OFFLINE=1`` unless the caller set it), or a local-file task (a YAML
    with ``dataset_path: json`` and ``dataset_kwargs: {data_files: ...}``) from ``include_path``.
    Scored through lm-eval itself with our model behind its LM API (methods/llm/lm_eval_model.py).

Everything given is checked (store, runs, task names, datasets) before any model is loaded.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.checkpoint import FILENAME as CHECKPOINT

OFFLINE_TASK = "pydoc"
PAPER_TASKS = ("arc_challenge", "hellaswag", "piqa", "mmlu")
DEFAULT_WINDOWS = 16
DEFAULT_WINDOW_TOKENS = 256
TRAINED_PREFIX = "twosome"  # the methods whose runs train LoRA adapters on an LLM
EXTRA_INSTALL = "pip install -e '.[ability]'  (or: pip install lm-eval)"


class AbilityError(ValueError):
    """Bad input to the ability check; ``str()`` is the one-line message shown to users."""


# ------------------------------------------------------------------------------ store and runs
def resolve_store_url(source: str | Path) -> str:
    """A store URL, a run directory (holding results.db) or a .db file -> an existing store's URL."""
    from harness import storage

    try:
        return storage.resolve_store_url(source)
    except storage.StoreSourceError as err:
        raise AbilityError(str(err)) from None


def trained_llm_runs(store, run_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The finished ``twosome*`` runs that have a checkpoint (all, or the ones named)."""
    frame = store.runs_frame()
    if run_ids:
        unknown = sorted(set(run_ids) - set(frame["run_id"]))
        if unknown:
            raise AbilityError(f"no run {unknown[0]!r} in {store.url}")
        frame = frame[frame["run_id"].isin(run_ids)]
    chosen, skipped = [], []
    for record in frame.to_dict("records"):
        checkpoint = Path(record["run_dir"] or "") / CHECKPOINT
        if not str(record["method"]).startswith(TRAINED_PREFIX):
            skipped.append(f"{record['run_id']} ({record['method']} trains no LLM)")
        elif record["status"] != "finished":
            skipped.append(f"{record['run_id']} (status {record['status']})")
        elif not checkpoint.is_file():
            skipped.append(f"{record['run_id']} (no checkpoint at {checkpoint})")
        else:
            chosen.append(record)
    if not chosen:
        found = ", ".join(skipped[:3]) + (" ..." if len(skipped) > 3 else "") or "no runs at all"
        raise AbilityError(f"{store.url} has no finished trained LLM run ({TRAINED_PREFIX}* with "
                           f"a checkpoint) to check: {found}")
    return chosen


# ------------------------------------------------------------------------------ tasks
def split_tasks(tasks: Sequence[str]) -> tuple[bool, list[str]]:
    """(offline check wanted, lm-eval task names), with ``paper`` expanded."""
    names: list[str] = []
    for task in tasks:
        for name in (PAPER_TASKS if task == "paper" else (task,)):
            if name and name not in names:
                names.append(name)
    if not names:
        raise AbilityError(f"no task given: use {OFFLINE_TASK}, paper, or lm-eval task names")
    return OFFLINE_TASK in names, [n for n in names if n != OFFLINE_TASK]


def import_lm_eval():
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # local data only, unless asked otherwise
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import lm_eval  # noqa: F401
        from lm_eval.tasks import TaskManager
    except ImportError as err:
        raise AbilityError(f"lm-eval tasks need lm-evaluation-harness ({err}); install it with: "
                           f"{EXTRA_INSTALL}") from None
    return TaskManager


def _dataset_path(name: str, tm) -> str | None:
    """The task's ``dataset_path`` from lm-eval's index (following one ``include``), for hints."""
    try:
        entry = tm._entry(name)
        cfg = dict(entry.cfg or {})
        if "dataset_path" not in cfg and cfg.get("include") and entry.yaml_path:
            import yaml

            included = Path(entry.yaml_path).parent / cfg["include"]
            cfg = {**yaml.safe_load(included.read_text()), **cfg}
        return cfg.get("dataset_path")
    except Exception:  # noqa: BLE001 - only used for the hint
        return None


def _dataset_hint(name: str, tm) -> str:
    path = _dataset_path(name, tm)
    where = f" (dataset {path!r})" if path else ""
    return (f"task {name!r}: its data is not available locally{where}; put the dataset in the "
            "Hugging Face datasets cache (HF_DATASETS_CACHE; datasets.load_dataset once where the "
            "hub is reachable) or write a local-file task YAML (dataset_path: json, "
            "dataset_kwargs: {data_files: ...}) in a directory given with --include-path")


def load_lm_eval_tasks(names: Sequence[str], include_path: str | Path | None = None,
                       include_defaults: bool = True):
    """lm-eval's task manager with ``names`` checked and their data loadable (local data only);
    one-line errors for an unknown name or missing data. ``include_defaults=False``: only the
    YAMLs in ``include_path`` (skips indexing lm-eval's own ~15k tasks, ~30 s)."""
    TaskManager = import_lm_eval()
    if include_path is not None and not Path(include_path).is_dir():
        raise AbilityError(f"--include-path {str(include_path)!r} is not a directory of task YAMLs")
    tm = None
    if include_path is not None:  # lm-eval's own index of ~15k tasks takes ~30 s to build
        tm = TaskManager(include_path=str(include_path), include_defaults=False)
        if not set(names) <= set(tm.all_tasks) and include_defaults:
            tm = None
    if tm is None and not include_defaults:
        raise AbilityError("include_defaults=False (--no-default-tasks) needs --include-path")
    tm = tm or TaskManager(include_path=str(include_path) if include_path else None)
    known = set(tm.all_tasks)
    for name in names:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise AbilityError(f"unknown task {name!r}: not an lm-eval task or group, nor "
                               f"{OFFLINE_TASK!r}, 'paper', or a task YAML in --include-path.{hint}")
    for name in names:  # load one by one so that the error names the task without data
        try:
            tm.load([name])
        except Exception as err:  # noqa: BLE001 - datasets raises many kinds
            raise AbilityError(_dataset_hint(name, tm) + f" [{type(err).__name__}]") from None
    return tm


# ------------------------------------------------------------------------------ models
def causal_lm_forward(model) -> Callable:
    """``forward(ids, mask) -> logits`` of a Hugging Face causal LM (explicit position ids, as
    transformers 5 does not derive them from the mask; right padding keeps them 0..n-1)."""

    def forward(ids, mask=None):
        import torch

        positions = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        return model(input_ids=ids, attention_mask=mask, position_ids=positions).logits

    return forward


@contextlib.contextmanager
def stage_of(llm, stage: str):
    """Inside: ``llm``'s causal LM computes the base (adapters off) or the tuned model."""
    if stage not in ("base", "tuned"):
        raise ValueError(f"stage {stage!r}: expected 'base' or 'tuned'")
    with contextlib.ExitStack() as stack:
        stack.enter_context(llm._lm_mode(False))
        if stage == "base":
            stack.enter_context(llm.lm.disable_adapter())
        yield causal_lm_forward(llm._causal_lm)


def load_trained_llm(store, run_id: str):
    """The run's LLMPolicy with its final LoRA weights (harness.protocol.load_method)."""
    from harness.protocol import load_method

    method = load_method(store, run_id)
    llm = getattr(method, "llm", None)
    if llm is None or not llm.actor_parameters():
        raise AbilityError(f"run {run_id}: method {type(method).__name__} has no LoRA-adapted LLM")
    return llm


def model_label(llm) -> str:
    return f"{llm.config.model} ({llm.config.dtype})"


# ------------------------------------------------------------------------------ offline check
def pydoc_text() -> str:
    """The corpus: ``pydoc_data.topics`` in sorted key order, joined by blank lines."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip() for key in sorted(topics))


def corpus_windows(tokenizer, windows: int = DEFAULT_WINDOWS,
                   window_tokens: int = DEFAULT_WINDOW_TOKENS):
    """The first ``windows * window_tokens`` corpus tokens as a (windows, window_tokens) tensor."""
    import torch

    if windows < 1 or window_tokens < 2:
        raise AbilityError(f"windows={windows} and window_tokens={window_tokens}: need at least "
                           "1 window of at least 2 tokens")
    ids = tokenizer(pydoc_text(), add_special_tokens=False).input_ids
    need = windows * window_tokens
    if len(ids) < need:
        raise AbilityError(f"the pydoc corpus has {len(ids)} tokens, fewer than the "
                           f"{windows} x {window_tokens} asked for")
    return torch.tensor(ids[:need]).view(windows, window_tokens)


def window_measures(llm, ids, batch: int = 4, progress: Callable[[int], None] | None = None):
    """Per window: mean next-token NLL of base and tuned, mean KL(base || tuned) and the fraction
    of positions whose argmax token agrees. Returns a dict of numpy arrays (one value a window)."""
    import torch

    out: dict[str, list[float]] = {"nll_base": [], "nll_tuned": [], "kl": [], "agree": []}
    with torch.no_grad():
        for start in range(0, len(ids), batch):
            chunk = ids[start:start + batch]
            logp = {}
            for stage in ("base", "tuned"):
                with stage_of(llm, stage) as forward:
                    logp[stage] = torch.log_softmax(forward(chunk[:, :-1]).float(), dim=-1)
            target = chunk[:, 1:, None]
            for stage in ("base", "tuned"):
                nll = -logp[stage].gather(-1, target).squeeze(-1)
                out[f"nll_{stage}"] += nll.mean(-1).tolist()
            kl = (logp["base"].exp() * (logp["base"] - logp["tuned"])).sum(-1)
            out["kl"] += kl.mean(-1).tolist()
            agree = (logp["base"].argmax(-1) == logp["tuned"].argmax(-1)).float()
            out["agree"] += agree.mean(-1).tolist()
            if progress:
                progress(len(chunk))
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def _se(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")


def offline_rows(m: dict[str, np.ndarray], model: str, extra: dict[str, Any]) -> list[dict]:
    """Store rows of the offline check (standard errors over windows; differences paired)."""
    n = len(m["kl"])
    rows = []
    ppl = {}
    for stage in ("base", "tuned"):
        nll = m[f"nll_{stage}"]
        ppl[stage] = math.exp(nll.mean())
        rows += [dict(stage=stage, metric="nll", value=float(nll.mean()), stderr=_se(nll)),
                 dict(stage=stage, metric="perplexity", value=ppl[stage],
                      stderr=ppl[stage] * _se(nll))]  # delta method
    diff = m["nll_tuned"] - m["nll_base"]
    # Delta method for exp(mean t) - exp(mean b), paired by window.
    ppl_terms = (ppl["tuned"] * (m["nll_tuned"] - m["nll_tuned"].mean())
                 - ppl["base"] * (m["nll_base"] - m["nll_base"].mean()))
    rows += [dict(stage="diff", metric="nll", value=float(diff.mean()), stderr=_se(diff)),
             dict(stage="diff", metric="perplexity", value=ppl["tuned"] - ppl["base"],
                  stderr=_se(ppl_terms) if n > 1 else float("nan")),
             dict(stage="diff", metric="kl_base_tuned", value=float(m["kl"].mean()),
                  stderr=_se(m["kl"])),
             dict(stage="diff", metric="top1_agreement", value=float(m["agree"].mean()),
                  stderr=_se(m["agree"]))]
    for row in rows:
        row.update(task=OFFLINE_TASK, model=model, n=n, extra=extra)
    return rows


# ------------------------------------------------------------------------------ lm-eval
def lm_eval_measure(llm, tm, names: Sequence[str], stage: str, limit: int | None = None,
                    progress: bool = False) -> dict:
    """lm-eval's results dict of ``names`` for one stage of ``llm``."""
    from lm_eval.evaluator import evaluate

    from methods.llm.lm_eval_model import HarnessLM

    max_length = int(getattr(llm._causal_lm.config, "max_position_embeddings", 2048) or 2048)
    with stage_of(llm, stage) as forward:
        lm = HarnessLM(forward, llm.tokenizer, max_length=min(max_length, 2048), progress=progress,
                       label=stage)
        return evaluate(lm, tm.load(list(names)), limit=limit, bootstrap_iters=1000,
                        log_samples=True, verbosity="ERROR")


def _metric_items(result: dict) -> list[tuple[str, float, float]]:
    items = []
    for key, value in result.items():
        metric, _, filt = key.partition(",")
        if not filt or "_stderr" in metric or not isinstance(value, (int, float)):
            continue
        se = result.get(f"{metric}_stderr,{filt}")
        items.append((metric if filt == "none" else f"{metric},{filt}", float(value),
                      float(se) if isinstance(se, (int, float)) else float("nan")))
    return items


def lm_eval_rows(base: dict, tuned: dict, model: str, extra: dict[str, Any]) -> list[dict]:
    """Store rows: each task's (and group's) metrics for base and tuned, and the paired
    per-document difference for tasks whose samples lm-eval logged."""
    rows = []
    for task, result in tuned["results"].items():
        n = int(tuned.get("n-samples", {}).get(task, {}).get("effective", 0) or 0) or None
        for stage, res in (("base", base["results"].get(task, {})), ("tuned", result)):
            for metric, value, se in _metric_items(res):
                rows.append(dict(stage=stage, task=task, metric=metric, value=value, stderr=se, n=n))
        paired = _paired_diffs(base.get("samples", {}).get(task), tuned.get("samples", {}).get(task))
        base_values = {m: v for m, v, _ in _metric_items(base["results"].get(task, {}))}
        for metric, value, se in _metric_items(result):
            if metric in paired:
                d = paired[metric]
                rows.append(dict(stage="diff", task=task, metric=metric, value=float(d.mean()),
                                 stderr=_se(d), n=len(d)))
            elif metric in base_values:  # a group: unpaired difference of the aggregates
                base_se = next((s for m, _, s in _metric_items(base["results"][task]) if m == metric),
                               float("nan"))
                rows.append(dict(stage="diff", task=task, metric=metric,
                                 value=value - base_values[metric],
                                 stderr=math.sqrt(se ** 2 + base_se ** 2), n=n))
    for row in rows:
        row.update(model=model, extra=extra)
    return rows


def _paired_diffs(base_samples, tuned_samples) -> dict[str, np.ndarray]:
    if not base_samples or not tuned_samples:
        return {}
    by_doc = {s["doc_id"]: s for s in base_samples}
    out: dict[str, list[float]] = {}
    for sample in tuned_samples:
        other = by_doc.get(sample["doc_id"])
        if other is None:
            continue
        for key, value in sample.items():
            if key == "doc_id" or not isinstance(value, (int, float)):
                continue
            if isinstance(other.get(key), (int, float)):
                out.setdefault(key, []).append(float(value) - float(other[key]))
    return {k: np.asarray(v) for k, v in out.items()}


# ------------------------------------------------------------------------------ the stage
def check_ability(source: str | Path, tasks: Sequence[str] = (OFFLINE_TASK,),
                  run_ids: Sequence[str] | None = None, include_path: str | Path | None = None,
                  limit: int | None = None, include_defaults: bool = True, windows: int = DEFAULT_WINDOWS,
                  window_tokens: int = DEFAULT_WINDOW_TOKENS, progress: bool = True,
                  log: Callable[[str], None] = lambda line: None):
    """Evaluate base and tuned model of every trained LLM run in ``source``; store and return the
    rows (a DataFrame like ``Store.ability_frame()``)."""
    from tqdm.auto import tqdm

    from harness.storage import Store

    offline, names = split_tasks(tasks)
    store = Store(resolve_store_url(source))
    runs = trained_llm_runs(store, run_ids)
    tm = load_lm_eval_tasks(names, include_path, include_defaults) if names else None
    if limit is not None and limit < 1:
        raise AbilityError(f"limit={limit}: give at least 1 document per task")
    if offline and (windows < 1 or window_tokens < 2):
        raise AbilityError(f"windows={windows}, window_tokens={window_tokens}: need >= 1 window of "
                           ">= 2 tokens")
    base_cache: dict[str, dict] = {}  # lm-eval base results per model: the base is shared
    for record in runs:
        run_id = record["run_id"]
        started = time.perf_counter()
        log(f"{run_id}: loading the final checkpoint")
        llm = load_trained_llm(store, run_id)
        label = model_label(llm)
        rows = []
        if offline:
            ids = corpus_windows(llm.tokenizer, windows, window_tokens)
            t0 = time.perf_counter()
            with tqdm(total=len(ids), desc=f"{run_id[:40]} pydoc", unit="window",
                      disable=not progress) as bar:
                measures = window_measures(llm, ids, progress=bar.update)
            extra = {"corpus": "pydoc_data.topics, sorted keys joined by blank lines",
                     "python": sys.version.split()[0], "windows": windows,
                     "window_tokens": window_tokens, "seconds": round(time.perf_counter() - t0, 2)}
            rows += offline_rows(measures, label, extra)
        if names:
            import lm_eval

            extra = {"lm_eval": getattr(lm_eval, "__version__", "?"), "limit": limit,
                     "num_fewshot": 0}
            if label not in base_cache:
                base_cache[label] = lm_eval_measure(llm, tm, names, "base", limit, progress)
            tuned = lm_eval_measure(llm, tm, names, "tuned", limit, progress)
            rows += lm_eval_rows(base_cache[label], tuned, label, extra)
        store.add_ability_results(run_id, rows)
        log(f"{run_id}: {len(rows)} results stored ({time.perf_counter() - started:.1f} s)")
        del llm
    frame = store.ability_frame()
    return frame[frame["run_id"].isin([r["run_id"] for r in runs])]


# ------------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness ability", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Original-ability check (paper §5.5): base vs tuned LLM of every trained "
                    "twosome* run of a store, on a fixed pydoc corpus (offline) and on "
                    "lm-evaluation-harness tasks with local data. Results go to the store's "
                    "'ability' table and the comparison report (docs/ability.md).")
    parser.add_argument("source", help="run directory (holding results.db), .db file or store URL")
    parser.add_argument("--tasks", default=OFFLINE_TASK,
                        help=f"comma list: {OFFLINE_TASK} (offline perplexity/KL, the default), "
                             f"paper (= {','.join(PAPER_TASKS)}), or lm-eval task names")
    parser.add_argument("--runs", default=None, help="comma list of run ids (default: all trained)")
    parser.add_argument("--include-path", default=None,
                        help="directory of extra lm-eval task YAMLs (local-file tasks)")
    parser.add_argument("--no-default-tasks", action="store_true",
                        help="only the tasks in --include-path (skips indexing lm-eval's own)")
    parser.add_argument("--limit", type=int, default=None,
                        help="documents per lm-eval task (default: all)")
    parser.add_argument("--windows", type=int, default=DEFAULT_WINDOWS,
                        help=f"pydoc windows (default {DEFAULT_WINDOWS})")
    parser.add_argument("--window-tokens", type=int, default=DEFAULT_WINDOW_TOKENS,
                        help=f"tokens per pydoc window (default {DEFAULT_WINDOW_TOKENS})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def format_rows(frame) -> str:
    lines = []
    for (run_id, task, metric), group in frame.groupby(["run_id", "task", "metric"], sort=False):
        values = {r.stage: (r.value, r.stderr) for r in group.itertuples()}
        cells = [f"{stage} {v:.4g} ± {se:.2g}" for stage, (v, se) in
                 sorted(values.items(), key=lambda kv: ("base", "tuned", "diff").index(kv[0]))]
        lines.append(f"{run_id}  {task}  {metric}: " + ", ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)

    def log(line: str) -> None:
        print(f"harness ability: {line}", file=sys.stderr)

    try:
        frame = check_ability(args.source, tasks=args.tasks.split(","),
                              run_ids=args.runs.split(",") if args.runs else None,
                              include_path=args.include_path, limit=args.limit,
                              include_defaults=not args.no_default_tasks,
                              windows=args.windows, window_tokens=args.window_tokens,
                              progress=not args.no_progress, log=log)
    except AbilityError as err:
        print(f"harness ability: {err}", file=sys.stderr)
        return 2
    print(format_rows(frame))
    log("stored in the 'ability' table; `harness report` adds the Original ability section")
    return 0


if __name__ == "__main__":
    sys.exit(main())
