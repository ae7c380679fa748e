"""Transfer: zero-shot evaluation of trained policies on tasks they never saw (the paper's Figure 6).

A core stage like training, below the reports: it loads checkpoints and runs envs, and writes what
it measured to the store's ``transfer`` table, which the report renders. What to evaluate is
declared by the envs themselves, so a new unseen task is one registration:

- an env with ``base_task=X`` (an unseen word-substitution variant, tagged ``unseen``) is evaluated
  with the policies trained on ``X`` (kind ``variant``);
- an env with ``transfer_from=(Y, ...)`` is evaluated with the policies trained on each ``Y``
  (kind ``crossover``, e.g. Food Preparation -> Entertainment).

Each trained run contributes its last checkpoint (stage ``final``). For the trainable methods named
in ``untrained`` the step-0 policy is evaluated too (stage ``step0``: for TWOSOME the frozen LLM
before any PPO update, i.e. the zero-shot LLM). Methods with nothing to learn (saycan, random)
appear once. Every (method, pair) gets a row: a measurement, or ``n/a`` with the reason (no run
trained on the source task, spaces that do not fit, no checkpoint), never a crash.

    harness transfer runs/ [--episodes 100] [--methods twosome,saycan] [--untrained twosome]
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness import protocol
from harness.registry import ENVS, METHODS, UnknownNameError
from harness.storage import Store, StoreSourceError, now_iso, resolve_store_url

DEFAULT_EPISODES = 100  # the original inference scripts and ADRL use 100 sampled episodes
DEFAULT_EVAL_SEED = 10  # eval env seeds 10, 11, ...: apart from the training envs' seeds


@dataclass(frozen=True)
class TransferPair:
    train_env: str
    eval_env: str
    kind: str  # variant | crossover


def transfer_pairs() -> list[TransferPair]:
    """Every (trained on, evaluated on) pair the registered envs declare: variants in registration
    order, then crossovers in the order of their source task."""
    order = {name: i for i, name in enumerate(ENVS.names())}
    variants = [TransferPair(spec.base_task, name, "variant")
                for name, spec in ENVS.items() if spec.base_task]
    crossovers = [TransferPair(source, name, "crossover")
                  for name, spec in ENVS.items() for source in spec.transfer_from]
    crossovers.sort(key=lambda p: (order.get(p.train_env, len(order)), order[p.eval_env]))
    return variants + crossovers


def _trained_method(store: Store, run_id: str, env: str) -> Any:
    # load_method falls back to a fresh method without a checkpoint; here that would pass an
    # untrained policy off as the trained one.
    run_dir = (store.get_run(run_id) or {}).get("run_dir") or ""
    if not (Path(run_dir) / protocol.CHECKPOINT).is_file():
        raise FileNotFoundError(f"run {run_id} has no checkpoint in {run_dir or '(no run_dir)'}")
    return protocol.load_method(store, run_id, env)


def _evaluate(store: Store, run: dict, stage: str, eval_env: str, episodes: int,
              eval_seed: int) -> dict[str, Any]:
    if eval_env not in ENVS:
        return {"status": "n/a", "note": f"env {eval_env} is not registered"}
    if stage == "final" and run.get("status") != "finished":
        return {"status": "n/a", "note": f"run {run['run_id']} is {run.get('status')}, not finished"}
    try:
        if stage == "final":
            method = _trained_method(store, run["run_id"], eval_env)
        else:
            method = protocol.load_method(store, run["run_id"], eval_env, trained=False)
        env_kwargs = json.loads(run["config_json"]).get("env_kwargs") or {}
        result = protocol.evaluate(method, ENVS.get(eval_env), env_kwargs, episodes, eval_seed)
    except protocol.IncompatibleEnvError as err:
        return {"status": "n/a", "note": f"incompatible: {err}"}
    except UnknownNameError as err:
        return {"status": "n/a", "note": str(err)}
    except FileNotFoundError as err:
        return {"status": "n/a", "note": f"no checkpoint: {err}"}
    except Exception as err:  # noqa: BLE001 -- one broken pair must not stop the others
        detail = traceback.format_exception_only(type(err), err)[-1].strip()
        return {"status": "n/a", "note": f"error: {detail}"}
    return {"status": "ok", "note": "",
            **{k: float(result[k]) for k in ("return_mean", "return_std", "success_rate",
                                             "length_mean") if k in result}}


def run_transfer(store_url: str, methods: list[str] | None = None,
                 untrained: tuple[str, ...] = ("twosome",), episodes: int = DEFAULT_EPISODES,
                 eval_seed: int = DEFAULT_EVAL_SEED,
                 log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Evaluate every trained run (and the untrained baselines) on every declared transfer pair;
    store the results in the ``transfer`` table and return the rows written."""
    store = Store(store_url)
    pairs = transfer_pairs()
    runs = store.runs_frame()
    if methods:
        runs = runs[runs["method"].isin(methods)]
    sources = runs[runs["env"].isin({p.train_env for p in pairs})]
    names = list(dict.fromkeys(methods or sorted(sources["method"])))
    if not names:
        wanted = ", ".join(sorted({p.train_env for p in pairs})) or "(no env declares one)"
        raise ValueError(f"store {store_url} has no runs on a task with declared transfer targets "
                         f"({wanted}) to take checkpoints from; train some first (harness run ...)")
    rows: list[dict[str, Any]] = []
    for name in names:
        try:
            trains = bool(getattr(METHODS.get(name), "trains", True))
        except UnknownNameError:
            trains = True
        for stage in ["final"] + (["step0"] if trains and name in untrained else []):
            for pair in pairs:
                base = {"method": name, "stage": stage, "train_env": pair.train_env,
                        "eval_env": pair.eval_env, "kind": pair.kind, "eval_seed": eval_seed,
                        "episodes": episodes}
                candidates = sources[(sources["method"] == name)
                                     & (sources["env"] == pair.train_env)]
                if candidates.empty:
                    rows.append({**base, "source_run_id": "", "seed": None, "status": "n/a",
                                 "note": f"no {name} run trained on {pair.train_env}",
                                 "created_at": now_iso()})
                    log(_describe(rows[-1]))
                    continue
                if stage == "step0":  # before training, the seeds do not matter
                    candidates = candidates.head(1)
                for run in candidates.to_dict("records"):
                    rows.append({**base, "source_run_id": run["run_id"], "seed": int(run["seed"]),
                                 **_evaluate(store, run, stage, pair.eval_env, episodes,
                                             eval_seed),
                                 "created_at": now_iso()})
                    log(_describe(rows[-1]))
    store.put_transfer_rows(rows)
    return rows


def _describe(row: dict[str, Any]) -> str:
    shown = (f"return {row['return_mean']:.3f} success {row['success_rate']:.2f}"
             if row["status"] == "ok" else f"n/a ({row['note']})")
    return (f"  {row['method']:<14} {row['stage']:<6} seed {row['seed']}  "
            f"{row['train_env']} -> {row['eval_env']}: {shown}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness transfer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="run directory (holding results.db), .db file or store URL")
    parser.add_argument("--episodes", type=int, default=DEFAULT_EPISODES,
                        help=f"sampled episodes per evaluation (default {DEFAULT_EPISODES})")
    parser.add_argument("--eval-seed", type=int, default=DEFAULT_EVAL_SEED,
                        help=f"first eval env seed (default {DEFAULT_EVAL_SEED})")
    parser.add_argument("--methods", default=None,
                        help="comma list (default: every method with a run on a source task)")
    parser.add_argument("--untrained", default="twosome",
                        help="comma list of trainable methods also evaluated untrained (step 0); "
                             "default twosome (the zero-shot LLM)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``harness transfer``: measure and store; ``harness report`` then shows the table."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.episodes < 1:
        print(f"harness transfer: error: --episodes {args.episodes}: must be >= 1", file=sys.stderr)
        return 2
    try:
        url = resolve_store_url(args.source)
        print(f"harness transfer: {url}", file=sys.stderr)
        rows = run_transfer(url, methods=args.methods.split(",") if args.methods else None,
                            untrained=tuple(m for m in args.untrained.split(",") if m),
                            episodes=args.episodes, eval_seed=args.eval_seed,
                            log=lambda line: print(line, file=sys.stderr))
    except (StoreSourceError, ValueError) as err:
        print(f"harness transfer: error: {err}", file=sys.stderr)
        return 2
    measured = sum(r["status"] == "ok" for r in rows)
    print(f"harness transfer: {measured} evaluations measured, {len(rows) - measured} n/a; stored "
          "in the 'transfer' table (harness report shows it)", file=sys.stderr)
    return 0
