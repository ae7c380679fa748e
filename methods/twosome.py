"""``twosome``, ``twosome-token``, ``twosome-none``: an LLM policy aligned by PPO (spec §2.1-2.4).

The actor is the LLM's normalized action log-likelihoods used as logits (``LLMPolicy.logits``), the
critic an MLP head on the frozen model's last hidden state (``LLMPolicy.values``); only the LoRA
adapters and the head train. The PPO loop is :mod:`methods.ppo_core` with the original trainer's
value-phase-then-policy-phase schedule and two optimizers. The three registered names differ only
in ``LLMConfig.normalization`` (word = the released default, token, none).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from harness.env_api import EnvSpec
from harness.method_api import Method
from harness.registry import register_method
from methods.ppo_core import PPOConfig

NORMALIZATIONS = ("word", "token", "none")


@dataclass
class TwosomeConfig(PPOConfig):
    # LLM (methods/llm/policy.py:LLMConfig); normalization is fixed by the registered name.
    model: str = "smollm2"
    # bf16 frozen weights (LoRA and the value head stay fp32): 3-4x the fp32 matmul rate on an
    # AMX Xeon; use float32 on a CPU without bf16 units, or as the exact reference.
    dtype: str = "bfloat16"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    # The training engine (docs/llm.md, "Cost model"). Adapters on the top K layers only, the
    # frozen layers below computed once per prompt and cached; None = every layer (the original).
    lora_layers: int | None = 2
    trunk_cache_mb: float = 2048.0
    # Policy-phase backward in chunks of at most this many forwarded tokens (states sharing a
    # prompt stay together), gradients accumulated: bounds peak memory; None = one chunk.
    grad_chunk_tokens: int | None = 4096
    # PPO: the cpu preset (see docs/methods.md); `paper` restores the original values.
    num_envs: int = 16
    num_steps: int = 32
    gamma: float = 0.99
    schedule: str = "value-then-policy"
    update_epochs: int = 1
    minibatch_size: int = 128
    value_minibatch_size: int = 128
    grad_accum_steps: int = 1
    target_kl: float | None = 0.02
    policy_lr: float = 3e-3
    value_lr: float = 1e-3

    def validate(self) -> None:
        super().validate()
        if self.grad_chunk_tokens is not None and self.grad_chunk_tokens < 1:
            raise ValueError(f"grad_chunk_tokens={self.grad_chunk_tokens} must be >= 1 "
                             "(or None: one backward per minibatch)")
        from methods.llm.policy import LLMConfig  # the LLM fields are checked where they live

        LLMConfig(**llm_kwargs(self, "word")).validate()


def family_gamma(spec: EnvSpec) -> float:
    """Overcooked discounts per primitive step (gamma**k); VirtualHome uses 0.95 (spec §2.4)."""
    return 0.95 if spec.family == "virtualhome" else 0.99


def paper_preset(spec: EnvSpec) -> dict[str, Any]:
    """The released scripts (spec §2.4): 4 x 32 rollout, value phase 4 x 32, policy phase 32 x 4
    with 8-step accumulation, target KL 0.02; learning rates per family. The base model stays what
    ``model`` names (LLaMA-7B in the paper)."""
    vh = spec.family == "virtualhome"
    return dict(num_envs=4, num_steps=32, gamma=family_gamma(spec), gae_lambda=0.95,
                schedule="value-then-policy", update_epochs=1, minibatch_size=4,
                value_minibatch_size=32, grad_accum_steps=8, clip_coef=0.2, clip_vloss=True,
                ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, target_kl=0.02, norm_adv=True,
                policy_lr=1e-6 if vh else 5e-7, value_lr=5e-5 if vh else 1e-5, anneal_lr=True,
                lora_r=8, lora_alpha=16, lora_dropout=0.0,
                # the original architecture: LoRA on every layer, fp32, one backward per minibatch
                lora_layers=None, dtype="float32", grad_chunk_tokens=None)


def cpu_preset(spec: EnvSpec) -> dict[str, Any]:
    """Tuned for SmolLM2-135M on a 2-core CPU (docs/methods.md): many envs per update and large
    policy minibatches, because the scorer forwards each distinct prompt once per minibatch and
    these tasks have few distinct observations (Tomato Salad 21, Food Preparation 19), so a big
    batch costs far less than proportionally more; learning rates ~1000x the 7B ones. The engine
    fields (class defaults): LoRA on the top 2 layers (4 on VirtualHome) over a cached frozen
    trunk, bf16 frozen weights, policy backward in 4,096-token chunks; with adapters on few layers
    the policy lr is 3e-3 (Tomato Salad seed 0: 0.85 at 11,264 steps vs 17,920 at 1e-3).

    Overcooked: 16 envs x 32 steps, 4 policy steps of 128 per update. VirtualHome: its only reward
    is the final +1, and SmolLM2's prior succeeds in 0.12% of Food-Preparation episodes (uniform:
    1.5%), so learning waits for exploration: 32 envs x 32 steps per update (~20 episodes), a
    10x larger entropy bonus, and adapters on 4 layers (with 2, seed 1 never met a success in
    50k steps; with 4 it reached 0.61 by 28,672)."""
    preset: dict[str, Any] = {"gamma": family_gamma(spec)}
    if spec.family == "virtualhome":
        preset.update(num_envs=32, minibatch_size=256, value_minibatch_size=256, ent_coef=0.1,
                      lora_layers=4)
    return preset


def llm_kwargs(config: TwosomeConfig, normalization: str) -> dict[str, Any]:
    """The LLMConfig fields a method config determines."""
    return dict(model=config.model, normalization=normalization, dtype=config.dtype,
                lora_r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                lora_layers=config.lora_layers, trunk_cache_mb=config.trunk_cache_mb)


def build_llm_policy(kwargs: dict[str, Any], seed: int):
    """The one place an LLMPolicy is built (tests replace it with a fake)."""
    from methods.llm.policy import LLMConfig, LLMPolicy

    return LLMPolicy(LLMConfig(**kwargs), seed=seed)


class LLMActorCritic:
    """Adapts an LLMPolicy (ragged offered lists, text) to the ActorCritic protocol (global ids)."""

    def __init__(self, llm, n_actions: int, grad_chunk_tokens: int | None = None):
        self.llm, self.n_actions, self.grad_chunk_tokens = llm, n_actions, grad_chunk_tokens

    def logits(self, obs, infos):
        import torch

        scores = self.llm.logits([i["prompt"] for i in infos], [i["actions"] for i in infos])
        rows = []
        for info, s in zip(infos, scores):
            ids = torch.as_tensor(list(info["action_ids"]))
            rows.append(torch.zeros(self.n_actions, dtype=s.dtype).index_put((ids,), s))
        return torch.stack(rows)

    def values(self, obs, infos):
        return self.llm.values([i["prompt"] for i in infos])

    def loss_chunks(self, infos) -> list[np.ndarray]:
        """Parts of a policy minibatch of at most ``grad_chunk_tokens`` forwarded tokens each
        (a prompt bigger than that is a part of its own); states sharing a prompt stay in one part,
        so every prompt is still forwarded once per minibatch (see ``PPO.update``)."""
        if self.grad_chunk_tokens is None:
            return [np.arange(len(infos))]
        groups: dict[str, list[int]] = {}
        for i, info in enumerate(infos):
            groups.setdefault(info["prompt"], []).append(i)
        parts, current, tokens = [], [], 0
        for prompt, members in groups.items():
            actions = list(dict.fromkeys(a for i in members for a in infos[i]["actions"]))
            size = self.llm.forward_tokens([prompt], [actions])
            if current and tokens + size > self.grad_chunk_tokens:
                parts.append(np.asarray(current))
                current, tokens = [], 0
            current += members
            tokens += size
        parts.append(np.asarray(current))
        return parts

    def actor_parameters(self):
        return list(self.llm.actor_parameters())

    def critic_parameters(self):
        return list(self.llm.critic_parameters())

    def after_actor_step(self) -> None:
        self.llm.new_policy_version()

    def state_dict(self) -> dict:
        return self.llm.trainable_state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.llm.load_trainable_state_dict(state)
        self.llm.new_policy_version()


class LLMCounters:
    """LLM cost counters that survive a resume: counts before the checkpoint are added back."""

    def __init__(self, llm):
        self.llm, self.base = llm, {}

    def __call__(self) -> dict[str, float]:
        now = self.llm.counters()
        return {k: self.base.get(k, 0) + now.get(k, 0) for k in {*now, *self.base}}

    def load(self, saved: dict[str, float]) -> None:
        now = self.llm.counters()
        self.base = {k: saved.get(k, 0) - now.get(k, 0) for k in {*saved, *now}}


class Twosome(Method):
    """TWOSOME with word normalization (the released default)."""

    Config = TwosomeConfig
    presets = {"cpu": cpu_preset, "paper": paper_preset}
    normalization: ClassVar[str] = "word"
    reads_text = True  # acts from prompt + offered actions only: runs zero-shot on any text env

    @classmethod
    def step_multiple(cls, config: TwosomeConfig) -> int:
        return config.num_envs * config.num_steps

    def __init__(self, config, env_spec, observation_space, action_space, total_steps, seed):
        from methods.ppo_core import PPO

        super().__init__(config, env_spec, observation_space, action_space, total_steps, seed)
        self.llm = build_llm_policy(llm_kwargs(config, self.normalization), seed)
        self.agent = LLMActorCritic(self.llm, int(action_space.n), config.grad_chunk_tokens)
        self.ppo = PPO(self.agent, config, int(action_space.n), total_steps, seed)
        self.llm_counters = LLMCounters(self.llm)
        self.eval_decisions = 0

    def learn(self, pool, steps: int) -> dict[str, float]:
        return self.ppo.learn(pool, steps)

    def attach_logger(self, log) -> None:
        self.ppo.on_update = log

    def act(self, obs, infos, rng, greedy=False):
        from methods.ppo_core import sample_actions, trim_info

        log_probs, _ = self.ppo.policy(np.asarray(obs, dtype=np.float32),
                                       [trim_info(i) for i in infos])
        self.eval_decisions += len(infos)
        return sample_actions(log_probs, rng, greedy)

    def action_probabilities(self, obs, infos):
        from methods.ppo_core import trim_info

        log_probs, _ = self.ppo.policy(np.asarray(obs, dtype=np.float32),
                                       [trim_info(i) for i in infos])
        return log_probs.exp().double().numpy()

    def counters(self) -> dict[str, float]:
        s = self.ppo.stats
        return {**self.llm_counters(), "train_decisions": s["train_decisions"],
                "eval_decisions": self.eval_decisions, "updates": s["updates"],
                "actor_steps": s["actor_steps"], "kl_stops": s["kl_stops"]}

    def state_dict(self) -> dict[str, Any]:
        # The LLM's caches too: without them a resumed run recomputes scores and trunk rows in
        # other batches, which differ by rounding, enough to change sampled actions (tiny model:
        # weights 0.024 apart after 2k steps).
        return {"ppo": self.ppo.state_dict(), "eval_decisions": self.eval_decisions,
                "llm_counters": self.llm_counters(), "llm_caches": self.llm.cache_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ppo.load_state_dict(state["ppo"])
        self.eval_decisions = state["eval_decisions"]
        self.llm.load_cache_state(state["llm_caches"])  # after the weights: they clear scores
        self.llm_counters.load(state["llm_counters"])


register_method("twosome", "TWOSOME: LLM actor (LoRA) + critic head under PPO, word-normalized "
                "action likelihoods")(Twosome)


@register_method("twosome-token", "TWOSOME with token-normalized action likelihoods")
class TwosomeToken(Twosome):
    normalization = "token"


@register_method("twosome-none", "TWOSOME without normalization (summed action log-likelihood)")
class TwosomeNone(Twosome):
    normalization = "none"
