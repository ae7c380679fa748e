"""The replays section of the comparison report: rendered from the store's ``replays`` table
(recorded by harness/replay.py; nothing here runs an env or a model).

Per (env, method) the lowest seed's run is shown: the episode before training and after it side by
side, each as the kitchen's GIF (when the env renders) over a step list with the prompt, a bar per
offered action for its probability under the policy, the chosen action marked, and the reward.
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

import pandas as pd

from harness.storage import Store

STEPS_SHOWN = 60  # per episode in the report; the store keeps them all

CSS = """.replay-pair{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:1.2em;margin:0.5em 0 2em}
@media (max-width:800px){.replay-pair{grid-template-columns:minmax(0,1fr)}}
.replay-col{border:1px solid #ddd;border-radius:6px;padding:0.6em 0.8em;min-width:0}
.replay-col h4{margin:0.2em 0 0.5em;font-size:1em}.replay-col .outcome{color:#555;font-weight:normal}
.kitchen{display:block;margin:0.3em auto 0.6em;image-rendering:pixelated;border:1px solid #ccc}
ol.steps{max-height:34em;overflow-y:auto;margin:0;padding:0 0.3em 0 2.2em;font-size:0.88em}
ol.steps li{margin:0 0 0.9em}.step-head{font-weight:600;color:#333}
.prompt{color:#555;font-size:0.92em;margin:0.15em 0 0.3em;overflow-wrap:anywhere}
table.probs{border-collapse:collapse;width:100%;margin:0;font-size:1em;table-layout:fixed}
table.probs td{border:none;padding:1px 4px;vertical-align:middle}
table.probs td.act{width:48%;overflow-wrap:anywhere}table.probs td.p{width:4.2em;text-align:right;font-variant-numeric:tabular-nums}
table.probs td.bar span{display:block;height:0.8em;background:#9db7d8;border-radius:2px;min-width:1px}
table.probs tr.chosen td.act{font-weight:700}table.probs tr.chosen td.bar span{background:#2b6cb0}"""


@dataclass
class RichBlock:
    """A report block with its own Markdown and HTML, and files it links from the Markdown."""

    markdown: str
    html: str
    files: dict[str, bytes] = field(default_factory=dict)  # name under plots/ -> bytes


def read_replays(store_url: str) -> pd.DataFrame:
    """The stored replays (an empty frame if the store has none); ``steps`` decoded."""
    return pd.DataFrame(Store(store_url).replays())


def _title(row) -> str:
    if row.kind == "trained":
        return f"After training (step {int(row.policy_step):,})"
    return "Before training (step 0, zero-shot)" if row.trains else "The policy (nothing to train)"


def _outcome(row) -> str:
    solved = "solved" if row.success else "not solved"
    return f"return {row.return_:.3f}, {solved}, {int(row.length)} decisions"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-")


def _steps_html(steps: list[dict]) -> str:
    items = []
    for t, step in enumerate(steps[:STEPS_SHOWN]):
        rows = []
        for action in step["actions"]:
            p = action.get("p")
            chosen = action["id"] == step["chosen"]
            bar = f"<span style='width:{100 * p:.1f}%'></span>" if p is not None else ""
            rows.append(f"<tr class='{'chosen' if chosen else ''}'>"
                        f"<td class='act'>{'&#9654; ' if chosen else ''}{html.escape(action['text'])}"
                        f"</td><td class='bar'>{bar}</td>"
                        f"<td class='p'>{'' if p is None else f'{100 * p:.1f}%'}</td></tr>")
        items.append(f"<li><div class='step-head'>step {t + 1} &middot; reward "
                     f"{step['reward']:+.3f}</div><div class='prompt'>"
                     f"{html.escape(step['prompt'])}</div>"
                     f"<table class='probs'>{''.join(rows)}</table></li>")
    more = (f"<p>&hellip; {len(steps) - STEPS_SHOWN} more steps in the store.</p>"
            if len(steps) > STEPS_SHOWN else "")
    return f"<ol class='steps'>{''.join(items)}</ol>{more}"


def _steps_markdown(steps: list[dict]) -> list[str]:
    lines = ["| step | reward | offered actions by probability (**chosen**) |", "|---|---|---|"]
    for t, step in enumerate(steps[:STEPS_SHOWN]):
        ranked = sorted(step["actions"], key=lambda a: -(a.get("p") or 0))
        cells = []
        for action in ranked:
            text = action["text"].replace("|", "\\|")
            text = f"**{text}**" if action["id"] == step["chosen"] else text
            cells.append(text if action.get("p") is None else f"{text} {action['p']:.2f}")
        lines.append(f"| {t + 1} | {step['reward']:+.3f} | {', '.join(cells)} |")
    return lines


def replay_blocks(replays: pd.DataFrame, runs: pd.DataFrame) -> list[RichBlock]:
    """One block per (env, method label): its lowest-seed run's replays, untrained first."""
    if replays.empty:
        return []
    meta = runs[["run_id", "env", "seed", "label"]]
    frame = replays.drop(columns=["env"]).merge(meta, on="run_id", how="inner")
    kinds = frame.groupby("run_id")["kind"].agg(set)
    frame["trains"] = frame["run_id"].map(lambda r: "trained" in kinds[r])
    blocks = []
    for (env, label), group in frame.groupby(["env", "label"], sort=True):
        first_seed = group["seed"].min()
        shown = group[group["seed"] == first_seed]
        shown = shown.sort_values("kind", key=lambda k: k.map({"untrained": 0, "trained": 1}))
        heading = f"{label} on {env}, seed {first_seed}"
        md = [f"### {heading}", ""]
        cols, files = [], {}
        for row in shown.itertuples():
            title, outcome = _title(row), _outcome(row)
            image = ""
            md += [f"**{title}**: {outcome}.", ""]
            if row.animation_gif is not None and len(row.animation_gif):
                name = f"replay-{_slug(env)}-{_slug(label)}-{row.kind}.gif"
                files[name] = bytes(row.animation_gif)
                data = base64.b64encode(files[name]).decode("ascii")
                image = (f"<img class='kitchen' alt='{html.escape(heading)}, {row.kind}' "
                         f"src='data:image/gif;base64,{data}'>")
                md += [f"![{title}](plots/{name})", ""]
            md += [*_steps_markdown(row.steps), ""]
            cols.append(f"<div class='replay-col'><h4>{html.escape(title)}<br>"
                        f"<span class='outcome'>{html.escape(outcome)}</span></h4>{image}"
                        f"{_steps_html(row.steps)}</div>")
        blocks.append(RichBlock("\n".join(md), f"<h3>{html.escape(heading)}</h3>"
                                f"<div class='replay-pair'>{''.join(cols)}</div>", files))
    return blocks
