"""``harness`` command line: list and run here; report, sweep, ... from the command registry.

    harness list
    harness run methods=twosome,saycan envs=overcooked/tomato-salad seeds=0,1,2 total_steps=20000
    harness report runs/            (or an SQLAlchemy store URL)
    harness sweep method=twosome env=overcooked/tomato-salad trials=30
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from harness.config import ConfigError, parse_overrides, resolve_suite
from harness.registry import AFTER_RUN_HOOKS, COMMANDS, ENVS, METHODS, SUITES, UnknownNameError


def _fail(message: str) -> int:
    print(f"harness: error: {message}", file=sys.stderr)
    return 2


def cmd_list(_args: argparse.Namespace) -> int:
    width = max(map(len, [*METHODS.names(), *ENVS.names()])) + 2
    print("methods:")
    for name, cls in METHODS.items():
        print(f"  {name:<{width}}{cls.description}")
    print("envs:")
    for name, spec in ENVS.items():
        tags = f" [{', '.join(spec.tags)}]" if spec.tags else ""
        print(f"  {name:<{width}}{spec.description}{tags}")
    if SUITES.names():
        print("suites (harness run suite=<name>):")
        for name, suite in SUITES.items():
            expected = f" ({suite.expected})" if suite.expected else ""
            print(f"  {name:<{width}}{suite.description}{expected}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from harness.executor import run_grid
    try:
        configs = resolve_suite(parse_overrides(args.overrides))
    except (ConfigError, UnknownNameError) as err:
        return _fail(str(err))
    where = (f", one Ray task each ({configs[0].ray_address or 'local cluster'})"
             if configs[0].executor == "ray" else "")
    print(f"harness: {len(configs)} run(s){where} -> store {configs[0].store}", file=sys.stderr)
    try:
        outcome = run_grid(configs, progress=not args.no_progress)
    except ConfigError as err:  # e.g. Ray went missing between validation and start
        return _fail(str(err))
    for result in outcome.results:
        last = result.points[-1] if result.points else {}
        state = "already finished, skipped" if result.skipped else result.status
        print(f"{result.run_id}: {state}; final return {last.get('return_mean', float('nan')):.4f}"
              f", success {last.get('success_rate', float('nan')):.2f} at step {last.get('step')}")
    for config, holder in outcome.leased:
        print(f"{config.run_id}: leased by {holder}, skipped")
    for config, trace in outcome.failures:
        sep = "\n" if "\n" in trace.strip() else " "
        print(f"{config.run_id}: FAILED:{sep}{trace.strip()}", file=sys.stderr)
    for _name, hook in AFTER_RUN_HOOKS.items():  # e.g. the comparison report of the store
        line = hook.load()(configs[0].store, Path(configs[0].out_dir),
                           [c.run_id for c in configs])
        if line:
            print(f"harness: {line}", file=sys.stderr)
    return 1 if outcome.failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registered methods and envs").set_defaults(func=cmd_list)
    run = sub.add_parser("run", help="run a grid of (method, env, seed) under the protocol",
                         description="key=value overrides; a comma list is a grid axis. "
                                     "See README 'Configuration'.")
    run.add_argument("overrides", nargs="*", metavar="key=value")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.set_defaults(func=cmd_run, run_parser=run)
    # Registered commands are listed for `harness --help`; main() hands them their arguments
    # before argparse runs.
    for name, command in COMMANDS.items():
        sub.add_parser(name, help=command.help)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        # Registered commands own their whole argument list (options first included: argparse's
        # REMAINDER would reject `harness report --generalization runs/`).
        if argv and argv[0] not in ("list", "run") and argv[0] in COMMANDS:
            return int(COMMANDS.get(argv[0]).load()(argv[1:]) or 0)
        args = top = build_parser().parse_args(argv)
        if top.command == "run":
            # intermixed: `harness run a=1 --no-progress b=2` is one override list plus the flag
            args = top.run_parser.parse_intermixed_args(argv[argv.index("run") + 1:])
            args.func, args.verbose = cmd_run, top.verbose
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
        return args.func(args)
    except BrokenPipeError:  # `harness list | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
