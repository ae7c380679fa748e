"""Runs a grid of run configs: one after another here (``executor=local``, the default) or as one Ray
task per run (``executor=ray``, on a local Ray cluster or the one at ``ray_address``).

Every run is trained under a lease in the store (harness/storage.py): the worker takes the run's
lease, a background thread renews its heartbeat every third of ``lease_ttl`` and every eval point
checks it still holds it, and the lease is released when the run ends. A run whose lease another
live worker holds is skipped (reported as leased); one whose lease is stale (its worker died) is
taken over and resumes from its checkpoint. So two ``harness run`` processes, or a process and a
Ray cluster, can share one grid and one store and every run is trained once. Runs the store already
has finished are skipped either way.
"""
from __future__ import annotations

import importlib
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from harness.checkpoint import CheckpointError
from harness.config import RAY_EXTRA, ConfigError, RunConfig
from harness.method_api import NonFiniteError
from harness.protocol import LeaseLost, RunResult, run
from harness.registry import ENVS, METHODS
from harness.storage import Store, worker_id


@dataclass
class GridOutcome:
    results: list[RunResult]
    failures: list[tuple[RunConfig, str]]
    leased: list[tuple[RunConfig, str]] = field(default_factory=list)  # (config, live holder)


class _Heartbeat(threading.Thread):
    """Renews one lease every ``ttl / 3`` seconds until stopped; remembers if it was lost."""

    def __init__(self, store: Store, run_id: str, owner: str, ttl: float):
        super().__init__(daemon=True, name=f"lease-{run_id}")
        self.store, self.run_id, self.owner, self.ttl = store, run_id, owner, ttl
        self.stopped, self.lost = threading.Event(), False

    def run(self) -> None:
        while not self.stopped.wait(self.ttl / 3):
            try:
                if not self.store.renew_lease(self.run_id, self.owner, self.ttl):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - a database hiccup: try again at the next beat
                continue

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


def run_leased(config: RunConfig, store: Store, progress: bool = True,
               on_eval: Callable[[int, dict[str, Any]], None] | None = None,
               wait: bool = False) -> RunResult:
    """:func:`harness.protocol.run` under the run's lease. A live lease of another worker skips the
    run (``leased_by`` names the holder), or with ``wait`` waits for it to be released or to go
    stale (a sweep trial needs its run's points)."""
    run_id = config.run_id
    owner = worker_id()
    while True:
        existing = store.get_run(run_id)
        if existing and existing["status"] == "finished" and config.resume != "restart":
            return RunResult(run_id, "finished", store.eval_points(run_id), skipped=True)
        holder = store.acquire_lease(run_id, owner, config.lease_ttl)
        if holder is None:
            break
        if not wait:
            return RunResult(run_id, "leased", skipped=True, leased_by=holder)
        time.sleep(min(max(config.lease_ttl / 4, 0.05), 5.0))
    heartbeat = _Heartbeat(store, run_id, owner, config.lease_ttl)
    heartbeat.start()

    def checked(step: int, point: dict[str, Any]) -> None:
        if heartbeat.lost or not store.renew_lease(run_id, owner, config.lease_ttl):
            holder = (store.lease(run_id) or {}).get("owner", "nobody")
            raise LeaseLost(f"run {run_id}: lost its lease to {holder} (this worker was too slow "
                            f"to renew it within lease_ttl={config.lease_ttl:g}s)")
        if on_eval:
            on_eval(step, point)

    try:
        # The check above raced with other workers: the store's record decides (protocol.run
        # skips a run that finished meanwhile).
        return run(config, store, progress=progress, on_eval=checked)
    finally:
        heartbeat.stop()
        store.release_lease(run_id, owner)


def _attempt(config: RunConfig, store: Store, progress: bool) -> tuple[str, Any]:
    """One run: ``("result", RunResult)`` or ``("failure", reason)``; never raises but Ctrl-C."""
    try:
        return "result", run_leased(config, store, progress=progress)
    except KeyboardInterrupt:
        raise
    except (CheckpointError, NonFiniteError, LeaseLost) as err:  # expected: their one line
        return "failure", str(err)
    except Exception:  # noqa: BLE001 - one broken run must not lose the others
        return "failure", traceback.format_exc()


def run_grid(configs: list[RunConfig], progress: bool = True,
             log: Callable[[str], None] | None = None) -> GridOutcome:
    """Run every config with the grid's executor (``configs[0].executor``); a failing run is
    recorded (status ``failed``, its reason in the store) and reported, and the grid goes on."""
    if configs and configs[0].executor == "ray":
        attempts = _run_on_ray(configs, progress, log or _stderr)
    else:
        stores: dict[str, Store] = {}
        attempts = []
        for config in configs:
            store = stores.setdefault(config.store, Store(config.store))
            attempts.append(_attempt(config, store, progress))
    outcome = GridOutcome([], [])
    for config, (kind, payload) in zip(configs, attempts):
        if kind == "failure":
            outcome.failures.append((config, payload))
        elif payload.leased_by is not None:
            outcome.leased.append((config, payload.leased_by))
        else:
            outcome.results.append(payload)
    return outcome


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# -- Ray ---------------------------------------------------------------------------------------------
def registration_modules(method: str, env: str) -> list[str]:
    """Modules whose import registers ``method`` and ``env``: a Ray worker (or a spawned process)
    imports them first, so plugins registered outside the entry points work there too."""
    modules = {METHODS.get(method).__module__, ENVS.get(env).factory.__module__}
    return sorted(m for m in modules if m != "__main__")


def _ray_run(config: RunConfig, modules: list[str]) -> tuple[str, Any]:
    """The Ray task of one run (module level: workers import it by name)."""
    for module in modules:
        importlib.import_module(module)
    import torch

    torch.set_num_threads(max(1, int(config.num_cpus)))
    return _attempt(config, Store(config.store), progress=False)


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(f"executor=ray needs Ray, which is not installed: {RAY_EXTRA}") from None
    return ray


def init_ray(address: str | None):
    """Attach to the cluster at ``address`` (``auto``: the one this node belongs to), or start a
    local one; nothing when this process is already connected."""
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=True)
    return ray


def _ray_resources(config: RunConfig) -> dict[str, float]:
    device = str(getattr(config.method_config, "device", "cpu"))
    return {"num_cpus": config.num_cpus, "num_gpus": 1 if device.startswith("cuda") else 0}


def _run_on_ray(configs: list[RunConfig], progress: bool,
                log: Callable[[str], None]) -> list[tuple[str, Any]]:
    ray = init_ray(configs[0].ray_address)
    Store(configs[0].store)  # create (or migrate) the schema once, before the tasks open it
    task = ray.remote(_ray_run)
    refs = {}
    for i, config in enumerate(configs):
        # max_retries: Ray re-runs the task when its worker process or node dies; the new attempt
        # finds the dead worker's lease stale (at once on the same host, after lease_ttl
        # elsewhere) and resumes from the checkpoint.
        ref = task.options(max_retries=2, **_ray_resources(config)).remote(
            config, registration_modules(config.method, config.env))
        refs[ref] = i
    attempts: list[tuple[str, Any] | None] = [None] * len(configs)
    pending, done_count = list(refs), 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            i = refs[ref]
            try:
                attempts[i] = ray.get(ref)
            except ray.exceptions.RayError as err:  # the worker or its node died for good
                lines = [line for line in str(err).splitlines() if line.strip()]
                attempts[i] = ("failure", f"Ray task failed: {lines[0] if lines else err!r}")
            done_count += 1
            if progress:
                log(f"harness: [{done_count}/{len(configs)}] {configs[i].run_id}: "
                    f"{_describe(attempts[i])}")
    return attempts  # type: ignore[return-value]


def _describe(attempt: tuple[str, Any]) -> str:
    kind, payload = attempt
    if kind == "failure":
        return "FAILED"
    if payload.leased_by:
        return f"leased by {payload.leased_by}, skipped"
    return "already finished, skipped" if payload.skipped else payload.status
