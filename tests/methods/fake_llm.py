"""A stand-in for methods.llm.policy.LLMPolicy with the same API (LLM_CONTRACT.md), fast and exact.

Action log-likelihood = frozen per-token log-probs (from a hash of the token) + a trainable bilinear
"adapter" term per token, so the three normalizations give genuinely different logits and training
the adapter changes the policy. A "token" is a 4-character piece of a word.
"""
from __future__ import annotations

import hashlib

import torch
from torch import nn

DIM = 8


def _h(text: str, salt: str = "") -> int:
    return int.from_bytes(hashlib.sha256((salt + text).encode()).digest()[:8], "little")


def _vec(text: str, salt: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(_h(text, salt) % (2 ** 63))
    return torch.randn(DIM, generator=g)


def tokens(word: str) -> list[str]:
    return [word[i:i + 4] for i in range(0, len(word), 4)]


class FakeLLMPolicy(nn.Module):
    def __init__(self, model="fake", normalization="word", dtype="float32", lora_r=8, lora_alpha=16,
                 lora_dropout=0.0, seed=0, **_):
        super().__init__()
        if normalization not in ("none", "token", "word"):
            raise ValueError(normalization)
        self.normalization, self.lora_r = normalization, lora_r
        g = torch.Generator().manual_seed(seed)
        self.adapter = nn.Parameter(torch.zeros(DIM, DIM)) if lora_r > 0 else None
        self.head = nn.Sequential(nn.Linear(DIM, 16), nn.ReLU(), nn.Linear(16, 1))
        for p in self.head.parameters():
            nn.init.normal_(p, std=0.1, generator=g)
        self.version = 0
        self._cache: dict = {}
        self._counters = {"llm_forwards": 0, "tokens_forwarded": 0, "score_cache_hits": 0}

    def _prompt_vec(self, prompt: str) -> torch.Tensor:
        return torch.stack([_vec(w, "p") for w in prompt.lower().split()]).mean(0)

    def _score(self, prompt: str, action: str) -> torch.Tensor:
        words = action.split()
        toks = [t for w in words for t in tokens(w)]
        ll = torch.tensor(sum(-0.5 - 2.5 * (_h(t, "tok") % 1000) / 1000 for t in toks))
        if self.adapter is not None:
            a = torch.stack([_vec(w, "a") for w in words]).mean(0)
            ll = ll + len(toks) * torch.tanh(self._prompt_vec(prompt) @ self.adapter @ a)
        self._counters["tokens_forwarded"] += len(prompt.split()) + len(toks)
        if self.normalization == "token":
            return ll / len(toks)
        if self.normalization == "word":
            return ll / len(words)
        return ll

    def logits(self, prompts, actions):
        out = []
        for prompt, acts in zip(prompts, actions):
            key = (prompt, tuple(acts))
            if not torch.is_grad_enabled() and key in self._cache:
                self._counters["score_cache_hits"] += 1
                out.append(self._cache[key])
                continue
            self._counters["llm_forwards"] += 1
            scores = torch.stack([self._score(prompt, a) for a in acts]).float()
            if not torch.is_grad_enabled():
                self._cache[key] = scores
            out.append(scores)
        return out

    def forward_tokens(self, prompts, actions) -> int:
        """Tokens a grad call of logits() would forward (sizes the policy-loss chunks)."""
        rows: dict[str, set[str]] = {}
        for prompt, acts in zip(prompts, actions):
            rows.setdefault(prompt, set()).update(acts)
        return sum(len(p.split()) + sum(len(tokens(w)) for a in acts for w in a.split())
                   for p, acts in rows.items())

    def cache_state(self) -> dict:
        return {}  # nothing cached: every call recomputes

    def load_cache_state(self, state: dict) -> None:
        pass

    def values(self, prompts):
        feats = torch.stack([self._prompt_vec(p) for p in prompts])
        return self.head(feats).squeeze(-1)

    def actor_parameters(self):
        return [self.adapter] if self.adapter is not None else []

    def critic_parameters(self):
        return list(self.head.parameters())

    def new_policy_version(self):
        self.version += 1
        self._cache.clear()

    def counters(self):
        return dict(self._counters)

    def trainable_state_dict(self):
        state = {f"head.{k}": v.clone() for k, v in self.head.state_dict().items()}
        if self.adapter is not None:
            state["adapter"] = self.adapter.detach().clone()
        return state

    def load_trainable_state_dict(self, state):
        with torch.no_grad():
            self.head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
            if self.adapter is not None:
                self.adapter.copy_(state["adapter"])
        self.new_policy_version()
