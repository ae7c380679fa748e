"""Print the zero-shot action distribution of a model on the spec's initial prompts.

    python -m scripts.zero_shot                 # SmolLM2, markdown tables for docs/llm.md
    python -m scripts.zero_shot --model gemma3-270m

For each prompt: every offered action's token and word count, joint log-probability, and the
policy's probabilities under the three normalizations (spec §2.1 step 7) of the frozen model.
Then, per VirtualHome task, the frozen policy's exact episode success probability and expected
logged return (every reachable observation scored once, the state distribution propagated over the
horizon: no sampling error), next to the uniform random policy's.

A script, not part of ``methods``: it joins an LLM policy with one env family's exact task graph,
and methods know no particular env.
"""
from __future__ import annotations

import argparse

import torch

from methods.llm.prompts import FOOD_INITIAL, TOMATO_INITIAL

STATES = {"Tomato Salad, initial state (spec App. A #21)": TOMATO_INITIAL,
          "Food Preparation, initial state (spec App. B.1)": FOOD_INITIAL}
MODES = ("none", "token", "word")


def action_scores(policy, prompt: str, actions: list[str]):
    """Joint log-probs of the offered actions, their token and word counts, and the policy's
    probabilities under each normalization."""
    from methods.llm.scoring import normalize, word_count

    with torch.no_grad():
        joint = policy.joint_logprobs([prompt], [actions])[0]
    tokens = [len(policy.tokenizer(" " + a, add_special_tokens=False).input_ids) for a in actions]
    words = [word_count(a) for a in actions]
    probs = {mode: torch.softmax(normalize(joint, mode, tokens, words), -1) for mode in MODES}
    return joint, tokens, words, probs


def distribution_table(policy, prompt: str, actions: list[str]) -> str:
    joint, tokens, words, probs = action_scores(policy, prompt, actions)
    lines = ["| action | tokens | words | joint log-prob | π none | π token | π word |",
             "|---|---|---|---|---|---|---|"]
    for i, action in enumerate(actions):
        lines.append(f"| {action} | {tokens[i]} | {words[i]} | {joint[i]:.3f} | "
                     + " | ".join(f"{probs[m][i]:.3f}" for m in MODES) + " |")
    return "\n".join(lines)


def outcome_table(policy, tasks=("food-preparation", "entertainment")) -> str:
    from envs.virtualhome.graph import policy_outcome, task_graph, uniform_policy

    lines = ["| task | policy | P(success) per episode | expected logged return |", "|---|---|---|---|"]
    scored: dict[tuple, dict] = {}  # (prompt, offered) -> probs per mode, each scored once

    def probs(node, mode):
        key = (node.prompt, node.actions)  # Entertainment offers different lists for one text
        if key not in scored:
            scored[key] = action_scores(policy, node.prompt, list(node.actions))[3]
        return scored[key][mode].double().numpy()

    for task in tasks:
        graph = task_graph(task)
        rows = [("uniform random", uniform_policy)]
        rows += [(f"frozen LLM, {mode}", lambda n, m=mode: probs(n, m)) for mode in MODES]
        for name, pi in rows:
            success, mean_return = policy_outcome(graph, pi)
            lines.append(f"| {task} | {name} | {success:.4f} | {mean_return:.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from methods.llm.policy import LLMConfig, LLMPolicy

    policy = LLMPolicy(LLMConfig(model=args.model, dtype=args.dtype, lora_r=0, normalization="none"))
    for title, (prompt, actions) in STATES.items():
        print(f"### {title} — {args.model}, {args.dtype}\n\nPrompt: `{prompt}`\n")
        print(distribution_table(policy, prompt, actions) + "\n")
    print(f"### Exact episode outcomes on VirtualHome — {args.model}, {args.dtype}\n")
    print(outcome_table(policy) + "\n")


if __name__ == "__main__":
    main()
