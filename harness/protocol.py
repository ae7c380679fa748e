"""The one evaluation protocol every method runs under.

For one run: build the method and ``num_envs`` training envs, evaluate before any training (the
step-0 point, i.e. the zero-shot policy for LLM methods), then alternate ``method.learn`` for
``eval_every`` env steps with an evaluation of ``eval_episodes`` episodes on separate eval envs,
until ``total_steps``. Env steps count decisions summed over the training envs, as the original's
``global_step`` does.

Crash safety: at every eval point the method state and the training envs are checkpointed (atomic
file replace, data only: harness/checkpoint.py) *before* the point is written to the store, and the
checkpoint carries the point, so a ``kill -9`` loses at most the interval in progress; re-running
resumes from the checkpoint. A checkpoint that fails its checksum or allow-list, or a store that
lost points the checkpoint vouches for, stops the resume with one line (``resume=restart`` starts
the run over). A non-finite eval return, loss, gradient or weight stops the run as ``failed`` with
the reason stored; the points before it are kept.

TensorBoard: each eval point and every learner update are also written to event files in the run
dir (``tensorboard=false`` turns that off); see harness/tensorboard.py for how a resume keeps them
free of duplicates.
"""
from __future__ import annotations

import dataclasses
import json
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm.auto import tqdm

from harness import checkpoint as ckpt
from harness.config import RunConfig
from harness.env_api import EnvPool, EnvSpec
from harness.errors import first_line
from harness.method_api import Method, NonFiniteError
from harness.registry import ENVS, METHODS
from harness.storage import Store
from harness.tensorboard import RunLog

CHECKPOINT = ckpt.FILENAME
# Eval envs use fixed seeds (common random numbers across eval points and methods) far from the
# training seeds.
EVAL_SEED_BASE = 1_000_000
PACKAGES = ("torch", "transformers", "peft", "gymnasium", "pettingzoo", "numpy", "optuna")


class IncompatibleEnvError(ValueError):
    """A trained method cannot act in the requested env (different spaces, no text interface)."""


class RunStopped(Exception):
    """Raised by an ``on_eval`` callback to stop a run early (e.g. an Optuna pruner)."""


class LeaseLost(Exception):
    """Raised by an ``on_eval`` callback when another worker took this run's lease over (this one
    was presumed dead): stop at once and leave the run's record alone, it is the other's now."""


@dataclass
class RunResult:
    run_id: str
    status: str
    points: list[dict[str, Any]] = field(default_factory=list)
    skipped: bool = False
    leased_by: str | None = None  # skipped because this live worker holds the run's lease


def seed_everything(seed: int) -> None:
    """Seed the global RNGs that library code may use while a method is being built."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules or _importable("torch"):
        import torch
        torch.manual_seed(seed)


def _importable(name: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(name) is not None


def build_method(config: RunConfig, env_spec: EnvSpec | None = None) -> Method:
    env_spec = env_spec or ENVS.get(config.env)
    probe = env_spec.make(**config.env_kwargs)
    method_cls = METHODS.get(config.method)
    seed_everything(config.seed)
    method = method_cls(config.method_config, env_spec, probe.observation_space, probe.action_space,
                        total_steps=config.total_steps, seed=config.seed)
    probe.close()
    return method


def evaluate(method: Method, env_spec: EnvSpec, env_kwargs: dict[str, Any], episodes: int,
             seed: int, rng_seed: int | tuple = 0) -> dict[str, Any]:
    """Run ``episodes`` full episodes on fresh env instances (env ``i`` seeded ``seed + i``).

    All episodes advance together so the method acts on a batch of states per call. Actions are
    sampled (not argmax) as in the original's inference scripts, with an RNG of the protocol's own.
    """
    rng = np.random.default_rng(rng_seed)
    envs = [env_spec.make(**env_kwargs) for _ in range(episodes)]
    resets = [env.reset(seed=seed + i) for i, env in enumerate(envs)]
    obs = [o for o, _ in resets]
    infos = [info for _, info in resets]
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes)
    successes = np.zeros(episodes, dtype=bool)
    active = list(range(episodes))
    while active:
        actions = method.act(np.stack([obs[i] for i in active]), [infos[i] for i in active], rng)
        still_active = []
        for i, action in zip(active, actions):
            obs[i], _, terminated, truncated, infos[i] = envs[i].step(int(action))
            if terminated or truncated:
                episode = infos[i]["episode"]
                returns[i] = episode["return"]
                lengths[i] = episode["length"]
                successes[i] = bool(episode["success"])
            else:
                still_active.append(i)
        active = still_active
    for env in envs:
        env.close()
    return {"return_mean": float(returns.mean()), "return_std": float(returns.std()),
            "success_rate": float(successes.mean()), "length_mean": float(lengths.mean()),
            "episodes": episodes}


def _code_version(where: Path) -> str | None:
    """HEAD's commit, with "+dirty" when tracked files differ from it: a run made from uncommitted
    code must not be attributed to the commit alone."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=where,
                              timeout=5, check=False).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        if commit and git("status", "--porcelain", "--untracked-files=no"):
            commit += "+dirty"
    except (OSError, subprocess.SubprocessError):
        return None
    return commit or None


def _environment_record() -> dict[str, Any]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            pass
    versions["python"] = platform.python_version()
    return {"git_commit": _code_version(Path(__file__).parent),
            "versions_json": json.dumps(versions, sort_keys=True), "host": platform.node()}


def _global_rng_states() -> dict[str, Any]:
    states = {"random": random.getstate(), "numpy": np.random.get_state()}
    if "torch" in sys.modules:
        import torch
        states["torch"] = torch.get_rng_state()
    return states


def _restore_global_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["random"])
    np.random.set_state(states["numpy"])
    if "torch" in states:
        import torch
        torch.set_rng_state(states["torch"])


def _walk_numbers(value: Any, path: str = ""):
    """(path, array) for every float tensor/array/number inside nested dicts, lists and tuples."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk_numbers(item, f"{path}[{i}]")
    elif isinstance(value, float):
        yield path, np.asarray(value)
    elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
        yield path, value
    elif type(value).__module__.startswith("torch") and hasattr(value, "is_floating_point"):
        if value.is_floating_point():
            yield path, value.detach().float().cpu().numpy()


def check_finite(what: str, value: Any, step: int) -> None:
    """Raise :class:`NonFiniteError` naming the first NaN/inf in ``value`` (nested containers)."""
    for path, array in _walk_numbers(value):
        if not np.all(np.isfinite(array)):
            where = f"{what} {path}" if path else what
            raise NonFiniteError(f"non-finite {where} at step {step}")


def _expected_steps(config: RunConfig, upto: int) -> list[int]:
    """The eval grid up to ``upto``: step 0, every multiple of eval_every, and ``upto`` itself."""
    return sorted({0, upto, *range(config.eval_every, upto + 1, config.eval_every)})


def _restart(store: Store, run_id: str, run_dir: Path) -> None:
    """``resume=restart``: forget the run's checkpoint and stored points, start from step 0."""
    for name in (CHECKPOINT, ckpt.LEGACY_FILENAME):
        (run_dir / name).unlink(missing_ok=True)
    store.delete_eval_points(run_id)


def run(config: RunConfig, store: Store, progress: bool = True,
        on_eval: Callable[[int, dict[str, Any]], None] | None = None) -> RunResult:
    """Train and evaluate one (method, env, seed) run, resuming it if it was interrupted."""
    run_id = config.run_id
    existing = store.get_run(run_id)
    if existing and existing["status"] == "finished" and config.resume != "restart":
        return RunResult(run_id, "finished", store.eval_points(run_id), skipped=True)

    env_spec = ENVS.get(config.env)
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(config.to_json())
    checkpoint_path = run_dir / CHECKPOINT
    store.start_run(run_id, method=config.method, env=config.env, seed=config.seed,
                    preset=config.preset, config_json=config.to_json(), run_dir=str(run_dir),
                    total_steps=config.total_steps, steps_done=0, error=None,
                    ceiling=env_spec.ceiling, random_return=env_spec.random_return,
                    **_environment_record())

    def fail(err: BaseException) -> None:
        store.update_run(run_id, status="failed", error=first_line(err)[:1000])

    started = time.perf_counter()
    try:
        if config.resume == "restart":
            _restart(store, run_id, run_dir)
        legacy = ckpt.find_legacy(run_dir)
        if legacy is not None and not checkpoint_path.exists():
            raise ckpt.CheckpointError(
                f"checkpoint {legacy} is a pickle of an earlier version and is never loaded "
                "(pickles can run code); re-run with resume=restart or delete it")
        method = build_method(config, env_spec)
        pool = EnvPool([env_spec.make(**config.env_kwargs) for _ in range(method.config.num_envs)])
        pool.reset(seed=config.seed * 1000)
        steps_done, wall_before = 0, 0.0
        points = store.eval_points(run_id)
        if checkpoint_path.exists():
            checkpoint = ckpt.load(checkpoint_path)
            method.load_state_dict(checkpoint["method"])
            pool = checkpoint["pool"]
            _restore_global_rng_states(checkpoint["rng"])
            steps_done, wall_before = int(checkpoint["step"]), float(checkpoint["wall_time"])
            # The point may have been checkpointed but not yet stored when the process died.
            if not any(p["step"] == steps_done for p in points):
                store.add_eval_point(run_id, checkpoint["point"])
            # Points past the checkpoint cannot exist (they are stored after it), but stay safe.
            points = [p for p in store.eval_points(run_id) if p["step"] <= steps_done]
            missing = sorted(set(_expected_steps(config, steps_done)) - {p["step"] for p in points})
            if missing:
                raise ckpt.CheckpointError(
                    f"the store lost eval points {missing[:5]}{'...' if len(missing) > 5 else ''} "
                    f"of run {run_id} that its checkpoint (step {steps_done}) follows; re-run with "
                    "resume=restart to train it again")
        elif points:  # points without a checkpoint: the checkpoint was deleted or never written
            store.delete_eval_points(run_id)
            points = []
        # TensorBoard: a resumed run drops what the lost interval logged (harness/tensorboard.py).
        tb = RunLog(run_dir, steps_done if checkpoint_path.exists() else None, config.tensorboard)
        method.attach_logger(tb.learner)
    except BaseException as err:
        fail(err)
        raise

    bar = tqdm(total=config.total_steps, initial=steps_done, disable=not progress, unit="step",
               desc=f"{config.method} {config.env} s{config.seed}", dynamic_ncols=True,
               file=sys.stderr)

    def record(step: int, train_stats: dict[str, float]) -> dict[str, Any]:
        check_finite("training statistic", train_stats, step)
        result = evaluate(method, env_spec, config.env_kwargs, config.episodes_at(step),
                          seed=EVAL_SEED_BASE, rng_seed=(config.seed, step))
        check_finite("eval", {k: result[k] for k in ("return_mean", "return_std")}, step)
        state = method.state_dict()
        check_finite("method state", state, step)
        wall = wall_before + time.perf_counter() - started
        point = {"step": step, "wall_time": wall, **result, **method.counters(),
                 **{f"train/{k}": v for k, v in train_stats.items()}}
        tb.eval_point(point)  # on disk before the checkpoint that vouches for it
        ckpt.save(checkpoint_path, {"method": state, "pool": pool, "rng": _global_rng_states(),
                                    "step": step, "wall_time": wall, "point": point})
        store.add_eval_point(run_id, point)
        store.update_run(run_id, steps_done=step)
        bar.set_postfix(ret=f"{result['return_mean']:.3f}", succ=f"{result['success_rate']:.2f}",
                        sps=f"{step / max(wall, 1e-9):.1f}")
        return point

    try:
        if not checkpoint_path.exists():
            points.append(record(0, {}))
            if on_eval:
                on_eval(0, points[-1])
        while steps_done < config.total_steps:
            chunk = min(config.eval_every - steps_done % config.eval_every,
                        config.total_steps - steps_done)
            stats = method.learn(pool, chunk)
            taken = int(stats.pop("env_steps"))
            if taken <= 0:
                raise RuntimeError(f"{config.method}.learn took no env steps (asked for {chunk})")
            steps_done += taken
            bar.update(taken)
            points.append(record(steps_done, stats))
            if on_eval:
                on_eval(steps_done, points[-1])
    except RunStopped:
        store.update_run(run_id, status="pruned")
        return RunResult(run_id, "pruned", points)
    except LeaseLost:
        raise
    except BaseException as err:
        fail(err)
        raise
    finally:
        bar.close()
        tb.close()
    store.update_run(run_id, status="finished", steps_done=steps_done)
    return RunResult(run_id, "finished", points)


def load_method(store: Store, run_id: str, env: str | None = None, trained: bool = True) -> Method:
    """Rebuild a run's method to act in ``env`` (default: its own): from its last checkpoint, or
    with ``trained=False`` as it was before any training (its step-0 policy)."""
    record = store.get_run(run_id)
    if record is None:
        raise KeyError(f"no run {run_id!r} in {store.url}")
    identity = json.loads(record["config_json"])
    method_cls = METHODS.get(identity["method"])
    source_spec, target_spec = ENVS.get(identity["env"]), ENVS.get(env or identity["env"])
    fields = {f.name for f in dataclasses.fields(method_cls.Config)}
    method_config = method_cls.Config(**{k: (tuple(v) if isinstance(v, list) else v)
                                         for k, v in identity["method_config"].items()
                                         if k in fields})
    env_kwargs = identity["env_kwargs"]
    source_env, target_env = source_spec.make(**env_kwargs), target_spec.make(**env_kwargs)
    same_spaces = (source_env.observation_space == target_env.observation_space
                   and source_env.action_space == target_env.action_space)
    source_env.close()
    if not same_spaces and not method_cls.reads_text:
        target_env.close()
        raise IncompatibleEnvError(
            f"{identity['method']} trained on {identity['env']} reads the observation vector and "
            f"cannot act in {target_spec.name} (different observation/action spaces)")
    seed_everything(identity["seed"])
    method = method_cls(method_config, target_spec, target_env.observation_space,
                        target_env.action_space, total_steps=identity["total_steps"],
                        seed=identity["seed"])
    target_env.close()
    checkpoint_path = Path(record["run_dir"]) / CHECKPOINT
    if trained and checkpoint_path.exists():
        method.load_state_dict(ckpt.load(checkpoint_path)["method"])
    return method
