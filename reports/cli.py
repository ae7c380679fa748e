"""``harness report``: the comparison report of a run directory or store, and the generalization
evaluation.

    harness report runs/                             # report.md + report.html into runs/
    harness report sqlite:///runs/results.db --out report/
    harness report --generalization runs/ [--episodes 100] [--methods twosome,saycan]

``--generalization`` evaluates the checkpoints trained on virtualhome/food-preparation and
virtualhome/entertainment zero-shot on the eight unseen tasks (plus the untrained policies named by
``--untrained``), stores the results in the store's ``generalization`` table, prints the table and
writes the report (which then includes it). Without the flag, stored generalization results are
reported as they are.
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
    gen = parser.add_argument_group("generalization")
    gen.add_argument("--generalization", action="store_true",
                     help="evaluate trained checkpoints zero-shot on the eight unseen tasks first")
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
            from reports import generalization as gen

            print(f"harness report: generalization of {url}", file=sys.stderr)
            frame = gen.run_generalization(
                url, methods=args.methods.split(",") if args.methods else None,
                untrained=tuple(m for m in args.untrained.split(",") if m),
                episodes=args.episodes or gen.DEFAULT_EPISODES,
                eval_seed=gen.DEFAULT_EVAL_SEED if args.eval_seed is None else args.eval_seed,
                log=lambda line: print(line, file=sys.stderr))
            table = gen.display_table(gen.summary(gen.read_generalization(url), reps=args.reps))
            print(table.to_string(index=False))
            print(f"harness report: {int((frame['status'] == 'ok').sum())} evaluations measured, "
                  f"{int((frame['status'] != 'ok').sum())} n/a; stored in the 'generalization' "
                  "table", file=sys.stderr)
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
