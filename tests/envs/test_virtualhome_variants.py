"""The six unseen Food Preparation variants (spec §1b.8): same dynamics, only words substituted."""
from __future__ import annotations

import random

import pytest

from envs.virtualhome.graph import task_graph
from harness.registry import ENVS

# Spec §1b.8 table: variant -> (replaces "pancake", replaces "microwave")
SUBSTITUTIONS = {
    "cheese": ("cheese", "microwave"),
    "hamburger": ("hamburger", "microwave"),
    "apple-pie": ("apple pie", "microwave"),
    "pizza": ("pizza", "microwave"),
    "washing-plate": ("dishes", "dishwasher"),
    "laundry": ("clothes", "washing machine"),
}


def substitute(text, food, appliance):
    return text.replace("pancake", food).replace("microwave", appliance)


@pytest.mark.parametrize("suffix", SUBSTITUTIONS)
def test_variant_is_food_preparation_with_words_substituted(suffix):
    food, appliance = SUBSTITUTIONS[suffix]
    base, variant = task_graph("food-preparation"), task_graph(f"food-preparation-{suffix}")
    assert len(variant.nodes) == len(base.nodes)
    for b, v in zip(base.nodes, variant.nodes):
        # dynamics, observation vector and offered ids are Food Preparation's
        assert (v.state, v.next, v.flags, v.action_ids, v.success) == (b.state, b.next, b.flags, b.action_ids, b.success)
        assert v.prompt == substitute(b.prompt, food, appliance)
        assert v.actions == tuple(substitute(a, food, appliance) for a in b.actions)
        assert "pancake" not in v.prompt and (appliance == "microwave" or "microwave" not in v.prompt)
    assert variant.nodes[0].prompt.endswith(f"In order to heat up the {food} in the {appliance}, your next step is to")


def test_laundry_strings_from_spec():
    graph = task_graph("food-preparation-laundry")
    actions = {a for node in graph.nodes for a in node.actions}
    assert {"walk to the clothes", "walk to the washing machine", "grab the clothes",
            "put the clothes in the washing machine", "open the washing machine",
            "close the washing machine"} <= actions
    text = " ".join(node.prompt for node in graph.nodes)
    assert "The clothes is close to you." in text and "The washing machine is not opend." in text  # sic
    fixed = " ".join(node.prompt for node in task_graph("food-preparation-laundry", fix_typos=True).nodes)
    assert "The clothes are close to you." in fixed and "The clothes are in the washing machine." in fixed
    assert "The clothes is" not in fixed and "opend" not in fixed


@pytest.mark.parametrize("suffix", SUBSTITUTIONS)
def test_variant_env_steps_like_food_preparation(suffix):
    base = ENVS.get("virtualhome/food-preparation").make()
    variant = ENVS.get(f"virtualhome/food-preparation-{suffix}").make()
    rng = random.Random(7)
    for episode in range(20):
        (ob, ib), (ov, iv) = base.reset(seed=episode), variant.reset(seed=episode)
        while True:
            assert ob.tolist() == ov.tolist() and ib["action_ids"] == iv["action_ids"]
            a = rng.choice(ib["action_ids"])
            ob, rb, tb, ub, ib = base.step(a)
            ov, rv, tv, uv, iv = variant.step(a)
            assert (rb, tb, ub) == (rv, tv, uv)
            if tb or ub:
                assert ib["episode"] == iv["episode"]
                break
