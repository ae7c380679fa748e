"""Optuna studies whose trials are protocol runs.

A trial draws hyperparameters from the method's search space, runs the evaluation protocol for each
of its seeds (results land in the results store like any run) and scores them by the area under the
eval-return curve (``objective=auc``, the default: rewards learning fast *and* well) or the final
eval return (``objective=final``). Each eval point is reported to Optuna so a pruner can stop a poor
trial early: the protocol's ``on_eval`` hook raises ``optuna.TrialPruned``.

Resuming: the study name is derived from (method, env, objective) unless given, and the study is
opened with ``load_if_exists``, so re-running the same command continues the study until it holds
``trials`` finished (complete or pruned) trials. A trial left RUNNING by a killed worker is marked
FAIL and re-queued with the same parameters (its runs then resume from their last checkpoints):
immediately when the dead worker ran on this host (its pid is gone), and after the heartbeat grace
period otherwise (database storages only; ``fail_running=true`` forces it when you know no other
worker is alive). A trial's runs are trained under their leases (harness/executor.py), so a
re-queued trial waits for, or takes over, the run a dead worker left.

Sampling: the TPE sampler's random state is derived from the study, not from the process: before
each trial it is seeded from (``sampler_seed``, finished trials so far, trials other workers are
running). A resumed or topped-up sweep therefore never re-proposes earlier parameters because it
was started again, and a killed-and-resumed sweep proposes exactly what the uninterrupted one would.

Parallel workers: ``workers=N`` runs N workers (processes, or Ray tasks with ``executor=ray``) on
the one study; each stops when finished plus running trials reach ``trials``.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import socket
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

from harness.curve_metrics import normalized_auc
from harness.storage import default_store_url
from sweeps import space as spaces

OBJECTIVES = ("auc", "final")
PRUNERS = ("median", "hyperband", "none")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class SweepError(ValueError):
    """A bad sweep setting; ``str()`` is the one-line message shown to users."""


@dataclass
class SweepConfig:
    method: str
    env: str
    trials: int = 20
    seeds: tuple[int, ...] = (0, 1)
    objective: str = "auc"
    storage: str = ""  # Optuna storage URL; default sqlite:///<out_dir>/sweeps.db
    study: str = ""  # default <method>__<env>__<objective>
    out_dir: str = "runs"
    store: str = ""  # results store of the trial runs; default: the storage URL if it is a database
    space: str = ""  # search-space file; default sweeps/spaces/<method>.json
    pruner: str = "median"
    export: str = ""  # best-parameters preset; default <out_dir>/sweeps/<study>/best.json
    heartbeat: int = 60  # seconds (0: off); database storages fail silent RUNNING trials after 2x
    fail_running: bool = False
    max_retry: int = 2
    sampler_seed: int | None = 0
    workers: int = 1  # parallel workers on the study (processes, or Ray tasks with executor=ray)
    executor: str = "local"  # local | ray
    ray_address: str | None = None
    fixed: dict[str, str] = field(default_factory=dict)  # other key=value run overrides

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise SweepError(f"objective={self.objective!r}: choose one of {', '.join(OBJECTIVES)}")
        if self.pruner not in PRUNERS:
            raise SweepError(f"pruner={self.pruner!r}: choose one of {', '.join(PRUNERS)}")
        if self.trials < 0:
            raise SweepError(f"trials={self.trials}: must be >= 0")
        if not self.seeds:
            raise SweepError("seeds: give at least one seed")
        if self.workers < 1:
            raise SweepError(f"workers={self.workers}: must be >= 1")
        if self.ray_address and self.executor == "local":
            self.executor = "ray"
        if self.executor not in ("local", "ray"):
            raise SweepError(f"executor={self.executor!r}: choose one of local, ray")
        if self.executor == "ray":
            import importlib.util

            from harness.config import RAY_EXTRA

            if importlib.util.find_spec("ray") is None:
                raise SweepError(f"executor=ray needs Ray, which is not installed: {RAY_EXTRA}")
        self.study = self.study or f"{self.method}__{self.env.replace('/', '-')}__{self.objective}"
        # The name becomes a directory under out_dir: no separators, no "..", nothing hidden.
        if not self.study or self.study.startswith(".") or any(c in self.study for c in "/\\\0"):
            raise SweepError(f"study={self.study!r}: use letters, digits, '-', '_' and '.' only "
                             "(it names a directory under out_dir), not a path")
        self.storage = self.storage or f"sqlite:///{Path(self.out_dir).resolve() / 'sweeps.db'}"
        if not self.store:
            self.store = (self.storage if not self.storage.startswith("journal://") else
                          default_store_url(self.out_dir))
        self.export = self.export or str(Path(self.out_dir) / "sweeps" / self.study / "best.json")

    @property
    def run_out_dir(self) -> str:
        return str(Path(self.out_dir) / "sweeps" / self.study)


# -- storage ---------------------------------------------------------------------------------------
def make_storage(url: str, heartbeat: int = 60, max_retry: int = 2) -> optuna.storages.BaseStorage:
    """Optuna storage for ``url``: ``journal:///path/file.log`` (a journal file, safe for several
    workers on a shared file system) or any SQLAlchemy URL (SQLite file, PostgreSQL, ...)."""
    if url.startswith("journal://"):
        path = Path(url.removeprefix("journal://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise SweepError(f"storage={url!r}: expected sqlite:///path.db, journal:///path.log or a "
                         "database URL such as postgresql://user@host/db")
    from harness.storage import POSTGRES_EXTRA, normalize_url

    url = normalize_url(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql"):
        import sqlalchemy as sa

        try:
            sa.engine.make_url(url).get_dialect().import_dbapi()
        except ImportError:
            raise SweepError(f"storage={url!r}: the PostgreSQL driver is not installed: "
                             f"{POSTGRES_EXTRA}") from None
    if heartbeat <= 0:
        return optuna.storages.RDBStorage(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url, heartbeat_interval=heartbeat, grace_period=2 * heartbeat,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=max_retry))


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _worker_dead(worker: str | None) -> bool:
    """True if ``worker`` (``host:pid``) ran on this host and its process no longer exists."""
    from harness.storage import owner_is_dead  # the leases' test, same host:pid prefix

    return bool(worker) and owner_is_dead(worker)


def recover_stale_trials(study: optuna.Study, storage: optuna.storages.BaseStorage,
                         force: bool = False, max_retry: int = 2,
                         log: Callable[[str], None] = print) -> list[int]:
    """Mark RUNNING trials of dead workers (or all, with ``force``) FAIL and re-queue their params.

    Returns the numbers of the trials marked failed.
    """
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not (force or _worker_dead(trial.user_attrs.get("worker"))):
            continue
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        failed.append(trial.number)
        retries = int(trial.user_attrs.get("retries", 0))
        if retries < max_retry and trial.params:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number,
                                                          "retries": retries + 1})
            log(f"trial {trial.number} was left running by a stopped worker: marked failed and "
                f"re-queued with the same parameters (retry {retries + 1}/{max_retry})")
        else:
            log(f"trial {trial.number} was left running by a stopped worker: marked failed")
    return failed


# -- one trial = protocol runs ----------------------------------------------------------------------
# (params, seed, report(step, value)) -> eval points [{step, return_mean, ...}] of that seed's run
SeedRunner = Callable[[dict[str, Any], int, Callable[[int, dict], None]], list[dict]]


def _override_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(str, value)) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def run_overrides(sweep: SweepConfig, params: dict[str, Any], seed: int) -> dict[str, str]:
    return {**sweep.fixed, **{k: _override_text(v) for k, v in params.items()},
            "method": sweep.method, "env": sweep.env, "seed": str(seed),
            "out_dir": sweep.run_out_dir, "store": sweep.store}


def protocol_seed_runner(sweep: SweepConfig) -> SeedRunner:
    """Runs one seed of a trial through the evaluation protocol, into the results store."""

    def run_seed(params: dict[str, Any], seed: int, report: Callable[[int, dict], None]):
        from harness import protocol
        from harness.config import resolve_grid
        from harness.storage import Store

        (config,) = resolve_grid(run_overrides(sweep, params, seed))
        store = Store(config.store)
        pruned: list[optuna.TrialPruned] = []

        def on_eval(step: int, point: dict) -> None:
            try:
                report(step, point)
            except optuna.TrialPruned as err:
                pruned.append(err)
                raise protocol.RunStopped(str(err)) from None  # the protocol marks the run pruned

        from harness.executor import run_leased

        # Under the run's lease: a retried trial waits for (or takes over) its dead worker's run.
        result = run_leased(config, store, progress=False, on_eval=on_eval, wait=True)
        if pruned or result.status == "pruned":
            raise pruned[0] if pruned else optuna.TrialPruned(f"run {config.run_id} was pruned")
        if result.status != "finished":
            raise RuntimeError(f"run {config.run_id} ended with status {result.status!r}")
        return store.eval_points(config.run_id)

    return run_seed


def seed_value(points: list[dict], objective: str) -> float:
    points = sorted(points, key=lambda p: p["step"])
    if not points:
        raise RuntimeError("the run stored no eval points")
    if objective == "final":
        return float(points[-1]["return_mean"])
    return normalized_auc([p["step"] for p in points], [p["return_mean"] for p in points])


def make_objective(sweep: SweepConfig, params_space: dict, run_seed: SeedRunner,
                   total_steps: int) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", _worker_id())
        params = spaces.suggest(trial, params_space)
        values = []
        for k, seed in enumerate(sweep.seeds):
            seen: list[dict] = []

            def report(step: int, point: dict, k=k, seen=seen) -> None:
                # Intermediate value = this seed's objective so far, at a step that is unique per
                # (seed, eval point), so pruners compare trials at equal progress.
                seen.append({"step": step, **point})
                trial.report(seed_value(seen, sweep.objective), k * (total_steps + 1) + step)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at seed {seed}, step {step}")

            values.append(seed_value(run_seed(params, seed, report), sweep.objective))
            trial.set_user_attr("seed_values", values)
        return float(sum(values) / len(values))

    return objective


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


class StudySeededSampler(optuna.samplers.BaseSampler):
    """TPE seeded, before every trial, from the study's state instead of once per process.

    The seed of a trial is a hash of (``seed``, the number of finished trials, and the numbers of
    trials other workers are running, with this trial's number when there are any): one worker
    resumed after a kill or topped up later draws what one uninterrupted worker would have drawn at
    that point of the study, and concurrent workers draw differently.
    """

    def __init__(self, seed: int, constant_liar: bool = False):
        self.seed, self.constant_liar = seed, constant_liar
        self._tpe = self._make(seed)

    def _make(self, seed: int) -> optuna.samplers.TPESampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, constant_liar=self.constant_liar)

    def trial_seed(self, study: optuna.Study, number: int) -> int:
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state in FINISHED for t in trials)
        others = tuple(sorted(t.number for t in trials
                              if t.state == TrialState.RUNNING and t.number != number))
        key = json.dumps([self.seed, finished, others, number if others else None])
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little")

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self._tpe = self._make(self.trial_seed(study, trial.number))
        self._tpe.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._tpe.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._tpe.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._tpe.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):
        self._tpe.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()


def open_study(sweep: SweepConfig) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    storage = make_storage(sweep.storage, sweep.heartbeat, sweep.max_retry)
    sampler = (optuna.samplers.TPESampler(seed=None) if sweep.sampler_seed is None else
               StudySeededSampler(sweep.sampler_seed, constant_liar=sweep.workers > 1))
    study = optuna.create_study(study_name=sweep.study, storage=storage, direction="maximize",
                                sampler=sampler, pruner=make_pruner(sweep.pruner),
                                load_if_exists=True)
    attrs = {"method": sweep.method, "env": sweep.env, "objective": sweep.objective,
             "seeds": list(sweep.seeds), "fixed": sweep.fixed}
    existing = study.user_attrs
    for key, value in attrs.items():
        if key in existing and existing[key] != value:
            raise SweepError(f"study {sweep.study!r} in {sweep.storage} was created with "
                             f"{key}={existing[key]!r}, not {value!r}; use another study= name")
        study.set_user_attr(key, value)
    return study, storage


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def run_sweep(sweep: SweepConfig, run_seed: SeedRunner | None = None, total_steps: int | None = None,
              config_fields: set[str] | None = None,
              log: Callable[[str], None] = print) -> optuna.Study:
    """Open (or resume) the study and run trials until it holds ``sweep.trials`` finished ones."""
    params_space = spaces.load_space(sweep.method, sweep.space or None,
                                     config_fields if config_fields is not None
                                     else spaces.method_config_fields(sweep.method))
    pinned = sorted(set(params_space) & set(sweep.fixed))
    if pinned:  # a key=value on the command line fixes that hyperparameter instead of tuning it
        params_space = {k: v for k, v in params_space.items() if k not in sweep.fixed}
        log(f"fixed by the command line, not tuned: {', '.join(pinned)}")
        if not params_space:
            raise SweepError("every hyperparameter of the search space is fixed on the command "
                             "line; nothing left to tune")
    custom_runner = run_seed is not None
    if run_seed is None:
        total_steps = total_steps or _validate_with_protocol(sweep, params_space)
        run_seed = protocol_seed_runner(sweep)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own one line per trial instead
    study, storage = open_study(sweep)
    recover_stale_trials(study, storage, force=sweep.fail_running, max_retry=sweep.max_retry,
                         log=log)
    remaining = sweep.trials - finished_count(study)
    log(f"study {sweep.study!r} in {sweep.storage}: {len(study.trials)} trials so far, "
        f"{finished_count(study)} finished, {max(remaining, 0)} to go")
    if remaining > 0 and sweep.workers == 1 and sweep.executor == "local":
        work(study, sweep, params_space, run_seed, total_steps or 0, remaining, log)
    elif remaining > 0:
        if custom_runner:
            raise SweepError("workers > 1 run the protocol in other processes: a custom run_seed "
                             "cannot be sent there")
        run_workers(sweep, params_space, total_steps or 0, remaining, log)
        study = optuna.load_study(study_name=sweep.study, storage=storage)
    if any(t.state == TrialState.COMPLETE for t in study.trials):
        path = export_best(study, sweep, config_fields)
        log(f"best trial {study.best_trial.number}: {study.best_value:.4f} "
            f"{study.best_params} -> {path}  (use: harness run ... preset={path})")
    return study


def work(study: optuna.Study, sweep: SweepConfig, params_space: dict, run_seed: SeedRunner,
         total_steps: int, attempts: int, log: Callable[[str], None]) -> None:
    """One worker: run trials until finished plus running ones reach ``sweep.trials`` (another
    worker's running trial will finish), at most ``attempts`` of them (failures included)."""
    objective = make_objective(sweep, params_space, run_seed, total_steps)

    def report(_study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        log(f"trial {t.number} {t.state.name.lower()}"
            + (f": {t.value:.4f}" if t.value is not None else "") + f" {t.params}")

    for _ in range(attempts):
        trials = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
        if len(trials) >= sweep.trials:
            return
        study.optimize(objective, n_trials=1, catch=(RuntimeError, ValueError),  # a bad draw
                       callbacks=[report])                                     # fails its trial


def _worker_main(sweep: SweepConfig, params_space: dict, total_steps: int, attempts: int,
                 modules: list[str]) -> None:
    """A worker process or Ray task: its own storage connection, the protocol as runner."""
    import importlib

    for module in modules:
        importlib.import_module(module)
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, _ = open_study(sweep)
    work(study, sweep, params_space, protocol_seed_runner(sweep), total_steps, attempts,
         lambda line: print(f"[worker {_worker_id()}] {line}", file=sys.stderr, flush=True))


def run_workers(sweep: SweepConfig, params_space: dict, total_steps: int, attempts: int,
                log: Callable[[str], None]) -> None:
    """``sweep.workers`` workers on the study: spawned processes, or Ray tasks (one CPU each)."""
    from harness.executor import init_ray, registration_modules

    modules = registration_modules(sweep.method, sweep.env)
    args = (sweep, params_space, total_steps, attempts, modules)
    log(f"{sweep.workers} workers ({'Ray tasks' if sweep.executor == 'ray' else 'processes'}) "
        f"on study {sweep.study!r}")
    if sweep.executor == "ray":
        ray = init_ray(sweep.ray_address)
        task = ray.remote(_worker_main).options(num_cpus=1, max_retries=2)
        failures = []
        for ref in [task.remote(*args) for _ in range(sweep.workers)]:
            try:
                ray.get(ref)
            except ray.exceptions.RayError as err:
                failures.append(str(err).splitlines()[0])
        for failure in failures:
            log(f"a worker failed: {failure}")
        return
    context = multiprocessing.get_context("spawn")  # no forked torch or database state
    processes = [context.Process(target=_worker_main, args=args, daemon=False)
                 for _ in range(sweep.workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            log(f"a worker process exited with status {process.exitcode}")


def _validate_with_protocol(sweep: SweepConfig, params_space: dict) -> int:
    """Check every fixed override with the harness's own validation before any trial starts;
    returns the trial runs' total_steps."""
    from harness.config import resolve_grid

    probe = {name: (d["choices"][0] if d["type"] == "categorical" else d["low"])
             for name, d in params_space.items()}
    configs = resolve_grid(run_overrides(sweep, probe, sweep.seeds[0]))
    return configs[0].total_steps


def export_best(study: optuna.Study, sweep: SweepConfig,
                config_fields: set[str] | None = None) -> Path:
    """Write the best parameters as a preset file ``harness run ... preset=<file>`` accepts."""
    fields = config_fields if config_fields is not None else spaces.method_config_fields(sweep.method)
    fixed_method_keys = {k: v for k, v in sweep.fixed.items()
                         if fields is not None and k in fields}
    best = study.best_trial
    preset = {
        "params": {**_parse_fixed(fixed_method_keys), **best.params},
        "study": sweep.study, "storage": sweep.storage, "method": sweep.method, "env": sweep.env,
        "objective": sweep.objective, "value": best.value, "trial": best.number,
        "seed_values": best.user_attrs.get("seed_values"), "seeds": list(sweep.seeds),
        "finished_trials": finished_count(study),
    }
    path = Path(sweep.export)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(preset, indent=2, sort_keys=True) + "\n")
    return path


def _parse_fixed(values: dict[str, str]) -> dict[str, Any]:
    out = {}
    for key, text in values.items():
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out
