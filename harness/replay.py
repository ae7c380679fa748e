"""Episode replays: one evaluation episode of a run's policy, recorded step by step.

For every finished run, the policy before training (``untrained``: the step-0 policy, i.e. the
zero-shot LLM for twosome) and, for methods that train, the final checkpoint (``trained``) each play
one episode on the first eval env seed. Each step keeps the prompt, every offered action with its
probability under the policy (:meth:`harness.method_api.Method.action_probabilities`), the action
``act`` chose and the reward; an env with an ``rgb_array`` renderer (Overcooked) also gives an
animated GIF of the episode. The result is data in the store's ``replays`` table (JSON text and
GIF bytes), which the comparison report renders; a copy goes to the run directory
(``replay-<kind>.json`` / ``.gif``) for a quick look.

    harness replay runs/                 # every finished run without replays
    harness replay runs/ --force         # record them again

``harness run`` records them after its grid (an after-run hook), before the report is written.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.env_api import EnvSpec
from harness.errors import first_line
from harness.method_api import Method
from harness.registry import ENVS, METHODS
from harness.storage import Store, StoreSourceError, resolve_store_url

KINDS = ("untrained", "trained")
FRAME_SCALE = 3  # Overcooked renders 16 px cells; 48 px reads well in a report
FRAME_MS = 700
CAPTION_PX = 14


def _make_env(env_spec: EnvSpec, env_kwargs: dict[str, Any], frames: bool):
    """The env, with ``render_mode="rgb_array"`` when it has that renderer and frames are wanted."""
    if frames:
        probe = env_spec.make(**env_kwargs)
        modes = getattr(probe, "metadata", {}).get("render_modes", [])
        probe.close()
        if "rgb_array" in modes and "render_mode" not in env_kwargs:
            try:
                return env_spec.make(**env_kwargs, render_mode="rgb_array"), True
            except TypeError:  # a factory without the keyword
                pass
    return env_spec.make(**env_kwargs), False


def record_episode(method: Method, env_spec: EnvSpec, env_kwargs: dict[str, Any], seed: int,
                   rng_seed: Any = 0, frames: bool = True) -> dict[str, Any]:
    """Play one episode with ``method.act`` (sampling with its own RNG, as evaluation does) and
    record every step; ``frames`` holds the rendered pictures (one before each decision and the
    last state), empty without a renderer."""
    rng = np.random.default_rng(rng_seed)
    env, renders = _make_env(env_spec, env_kwargs, frames)
    obs, info = env.reset(seed=seed)
    pictures = [np.asarray(env.render())] if renders else []
    steps: list[dict[str, Any]] = []
    while True:
        batch = np.asarray(obs)[None]
        probs = method.action_probabilities(batch, [info])
        action = int(method.act(batch, [info], rng)[0])
        texts = info.get("actions") or []
        ids = list(info.get("action_ids") or range(len(texts)))
        offered = [{"id": int(i), "text": str(t),
                    "p": None if probs is None else float(probs[0, int(i)])}
                   for i, t in zip(ids, texts)]
        obs, reward, terminated, truncated, next_info = env.step(action)
        chosen_text = next((a["text"] for a in offered if a["id"] == action), str(action))
        steps.append({"prompt": info.get("prompt", ""), "actions": offered, "chosen": action,
                      "chosen_text": chosen_text, "reward": float(reward)})
        if renders:
            pictures.append(np.asarray(env.render()))
        info = next_info
        if terminated or truncated:
            break
    env.close()
    episode = info.get("episode", {})
    return {"steps": steps, "frames": pictures,
            "return": float(episode.get("return", sum(s["reward"] for s in steps))),
            "length": int(episode.get("length", len(steps))),
            "success": bool(episode.get("success", False))}


def encode_gif(frames: list[np.ndarray], captions: list[str], scale: int = FRAME_SCALE,
               frame_ms: int = FRAME_MS) -> bytes:
    """An animated GIF (looping) of ``frames`` enlarged ``scale`` times, each with its caption in
    a strip below (Pillow's built-in font)."""
    from PIL import Image, ImageDraw

    images = []
    for frame, caption in zip(frames, captions):
        picture = Image.fromarray(np.asarray(frame, dtype=np.uint8)).convert("RGB")
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
        canvas = Image.new("RGB", (picture.width, picture.height + CAPTION_PX + 4), "white")
        canvas.paste(picture, (0, 0))
        ImageDraw.Draw(canvas).text((3, picture.height + 2), caption[:60], fill=(20, 20, 20))
        images.append(canvas)
    buffer = io.BytesIO()
    # The last frame (the outcome) stays up longer before the loop starts again.
    durations = [frame_ms] * (len(images) - 1) + [frame_ms * 4]
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations, loop=0, disposal=1)
    return buffer.getvalue()


def captions_for(steps: list[dict[str, Any]]) -> list[str]:
    """One caption per frame: the action about to be taken, then the outcome."""
    lines = [f"step {t + 1}: {s['chosen_text']}" for t, s in enumerate(steps)]
    return lines + [f"end, reward {steps[-1]['reward']:+.3f}" if steps else "end"]


def record_run(store: Store, run_id: str, frames: bool = True,
               load: Callable[..., Method] | None = None) -> list[str]:
    """Record the run's ``untrained`` episode and, if its method trains, its ``trained`` one;
    returns the kinds recorded. Both play the first eval env seed of the protocol."""
    from harness.protocol import CHECKPOINT, EVAL_SEED_BASE, load_method

    load = load or load_method
    record = store.get_run(run_id)
    if record is None:
        raise KeyError(f"no run {run_id!r} in {store.url}")
    identity = json.loads(record["config_json"])
    env_spec = ENVS.get(identity["env"])
    run_dir = Path(record["run_dir"]) if record.get("run_dir") else None
    kinds = [("untrained", False)]
    # the final policy needs its checkpoint (load_method would silently build the untrained one)
    if METHODS.get(identity["method"]).trains and run_dir and (run_dir / CHECKPOINT).exists():
        kinds.append(("trained", True))
    done = []
    for index, (kind, trained) in enumerate(kinds):
        method = load(store, run_id, trained=trained)
        episode = record_episode(method, env_spec, identity["env_kwargs"], seed=EVAL_SEED_BASE,
                                 rng_seed=(identity["seed"], 7, index), frames=frames)
        gif = encode_gif(episode["frames"], captions_for(episode["steps"])) if episode["frames"] else None
        policy_step = int(record["steps_done"] or 0) if trained else 0
        store.add_replay(run_id, kind, policy_step=policy_step, env=identity["env"],
                         episode_seed=EVAL_SEED_BASE, return_=episode["return"],
                         length=episode["length"], success=episode["success"],
                         steps_json=json.dumps(episode["steps"]), animation_gif=gif)
        if run_dir is not None and run_dir.is_dir():
            (run_dir / f"replay-{kind}.json").write_text(json.dumps(
                {k: v for k, v in episode.items() if k != "frames"} | {"policy_step": policy_step},
                indent=1))
            if gif:
                (run_dir / f"replay-{kind}.gif").write_bytes(gif)
        done.append(kind)
    return done


def pending_runs(store: Store) -> list[str]:
    """Finished runs without a recorded replay."""
    runs = store.runs_frame()
    have = {r["run_id"] for r in store.replays()}
    return [r for r, status in zip(runs["run_id"], runs["status"])
            if status == "finished" and r not in have]


def record_pending(store_url: str, force: bool = False, frames: bool = True,
                   log: Callable[[str], None] | None = None,
                   run_ids: list[str] | None = None) -> int:
    """Record replays for every finished run that lacks them (``force``: every finished run;
    ``run_ids``: only among these); returns how many runs got them. A run that cannot be replayed
    (its method or env no longer registered, a checkpoint that does not load) is reported through
    ``log`` and skipped."""
    store = Store(store_url)
    runs = store.runs_frame()
    todo = (list(runs.loc[runs["status"] == "finished", "run_id"]) if force
            else pending_runs(store))
    if run_ids is not None:
        wanted = set(run_ids)
        todo = [r for r in todo if r in wanted]
    recorded = 0
    for run_id in todo:
        try:
            kinds = record_run(store, run_id, frames=frames)
        except Exception as err:  # noqa: BLE001 - one bad run must not stop the others
            if log:
                log(f"replay: {run_id}: skipped ({first_line(err)[:300]})")
            continue
        recorded += 1
        if log:
            log(f"replay: {run_id}: {', '.join(kinds)}")
    return recorded


def record_after_run(store_url: str, out_dir: Any, run_ids: list[str]) -> str | None:
    """The after-run hook of ``harness run`` (registered in harness/registry.py): the grid's own
    runs only, so a run added to a large store does not replay every older run in it."""
    lines: list[str] = []
    count = record_pending(store_url, log=lines.append, run_ids=run_ids)
    shown = [f"replays recorded for {count} run(s)"] if count else []
    return "; ".join(shown + [line for line in lines if ": skipped (" in line]) or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="run directory (holding results.db), .db file or store URL")
    parser.add_argument("--force", action="store_true", help="record runs that have replays again")
    parser.add_argument("--no-frames", action="store_true", help="no GIF (text steps only)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        url = resolve_store_url(args.source)
    except StoreSourceError as err:
        print(f"harness replay: {err}", file=sys.stderr)
        return 2
    count = record_pending(url, force=args.force, frames=not args.no_frames,
                           log=lambda line: print(line, file=sys.stderr))
    print(f"harness replay: {count} run(s) recorded in {url}", file=sys.stderr)
    return 0
