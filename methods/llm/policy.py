"""The LLM policy shared by SayCan and TWOSOME: action scores from a (LoRA-adapted) LLM, and a
critic on the frozen LLM's prompt feature.

Policy (spec §2.1): for a prompt and its offered actions, each action's joint log-probability
given the prompt, optionally divided by its token count ("token") or whitespace word count
("word"), is the logit of a categorical over the offered actions. Actor = the LLM with LoRA
adapters (spec §2.2: r=8, alpha=16, q_proj/v_proj; B=0 at init, so the initial policy is the
frozen model). Critic = :class:`~methods.llm.critic.ValueHead` on the final hidden state of the
same LLM with the adapters switched off, read at the prompt's last real token.

Cost rules: every distinct prompt is forwarded once per call (shared-prefix scoring, see
:mod:`methods.llm.scoring`); without grad, a (prompt, action) pair already scored under the current
policy version is served from a cache (call :meth:`LLMPolicy.new_policy_version` after every actor
optimizer step); critic features depend only on the frozen model and are computed once per prompt
for the whole run.
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from methods.llm import models
from methods.llm.critic import ValueHead
from methods.llm.frozen_trunk import FrozenTrunk
from methods.llm.layers import num_layers
from methods.llm.scoring import (
    DEFAULT_CHUNK_TOKENS,
    ForwardStats,
    PairEncoding,
    ScoreRow,
    check_action,
    check_normalization,
    encode_pair,
    joint_logprobs,
    last_token_hidden,
    naive_joint_logprobs,
    normalize,
    word_count,
)


@dataclass
class LLMConfig:
    model: str = "smollm2"          # "smollm2", "gemma3-270m", "tiny", or a local HF dir / hub id
    normalization: str = "word"     # "none" | "token" | "word"
    dtype: str = "float32"          # "float32" | "bfloat16"
    lora_r: int = 8                 # 0 = no adapters (SayCan: frozen model)
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    # Adapters on the top K decoder layers only (None = every layer, the original). The frozen
    # layers below are then computed once per distinct scored sequence for the whole run and
    # cached (methods/llm/frozen_trunk.py), up to trunk_cache_mb.
    lora_layers: int | None = None
    trunk_cache_mb: float = 2048.0
    critic_hidden: tuple[int, ...] = (1024, 512)
    device: str = "cpu"

    def validate(self) -> None:
        models.check_model_name(self.model)
        check_normalization(self.normalization)
        if self.dtype not in models.DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}: expected one of {', '.join(models.DTYPES)}")
        if self.lora_r < 0:
            raise ValueError(f"lora_r must be >= 0 (0 = no adapters), got {self.lora_r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.lora_r > 0 and not self.lora_targets:
            raise ValueError("lora_targets is empty but lora_r > 0: name the modules to adapt, "
                             "e.g. ('q_proj', 'v_proj')")
        if self.lora_layers is not None and self.lora_layers < 1:
            raise ValueError(f"lora_layers must be >= 1 (the top K layers get adapters) or None "
                             f"(every layer), got {self.lora_layers}")
        n_layers = models.num_decoder_layers(self.model) if self.lora_layers is not None else None
        if n_layers is not None and self.lora_layers > n_layers:
            raise ValueError(f"lora_layers={self.lora_layers} but model {self.model!r} has "
                             f"{n_layers} decoder layers: use 1..{n_layers}, or None for all")
        if not self.trunk_cache_mb > 0:
            raise ValueError(f"trunk_cache_mb must be > 0, got {self.trunk_cache_mb}")
        if any(h <= 0 for h in self.critic_hidden):
            raise ValueError(f"critic_hidden widths must be positive, got {self.critic_hidden}")


class LLMPolicy(nn.Module):
    """Actor scores and critic values for text states; see the module docstring.

    ``state_dict()`` (inherited) includes the frozen base weights; checkpoints should use
    :meth:`trainable_state_dict`, which holds only what training changes.
    """

    def __init__(self, config: LLMConfig, seed: int = 0):
        super().__init__()
        config.validate()
        self.config = config
        self.tokenizer = models.load_tokenizer(config.model)
        self._pad_id = self.tokenizer.pad_token_id
        base = models.private_copy(models.load_base_model(config.model, config.dtype, config.device))
        n_layers = num_layers(base.base_model)
        if config.lora_layers is not None and config.lora_layers > n_layers:
            raise ValueError(f"lora_layers={config.lora_layers} but model {config.model!r} has "
                             f"{n_layers} decoder layers: use 1..{n_layers}, or None for all")
        # The first adapted layer; everything below it is the frozen trunk.
        self.split = n_layers - (config.lora_layers or n_layers) if config.lora_r > 0 else 0
        if config.lora_r > 0:
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                              lora_dropout=config.lora_dropout,
                              target_modules=list(config.lora_targets), bias="none",
                              layers_to_transform=list(range(self.split, n_layers)),
                              layers_pattern="layers", task_type="CAUSAL_LM")
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.lm = get_peft_model(base, lora)
            self._causal_lm = self.lm.get_base_model()
        else:
            self.lm = base
            self._causal_lm = base
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1_000_003)  # independent of the LoRA init stream
            self.value_head = ValueHead(base.config.hidden_size, config.critic_hidden).to(config.device)

        self.chunk_tokens = DEFAULT_CHUNK_TOKENS  # padded tokens per forward call at most
        self.trunk = (FrozenTrunk(self._causal_lm.base_model, self.split, config.trunk_cache_mb)
                      if self.split > 0 else None)
        self._prompt_ids: dict[str, tuple[int, ...]] = {}
        self._pairs: dict[tuple[str, str], PairEncoding] = {}
        self._scores: dict[tuple[str, str], float] = {}       # joint log-probs, current version
        self._features: dict[str, torch.Tensor] = {}          # critic features, whole run
        self._stats = ForwardStats()
        self._count = {name: 0 for name in (
            "states_scored", "score_cache_hits", "pairs_scored", "critic_features_computed",
            "critic_cache_hits", "actor_tokens_forwarded", "critic_tokens_forwarded",
            "tokenization_fallbacks", "policy_version")}

    # ------------------------------------------------------------------ parameters & state
    def actor_parameters(self) -> list[nn.Parameter]:
        """The LoRA parameters (empty when lora_r=0)."""
        if self.config.lora_r == 0:
            return []
        return [p for n, p in self.lm.named_parameters() if "lora_" in n]

    def critic_parameters(self) -> list[nn.Parameter]:
        return list(self.value_head.parameters())

    def new_policy_version(self) -> None:
        """The actor changed: forget cached action scores (critic features stay valid)."""
        self._scores.clear()
        self._count["policy_version"] += 1

    def trainable_state_dict(self) -> dict:
        """LoRA weights (``actor.*``) and value head (``critic.*``), detached copies."""
        state = {f"actor.{n}": p.detach().clone() for n, p in self.lm.named_parameters() if "lora_" in n}
        state.update({f"critic.{n}": t.detach().clone() for n, t in self.value_head.state_dict().items()})
        return state

    def load_trainable_state_dict(self, state: dict) -> None:
        expected = set(self.trainable_state_dict())
        missing, unexpected = expected - set(state), set(state) - expected
        if missing or unexpected:
            raise KeyError(f"trainable state does not match this policy (model={self.config.model!r}, "
                           f"lora_r={self.config.lora_r}): missing {sorted(missing)[:4]}, "
                           f"unexpected {sorted(unexpected)[:4]}")
        actor = dict(self.lm.named_parameters())
        with torch.no_grad():
            for key, value in state.items():
                if key.startswith("actor."):
                    actor[key[len("actor."):]].copy_(value)
        self.value_head.load_state_dict({k[len("critic."):]: v for k, v in state.items()
                                         if k.startswith("critic.")})
        self.new_policy_version()

    def cache_state(self) -> dict:
        """Everything cached (scores of the current version, critic features, encodings, the
        frozen trunk) and the counters, as plain data: restored by :meth:`load_cache_state` after
        the weights, a resumed run is bit-identical to the uninterrupted one, counters included.
        Its size is about the trunk cache's (``trunk_cache_mb`` at most)."""
        return {"scores": [(p, a, v) for (p, a), v in self._scores.items()],
                "features": dict(self._features),
                "prompt_ids": {p: list(ids) for p, ids in self._prompt_ids.items()},
                "pairs": [(p, a, list(e.prefix), list(e.action), bool(e.fallback))
                          for (p, a), e in self._pairs.items()],
                "stats": dataclasses.asdict(self._stats), "count": dict(self._count),
                "trunk": self.trunk.state_dict() if self.trunk is not None else None}

    def load_cache_state(self, state: dict) -> None:
        self._scores = {(p, a): float(v) for p, a, v in state["scores"]}
        self._features = dict(state["features"])
        self._prompt_ids = {p: tuple(ids) for p, ids in state["prompt_ids"].items()}
        self._pairs = {(p, a): PairEncoding(tuple(pre), tuple(act), fb)
                       for p, a, pre, act, fb in state["pairs"]}
        self._stats = ForwardStats(**state["stats"])
        self._count = dict(state["count"])
        if self.trunk is not None and state["trunk"] is not None:
            self.trunk.load_state_dict(state["trunk"])

    # ------------------------------------------------------------------ counters
    def counters(self) -> dict[str, float]:
        """Cumulative cost counters. ``tokens_forwarded`` counts real (non-pad) tokens sent through
        the LLM for actor scoring and critic features; ``padded_tokens_forwarded`` includes padding."""
        out = {"tokens_forwarded": float(self._stats.tokens),
               "padded_tokens_forwarded": float(self._stats.padded_tokens),
               "llm_forwards": float(self._stats.forwards),
               "layer_tokens_forwarded": float(self._stats.layer_tokens)}
        out.update({k: float(v) for k, v in self._count.items()})
        if self.trunk is not None:
            trunk = self.trunk.counters()
            out.update(trunk)
            out["layer_tokens_forwarded"] += trunk["trunk_tokens_forwarded"] * self.split
        return out

    # ------------------------------------------------------------------ encoding
    def _encode(self, prompt: str, action: str) -> PairEncoding:
        key = (prompt, action)
        enc = self._pairs.get(key)
        if enc is None:
            ids = self._prompt_ids.get(prompt)
            if ids is None:
                ids = self._prompt_ids[prompt] = tuple(self.tokenizer(prompt).input_ids)
            enc = self._pairs[key] = encode_pair(self.tokenizer, prompt, action, ids)
            self._count["tokenization_fallbacks"] += int(enc.fallback)
        return enc

    def forward_tokens(self, prompts: Sequence[str], actions: Sequence[Sequence[str]]) -> int:
        """Real tokens a gradient call of :meth:`logits` on these states forwards: each distinct
        prefix once, each of its distinct actions once (what bounds that call's memory)."""
        rows: dict[tuple[int, ...], set[tuple[int, ...]]] = {}
        for prompt, acts in zip(prompts, actions):
            for action in acts:
                enc = self._encode(prompt, action)
                rows.setdefault(enc.prefix, set()).add(enc.action)
        return sum(len(prefix) + sum(len(a) - 1 for a in acts) for prefix, acts in rows.items())

    @staticmethod
    def _check_batch(prompts: Sequence[str], actions: Sequence[Sequence[str]]) -> None:
        if isinstance(prompts, str):
            raise TypeError("prompts must be a sequence of strings, got a single string")
        if len(prompts) != len(actions):
            raise ValueError(f"got {len(prompts)} prompts but {len(actions)} action lists")
        for i, acts in enumerate(actions):
            if isinstance(acts, str) or len(acts) == 0:
                raise ValueError(f"state {i}: actions must be a non-empty list of strings, got {acts!r}")
            for a in acts:
                check_action(a)

    @contextlib.contextmanager
    def _lm_mode(self, train: bool):
        """Dropout (LoRA dropout only; the base has none) only in gradient passes in train mode.
        Switched only when it changes: ``train()`` walks every module (~5 ms on SmolLM2)."""
        previous = self.lm.training
        if previous != train:
            self.lm.train(train)
        try:
            yield
        finally:
            if previous != train:
                self.lm.train(previous)

    def _score(self, pairs: Sequence[tuple[str, str]], want_features: bool = False):
        """Forward the distinct pairs, grouped by prefix: {pair: joint log-prob tensor}."""
        rows: dict[tuple[int, ...], ScoreRow] = {}
        where: dict[tuple[str, str], tuple[tuple[int, ...], int]] = {}
        for pair in dict.fromkeys(pairs):
            enc = self._encode(*pair)
            row = rows.setdefault(enc.prefix, ScoreRow(enc.prefix))
            where[pair] = (enc.prefix, row.add(enc.action))
        before = self._stats.tokens
        with self._lm_mode(torch.is_grad_enabled() and self.training):
            out = joint_logprobs(self._causal_lm, list(rows.values()), self._pad_id, self._stats,
                                 self.chunk_tokens, want_prefix_hidden=want_features,
                                 trunk=self.trunk)
        self._count["actor_tokens_forwarded"] += self._stats.tokens - before
        self._count["pairs_scored"] += len(where)
        scores, hiddens = (out if want_features else (out, None))
        index = {prefix: i for i, prefix in enumerate(rows)}
        joint = {pair: scores[index[prefix]][k] for pair, (prefix, k) in where.items()}
        prefix_hidden = ({prefix: hiddens[index[prefix]] for prefix in rows} if want_features else {})
        return joint, prefix_hidden

    # ------------------------------------------------------------------ actor
    def joint_logprobs(self, prompts: Sequence[str], actions: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        """Unnormalized joint log-probabilities (normalization "none"), same caching as :meth:`logits`."""
        return self._logits(prompts, actions, "none")

    def logits(self, prompts: Sequence[str], actions: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        """Normalized action scores (the categorical's logits), one 1-D float32 tensor per state.

        With grad enabled: differentiable w.r.t. the LoRA parameters; each distinct prompt is
        forwarded once (all in one batched forward) and states sharing it share its backward; no
        cache. Without grad: served from the per-version cache where possible.
        """
        return self._logits(prompts, actions, self.config.normalization)

    def _logits(self, prompts, actions, mode) -> list[torch.Tensor]:
        self._check_batch(prompts, actions)
        self._count["states_scored"] += len(prompts)
        pairs = [(p, a) for p, acts in zip(prompts, actions) for a in acts]
        if torch.is_grad_enabled():
            joint, _ = self._score(pairs)
        else:
            missing = [pair for pair in pairs if pair not in self._scores]
            if missing:
                # SayCan (no adapters): the scoring forward already computes the critic feature.
                share = self.config.lora_r == 0
                fresh, hidden = self._score(missing, want_features=share)
                self._scores.update({pair: float(v) for pair, v in fresh.items()})
                if share:
                    for prompt in {p for p, _ in missing}:
                        prefix = self._prompt_ids[prompt]
                        if prompt not in self._features and prefix in hidden:
                            self._features[prompt] = hidden[prefix].detach().float()
            missing_set = set(missing)
            self._count["score_cache_hits"] += sum(
                all((p, a) not in missing_set for a in acts) for p, acts in zip(prompts, actions))
            joint = {pair: self._scores[pair] for pair in pairs}
        device = self.config.device
        out = []
        for prompt, acts in zip(prompts, actions):
            values = [joint[(prompt, a)] for a in acts]
            ll = torch.stack(values) if torch.is_tensor(values[0]) else torch.tensor(values, device=device)
            n_tokens = [len(self._pairs[(prompt, a)].action) for a in acts]
            out.append(normalize(ll, mode, n_tokens, [word_count(a) for a in acts]))
        return out

    def naive_logits(self, prompts: Sequence[str], actions: Sequence[Sequence[str]],
                     batched: bool = True) -> list[torch.Tensor]:
        """Reference scores, every ``prompt + " " + action`` encoded on its own (no sharing, no
        cache): for tests and the shared-vs-naive benchmark. Counts its tokens like any forward."""
        self._check_batch(prompts, actions)
        out = []
        for prompt, acts in zip(prompts, actions):
            before = self._stats.tokens
            with self._lm_mode(torch.is_grad_enabled() and self.training):
                ll = naive_joint_logprobs(self._causal_lm, self.tokenizer, prompt, acts, batched, self._stats)
            self._count["actor_tokens_forwarded"] += self._stats.tokens - before
            n_tokens = [len(self.tokenizer(" " + a, add_special_tokens=False).input_ids) for a in acts]
            out.append(normalize(ll, self.config.normalization, n_tokens, [word_count(a) for a in acts]))
        return out

    # ------------------------------------------------------------------ critic
    def critic_features(self, prompts: Sequence[str]) -> torch.Tensor:
        """Frozen-model (adapters off) final hidden state at each prompt's last real token,
        shape (len(prompts), hidden), float32, no grad; computed once per prompt per run."""
        if isinstance(prompts, str):
            raise TypeError("prompts must be a sequence of strings, got a single string")
        new = [p for p in dict.fromkeys(prompts) if p not in self._features]
        self._count["critic_cache_hits"] += len(prompts) - len(new)  # repeats within a call too
        if new:
            ids = []
            for p in new:
                if p not in self._prompt_ids:
                    self._prompt_ids[p] = tuple(self.tokenizer(p).input_ids)
                if not self._prompt_ids[p]:
                    raise ValueError(f"prompt {p!r} encodes to no tokens")
                ids.append(self._prompt_ids[p])
            adapters_off = self.lm.disable_adapter() if self.config.lora_r > 0 else contextlib.nullcontext()
            before = self._stats.tokens
            with torch.no_grad(), adapters_off, self._lm_mode(False):
                hidden = last_token_hidden(self._causal_lm, ids, self._pad_id, self._stats,
                                           self.chunk_tokens, trunk=self.trunk)
            self._count["critic_tokens_forwarded"] += self._stats.tokens - before
            self._count["critic_features_computed"] += len(new)
            for p, h in zip(new, hidden):
                self._features[p] = h.float()
        return torch.stack([self._features[p] for p in prompts])

    def values(self, prompts: Sequence[str]) -> torch.Tensor:
        """Critic values, shape (len(prompts),), float32; gradients flow into the head only."""
        return self.value_head(self.critic_features(prompts))
