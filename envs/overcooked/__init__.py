"""Macro-action Overcooked from TWOSOME (ICLR 2024): Tomato Salad and Tomato-Lettuce Salad.

A pure-Python re-implementation of the original ``Overcooked-LLMA-v4`` / ``-v3`` envs (spec §1a):

* ``layout``      the 7x7 maps, items, recipes and macro lists (static data);
* ``kitchen``     the grid simulation: state and primitive interaction rules;
* ``macro``       macro-actions -> primitive steps (navigation, early stops, chop);
* ``observation`` the raw-integer partial observation vector;
* ``text``        observation -> prompt + offered action strings (what the LLM reads);
* ``render``      ``ansi`` text grid and ``rgb_array`` picture;
* ``env``         the single-agent ``gymnasium.Env`` the harness registers;
* ``multi``       a 2-chef PettingZoo ``ParallelEnv`` on the same core.

Importing this package only registers factories; the env modules load on first use.
"""
from __future__ import annotations

from typing import Any

from envs.overcooked.macro import DISCOUNT
from harness.registry import register_env

_COMMON = dict(family="overcooked", paper_total_steps=500_000, default_total_steps=12_288,
               discount=DISCOUNT)


def _make(task: str, **kwargs: Any):
    from envs.overcooked.env import OvercookedEnv

    return OvercookedEnv(task, **kwargs)


@register_env(
    "overcooked/tomato-salad",
    description="Overcooked 7x7, one board: chop a tomato, put it in the bowl, serve (5 macro-actions, 5x5 view)",
    ceiling=0.9205,
    random_return=-0.093,
    **_COMMON,
)
def make_tomato_salad(obs_radius=2, rewards=None, max_primitive_steps=200, render_mode=None):
    """``obs_radius`` 2 = TWOSOME's 5x5 view (PPO baseline: 10 = whole map); ``rewards`` overrides
    any of subtask 0.2 / correct 1.0 / wrong -0.1 / step -0.001."""
    return _make("tomato-salad", obs_radius=obs_radius, rewards=rewards,
                 max_primitive_steps=max_primitive_steps, render_mode=render_mode)


@register_env(
    "overcooked/tomato-lettuce-salad",
    description="Overcooked 7x7, two boards: serve chopped tomato and lettuce in a bowl, onion is a distractor "
    "(8 macro-actions, 5x5 view)",
    ceiling=0.9477,
    random_return=-0.227,
    **_COMMON,
)
def make_tomato_lettuce_salad(obs_radius=2, rewards=None, max_primitive_steps=200, render_mode=None):
    """Same keyword arguments as :func:`make_tomato_salad`."""
    return _make("tomato-lettuce-salad", obs_radius=obs_radius, rewards=rewards,
                 max_primitive_steps=max_primitive_steps, render_mode=render_mode)


def parallel_env(task: str = "tomato-salad", **kwargs: Any):
    """The 2-chef PettingZoo ``ParallelEnv`` (see ``envs.overcooked.multi``)."""
    from envs.overcooked.multi import OvercookedParallelEnv

    return OvercookedParallelEnv(task, **kwargs)
