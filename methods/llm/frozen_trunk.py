"""The frozen lower layers of a split model, computed once per distinct scored sequence.

With LoRA on the top ``K`` decoder layers only (``LLMConfig.lora_layers``), layers ``[0, L-K)`` are
the frozen base model whatever the policy version, so the hidden states they produce for a scored
sequence (``prompt | action 1 | action 2 | ...``, see :mod:`methods.llm.scoring`) never change during
a run. :class:`FrozenTrunk` computes them once per distinct sequence and keeps them in an LRU cache
bounded in megabytes; every later actor forward and backward, and the critic's feature pass (the
frozen top layers, adapters off), starts at layer ``L-K``.

Cached per piece, not per packed row: the prefix's hidden states (P, H) and, per action, those of
its fed tokens (len - 1, H), because a row packs whichever actions a call asks for. A row is served
from the cache only when every piece is there; otherwise the whole row goes through the lower
layers again, batched with the other rows of the call that missed. Each position attends only to
its own row, so a piece's value depends on what else was batched only through rounding (the
matrix shapes): a recomputed row matches the evicted one to 1e-6 relative in fp32
(``tests/llm/test_llm_frozen_trunk.py``). In our envs a prompt always comes with the same offered
actions, so each prompt costs one lower pass per run.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import torch

from methods.llm.layers import embed, num_layers, run_layers


@dataclass
class _Entry:
    prefix: torch.Tensor                                            # (P, H)
    actions: dict[tuple[int, ...], torch.Tensor] = field(default_factory=dict)  # (len - 1, H) each

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.prefix, *self.actions.values()))


class FrozenTrunk:
    """Layers ``[0, split)`` of ``body`` (no adapters there), cached per scored sequence."""

    def __init__(self, body: torch.nn.Module, split: int, max_mb: float):
        if not 0 < split < num_layers(body):
            raise ValueError(f"split {split} must leave at least one layer on each side of the "
                             f"model's {num_layers(body)} layers")
        if max_mb <= 0:
            raise ValueError(f"trunk cache size must be > 0 MB, got {max_mb}")
        self.body, self.split = body, split
        self.max_bytes = int(max_mb * 2**20)
        self._entries: OrderedDict[tuple[int, ...], _Entry] = OrderedDict()
        self.bytes = 0
        self.counts = {"trunk_hits": 0, "trunk_misses": 0, "trunk_evictions": 0,
                       "trunk_tokens_forwarded": 0}

    def counters(self) -> dict[str, float]:
        return {**{k: float(v) for k, v in self.counts.items()},
                "trunk_cache_mb": self.bytes / 2**20, "trunk_cache_rows": float(len(self._entries))}

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict:
        """The cached pieces in LRU order and the counters: a resumed run then computes exactly
        what the uninterrupted one would (recomputed rows differ by rounding, see above)."""
        return {"entries": [(list(key), e.prefix, [(list(a), t) for a, t in e.actions.items()])
                            for key, e in self._entries.items()],
                "counts": dict(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        self._entries.clear()
        self.bytes = 0
        for key, prefix, actions in state["entries"]:
            entry = _Entry(prefix, {tuple(a): t for a, t in actions})
            self._entries[tuple(key)] = entry
            self.bytes += entry.nbytes
        self.counts = {k: int(v) for k, v in state["counts"].items()}

    # ------------------------------------------------------------------ lookup
    def row_inputs(self, rows) -> list[torch.Tensor]:
        """Per row, (row.length, H): the hidden states entering layer ``split`` for the row's fed
        tokens, in the order of :func:`methods.llm.scoring.row_tensors` (prefix, then each
        action's tokens but the last). Rows not fully cached go through the lower layers together,
        in one padded batch (a batch of one costs ~2.7x more per token on SmolLM2)."""
        out: list[torch.Tensor | None] = [None] * len(rows)
        missing = []
        for i, row in enumerate(rows):
            entry = self._entries.get(row.prefix)
            if entry is not None and all(a in entry.actions for a in row.actions):
                self.counts["trunk_hits"] += 1
                self._entries.move_to_end(row.prefix)
                out[i] = self._assemble(entry, row)
            else:
                missing.append(i)
        if missing:
            for i, entry in zip(missing, self._compute([rows[i] for i in missing])):
                out[i] = self._assemble(entry, rows[i])
        return out

    @staticmethod
    def _assemble(entry: _Entry, row) -> torch.Tensor:
        return torch.cat([entry.prefix, *(entry.actions[a] for a in row.actions)])

    def _compute(self, rows) -> list[_Entry]:
        from methods.llm.scoring import attention_mask, row_tensors

        length = max(row.length for row in rows)
        packed = [row_tensors(row, length, 0) for row in rows]
        ids, pos, seg = (torch.tensor([p[k] for p in packed], device=self._device()) for k in range(3))
        with torch.no_grad():
            hidden = run_layers(self.body, embed(self.body, ids), attention_mask(seg), pos,
                                0, self.split)
        self.counts["trunk_misses"] += len(rows)
        self.counts["trunk_tokens_forwarded"] += ids.numel()
        entries = []
        for b, row in enumerate(rows):
            p = len(row.prefix)
            old = self._entries.pop(row.prefix, None)
            if old is not None:
                self.bytes -= old.nbytes
            entry = _Entry(hidden[b, :p].clone())  # the new prefix piece goes with the new actions
            start = p
            for action in row.actions:
                entry.actions[action] = hidden[b, start:start + len(action) - 1].clone()
                start += len(action) - 1
            if old is not None:  # keep cached actions this row did not ask for
                entry.actions = {**old.actions, **entry.actions}
            self._entries[row.prefix] = entry
            self.bytes += entry.nbytes
            entries.append(entry)
        while self.bytes > self.max_bytes and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.nbytes
            self.counts["trunk_evictions"] += 1
        return entries

    def _device(self) -> torch.device:
        return next(self.body.parameters()).device

    # ------------------------------------------------------------------ the upper layers
    def final_hidden(self, rows, length: int, mask: torch.Tensor, position_ids: torch.Tensor
                     ) -> torch.Tensor:
        """Final (normed) hidden states of padded ``rows`` (B, length, H): cached lower layers,
        then layers ``[split, L)`` and the norm, differentiable w.r.t. the upper layers' adapters.
        Pad positions get zero input; they attend to themselves only, so they stay finite and
        invisible to real positions."""
        inputs = [torch.nn.functional.pad(x, (0, 0, 0, length - x.shape[0]))
                  for x in self.row_inputs(rows)]
        hidden = run_layers(self.body, torch.stack(inputs), mask, position_ids, self.split,
                            num_layers(self.body))
        return self.body.norm(hidden)
