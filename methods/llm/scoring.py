"""Joint log-probabilities of action strings given a prompt, with every prompt encoded once.

Definition (the naive reference, :func:`naive_joint_logprobs`): encode ``prompt + " " + action``
alone; with ``n`` = the number of tokens of ``" " + action`` (no special tokens), the action's joint
log-probability is the sum of the log-probabilities of the last ``n`` tokens of that sequence, each
given all tokens before it (TWOSOME, spec §2.1 steps 2-6; the prompt keeps the tokenizer's own
special tokens, e.g. a BOS where the model uses one).

Shared-prefix scheme (:func:`joint_logprobs`): all actions of one prompt go into ONE sequence,
``prompt tokens | action 1 tokens | action 2 tokens | ...``, under an attention mask in which each
action token sees the prompt and the earlier tokens of its own action only, and position ids that
restart after the prompt for every action. Every prompt token and every action token is forwarded
exactly once, each action gets exactly the context it has in the naive encoding, and the result
is differentiable, so the same code serves rollouts (no grad) and PPO updates (one forward and
backward per distinct prompt). The last token of an action is never fed: its successor is not
needed. Several prompts are batched as rows padded on the right.

Token boundary: with byte-level BPE the tokens of ``prompt + " " + action`` are, for our prompts
(ending in a word) and actions (starting with a word), exactly the prompt's tokens followed by the
tokens of ``" " + action``. :func:`encode_pair` checks this for every pair; where it fails it
splits the full string's tokens instead (prefix = all but the last ``n``), which is precisely the
naive definition, so both paths still agree. Such pairs are counted as ``tokenization_fallbacks``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from methods.llm.frozen_trunk import FrozenTrunk
from methods.llm.layers import num_layers

NORMALIZATIONS = ("none", "token", "word")
# Upper bound on padded tokens per forward call: bounds the attention mask and logits memory when
# many distinct prompts are scored at once, without splitting small batches.
DEFAULT_CHUNK_TOKENS = 4096


class PairEncoding(NamedTuple):
    prefix: tuple[int, ...]   # context tokens (the prompt's, unless the fallback split applies)
    action: tuple[int, ...]   # tokens whose log-probs are summed
    fallback: bool            # True when the full string did not split at the prompt boundary


@dataclass
class ScoreRow:
    """One forwarded sequence: a prefix and the distinct continuations scored against it."""

    prefix: tuple[int, ...]
    actions: list[tuple[int, ...]] = field(default_factory=list)

    def add(self, action: tuple[int, ...]) -> int:
        """Index of ``action`` in this row, adding it if new (dedup within a prompt)."""
        try:
            return self.actions.index(action)
        except ValueError:
            self.actions.append(action)
            return len(self.actions) - 1

    @property
    def length(self) -> int:
        return len(self.prefix) + sum(len(a) - 1 for a in self.actions)


def check_normalization(mode: str) -> None:
    if mode not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {mode!r}: expected one of {', '.join(NORMALIZATIONS)}")


def word_count(action: str) -> int:
    """TWOSOME's word count: whitespace-separated words (spec §2.1 step 7)."""
    return len(action.split())


def check_action(action: str) -> None:
    if not isinstance(action, str) or not action.split():
        raise ValueError(f"action strings must contain at least one word, got {action!r}")


def encode_pair(tokenizer, prompt: str, action: str, prompt_ids: Sequence[int] | None = None) -> PairEncoding:
    """Split the tokens of ``prompt + " " + action`` into context and scored action tokens."""
    check_action(action)
    if prompt_ids is None:
        prompt_ids = tokenizer(prompt).input_ids
    action_ids = tokenizer(" " + action, add_special_tokens=False).input_ids
    full = tokenizer(prompt + " " + action).input_ids
    n = len(action_ids)
    if len(full) <= n:
        raise ValueError(f"prompt {prompt!r} encodes to no context tokens before the action")
    if list(prompt_ids) + list(action_ids) == list(full):
        return PairEncoding(tuple(prompt_ids), tuple(action_ids), False)
    return PairEncoding(tuple(full[:-n]), tuple(full[-n:]), True)


def normalize(joint: torch.Tensor, mode: str, n_tokens: Sequence[int],
              n_words: Sequence[int]) -> torch.Tensor:
    """Scores used as the categorical's logits: the joint log-prob, per token, or per word."""
    check_normalization(mode)
    joint = joint.float()
    if mode == "none":
        return joint
    counts = n_tokens if mode == "token" else n_words
    return joint / torch.tensor(counts, dtype=torch.float32, device=joint.device)


def _head_logprobs(lm: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    logits = lm.get_output_embeddings()(hidden).float()
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap is not None:  # Gemma-2 style models squash logits inside forward(); do the same here
        logits = torch.tanh(logits / cap) * cap
    return torch.log_softmax(logits, dim=-1)


def row_tensors(row: ScoreRow, length: int, pad_id: int):
    """Token ids, position ids, segment ids (0 = prefix, k+1 = action k, -1 = pad) of one row."""
    ids, pos, seg = list(row.prefix), list(range(len(row.prefix))), [0] * len(row.prefix)
    p = len(row.prefix)
    for k, action in enumerate(row.actions):
        fed = action[:-1]
        ids += fed
        pos += range(p, p + len(fed))
        seg += [k + 1] * len(fed)
    pad = length - len(ids)
    return ids + [pad_id] * pad, pos + [0] * pad, seg + [-1] * pad


def attention_mask(seg: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, T) boolean mask: causal, prefix visible to all, actions blind to each other.

    A pad position attends to itself only, so no softmax row is empty (an empty row gives NaN,
    and a NaN in a pad position's values would poison real positions through 0 * NaN).
    """
    t = seg.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=seg.device).tril()
    key_seg, query_seg = seg[:, None, :], seg[:, :, None]
    visible = ((key_seg == 0) | (key_seg == query_seg)) & (key_seg >= 0) & (query_seg >= 0)
    mask = visible & causal
    mask |= torch.eye(t, dtype=torch.bool, device=seg.device)
    return mask[:, None]


@dataclass
class ForwardStats:
    tokens: int = 0          # real (non-pad) tokens forwarded
    padded_tokens: int = 0   # tokens forwarded including padding (the compute actually spent)
    forwards: int = 0
    # Padded tokens times the decoder layers they went through: proportional to the compute of a
    # split model (frozen lower layers cached, see methods/llm/frozen_trunk.py) as of a full one.
    layer_tokens: int = 0


def joint_logprobs(lm: torch.nn.Module, rows: Sequence[ScoreRow], pad_id: int,
                   stats: ForwardStats | None = None, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                   want_prefix_hidden: bool = False, trunk: FrozenTrunk | None = None):
    """Joint log-prob of every action of every row: a list of 1-D float32 tensors (row order).

    With ``want_prefix_hidden`` also returns, per row, the final hidden state at the prefix's last
    token (the critic feature when the scoring model is the critic's model, i.e. no adapters).
    With ``trunk`` the frozen lower layers come from its cache and only the layers above its split
    run here. Differentiable when grad is enabled.
    """
    stats = stats if stats is not None else ForwardStats()
    body = lm.base_model
    device = next(lm.parameters()).device
    # The custom mask replaces the model's own masks, including a sliding-window one (Gemma-3:
    # 512 tokens); exact only while every sequence fits in the window. Ours are < 200 tokens.
    window = getattr(lm.config, "sliding_window", None)
    if window:
        longest = max((len(r.prefix) + max((len(a) for a in r.actions), default=0) for r in rows), default=0)
        if longest > window:
            raise ValueError(f"a prompt + action of {longest} tokens exceeds the model's sliding "
                             f"attention window ({window}); shared-prefix scoring would be inexact")
    results: list[torch.Tensor | None] = [None] * len(rows)
    hiddens: list[torch.Tensor | None] = [None] * len(rows)
    # Similar lengths in one chunk waste less padding.
    order = sorted(range(len(rows)), key=lambda i: rows[i].length)
    chunks, current, longest = [], [], 0
    for i in order:
        length = rows[i].length
        if current and max(longest, length) * (len(current) + 1) > chunk_tokens:
            chunks.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, length)
    if current:
        chunks.append(current)

    for chunk in chunks:
        length = max(rows[i].length for i in chunk)
        packed = [row_tensors(rows[i], length, pad_id) for i in chunk]
        ids = torch.tensor([p[0] for p in packed], device=device)
        pos = torch.tensor([p[1] for p in packed], device=device)
        seg = torch.tensor([p[2] for p in packed], device=device)
        mask = attention_mask(seg)
        if trunk is None:
            hidden = body(input_ids=ids, attention_mask=mask, position_ids=pos,
                          use_cache=False).last_hidden_state
            stats.layer_tokens += ids.numel() * num_layers(body)
        else:
            hidden = trunk.final_hidden([rows[i] for i in chunk], length, mask, pos)
            stats.layer_tokens += ids.numel() * (num_layers(body) - trunk.split)
        stats.forwards += 1
        stats.tokens += int((seg >= 0).sum())
        stats.padded_tokens += ids.numel()

        # Which hidden states predict which scored tokens: the first action token is predicted by
        # the prefix's last position, token t > 0 by the position of action token t - 1.
        # Every action's first token is predicted by the same position (the prefix's last), so
        # the LM head (vocab-wide: the costliest op per scored token) runs once per distinct
        # position, not once per scored token.
        sources: dict[tuple[int, int], int] = {}
        source_of, targets, owner = [], [], []
        for b, i in enumerate(chunk):
            row = rows[i]
            p = len(row.prefix)
            start = p
            for k, action in enumerate(row.actions):
                for t, tok in enumerate(action):
                    position = (b, p - 1 if t == 0 else start + t - 1)
                    source_of.append(sources.setdefault(position, len(sources)))
                    targets.append(tok)
                    owner.append(k)
                start += len(action) - 1
        if targets:
            src_b, src_t = zip(*sources)
            picked = hidden[torch.tensor(src_b, device=device), torch.tensor(src_t, device=device)]
            logp = _head_logprobs(lm, picked)
            token_logp = logp[torch.tensor(source_of, device=device),
                              torch.tensor(targets, device=device)]
        else:  # prefix-only rows (critic features): no LM head needed
            token_logp = hidden.new_zeros(0, dtype=torch.float32)

        offset = 0
        for b, i in enumerate(chunk):
            row = rows[i]
            n_scored = sum(len(a) for a in row.actions)
            segment = token_logp[offset:offset + n_scored]
            index = torch.tensor(owner[offset:offset + n_scored], dtype=torch.long, device=device)
            results[i] = torch.zeros(len(row.actions), device=device).index_add(0, index, segment)
            offset += n_scored
            if want_prefix_hidden:
                hiddens[i] = hidden[b, len(row.prefix) - 1]
    if want_prefix_hidden:
        return results, hiddens
    return results


def last_token_hidden(lm: torch.nn.Module, prompt_ids: Sequence[Sequence[int]], pad_id: int,
                      stats: ForwardStats | None = None,
                      chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                      trunk: FrozenTrunk | None = None) -> torch.Tensor:
    """Final (normed) hidden state at each prompt's LAST REAL token, shape (len(prompts), hidden).

    The original critic read position -1 of a right-padded batch, i.e. a pad token for every prompt
    shorter than the longest in its batch (spec §2.2, §4 item 7); this reads the last real token,
    so a prompt's feature does not depend on what it was batched with.
    """
    rows = [ScoreRow(tuple(ids)) for ids in prompt_ids]
    _, hiddens = joint_logprobs(lm, rows, pad_id, stats, chunk_tokens, want_prefix_hidden=True,
                                trunk=trunk)
    return torch.stack(hiddens)


def naive_joint_logprobs(lm: torch.nn.Module, tokenizer, prompt: str, actions: Sequence[str],
                         batched: bool = False, stats: ForwardStats | None = None) -> torch.Tensor:
    """The slow reference: each ``prompt + " " + action`` encoded on its own (spec §2.1).

    ``batched=False``: one plain causal forward per string (the definition, no padding at all).
    ``batched=True``: the original TWOSOME scheme: all strings of the state right-padded into one
    forward (the prompt re-encoded for every action); the LM head runs only where needed.
    """
    stats = stats if stats is not None else ForwardStats()
    device = next(lm.parameters()).device
    seqs, lens = [], []
    for action in actions:
        check_action(action)
        seqs.append(tokenizer(prompt + " " + action).input_ids)
        lens.append(len(tokenizer(" " + action, add_special_tokens=False).input_ids))
    groups = [list(range(len(seqs)))] if batched else [[i] for i in range(len(seqs))]
    out = torch.zeros(len(seqs), device=device)
    for group in groups:
        length = max(len(seqs[i]) for i in group)
        ids = torch.full((len(group), length), tokenizer.pad_token_id, device=device)
        mask = torch.zeros((len(group), length), dtype=torch.long, device=device)
        for b, i in enumerate(group):
            ids[b, :len(seqs[i])] = torch.tensor(seqs[i])
            mask[b, :len(seqs[i])] = 1
        pos = torch.arange(length, device=device).expand(len(group), length)
        hidden = lm.base_model(input_ids=ids, attention_mask=mask, position_ids=pos,
                               use_cache=False).last_hidden_state
        stats.forwards += 1
        stats.tokens += int(mask.sum())
        stats.padded_tokens += ids.numel()
        stats.layer_tokens += ids.numel() * num_layers(lm.base_model)
        for b, i in enumerate(group):
            total, n = len(seqs[i]), lens[i]
            logp = _head_logprobs(lm, hidden[b, total - n - 1: total - 1])
            targets = ids[b, total - n: total]
            out[i] = logp.gather(1, targets[:, None]).sum()
    return out
