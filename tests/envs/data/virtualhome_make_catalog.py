"""Regenerate ``virtualhome_catalog.json`` from the spec's Appendix B (run once; output is committed).

    python tests/envs/data/virtualhome_make_catalog.py [/work/shared/spec/twosome-reference.md]

Appendix B of the spec lists every observation reachable in the original VirtualHome executor
(found there by breadth-first search) with its prompt middle text and offered action ids, plus the
shortest successful trajectories. This script only transcribes that text into JSON; it knows
nothing about our implementation. Flag shorthands are expanded to the vector keys of spec §1b.3
(``kitchen`` -> ``in_kitchen``, ``near_X`` -> ``close_to_X``, ``pancake_microwave`` ->
``pancake_in_microwave``).
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

SPEC = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/spec/twosome-reference.md")
OUT = Path(__file__).with_name("virtualhome_catalog.json")

ENTRY = re.compile(r"^- `([^`]+)` → offered ids \[([0-9, ]*)\]( \[terminal only\])?\s*\n\s+middle text: \"(.*)\"$",
                   re.MULTILINE)
ROW = re.compile(r"^\| (\d+) \| `\[([0-9, ]+)\]` \| \[([0-9, ]*)\] \| (\d+) \"([^\"]+)\" \| ([0-9.]+) \| (True|False) \|$",
                 re.MULTILINE)
EPISODE = re.compile(r"Episode info: \{'r': ([0-9.]+), 'l': (\d+)\}")


def flag_name(short: str) -> str:
    if short in ("kitchen", "bathroom", "bedroom", "livingroom"):
        return f"in_{short}"
    if short.startswith("near_"):
        return "close_to_" + short[len("near_"):]
    if short == "pancake_microwave":
        return "pancake_in_microwave"
    return short


def ids(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end)]


def catalog(block: str) -> list[dict]:
    return [{"flags": sorted(flag_name(s) for s in m.group(1).split("+")), "offered": ids(m.group(2)),
             "terminal_only": bool(m.group(3)), "middle_text": m.group(4)} for m in ENTRY.finditer(block)]


def trace(block: str) -> dict:
    rows = [{"obs": ids(m.group(2)), "offered": ids(m.group(3)), "action": int(m.group(4)), "action_text": m.group(5),
             "reward": float(m.group(6)), "done": m.group(7) == "True"} for m in ROW.finditer(block)]
    episode = EPISODE.search(block)
    return {"steps": rows, "return": float(episode.group(1)), "length": int(episode.group(2))}


def main() -> None:
    text = SPEC.read_text(encoding="utf-8")
    data = {
        "provenance": (f"Transcribed by tests/envs/data/virtualhome_make_catalog.py from Appendix B of {SPEC.name} "
                       f"(sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]}), which the spec's author obtained by "
                       "breadth-first search over the original TWOSOME VirtualHome executor."),
        "prefix": "There are four rooms: the kitchen, bathroom, bedroom, and living room. You are in the ",
        "food-preparation": {
            "suffix": "In order to heat up the pancake in the microwave, your next step is to",
            "observations": catalog(section(text, "#### B.1", "#### B.2")),
            "shortest": trace(section(text, "#### B.3", "#### B.4")),
        },
        "entertainment": {
            "suffix": "In order to enjoy the chips and the milk while watching TV, your next step is to",
            "observations": catalog(section(text, "#### B.2", "#### B.3")),
            "shortest": trace(section(text, "#### B.4", "### Appendix C")),
        },
    }
    counts = {task: len(data[task]["observations"]) for task in ("food-preparation", "entertainment")}
    assert counts == {"food-preparation": 19, "entertainment": 100}, counts
    OUT.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT} {counts}")


if __name__ == "__main__":
    main()
