"""``harness sweep method=<m> env=<e> [trials=20] [seeds=0,1] [objective=auc|final] [key=value ...]``

Sweep keys (everything else is passed to each trial's runs, e.g. ``total_steps=20000``,
``eval_every=2000``, ``preset=paper``, ``num_envs=4``, ``env.obs_radius=10``):

  method, env       what to tune (one each)
  trials            finished (complete or pruned) trials the study should hold; re-running the
                    same command resumes the study and tops it up to this number
  seeds             seeds per trial (objective = mean over them)
  objective         auc (area under the eval-return curve, default) | final (final eval return)
  storage           sqlite:///path.db (default <out_dir>/sweeps.db), journal:///path.log,
                    postgresql://... (several workers: run the same command in several shells)
  study             study name (default <method>__<env>__<objective>)
  space             search-space JSON (default sweeps/spaces/<method>.json)
  pruner            median (default) | hyperband | none
  export            where the best parameters are written (default
                    <out_dir>/sweeps/<study>/best.json; use with harness run ... preset=<file>)
  out_dir, store    where trial runs and their results go
  workers           parallel workers on the study (default 1): processes, or Ray tasks with
                    executor=ray [ray_address=...]; use a database storage (PostgreSQL) for them
  heartbeat, fail_running, max_retry, sampler_seed   see docs/reports.md

Watch a study live with ``optuna-dashboard <storage URL>`` (pip install optuna-dashboard).
"""
from __future__ import annotations

import sys

from sweeps.space import SpaceError
from sweeps.study import SweepConfig, SweepError, run_sweep

SWEEP_KEYS = {"method", "env", "trials", "seeds", "objective", "storage", "study", "out_dir",
              "store", "space", "pruner", "export", "heartbeat", "fail_running", "max_retry",
              "sampler_seed", "workers", "executor", "ray_address"}
ALIASES = {"methods": "method", "envs": "env", "seed": "seeds", "n_trials": "trials"}


class UsageError(ValueError):
    """A malformed command line; ``str()`` is the message shown to users."""


def _bool(key: str, text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{key}={text!r}: expected true or false")


def _int(key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{key}={text!r}: expected an integer") from None


def parse_args(argv: list[str]) -> SweepConfig:
    values: dict[str, str] = {}
    fixed: dict[str, str] = {}
    for token in argv:
        key, sep, value = token.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{token!r}: expected key=value (e.g. method=ppo trials=30)")
        key = ALIASES.get(key, key)
        (values if key in SWEEP_KEYS else fixed)[key] = value
    for key in ("method", "env"):
        if key not in values:
            raise UsageError(f"missing {key}=...; usage: harness sweep method=<name> env=<name> "
                             "[trials=20] [seeds=0,1] [objective=auc|final] [key=value ...]")
        if "," in values[key]:
            raise UsageError(f"{key}={values[key]!r}: a sweep tunes one {key}; run one sweep each")
    kwargs: dict = {"method": values["method"], "env": values["env"], "fixed": fixed}
    for key in ("objective", "storage", "study", "out_dir", "store", "space", "pruner", "export",
                "executor", "ray_address"):
        if key in values:
            kwargs[key] = values[key]
    if values.get("sampler_seed", "").lower() in ("none", "null"):
        kwargs["sampler_seed"] = None
        del values["sampler_seed"]
    for key in ("trials", "heartbeat", "max_retry", "sampler_seed", "workers"):
        if key in values:
            kwargs[key] = _int(key, values[key])
    if "fail_running" in values:
        kwargs["fail_running"] = _bool("fail_running", values["fail_running"])
    if "seeds" in values:
        kwargs["seeds"] = tuple(_int("seeds", s) for s in values["seeds"].split(",") if s)
    return SweepConfig(**kwargs)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    try:
        from harness.config import ConfigError
        from harness.registry import UnknownNameError

        sweep = parse_args(argv)
        import torch

        torch.set_num_threads(1)  # trials share the machine with other work
        run_sweep(sweep)
    except (UsageError, SweepError, SpaceError, ConfigError, UnknownNameError) as err:
        print(f"harness sweep: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness sweep: interrupted; re-run the same command to resume the study",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
