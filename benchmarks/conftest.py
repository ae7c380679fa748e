"""Shared setup for the pytest-benchmark files under benchmarks/ (run by benchmarks/gate.py).

Timings are taken on one thread so they compare across machines with different core counts and do
not depend on what else the machine runs in parallel threads.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def pytest_configure(config):
    try:
        import torch
    except ImportError:  # benchmarks that need torch import it themselves and fail clearly
        return
    torch.set_num_threads(1)


def pytest_benchmark_update_machine_info(config, machine_info):
    # The gate keys baselines by this name (see benchmarks/gate.py, docs/reports.md).
    machine_info["harness_machine"] = os.environ.get("HARNESS_BENCH_MACHINE", "reference")
