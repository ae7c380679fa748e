"""Our loaded causal LM behind lm-evaluation-harness's model API (``lm_eval.api.model.LM``).

Importing this module imports ``lm_eval`` (the optional ``ability`` extra): only the ability stage
does, and only when lm-eval tasks are asked for.

``forward(input_ids, attention_mask) -> logits`` is whatever model the caller wants scored: the
ability stage passes the base model (adapters switched off) or the tuned one, so one wrapper
class serves both, GGUF-loaded SmolLM2 and the tiny test model alike.

* ``loglikelihood``: log p(continuation | context) summed over the continuation's tokens, and
  whether every continuation token is the argmax (lm-eval's ``is_greedy``). Tokenization follows
  lm-eval's Hugging Face model: encode ``context + continuation`` and ``context`` and take the
  tail as the continuation (trailing spaces of the context move to the continuation first); an
  empty context is replaced by the prefix token (SmolLM2 has no BOS: its EOS, as lm-eval does).
  Sequences longer than ``max_length`` keep their last ``max_length`` tokens.
* ``loglikelihood_rolling``: lm-eval's own rolling windows (``get_rolling_token_windows``), each
  token predicted once with as much context as fits.
* ``generate_until``: not supported (the ability check is likelihood-based); raises.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from lm_eval.api.model import LM
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
from tqdm.auto import tqdm

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class HarnessLM(LM):
    """An lm-eval ``LM`` over a forward function and a Hugging Face tokenizer."""

    def __init__(self, forward: Forward, tokenizer, max_length: int = 2048, batch_tokens: int = 8192,
                 progress: bool = False, label: str = ""):
        super().__init__()
        self.forward, self.tokenizer = forward, tokenizer
        self.max_length, self.batch_tokens = int(max_length), int(batch_tokens)
        self.progress, self.label = progress, label
        prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if prefix is None:
            raise ValueError("the tokenizer has neither a BOS nor an EOS token to condition an "
                             "empty context on")
        self.prefix_token_id = int(prefix)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else prefix)

    # ------------------------------------------------------------------ tokenization
    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        whole = self._encode(context + continuation)
        ctx = self._encode(context)
        return ctx, whole[len(ctx):]

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def _score(self, pairs: list[tuple[list[int], list[int]]], desc: str) -> list[tuple[float, bool]]:
        """(sum log p, all greedy) of each continuation given its context, in padded batches."""
        out: list[tuple[float, bool] | None] = [None] * len(pairs)
        seqs = []
        for i, (ctx, cont) in enumerate(pairs):
            if not cont:
                out[i] = (0.0, True)
                continue
            ctx = ctx or [self.prefix_token_id]
            seq = (ctx + cont)[-(self.max_length + 1):]  # inputs = seq[:-1], at most max_length
            seqs.append((i, seq, min(len(cont), len(seq) - 1)))
        seqs.sort(key=lambda s: -len(s[1]))
        batches, current = [], []
        for item in seqs:
            if current and len(current[0][1]) * (len(current) + 1) > self.batch_tokens:
                batches.append(current)
                current = []
            current.append(item)
        if current:
            batches.append(current)
        bar = tqdm(total=len(seqs), desc=desc, unit="req", disable=not self.progress, leave=False)
        for batch in batches:
            width = max(len(seq) - 1 for _, seq, _ in batch)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (_, seq, _) in enumerate(batch):  # right padding: positions start at 0
                ids[row, :len(seq) - 1] = torch.tensor(seq[:-1])
                mask[row, :len(seq) - 1] = 1
            logp = torch.log_softmax(self.forward(ids, mask).float(), dim=-1)
            for row, (i, seq, n) in enumerate(batch):
                end = len(seq) - 1
                targets = torch.tensor(seq[-n:])
                rows = logp[row, end - n:end]
                picked = rows.gather(-1, targets[:, None]).squeeze(-1)
                out[i] = (float(picked.sum()), bool((rows.argmax(-1) == targets).all()))
            bar.update(len(batch))
        bar.close()
        return out  # type: ignore[return-value]

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        pairs = [self._encode_pair(*req.args) for req in requests]
        return self._score(pairs, f"loglikelihood {self.label}".strip())

    def loglikelihood_rolling(self, requests) -> list[float]:
        out = []
        for req in tqdm(requests, desc=f"rolling {self.label}".strip(), disable=not self.progress,
                        leave=False):
            (text,) = req.args
            windows = [make_disjoint_window(w) for w in get_rolling_token_windows(
                token_list=self._encode(text), prefix_token=self.prefix_token_id,
                max_seq_len=self.max_length, context_len=1)]
            out.append(sum(score for score, _ in self._score(list(windows), "")))
        return out

    def generate_until(self, requests: Iterable) -> list[str]:
        raise NotImplementedError(
            "the ability check scores likelihoods only: generation tasks (output_type: "
            "generate_until) are not supported; choose multiple_choice or loglikelihood tasks")

