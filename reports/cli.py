"""``harness report``: the comparison report of a run directory or store.

    harness report runs/                             # report.md + report.html into runs/
    harness report sqlite:///runs/results.db --out report/
    harness report --generalization runs/ [--episodes 100] [--methods twosome,saycan]

The report reads the store only. ``--generalization`` is a shorthand for running the core transfer
stage first (``harness transfer runs/ ...``: the trained checkpoints evaluated zero-shot on the
unseen tasks the envs declare, results in the store's ``transfer`` table), then printing its table
and writing the report. Without the flag, stored transfer results are reported as they are.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.aggregate import DEFAULT_THRESHOLD
from reports.data import ReportError, resolve_store_url


def default_out_dir(source: str) -> Path:
    """Next to the results: the run directory itself, or the SQLite file's directory."""
    url = resolve_store_url(source)
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).parent
    return Path("report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="run directory (holding results.db), .db file or store URL")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default: next to the store)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="steps-to-threshold as a fraction of each env's ceiling (default 0.9)")
    parser.add_argument("--include-unfinished", action="store_true",
                        help="also compare failed, pruned and running runs' partial curves")
    gen = parser.add_argument_group("generalization (the options of harness transfer)")
    gen.add_argument("--generalization", action="store_true",
                     help="run `harness transfer` first: trained checkpoints evaluated zero-shot "
                          "on the unseen tasks the envs declare")
    gen.add_argument("--episodes", type=int, default=None,
                     help="sampled episodes per evaluation (default 100, as the original)")
    gen.add_argument("--eval-seed", type=int, default=None, help="first eval env seed (default 10)")
    gen.add_argument("--methods", default=None, help="comma list (default: every method with a "
                                                     "food-preparation or entertainment run)")
    gen.add_argument("--untrained", default="twosome",
                     help="comma list of trainable methods also evaluated untrained (step 0); "
                          "default twosome (the zero-shot LLM)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        url = resolve_store_url(args.source)
        out = args.out or default_out_dir(args.source)
        if args.generalization:
            from harness import transfer as stage

            from reports import transfer

            transfer_argv = [url, *(["--episodes", str(args.episodes)] if args.episodes else []),
                             *(["--eval-seed", str(args.eval_seed)]
                               if args.eval_seed is not None else []),
                             *(["--methods", args.methods] if args.methods else []),
                             "--untrained", args.untrained]
            if stage.main(transfer_argv) != 0:
                return 2
            table = transfer.display_table(transfer.summary(transfer.read_transfer(url),
                                                            reps=args.reps))
            print(table.to_string(index=False))
        from reports.comparison import write_report

        path = write_report(url, out, reps=args.reps, threshold=args.threshold,
                            include_unfinished=args.include_unfinished)
    except (ReportError, ValueError) as err:
        print(f"harness report: {err}", file=sys.stderr)
        return 2
    print(f"harness report: written {path} and {path.with_suffix('.md')}", file=sys.stderr)
    print(f"open file://{path.resolve()}")  # the self-contained HTML, for a browser
    return 0


if __name__ == "__main__":
    sys.exit(main())
