"""Runs a grid of run configs, one after another, skipping what the store already finished."""
from __future__ import annotations

import traceback
from dataclasses import dataclass

from harness.checkpoint import CheckpointError
from harness.config import RunConfig
from harness.method_api import NonFiniteError
from harness.protocol import RunResult, run
from harness.storage import Store


@dataclass
class GridOutcome:
    results: list[RunResult]
    failures: list[tuple[RunConfig, str]]


def run_grid(configs: list[RunConfig], progress: bool = True) -> GridOutcome:
    """Run every config; a failing run is recorded (status ``failed``, its reason in the store) and
    reported, and the grid goes on."""
    stores: dict[str, Store] = {}
    results, failures = [], []
    for config in configs:
        store = stores.setdefault(config.store, Store(config.store))
        try:
            results.append(run(config, store, progress=progress))
        except KeyboardInterrupt:
            raise
        except (CheckpointError, NonFiniteError) as err:  # expected failures: their one line
            failures.append((config, str(err)))
        except Exception:  # noqa: BLE001 - one broken run must not lose the others
            failures.append((config, traceback.format_exc()))
    return GridOutcome(results, failures)
