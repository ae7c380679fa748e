"""VirtualHome as TWOSOME uses it: Food Preparation, Entertainment and six unseen variants, in pure Python.

The original runs VirtualHome's EvolvingGraph script executor on a fixed scene graph (no Unity).
This package re-implements the part of it the two tasks reach as a small symbolic state machine
(spec ``twosome-reference.md`` §1b): the same observation vectors, offered actions, prompts (typos
included), rewards, 50-step horizon and 0.95-discounted logged return. It reproduces every
observation of the spec's Appendix B catalogs (19 and 100) and its optimal traces exactly.

Modules: ``scene`` (things and the symbolic state), ``actions`` (executor rules), ``prompts``
(flags -> prompt text and offered ids), ``tasks`` (the task definitions), ``graph`` (the reachable
state table the env steps through), ``env`` (the gymnasium env).

Registered envs (``harness.registry.ENVS``):
``virtualhome/food-preparation``, ``virtualhome/entertainment`` and the unseen generalization set
``virtualhome/food-preparation-{cheese,hamburger,apple-pie,pizza,washing-plate,laundry}``.

Factory keywords: ``fix_typos=False``, ``legacy_wording=False``, ``strict_actions=False``,
``render_mode=None|"ansi"``.

Deliberate differences from the original, and choices where the spec leaves room:

1. Non-offered action ids. The original env executes whatever id it is given (the offered list
   exists only in the policy's ``obs2text``), so by default we do the same, with the spec's
   preconditions: a failing action is a no-op that costs a step. The spec verified its rules on
   the offered transitions only, so what a *succeeding* non-offered action does (grabbing the
   pancake back out of the open microwave, standing up from the sofa) follows the spec's rules but
   is not verified against the original. ``strict_actions=True`` raises ``ValueError`` (naming the
   id and the offered ids) for any non-offered id instead. Ids outside the action space always raise.
2. Episode end. The original's vector env auto-resets and logs ``info['episode'] = {'r', 'l'}``;
   here the ending step returns the final observation and ``info['episode'] = {'return', 'length',
   'success'}`` (harness contract), and stepping again before ``reset()`` raises ``RuntimeError``.
3. Hidden state. We keep only the facts that change observations, so the reachable state counts
   (Food Preparation 46 states / 177 offered transitions, Entertainment 222 / 933) are smaller than
   the spec's counts of raw executor graphs (49 / 197, 316 / 1340); the observations, prompts,
   offered lists, rewards and optimal returns are the same.
4. Wording. The prompts and action strings are those of the released code (HEAD, after commit
   ea878f3: "close to you", "walk to the ..."). The paper's runs may have used the older wording
   (spec §4 item 9); ``legacy_wording=True`` reconstructs it from spec §1b.2: the older action
   strings ("reach for the pancake", "move to the microwave", "take a seat on the sofa", ...) and
   "close to you" -> "within your immediate reach" in every prompt. It is a reconstruction from
   that description, not a transcription of the old code.
5. Unseen variants. Word substitutions on Food Preparation taken from ADRL (spec §1b.8, a secondary
   source): pancake -> cheese / hamburger / apple pie / pizza / dishes / clothes, microwave ->
   dishwasher / washing machine for the last two, goal "heat up the ... in the ..." kept (sic).
6. ``fix_typos=True`` (off by default) changes text only, never an offered list or a transition:
   "not opend" -> "not opened"; "You are in the bathroom. and notice" -> "... bathroom and notice";
   "grabbed the them" -> "grabbed them"; the duplicated "Currently, you have grabbed the chips in
   hand." keeps only its second, more informative sentence; "The TV is not close to you." (said
   when close to the coffee table with one snack on it) -> "The coffee table is close to you.";
   "The sofa is not close to you." (said when close to the switched-on TV) -> "The TV is close to
   you."; plural variant nouns take "are" ("The clothes are close to you."). Dynamics bugs stay
   (the kitchen offers "walk to" the invisible other snack; "stand up" is offered only when not
   sitting): fixing them would change the task's returns.
"""
from __future__ import annotations

import functools

from envs.virtualhome.tasks import GAMMA
from harness.registry import register_env

FOOD_CEILING = GAMMA**5  # 6-step optimum (spec B.3): 0.7738
ENTERTAINMENT_CEILING = GAMMA**10  # 11-step optimum (spec B.4): 0.5987

_VARIANT_DESCRIPTIONS = {
    "cheese": "heat the cheese in the microwave",
    "hamburger": "heat the hamburger in the microwave",
    "apple-pie": "heat the apple pie in the microwave",
    "pizza": "heat the pizza in the microwave",
    "washing-plate": "put the dishes in the dishwasher (prompt says 'heat up', as in ADRL)",
    "laundry": "put the clothes in the washing machine (prompt says 'heat up', as in ADRL)",
}


def make(task: str, *, fix_typos: bool = False, legacy_wording: bool = False, strict_actions: bool = False,
         render_mode: str | None = None):
    """Build the env of one task name of ``envs.virtualhome.tasks.TASKS`` (imports lazily)."""
    from envs.virtualhome.env import VirtualHomeEnv

    return VirtualHomeEnv(task, fix_typos=fix_typos, legacy_wording=legacy_wording,
                          strict_actions=strict_actions, render_mode=render_mode)


register_env(
    "virtualhome/food-preparation",
    description="VirtualHome: heat the pancake in the microwave (6-step optimum, 10 actions, 11 flags)",
    family="virtualhome", ceiling=FOOD_CEILING, random_return=0.003, paper_total_steps=50_000,
    discount=GAMMA,
    # CPU budget: every measured cpu-preset run reached 0.7 by then (ppo 10 seeds by 22k, twosome
    # 3 seeds by 27.6k steps; docs/methods.md); ~20 min for twosome on one core.
    default_total_steps=30_720, transfer_from=("virtualhome/entertainment",),
)(functools.partial(make, "food-preparation"))

register_env(
    "virtualhome/entertainment",
    description="VirtualHome: watch TV on the sofa with chips and milk (11-step optimum, 17 actions, 21 flags)",
    family="virtualhome", ceiling=ENTERTAINMENT_CEILING, random_return=0.0, paper_total_steps=200_000,
    discount=GAMMA,
    default_total_steps=20_480, transfer_from=("virtualhome/food-preparation",),
)(functools.partial(make, "entertainment"))

for _suffix, _what in _VARIANT_DESCRIPTIONS.items():
    # Evaluation-only (zero-shot generalization): no training budget of their own.
    register_env(
        f"virtualhome/food-preparation-{_suffix}",
        description=f"Unseen Food Preparation variant: {_what}; same dynamics, other words",
        family="virtualhome", ceiling=FOOD_CEILING, random_return=0.003, paper_total_steps=None,
        discount=GAMMA,
        tags=("unseen",), base_task="virtualhome/food-preparation",
    )(functools.partial(make, f"food-preparation-{_suffix}"))
