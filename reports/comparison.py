"""The comparison report: one Markdown file and one self-contained HTML file (plots embedded as
base64 PNG) with the curves, the aggregate table, the probability of improvement and, when the store
holds it, the transfer (generalization) table and bar plot, the original-ability table and the
episode replays (reports/replays.py). Built from the store alone: the envs' ceilings and random
returns come from what each run recorded."""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reports import aggregate, curves, replays, transfer
from reports.data import EmptyStoreError, Results, load_results
from reports.replays import RichBlock

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
PLOTS_DIR = "plots"

PROTOCOL_NOTE = (
    "Aggregation follows the rliable protocol (Agarwal et al., NeurIPS 2021): interquartile mean "
    "(IQM, 25% trimmed from each end) over seeds, 95% percentile confidence intervals from a "
    "stratified bootstrap ({reps} resamples of the runs within each env). AUC is the area under a "
    "run's return curve divided by its step span (its mean eval return over training). "
    "Probability of improvement P(X > Y) is the chance a random run of X ends with a higher final "
    "return than a random run of Y (ties count 1/2). With fewer than 4 seeds the IQM is the mean.")


@dataclass
class Figure:
    name: str  # file stem
    title: str
    png: bytes


@dataclass
class Report:
    title: str
    source: str
    sections: list[tuple[str, list]] = field(default_factory=list)  # (heading, blocks)
    figures: dict[str, Figure] = field(default_factory=dict)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-")


def build_report(results: Results, reps: int = 2000,
                 threshold: float = aggregate.DEFAULT_THRESHOLD) -> Report:
    report = Report(title="Method comparison", source=results.url)
    runs = results.runs
    status = runs["status"].value_counts().to_dict()
    commits = sorted(c for c in runs.get("git_commit", pd.Series(dtype=str)).dropna().unique() if c)
    overview = [
        f"Store: `{results.url}`  ",
        f"Generated: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}  ",
        f"Runs: {len(runs)} ({', '.join(f'{k}: {v}' for k, v in sorted(status.items()))}) over "
        f"{len(results.envs)} env(s): {', '.join(results.envs)}  ",
    ]
    if commits:
        overview.append(f"Code versions (git): {', '.join(short_commit(c) for c in commits)}  ")
    overview.append("")
    overview.append(PROTOCOL_NOTE.format(reps=reps))
    report.sections.append(("Overview", overview))

    unfinished = runs[runs["status"] != "finished"]
    if not unfinished.empty:
        shown = pd.DataFrame({
            "run": unfinished["run_id"], "status": unfinished["status"],
            "steps": [f"{int(d or 0)} / {int(t or 0)}" for d, t in
                      zip(unfinished["steps_done"], unfinished["total_steps"])],
            "reason": unfinished["error"].fillna("")})
        included = set(results.evals["run_id"]) & set(unfinished["run_id"])
        report.sections.append(("Runs not finished", [
            shown, "Their partial curves are included below (include_unfinished)." if included
            else "They are left out of every table and curve below."]))

    table, notes = aggregate.aggregate_table(results.evals, runs, threshold=threshold, reps=reps)
    blocks: list = [aggregate.display_table(table, threshold)]
    blocks += [f"- Note: {n}." for n in notes]
    report.sections.append(("Final performance", blocks))

    normalized = aggregate.normalized_table(results.evals, runs, reps=reps)
    if not normalized.empty:
        report.sections.append(("Across envs (normalized final return)", [pd.DataFrame({
            "method": normalized["label"], "envs": normalized["envs"], "runs": normalized["runs"],
            "normalized final return IQM [95% CI]": [
                aggregate.fmt_ci(r.normalized, r.lower, r.upper) for r in normalized.itertuples()]}),
            "Per env, (return - uniform random) / (ceiling - uniform random), as each run "
            "recorded them from the env registry: 0 is the random policy, 1 the best achievable return. IQM over all runs of "
            "all envs; the bootstrap resamples runs within each env."]))

    curve_frame = curves.aggregate_curves(results.evals, reps=reps)
    colors = curves.label_colors(results.evals["label"])
    curve_blocks: list = []
    for env in results.envs:
        info = aggregate.env_info(runs, env)
        fig = curves.plot_env(curve_frame, env, colors, info.ceiling, info.random_return)
        name = f"curves-{slug(env)}"
        report.figures[name] = Figure(name, f"Sample efficiency on {env}", _png(fig))
        curve_blocks.append(report.figures[name])
    report.sections.append(("Sample-efficiency curves", curve_blocks))

    improvement = aggregate.improvement_table(results.evals, reps=reps)
    if not improvement.empty:
        shown = pd.DataFrame({
            "env": improvement["env"], "X": improvement["x"], "Y": improvement["y"],
            "P(X > Y) [95% CI]": [aggregate.fmt_ci(r.p_x_better, r.lower, r.upper, 2)
                                  for r in improvement.itertuples()],
            "runs X / Y": [f"{a} / {b}" for a, b in zip(improvement["runs_x"],
                                                        improvement["runs_y"])]})
        report.sections.append(("Probability of improvement (final return)", [
            shown, "P(X > Y) above 0.5 with a CI excluding 0.5 means X is reliably better."]))

    gen = transfer.read_transfer(results.url)
    if not gen.empty:
        summ = transfer.summary(gen, reps=reps)
        fig = transfer.bar_plot(summ)
        report.figures["generalization"] = Figure("generalization",
                                                  "Zero-shot generalization", _png(fig))
        episodes = sorted(gen["episodes"].dropna().astype(int).unique())
        report.sections.append(("Generalization to unseen tasks", [
            transfer.display_table(summ),
            f"Cells: eval return IQM over training seeds [95% CI] / success rate; "
            f"{', '.join(map(str, episodes))} sampled episodes per evaluation. n/a: not measurable "
            "(see notes). The six variants differ from their training task only in words: a "
            "method that reads the observation vector (not the text) sees the same observations "
            "there, so its numbers on them are its training-task return, not generalization.",
            *[f"- n/a {r.label} on {r.task}: {r.note}" for r in summ.itertuples()
              if r.status != "ok" and r.note],
            report.figures["generalization"]]))

    from reports import ability  # the store's ability table (harness ability)

    original_ability = ability.section(results.url)
    if original_ability is not None:
        report.sections.append(original_ability)

    replay_blocks = replays.replay_blocks(replays.read_replays(results.url), runs)
    if replay_blocks:
        report.sections.append(("Episode replays", [
            "One evaluation episode (the first eval seed, actions sampled as in evaluation) of the "
            "policy before training and of the final checkpoint, recorded by `harness replay` (run "
            "after `harness run`). Each step shows the prompt the policy read, every offered action "
            "with its probability under the policy (bars; the chosen one marked) and the reward. "
            "One run per method and env: the lowest seed.", *replay_blocks]))
    return report


# -- rendering -------------------------------------------------------------------------------------
def markdown_table(frame: pd.DataFrame) -> str:
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def render_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    for heading, blocks in report.sections:
        lines += [f"## {heading}", ""]
        for block in blocks:
            if isinstance(block, pd.DataFrame):
                lines += [markdown_table(block), ""]
            elif isinstance(block, Figure):
                lines += ["", f"![{block.title}]({PLOTS_DIR}/{block.name}.png)", ""]
            elif isinstance(block, RichBlock):
                lines += [block.markdown, ""]
            elif str(block).startswith("- ") or str(block).endswith("  "):
                lines.append(str(block))  # list items and hard line breaks stay together
            else:
                lines += [str(block), ""]
        lines.append("")
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}img{max-width:100%}code{background:#f3f3f3;padding:0 3px}
table.dataframe{display:block;overflow-x:auto;max-width:100%}"""


def render_html(report: Report) -> str:
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<title>{html.escape(report.title)}</title><style>{_CSS}\n{replays.CSS}</style>"
             "</head><body>",
             f"<h1>{html.escape(report.title)}</h1>"]
    for heading, blocks in report.sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for block in blocks:
            if isinstance(block, pd.DataFrame):
                parts.append(block.to_html(index=False, border=0, escape=True))
            elif isinstance(block, Figure):
                data = base64.b64encode(block.png).decode("ascii")
                parts.append(f"<figure><img alt='{html.escape(block.title)}' "
                             f"src='data:image/png;base64,{data}'>"
                             f"<figcaption>{html.escape(block.title)}</figcaption></figure>")
            elif isinstance(block, RichBlock):
                parts.append(block.html)
            else:
                text = html.escape(str(block).rstrip())
                # inline `code` spans from the Markdown text
                pieces = text.split("`")
                text = "".join(p if i % 2 == 0 else f"<code>{p}</code>" for i, p in enumerate(pieces))
                if text:
                    parts.append(f"<p>{text}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def short_commit(version: str) -> str:
    """10 hex digits, keeping a "+dirty" mark (runs made from uncommitted changes)."""
    commit, plus, rest = version.partition("+")
    return commit[:10] + plus + rest


def write_report(store_url: str, out_dir: str | Path, reps: int = 2000,
                 threshold: float = aggregate.DEFAULT_THRESHOLD,
                 include_unfinished: bool = False) -> Path:
    """Write ``report.md`` (+ ``plots/*.png``) and a self-contained ``report.html`` under
    ``out_dir``; returns the HTML path. ``store_url`` may also be a run directory."""
    try:
        results = load_results(store_url, include_unfinished=include_unfinished)
    except EmptyStoreError as err:  # e.g. every run of a grid failed: say so instead of crashing
        report = Report(title="Method comparison", source=str(store_url),
                        sections=[("Overview", [f"No results to compare: {err}."])])
    else:
        report = build_report(results, reps=reps, threshold=threshold)
    out = Path(out_dir)
    (out / PLOTS_DIR).mkdir(parents=True, exist_ok=True)
    for figure in report.figures.values():
        _write_atomically(out / PLOTS_DIR / f"{figure.name}.png", figure.png)
    for _heading, blocks in report.sections:
        for block in blocks:
            for name, data in getattr(block, "files", {}).items():
                _write_atomically(out / PLOTS_DIR / name, data)
    _write_atomically(out / REPORT_MD, render_markdown(report).encode())
    html_path = out / REPORT_HTML
    _write_atomically(html_path, render_html(report).encode())
    return html_path


def write_report_after_run(store_url: str, out_dir: str | Path, run_ids: list[str]) -> str:
    """The after-run hook of ``harness run``: the report of the whole store (not only the grid's
    ``run_ids``), under out_dir."""
    return f"report written to {write_report(store_url, out_dir)}"


def _write_atomically(path: Path, data: bytes) -> None:
    """A reader (or a crash) never sees half a report: write a sibling temp file, then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
