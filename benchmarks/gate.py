"""CI regression gate: speed benchmarks against a committed baseline, and a learning-curve band.

    python -m benchmarks.gate --fast                 # what .ci/run calls
    python -m benchmarks.gate --json results.json    # compare an existing pytest-benchmark JSON
    python -m benchmarks.gate --update-baseline      # re-measure and rewrite the baseline
    python -m benchmarks.gate --refresh-learning     # re-measure the learning bands

Speed: runs every pytest-benchmark file under ``benchmarks/`` (``--fast`` skips ``slow``-marked
ones and the real-model files in ``FAST_SKIP``) and compares each benchmark's *median* time with ``benchmarks/baseline/<machine>.json``; the
gate fails when one is more than ``--threshold`` (default 2x) slower. Benchmarks missing from the
baseline are listed as new and not gated; baseline entries no longer measured are listed as
missing. The machine name is ``--machine``, else ``$HARNESS_BENCH_MACHINE``, else ``reference``
(the baseline committed from the development machine). Timings only compare on like hardware: give
CI its own baseline file when its machine differs.

Learning: ``benchmarks/baseline/learning.json`` lists small fixed runs (method, env, budget, seed)
and, per eval step, a band of eval returns measured over several seeds; every eval point of the
gate's run must fall inside its band. This catches changes that keep code fast but break what it
computes (rewards, termination, evaluation, the training loop).

Exit status: 0 pass, 1 a regression, 2 a usage/setup error.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BASELINE_DIR = BENCH_DIR / "baseline"
LEARNING_FILE = BASELINE_DIR / "learning.json"
DEFAULT_MACHINE = "reference"
DEFAULT_THRESHOLD = 2.0
# Benchmark files --fast leaves out besides `slow`-marked tests: they need the real SmolLM2 and
# take minutes on 2 cores (the full gate, without --fast, runs them).
FAST_SKIP = ("test_llm_scoring.py", "test_llm_engine.py")


# -- speed -----------------------------------------------------------------------------------------
@dataclass
class Comparison:
    name: str
    baseline: float | None  # median seconds
    current: float | None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.current is None or self.baseline <= 0:
            return None
        return self.current / self.baseline

    def status(self, threshold: float) -> str:
        if self.baseline is None:
            return "new"
        if self.current is None:
            return "missing"
        return "SLOWER" if self.ratio > threshold else "ok"


def medians(report: dict) -> dict[str, float]:
    """``fullname -> median seconds`` of a pytest-benchmark JSON report or a compact baseline."""
    if "medians" in report:
        return {k: float(v) for k, v in report["medians"].items()}
    return {b["fullname"]: float(b["stats"]["median"]) for b in report.get("benchmarks", [])}


def compare(baseline: dict[str, float], current: dict[str, float]) -> list[Comparison]:
    names = list(dict.fromkeys([*current, *baseline]))
    return [Comparison(n, baseline.get(n), current.get(n)) for n in sorted(names)]


def speed_verdict(rows: list[Comparison], threshold: float) -> tuple[bool, str]:
    """(passed, printable table)."""
    width = max([len(r.name) for r in rows] + [9])
    lines = [f"{'benchmark':<{width}}  {'baseline':>10}  {'current':>10}  {'ratio':>6}  status"]
    for r in rows:
        fmt = lambda v: "-" if v is None else f"{v * 1e3:.2f}ms"  # noqa: E731
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        lines.append(f"{r.name:<{width}}  {fmt(r.baseline):>10}  {fmt(r.current):>10}  "
                     f"{ratio:>6}  {r.status(threshold)}")
    slower = [r for r in rows if r.status(threshold) == "SLOWER"]
    if slower:
        lines.append(f"FAIL: {len(slower)} benchmark(s) more than {threshold:g}x slower than the "
                     f"baseline median: {', '.join(r.name for r in slower)}")
    else:
        gated = sum(r.status(threshold) == "ok" for r in rows)
        lines.append(f"ok: {gated} benchmark(s) within {threshold:g}x of the baseline median")
    return not slower, "\n".join(lines)


def run_benchmarks(fast: bool, out_json: Path, select: str | None = None) -> int:
    """Run pytest-benchmark over benchmarks/ writing ``out_json``; returns pytest's exit code."""
    cmd = [sys.executable, "-m", "pytest", str(BENCH_DIR), "-q", "-p", "no:cacheprovider",
           "--benchmark-enable", f"--benchmark-json={out_json}", "-o", "addopts="]
    if fast:
        cmd += ["-m", "not slow", *(f"--ignore={BENCH_DIR / name}" for name in FAST_SKIP)]
    if select:
        cmd += ["-k", select]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.call(cmd, cwd=ROOT, env=env)


def merge_sessions(reports: list[dict]) -> dict:
    """One report whose benchmark medians are the median over ``reports`` (same benchmarks)."""
    if len(reports) == 1:
        return reports[0]
    import statistics

    per_name: dict[str, list[float]] = {}
    for report in reports:
        for name, value in medians(report).items():
            per_name.setdefault(name, []).append(value)
    merged = dict(reports[0])
    merged["benchmarks"] = [{"fullname": name, "stats": {"median": statistics.median(values)}}
                            for name, values in per_name.items()]
    return merged


def compact_baseline(report: dict, machine: str) -> dict:
    info = report.get("machine_info", {})
    return {
        "machine": machine,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": (info.get("cpu") or {}).get("brand_raw") or info.get("processor"),
        "python": info.get("python_version"),
        "commit": (report.get("commit_info") or {}).get("id"),
        "medians": {k: round(v, 9) for k, v in sorted(medians(report).items())},
    }


def baseline_path(machine: str) -> Path:
    return BASELINE_DIR / f"{machine}.json"


# -- learning --------------------------------------------------------------------------------------
def run_learning_config(overrides: dict[str, str], seed: int, workdir: Path) -> list[dict]:
    """Eval points of one small protocol run (a fresh store under ``workdir``)."""
    from harness import protocol
    from harness.config import resolve_grid
    from harness.storage import Store

    (config,) = resolve_grid({**overrides, "seed": str(seed), "out_dir": str(workdir),
                              "store": f"sqlite:///{workdir / 'results.db'}"})
    result = protocol.run(config, Store(config.store), progress=False)
    if result.status != "finished":
        raise RuntimeError(f"learning check run {config.run_id} ended {result.status}")
    return [{"step": int(p["step"]), "return_mean": float(p["return_mean"])}
            for p in result.points]


def band_from_runs(curves: list[list[dict]], margin: float) -> list[dict]:
    """Per-step [min - margin, max + margin] over several seeds' curves."""
    by_step: dict[int, list[float]] = {}
    for curve in curves:
        for p in curve:
            by_step.setdefault(p["step"], []).append(p["return_mean"])
    return [{"step": s, "lo": round(min(v) - margin, 6), "hi": round(max(v) + margin, 6)}
            for s, v in sorted(by_step.items())]


def check_band(curve: list[dict], band: list[dict]) -> list[str]:
    """Violations (empty when every point of ``curve`` lies in its step's band)."""
    limits = {b["step"]: (b["lo"], b["hi"]) for b in band}
    problems = []
    steps = {p["step"] for p in curve}
    for step in sorted(set(limits) - steps):
        problems.append(f"step {step}: no eval point (the run's eval schedule changed)")
    for p in curve:
        if p["step"] not in limits:
            problems.append(f"step {p['step']}: not in the stored band")
            continue
        lo, hi = limits[p["step"]]
        if not lo <= p["return_mean"] <= hi:
            problems.append(f"step {p['step']}: return {p['return_mean']:.4f} outside "
                            f"[{lo:.4f}, {hi:.4f}]")
    return problems


def learning_gate(checks: list[dict], log=print) -> bool:
    import torch

    torch.set_num_threads(1)
    passed = True
    for check in checks:
        if not check.get("band"):
            log(f"learning {check['name']}: skipped (no band stored; run --refresh-learning)")
            continue
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            try:
                curve = run_learning_config(check["overrides"], check["seed"], Path(tmp))
            except Exception as err:  # noqa: BLE001 -- a broken method or env fails the check
                log(f"learning {check['name']}: FAIL, the run raised {type(err).__name__}: {err}")
                passed = False
                continue
        problems = check_band(curve, check["band"])
        shown = " ".join(f"{p['step']}:{p['return_mean']:.3f}" for p in curve)
        took = time.perf_counter() - start
        if problems:
            passed = False
            log(f"learning {check['name']}: FAIL ({took:.1f}s) curve {shown}")
            for line in problems:
                log(f"    {line}")
        else:
            log(f"learning {check['name']}: ok ({took:.1f}s) curve {shown}")
    return passed


def refresh_learning(checks: list[dict], log=print) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    for check in checks:
        curves = []
        for seed in check["band_seeds"]:
            with tempfile.TemporaryDirectory() as tmp:
                curves.append(run_learning_config(check["overrides"], seed, Path(tmp)))
        check["band"] = band_from_runs(curves, check["margin"])
        check["refreshed"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        log(f"learning {check['name']}: band over seeds {check['band_seeds']}: "
            + " ".join(f"{b['step']}:[{b['lo']:.3f},{b['hi']:.3f}]" for b in check["band"]))
    return checks


def load_checks(require_methods: bool = True, log=print) -> list[dict]:
    """Learning checks whose method and env are registered (others are skipped with a note)."""
    from harness.registry import ENVS, METHODS

    checks = json.loads(LEARNING_FILE.read_text())["checks"]
    usable = []
    for check in checks:
        method, env = check["overrides"]["method"], check["overrides"]["env"]
        if method in METHODS and env in ENVS:
            usable.append(check)
        elif require_methods:
            log(f"learning {check['name']}: skipped ({method} or {env} is not registered)")
    return usable


# -- command line ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", action="store_true", help="skip slow-marked benchmarks (CI)")
    parser.add_argument("--machine", default=os.environ.get("HARNESS_BENCH_MACHINE",
                                                            DEFAULT_MACHINE))
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="fail when a median is this many times the baseline's (default 2)")
    parser.add_argument("--json", type=Path, help="compare this pytest-benchmark JSON instead of "
                                                  "running the benchmarks")
    parser.add_argument("-k", dest="select", help="only benchmarks matching this pytest -k "
                                                  "expression")
    parser.add_argument("--update-baseline", action="store_true",
                        help="write the measured medians as the machine's baseline")
    parser.add_argument("--sessions", type=int, default=3,
                        help="with --update-baseline: benchmark sessions whose medians are "
                             "combined by their median (default 3)")
    parser.add_argument("--refresh-learning", action="store_true",
                        help="re-measure the learning bands over their band_seeds")
    parser.add_argument("--no-learning", action="store_true", help="speed benchmarks only")
    parser.add_argument("--no-speed", action="store_true", help="learning check only")
    args = parser.parse_args(argv)
    if args.threshold <= 1:
        print(f"gate: --threshold {args.threshold} must be > 1", file=sys.stderr)
        return 2

    if args.refresh_learning:
        data = json.loads(LEARNING_FILE.read_text())
        usable = {c["name"] for c in load_checks()}
        refresh_learning([c for c in data["checks"] if c["name"] in usable])
        LEARNING_FILE.write_text(json.dumps(data, indent=2) + "\n")
        print(f"gate: wrote {LEARNING_FILE.relative_to(ROOT)}")
        return 0

    passed = True
    if not args.no_speed:
        if args.json:
            report = json.loads(args.json.read_text())
        else:
            # A baseline is the median over several sessions: one quiet (or busy) moment on a
            # shared machine must not set the bar for every later run.
            sessions = args.sessions if args.update_baseline else 1
            reports = []
            for _ in range(sessions):
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / "bench.json"
                    code = run_benchmarks(args.fast, out, args.select)
                    if code != 0 or not out.exists():
                        print(f"gate: FAIL, the benchmarks themselves failed (pytest exit {code})")
                        return 1
                    reports.append(json.loads(out.read_text()))
            report = merge_sessions(reports)
        path = baseline_path(args.machine)
        if args.update_baseline:
            BASELINE_DIR.mkdir(exist_ok=True)
            path.write_text(json.dumps(compact_baseline(report, args.machine), indent=2) + "\n")
            print(f"gate: wrote {path.relative_to(ROOT)} ({len(medians(report))} benchmarks)")
            return 0
        if not path.exists():
            available = sorted(p.stem for p in BASELINE_DIR.glob("*.json") if p != LEARNING_FILE)
            print(f"gate: no speed baseline for machine {args.machine!r} ({path}); available: "
                  f"{', '.join(available) or 'none'}. Create one with --update-baseline "
                  f"--machine {args.machine}. Speed not gated.")
        else:
            baseline = json.loads(path.read_text())
            if baseline.get("cpu") and baseline["cpu"] != (report.get("machine_info", {})
                                                           .get("cpu", {}) or {}).get("brand_raw",
                                                                                      baseline["cpu"]):
                print(f"gate: note: baseline {args.machine!r} was measured on {baseline['cpu']}")
            rows = compare(medians(baseline), medians(report))
            if args.select:  # a -k subset: baseline entries outside it are not "missing"
                rows = [r for r in rows if r.current is not None]
            ok, table = speed_verdict(rows, args.threshold)
            print(table)
            passed &= ok
    if not args.no_learning:
        passed &= learning_gate(load_checks())
    print("gate: PASS" if passed else "gate: FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
