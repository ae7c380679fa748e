"""TensorBoard event files of a run, beside its checkpoint: ``tensorboard --logdir runs/``.

Two sources feed one event file per run process (tensorboardX's writer):

- the protocol, at every eval point: ``charts/episodic_return`` (the eval return mean),
  ``charts/success_rate``, ``charts/episodic_length``, ``charts/SPS`` (env steps per wall-clock
  second since the run began), the method's cost counters as ``costs/<name>`` (e.g.
  ``costs/tokens_forwarded``) and the learn call's mean statistics as ``train/<name>``;
- the learner, after every update (:meth:`harness.method_api.Method.attach_logger`): the
  original's ``losses/value_loss``, ``losses/policy_loss``, ``losses/entropy``,
  ``losses/approx_kl``, ``losses/clipfrac``, ``losses/explained_variance``, ``charts/policy_lr``
  and ``charts/value_lr``, at the env step the update happened.

Resume without duplicates or gaps: the eval point's scalars are flushed *before* the checkpoint is
written, so every event at or before the checkpoint's step is on disk when the checkpoint is. A
resumed run opens a new event file that starts with TensorBoard's purge marker (a ``SessionLog``
START at step ``checkpoint step + 1``): readers (TensorBoard, its ``EventAccumulator``, tbparse)
drop every earlier-read event at or after that step, i.e. what the lost interval logged, and the
resumed run logs that interval again. A run that starts over (no checkpoint, ``resume=restart``)
deletes its old event files.

tensorboardX is the writer because it is the light one (pure Python over protobuf, ~90 kB);
``torch.utils.tensorboard`` needs the whole ``tensorboard`` package (a web server, grpcio) just to
write. Viewing needs ``tensorboard`` (installed with the test extras).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

EVENT_GLOB = "events.out.tfevents.*"

# Eval-point fields with the original's tag names; the rest of a point is mapped by its prefix.
EVAL_TAGS = {
    "return_mean": "charts/episodic_return",
    "success_rate": "charts/success_rate",
    "length_mean": "charts/episodic_length",
    "return_std": "charts/episodic_return_std",
    "episodes": "eval/episodes",
    "wall_time": "charts/wall_time",
}
# PPO update statistics (methods/ppo_core.py) -> the original's tags (CleanRL / TWOSOME).
LEARNER_TAGS = {
    "policy_loss": "losses/policy_loss",
    "value_loss": "losses/value_loss",
    "entropy": "losses/entropy",
    "approx_kl": "losses/approx_kl",
    "clip_fraction": "losses/clipfrac",
    "explained_variance": "losses/explained_variance",
    "policy_lr": "charts/policy_lr",
    "value_lr": "charts/value_lr",
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def point_scalars(point: dict[str, Any]) -> dict[str, float]:
    """The TensorBoard scalars of one eval point (as the protocol builds and the store returns it,
    ``extra_json`` already merged), by tag."""
    scalars: dict[str, float] = {}
    for key, value in point.items():
        number = _number(value)
        if key == "step" or number is None:
            continue
        if key in EVAL_TAGS:
            scalars[EVAL_TAGS[key]] = number
        elif key.startswith("train/"):
            scalars[key] = number
        else:
            scalars[f"costs/{key}"] = number
    wall = _number(point.get("wall_time"))
    if wall and point.get("step"):
        scalars["charts/SPS"] = float(point["step"]) / wall
    return scalars


def learner_scalars(stats: dict[str, Any]) -> dict[str, float]:
    """A learner's per-update statistics by tag (other names go under ``losses/``)."""
    out = {}
    for key, value in stats.items():
        number = _number(value)
        if number is not None:
            out[LEARNER_TAGS.get(key, f"losses/{key}")] = number
    return out


def event_files(run_dir: Path) -> list[Path]:
    return sorted(Path(run_dir).glob(EVENT_GLOB))


class RunLog:
    """The event files of one run. ``resume_step``: the checkpoint step a resumed run continues
    from (None: the run starts at step 0). Disabled (``tensorboard=false``), every call is a no-op.

    Events are written synchronously through tensorboardX's ``EventsWriter`` (its
    ``SummaryWriter`` queues events to a background thread, and its ``flush`` does not wait for
    that queue, so it could not promise that a point is on disk before the checkpoint).
    """

    def __init__(self, run_dir: Path, resume_step: int | None, enabled: bool = True):
        self.writer = None
        if not enabled:
            return
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        run_dir = Path(run_dir)
        if resume_step is None:
            for old in event_files(run_dir):
                old.unlink()
        # A sequence number after the timestamp: two writers opened in the same second get two
        # files (tensorboardX opens with "wb"), read in the order they were written.
        suffix = f".{len(event_files(run_dir)):04d}"
        self.writer = EventsWriter(str(run_dir / "events"), filename_suffix=suffix)
        if resume_step is not None:
            self.writer.write_event(Event(wall_time=time.time(), step=resume_step + 1,
                                          session_log=SessionLog(status=SessionLog.START)))
        self.writer.flush()

    def scalars(self, step: int, scalars: dict[str, float]) -> None:
        """One event holding every scalar of ``step`` (written, not yet flushed)."""
        if self.writer is None or not scalars:
            return
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary

        values = [Summary.Value(tag=tag, simple_value=value) for tag, value in scalars.items()]
        self.writer.write_event(Event(wall_time=time.time(), step=int(step),
                                      summary=Summary(value=values)))

    def eval_point(self, point: dict[str, Any]) -> None:
        """The point's scalars, flushed to the file with everything the learner logged before."""
        if self.writer is None:
            return
        self.scalars(point["step"], point_scalars(point))
        self.writer.flush()

    def learner(self, step: int, stats: dict[str, Any]) -> None:
        self.scalars(step, learner_scalars(stats))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` as TensorBoard shows a run directory (its purge markers
    applied), through tensorboard's own ``EventAccumulator`` (needs the ``tensorboard`` package)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)]
            for tag in accumulator.Tags()["scalars"]}
