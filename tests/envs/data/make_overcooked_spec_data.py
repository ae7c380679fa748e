"""Extract the Overcooked test vectors of the TWOSOME reference spec into overcooked_spec.json.

Provenance: /work/shared/spec/twosome-reference.md, Appendix A (all 21 Tomato-Salad prompts with
their action lists and one observation each) and Appendix C (golden traces C.1-C.5, produced by the
original environment code). Run once from the repository root; the JSON is committed so tests do
not depend on the spec file being present:

    python tests/envs/data/make_overcooked_spec_data.py [path/to/twosome-reference.md]
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

SPEC = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/spec/twosome-reference.md")
OUT = Path(__file__).with_name("overcooked_spec.json")


def section(text: str, start: str, end: str) -> str:
    i = text.index(start)
    return text[i : text.index(end, i + len(start))]


def parse_vector(s: str) -> list[int]:
    return [int(v) for v in s.strip("[] ").split(",")]


def parse_appendix_a(text: str) -> list[dict]:
    body = section(text, "### Appendix A", "### Appendix B")
    entries = re.findall(
        r"^\d+\. `(?P<prompt>[^`]+)`\s*\n\s+actions: (?P<actions>.+?)\s*\n\s+obs: `(?P<obs>\[[^\]]+\])`",
        body,
        flags=re.M,
    )
    out = []
    for prompt, actions, obs in entries:
        out.append(
            {
                "prompt": prompt,
                "actions": [a.strip().strip("`") for a in actions.split("|")],
                "obs": parse_vector(obs),
            }
        )
    return out


def parse_chosen_trace(body: str) -> dict:
    rows = []
    for line in body.splitlines():
        m = re.match(
            r"\| (\d+) \| `(\[[^\]]+\])` \| (\d+) → \"([^\"]+)\" \(([^)]+)\) "
            r"\| (-?[\d.]+) \| (\d+) \| (True|False) \| (\d+) \|",
            line,
        )
        if m:
            rows.append(
                {
                    "obs_before": parse_vector(m[2]),
                    "action": int(m[3]),
                    "action_string": m[4],
                    "macro_name": m[5],
                    "reward": float(m[6]),
                    "k": int(m[7]),
                    "done": m[8] == "True",
                    "env_step_after": int(m[9]),
                }
            )
    m = re.search(r"discounted return r = ([\d.]+), length l = (\d+)", body)
    return {"steps": rows, "return": float(m[1]), "primitive_steps": int(m[2])}


def parse_random_trace(body: str) -> dict:
    initial = parse_vector(re.search(r"Initial obs `(\[[^\]]+\])`", body)[1])
    seed = int(re.search(r"random\.seed\((\d+)\)", body)[1])
    rows = []
    for line in body.splitlines():
        m = re.match(r"\| (\d+) \| (\d+) \| (-?[\d.]+) \| (\d+) \| (True|False) \| `(\[[^\]]+\])` \|", line)
        if m:
            rows.append(
                {
                    "action": int(m[2]),
                    "reward": float(m[3]),
                    "k": int(m[4]),
                    "done": m[5] == "True",
                    "obs_after": parse_vector(m[6]),
                }
            )
    return {"seed": seed, "initial_obs": initial, "steps": rows}


def main() -> None:
    text = SPEC.read_text(encoding="utf-8")
    appendix_c = text[text.index("### Appendix C") :]
    subsections = re.split(r"^#### ", appendix_c, flags=re.M)[1:]
    by_id = {s[:3]: s for s in subsections}  # "C.1", ...
    data = {
        "source": "shared/spec/twosome-reference.md, Appendix A and Appendix C "
        "(extracted by make_overcooked_spec_data.py)",
        "appendix_a_tomato_salad_prompts": parse_appendix_a(text),
        "c1_tomato_salad_best": {"task": "tomato-salad", **parse_chosen_trace(by_id["C.1"])},
        "c2_tomato_salad_textbook": {"task": "tomato-salad", **parse_chosen_trace(by_id["C.2"])},
        "c3_tomato_lettuce_salad_best": {"task": "tomato-lettuce-salad", **parse_chosen_trace(by_id["C.3"])},
        "c4_tomato_salad_random": {"task": "tomato-salad", **parse_random_trace(by_id["C.4"])},
        "c5_tomato_lettuce_salad_random": {"task": "tomato-lettuce-salad", **parse_random_trace(by_id["C.5"])},
    }
    assert len(data["appendix_a_tomato_salad_prompts"]) == 21
    for key in ("c1_tomato_salad_best", "c2_tomato_salad_textbook", "c3_tomato_lettuce_salad_best"):
        assert data[key]["steps"], key
    for key in ("c4_tomato_salad_random", "c5_tomato_lettuce_salad_random"):
        assert len(data[key]["steps"]) == 20, key
    OUT.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
