"""The one PPO implementation, shared by ``ppo`` (MLP on the vector) and ``twosome`` (LLM actor-critic).

It reads top to bottom like CleanRL's ``ppo.py``: collect a rollout, compute semi-MDP GAE, then
optimise the clipped objective. Two update schedules cover both originals (spec §2.3 and §2.5):

- ``joint`` (CleanRL / the PPO baseline): one optimiser, loss = pg - ent_coef*entropy +
  vf_coef*value loss, ``update_epochs`` passes over minibatches of ``minibatch_size``.
- ``value-then-policy`` (the TWOSOME trainer): per epoch, first a value phase with the critic
  optimiser over minibatches of ``value_minibatch_size``, then a policy phase with the actor
  optimiser over minibatches of ``minibatch_size``, accumulating ``grad_accum_steps`` minibatches
  per optimiser step.

Common to both: advantages normalised per minibatch, clipped value loss, gradient-norm clipping,
linear LR annealing over ``total_steps // batch_size`` updates, and the target-KL early stop: before
each optimiser step that moves the actor, the mean approx-KL of the minibatches accumulated for that
step is checked; above ``target_kl`` the accumulated gradient is dropped and the rest of this
update's policy steps are skipped (the TWOSOME rule; with ``grad_accum_steps=1`` it is a per-step
check).

The network is behind the small :class:`ActorCritic` protocol. Actions are *global* action ids;
logits are over all ``n`` ids with non-offered ids at ``-inf``, so ragged offered lists (VirtualHome)
and fixed ones (Overcooked) go through the same code.

torch is imported inside functions: ``methods/__init__`` imports every module while registering
methods, and ``harness list`` must not pay for torch.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from harness.method_api import MethodConfig, NonFiniteError, require

if TYPE_CHECKING:
    import torch

SCHEDULES = ("joint", "value-then-policy")
# What the rollout keeps of an env info: enough to recompute logits (prompt/actions for the LLM,
# the mask for everyone) without holding on to whole info dicts.
TEXT_KEYS = ("prompt", "actions", "action_ids")


@dataclass
class PPOConfig(MethodConfig):
    """PPO hyperparameters. Defaults are CleanRL's; methods override them with presets."""

    num_steps: int = 128  # rollout length per env; batch = num_envs * num_steps
    gamma: float = 0.99  # per primitive step in Overcooked (gamma**k per macro step)
    gae_lambda: float = 0.95
    schedule: str = "joint"  # "joint" | "value-then-policy"
    update_epochs: int = 4
    minibatch_size: int = 128  # joint minibatch, or policy-phase minibatch
    value_minibatch_size: int = 32  # value-then-policy only
    grad_accum_steps: int = 1  # minibatches accumulated per optimiser step
    clip_coef: float = 0.2  # policy ratio clip and value clip
    clip_vloss: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None
    norm_adv: bool = True
    policy_lr: float = 2.5e-4
    value_lr: float = 2.5e-4
    adam_eps: float = 1e-5
    anneal_lr: bool = True

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    def validate(self) -> None:
        """Raise ValueError naming the first out-of-range or inconsistent value."""
        super().validate()
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r}: valid choices: {', '.join(SCHEDULES)}")
        for name in ("num_steps", "update_epochs", "minibatch_size",
                     "value_minibatch_size", "grad_accum_steps"):
            require(self, name, lambda v: v >= 1, ">= 1")
        for name in ("policy_lr", "value_lr", "clip_coef", "max_grad_norm", "adam_eps"):
            require(self, name, lambda v: v > 0, "a finite number > 0")
        for name in ("ent_coef", "vf_coef"):
            require(self, name, lambda v: v >= 0, "a finite number >= 0")
        require(self, "target_kl", lambda v: v is None or v > 0, "None or a finite number > 0")
        if self.minibatch_size > self.batch_size:
            raise ValueError(f"minibatch_size={self.minibatch_size} is larger than the batch "
                             f"num_envs*num_steps={self.batch_size}")
        step_batch = self.minibatch_size * self.grad_accum_steps
        if self.batch_size % step_batch:
            raise ValueError(
                f"batch num_envs*num_steps={self.batch_size} is not a multiple of "
                f"minibatch_size*grad_accum_steps={step_batch}")
        if self.schedule == "value-then-policy" and self.batch_size % self.value_minibatch_size:
            raise ValueError(f"batch {self.batch_size} is not a multiple of "
                             f"value_minibatch_size={self.value_minibatch_size}")
        for name in ("gamma", "gae_lambda"):
            require(self, name, lambda v: 0 <= v <= 1, "in [0, 1]")


class ActorCritic(Protocol):
    """What PPO needs from a network. ``infos`` are the rollout's trimmed info dicts."""

    def logits(self, obs: torch.Tensor, infos: Sequence[dict]) -> torch.Tensor:
        """(B, n) action logits over global ids; non-offered ids may hold anything (masked here)."""

    def values(self, obs: torch.Tensor, infos: Sequence[dict]) -> torch.Tensor:
        """(B,) state values."""

    def actor_parameters(self) -> list[torch.nn.Parameter]: ...

    def critic_parameters(self) -> list[torch.nn.Parameter]: ...

    def after_actor_step(self) -> None:
        """Called after every optimiser step that changed the actor (e.g. to drop score caches)."""

    # Optional: ``loss_chunks(infos) -> list of index arrays`` partitioning a policy minibatch into
    # parts whose backward passes run one after another (gradients accumulated), to bound the
    # memory a big minibatch holds. The LLM agent keeps states sharing a prompt in one part, so
    # each prompt is still forwarded once per minibatch. Without it a minibatch is one part.

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


# ---------------------------------------------------------------------------------------------
# Pieces with exact, hand-checkable semantics (unit-tested one by one)
# ---------------------------------------------------------------------------------------------

def action_mask(infos: Sequence[dict], n: int) -> np.ndarray:
    """(B, n) bool: info["action_mask"], else the ids in info["action_ids"], else every id."""
    mask = np.ones((len(infos), n), dtype=bool)
    for i, info in enumerate(infos):
        if info.get("action_mask") is not None:
            mask[i] = np.asarray(info["action_mask"], dtype=bool)
        elif info.get("action_ids") is not None:  # only the listed ids have text, so only they exist
            mask[i] = False
            mask[i, list(info["action_ids"])] = True
    if not mask.any(axis=1).all():
        raise ValueError("an info offers no action (action_mask all False)")
    return mask


def masked_log_probs(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log pi(a|s) over global ids; about -3.4e38 (probability exactly 0) where not offered.

    The most negative finite float rather than -inf: d/dx exp(x)*x at -inf is nan, and the entropy's
    backward would spread it even through a torch.where.
    """
    import torch

    return torch.log_softmax(logits.masked_fill(~mask, torch.finfo(logits.dtype).min), dim=-1)


def log_prob_and_entropy(logits: torch.Tensor, mask: torch.Tensor, actions: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-prob of the taken actions and the entropy over the offered actions only."""
    import torch

    log_probs = masked_log_probs(logits, mask)
    taken = log_probs.gather(1, actions.long().unsqueeze(1)).squeeze(1)
    # 0 * -inf would be nan: the sum runs over offered ids only.
    p_log_p = torch.where(mask, log_probs.exp() * log_probs, torch.zeros_like(log_probs))
    return taken, -p_log_p.sum(dim=1)


def sample_actions(log_probs: torch.Tensor, rng: np.random.Generator, greedy: bool = False
                   ) -> np.ndarray:
    """Global ids drawn from exp(log_probs) with the given numpy rng (one uniform per row).

    Inverse-CDF sampling: a zero-probability id has an empty CDF interval, so a masked action is
    never drawn; the clamp guards the u*total == total rounding edge.
    """
    lp = log_probs.detach().double().cpu().numpy()
    if greedy:
        return lp.argmax(axis=1)
    probs = np.exp(lp)
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cdf[:, -1]
    picks = np.array([np.searchsorted(row, x, side="right") for row, x in zip(cdf, u)])
    last_offered = probs.shape[1] - 1 - np.argmax(probs[:, ::-1] > 0, axis=1)
    return np.minimum(picks, last_offered)


def compute_gae(rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, next_value: np.ndarray,
                next_done: np.ndarray, macro_steps: np.ndarray, gamma: float, gae_lambda: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Semi-MDP GAE over a (T, N) rollout; returns (advantages, returns).

    ``dones[t]`` is 1 when obs[t] starts a new episode (the previous step ended one), as in CleanRL;
    ``macro_steps[t]`` is the k of step t (1 for ordinary MDPs), so the discount is gamma**k:
        delta_t = r_t + gamma**k_t * V(s_{t+1}) * (1 - d_{t+1}) - V(s_t)
        A_t     = delta_t + gamma**k_t * lambda * (1 - d_{t+1}) * A_{t+1}
    Time-outs count as terminal, as in both originals.
    """
    T = len(rewards)
    advantages = np.zeros_like(values, dtype=np.float64)
    last_gae = np.zeros(values.shape[1:], dtype=np.float64)
    for t in reversed(range(T)):
        if t == T - 1:
            next_nonterminal, next_values = 1.0 - next_done, next_value
        else:
            next_nonterminal, next_values = 1.0 - dones[t + 1], values[t + 1]
        discount = gamma ** macro_steps[t]
        delta = rewards[t] + discount * next_values * next_nonterminal - values[t]
        last_gae = delta + discount * gae_lambda * next_nonterminal * last_gae
        advantages[t] = last_gae
    return advantages, advantages + values


def clipped_policy_loss(new_log_prob: torch.Tensor, old_log_prob: torch.Tensor,
                        advantages: torch.Tensor, clip_coef: float
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO-clip surrogate; returns (loss, approx_kl, clip_fraction).

    approx_kl = mean((ratio - 1) - log ratio), the low-variance estimator CleanRL and TWOSOME use.
    """
    import torch

    log_ratio = new_log_prob - old_log_prob
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    loss = torch.max(unclipped, clipped).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clip_fraction = ((ratio - 1).abs() > clip_coef).float().mean()
    return loss, approx_kl, clip_fraction


def clipped_value_loss(new_values: torch.Tensor, old_values: torch.Tensor,
                       returns: torch.Tensor, clip_coef: float, clip: bool = True
                       ) -> torch.Tensor:
    """0.5 * mean(max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2)), or the plain MSE/2."""
    import torch

    unclipped = (new_values - returns) ** 2
    if not clip:
        return 0.5 * unclipped.mean()
    v_clipped = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
    return 0.5 * torch.max(unclipped, (v_clipped - returns) ** 2).mean()


def normalize(advantages: torch.Tensor) -> torch.Tensor:
    """(A - mean) / (std + 1e-8) within a minibatch; a single sample is left as is."""
    if advantages.numel() < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def trim_info(info: dict) -> dict:
    """The part of an env info a rollout needs later (text interface + mask)."""
    kept = {k: info[k] for k in TEXT_KEYS if k in info}
    if info.get("action_mask") is not None:
        kept["action_mask"] = np.asarray(info["action_mask"], dtype=bool)
    return kept


def step_info(info: dict) -> dict:
    """The info describing the step itself: with same-step autoreset it sits in final_info."""
    return info.get("final_info", info)


# ---------------------------------------------------------------------------------------------
# The learner: rollout -> GAE -> update
# ---------------------------------------------------------------------------------------------

class PPO:
    """Drives an :class:`harness.env_api.EnvPool` and updates an :class:`ActorCritic`.

    The pool keeps the last obs/infos between ``learn`` calls; a rollout that is not full when a
    call ends stays in ``self.rollout`` (and in ``state_dict``), so ``learn`` may stop at any step
    count and a resumed run continues exactly.
    """

    def __init__(self, agent: ActorCritic, config: PPOConfig, n_actions: int, total_steps: int,
                 seed: int):
        import torch

        config.validate()
        self.agent, self.config, self.n_actions = agent, config, n_actions
        self.num_updates = max(1, total_steps // config.batch_size)
        self.rng = np.random.default_rng(seed)  # rollout sampling and minibatch shuffling
        actor, critic = agent.actor_parameters(), agent.critic_parameters()
        if config.schedule == "joint":
            groups = [{"params": p, "lr": lr} for p, lr in
                      ((actor, config.policy_lr), (critic, config.value_lr)) if p]
            self.optimizers = {"joint": torch.optim.Adam(groups, eps=config.adam_eps)}
        else:
            self.optimizers = {}
            if actor:
                self.optimizers["actor"] = torch.optim.Adam(actor, lr=config.policy_lr,
                                                            eps=config.adam_eps)
            if critic:
                self.optimizers["critic"] = torch.optim.Adam(critic, lr=config.value_lr,
                                                             eps=config.adam_eps)
        self.initial_lrs = {name: [g["lr"] for g in opt.param_groups]
                            for name, opt in self.optimizers.items()}
        self.rollout = self._empty_rollout()
        self.next_done = np.zeros(config.num_envs)  # 1 where the pool's current obs starts an episode
        self.stats = {"updates": 0, "actor_steps": 0, "kl_stops": 0, "env_steps": 0,
                      "train_decisions": 0}
        # Called after every update with (env steps so far, that update's statistics).
        self.on_update: Callable[[int, dict[str, float]], None] | None = None

    @staticmethod
    def _empty_rollout() -> dict[str, list]:
        return {k: [] for k in ("obs", "infos", "masks", "actions", "log_probs", "values",
                                "rewards", "dones", "macro_steps")}

    # -- acting ---------------------------------------------------------------------------------

    def policy(self, obs: np.ndarray, infos: Sequence[dict]) -> tuple[torch.Tensor, np.ndarray]:
        """No-grad masked log-probs (B, n) and the mask, for acting."""
        import torch

        mask = action_mask(infos, self.n_actions)
        with torch.no_grad():
            logits = self.agent.logits(torch.as_tensor(obs, dtype=torch.float32), infos)
            return masked_log_probs(logits, torch.as_tensor(mask)), mask

    # -- training -------------------------------------------------------------------------------

    def learn(self, pool, steps: int) -> dict[str, float]:
        """Step ``pool`` for ``ceil(steps / num_envs)`` decisions per env, updating whenever a
        rollout is full. Returns this call's statistics (``env_steps`` = decisions taken)."""
        import torch

        if len(pool) != self.config.num_envs:
            raise ValueError(f"pool has {len(pool)} envs, config.num_envs={self.config.num_envs}")
        if pool.obs is None:
            raise ValueError("the pool must be reset before learn()")
        call_stats: dict[str, list[float]] = {}
        episode_returns: list[float] = []
        env_steps = 0
        for _ in range(math.ceil(steps / len(pool))):
            obs, infos = pool.obs, [trim_info(i) for i in pool.infos]
            log_probs, mask = self.policy(obs, infos)
            actions = sample_actions(log_probs, self.rng)
            with torch.no_grad():
                values = self.agent.values(torch.as_tensor(obs, dtype=torch.float32), infos)
            next_obs, rewards, dones, next_infos = pool.step(actions)
            r = self.rollout
            r["obs"].append(np.asarray(obs, dtype=np.float32))
            r["infos"].append(infos)
            r["masks"].append(mask)
            r["actions"].append(actions)
            r["log_probs"].append(log_probs[np.arange(len(actions)), actions].numpy())
            r["values"].append(values.double().numpy())
            r["rewards"].append(rewards)
            r["dones"].append(self.next_done)
            r["macro_steps"].append(np.array(
                [step_info(i).get("macro_action_steps", 1) for i in next_infos], dtype=np.float64))
            self.next_done = dones.astype(np.float64)
            for info in next_infos:
                if "final_info" in info and "episode" in info["final_info"]:
                    episode_returns.append(float(info["final_info"]["episode"]["return"]))
            env_steps += len(pool)
            if len(r["obs"]) == self.config.num_steps:
                update_stats = self.update(pool)
                for k, v in update_stats.items():
                    call_stats.setdefault(k, []).append(v)
                if self.on_update is not None:
                    self.on_update(self.stats["env_steps"] + env_steps, update_stats)
        self.stats["env_steps"] += env_steps
        self.stats["train_decisions"] += env_steps
        out = {"env_steps": env_steps, **{k: float(np.mean(v)) for k, v in call_stats.items()}}
        if episode_returns:
            out["train_return_mean"] = float(np.mean(episode_returns))
            out["train_episodes"] = len(episode_returns)
        return out

    def update(self, pool) -> dict[str, float]:
        """One PPO update on the full rollout; the pool supplies s_T for bootstrapping."""
        import torch

        cfg, r = self.config, self.rollout
        self.stats["updates"] += 1
        # Annealing: update u (1-based) uses lr0 * (1 - (u-1)/num_updates); past the planned number
        # of updates (a run extended beyond total_steps) it stays at the last positive value.
        if cfg.anneal_lr:
            frac = max(1.0 - (self.stats["updates"] - 1) / self.num_updates, 1.0 / self.num_updates)
            for name, opt in self.optimizers.items():
                for group, lr0 in zip(opt.param_groups, self.initial_lrs[name]):
                    group["lr"] = frac * lr0

        # Bootstrapped semi-MDP GAE.
        with torch.no_grad():
            next_infos = [trim_info(i) for i in pool.infos]
            next_value = self.agent.values(
                torch.as_tensor(pool.obs, dtype=torch.float32), next_infos).double().numpy()
        values = np.stack(r["values"])
        advantages, returns = compute_gae(
            np.stack(r["rewards"]), values, np.stack(r["dones"]), next_value, self.next_done,
            np.stack(r["macro_steps"]), cfg.gamma, cfg.gae_lambda)

        # Flatten (T, N) -> (T*N) in time-major order.
        b_obs = torch.as_tensor(np.concatenate(r["obs"]))
        b_infos = [info for step in r["infos"] for info in step]
        b_masks = torch.as_tensor(np.concatenate(r["masks"]))
        b_actions = torch.as_tensor(np.concatenate(r["actions"]))
        b_log_probs = torch.as_tensor(np.concatenate(r["log_probs"]), dtype=torch.float32)
        b_values = torch.as_tensor(values.reshape(-1), dtype=torch.float32)
        b_adv = torch.as_tensor(advantages.reshape(-1), dtype=torch.float32)
        b_returns = torch.as_tensor(returns.reshape(-1), dtype=torch.float32)
        self.rollout = self._empty_rollout()

        def finite(what: str, value) -> None:
            """A NaN/inf would silently poison the weights (a NaN policy still acts): stop here."""
            if not torch.isfinite(value).all():
                raise NonFiniteError(f"non-finite {what} in update {self.stats['updates']} "
                                     f"(after {self.stats['env_steps']} env steps)")

        def value_loss(idx):
            new_values = self.agent.values(b_obs[idx], [b_infos[i] for i in idx])
            return clipped_value_loss(new_values, b_values[idx], b_returns[idx], cfg.clip_coef,
                                      cfg.clip_vloss)

        def policy_backward(idx, joint: bool) -> dict[str, float]:
            """Backward of one minibatch's loss (divided by the accumulation steps), in the chunks
            the agent asks for (see :meth:`ActorCritic.loss_chunks`): each chunk's mean terms are
            weighted by its share of the minibatch, so the summed gradient is the minibatch's.
            Advantages are normalised over the whole minibatch first. One chunk (the default) is
            exactly the unchunked loss: its weight is 1.0."""
            adv = normalize(b_adv[idx]) if cfg.norm_adv else b_adv[idx]
            chunker = getattr(self.agent, "loss_chunks", None)
            parts = chunker([b_infos[i] for i in idx]) if chunker else [np.arange(len(idx))]
            terms = {"policy_loss": 0.0, "entropy": 0.0, "approx_kl": 0.0, "clip_fraction": 0.0}
            if joint:
                terms["value_loss"] = 0.0
            for part in parts:
                sub, weight = idx[part], len(part) / len(idx)
                logits = self.agent.logits(b_obs[sub], [b_infos[i] for i in sub])
                new_log_prob, entropy = log_prob_and_entropy(logits, b_masks[sub], b_actions[sub])
                pg, kl, clip_frac = clipped_policy_loss(new_log_prob, b_log_probs[sub],
                                                        adv[part], cfg.clip_coef)
                loss = pg - cfg.ent_coef * entropy.mean()
                if joint:
                    v_loss = value_loss(sub)
                    loss = loss + cfg.vf_coef * v_loss
                    terms["value_loss"] += weight * v_loss.item()
                finite("policy loss", loss)
                (loss * weight / cfg.grad_accum_steps).backward()
                for name, value in (("policy_loss", pg), ("entropy", entropy.mean()),
                                    ("approx_kl", kl), ("clip_fraction", clip_frac)):
                    terms[name] += weight * value.item()
            return terms

        log: dict[str, list[float]] = {k: [] for k in ("policy_loss", "value_loss", "entropy",
                                                       "approx_kl", "clip_fraction")}
        stopped = False
        batch = cfg.batch_size
        for _epoch in range(cfg.update_epochs):
            order = self.rng.permutation(batch)

            if cfg.schedule == "value-then-policy" and "critic" in self.optimizers:
                opt = self.optimizers["critic"]
                for start in range(0, batch, cfg.value_minibatch_size):
                    idx = order[start:start + cfg.value_minibatch_size]
                    v_loss = value_loss(idx)
                    finite("value loss", v_loss)
                    opt.zero_grad()
                    (cfg.vf_coef * v_loss).backward()
                    finite("value gradient norm", torch.nn.utils.clip_grad_norm_(
                        self.agent.critic_parameters(), cfg.max_grad_norm))
                    opt.step()
                    log["value_loss"].append(v_loss.item())

            if stopped:
                continue  # KL stop: later epochs still fit the value function
            # Policy phase (or the joint loss): optimiser steps over accumulated minibatches.
            joint = cfg.schedule == "joint"
            opt = self.optimizers["joint" if joint else "actor"] if (
                joint or "actor" in self.optimizers) else None
            if opt is None:
                continue
            params = (self.agent.actor_parameters() + self.agent.critic_parameters() if joint
                      else self.agent.actor_parameters())
            step_size = cfg.minibatch_size * cfg.grad_accum_steps
            for step_start in range(0, batch, step_size):
                opt.zero_grad()
                kls = []
                for start in range(step_start, step_start + step_size, cfg.minibatch_size):
                    terms = policy_backward(order[start:start + cfg.minibatch_size], joint)
                    kls.append(terms["approx_kl"])
                    for name, value in terms.items():
                        log[name].append(value)
                if cfg.target_kl is not None and np.mean(kls) > cfg.target_kl:
                    opt.zero_grad()
                    self.stats["kl_stops"] += 1
                    stopped = True
                    break
                finite("policy gradient norm",
                       torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm))
                opt.step()
                self.stats["actor_steps"] += 1
                self.agent.after_actor_step()
            if stopped and joint:
                break
        out = {k: float(np.mean(v)) for k, v in log.items() if v}
        explained = 1 - np.var(returns - values) / np.var(returns) if np.var(returns) > 0 else 0.0
        out.update(explained_variance=float(explained), kl_stop=float(stopped),
                   policy_lr=self._lr("actor"), value_lr=self._lr("critic"))
        return out

    def _lr(self, which: str) -> float:
        if "joint" in self.optimizers:
            groups = self.optimizers["joint"].param_groups
            i = 0 if which == "actor" or len(groups) == 1 else 1
            return float(groups[i]["lr"])
        opt = self.optimizers.get(which)
        return float(opt.param_groups[0]["lr"]) if opt else 0.0

    # -- checkpointing --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent.state_dict(),
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "rng": self.rng.bit_generator.state,
            "rollout": {k: list(v) for k, v in self.rollout.items()},
            "next_done": self.next_done.copy(),
            "stats": dict(self.stats),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        for k, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][k])
        self.rng.bit_generator.state = state["rng"]
        self.rollout = {k: list(v) for k, v in state["rollout"].items()}
        self.next_done = np.asarray(state["next_done"]).copy()
        self.stats = dict(state["stats"])
