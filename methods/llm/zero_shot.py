"""Print the zero-shot action distribution of a model on the spec's initial prompts.

    python -m methods.llm.zero_shot                 # SmolLM2, markdown tables for docs/llm.md
    python -m methods.llm.zero_shot --model gemma3-270m

For each prompt: every offered action's token and word count, joint log-probability, and the
policy's probabilities under the three normalizations (spec §2.1 step 7) of the frozen model.
"""
from __future__ import annotations

import argparse

import torch

from methods.llm.prompts import FOOD_INITIAL, TOMATO_INITIAL

STATES = {"Tomato Salad, initial state (spec App. A #21)": TOMATO_INITIAL,
          "Food Preparation, initial state (spec App. B.1)": FOOD_INITIAL}


def distribution_table(policy, prompt: str, actions: list[str]) -> str:
    from methods.llm.scoring import normalize, word_count

    with torch.no_grad():
        joint = policy.joint_logprobs([prompt], [actions])[0]
    tokens = [len(policy.tokenizer(" " + a, add_special_tokens=False).input_ids) for a in actions]
    words = [word_count(a) for a in actions]
    probs = {mode: torch.softmax(normalize(joint, mode, tokens, words), -1)
             for mode in ("none", "token", "word")}
    lines = ["| action | tokens | words | joint log-prob | π none | π token | π word |",
             "|---|---|---|---|---|---|---|"]
    for i, action in enumerate(actions):
        lines.append(f"| {action} | {tokens[i]} | {words[i]} | {joint[i]:.3f} | "
                     + " | ".join(f"{probs[m][i]:.3f}" for m in ("none", "token", "word")) + " |")
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


if __name__ == "__main__":
    main()
