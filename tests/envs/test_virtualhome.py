"""VirtualHome re-implementation against the spec (twosome-reference.md §1b, Appendix B)."""
from __future__ import annotations

import copy
import json
import math
import pickle
import random
import warnings
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.virtualhome.env import VirtualHomeEnv
from envs.virtualhome.graph import policy_outcome, task_graph, uniform_policy
from envs.virtualhome.tasks import TASKS
from harness.registry import ENVS

CATALOG = json.loads((Path(__file__).parent / "data" / "virtualhome_catalog.json").read_text())
MAIN_TASKS = ("food-preparation", "entertainment")
VH_ENVS = [name for name in ENVS.names() if name.startswith("virtualhome/")]


def offered_reachable(graph):
    """Node indices reachable from the start taking only offered actions (the policy's view)."""
    seen, queue = {0}, deque([0])
    while queue:
        node = graph.nodes[queue.popleft()]
        if node.success:
            continue
        for a in node.action_ids:
            if node.next[a] not in seen:
                seen.add(node.next[a])
                queue.append(node.next[a])
    return seen


def flag_set(task, flags):
    return sorted(name for name, value in zip(task.flag_names, flags) if value)


# -- registry and gymnasium API ----------------------------------------------------------------
def test_all_envs_registered_with_spec_fields():
    unseen = [f"virtualhome/food-preparation-{s}" for s in
              ("cheese", "hamburger", "apple-pie", "pizza", "washing-plate", "laundry")]
    assert sorted(VH_ENVS) == sorted(["virtualhome/food-preparation", "virtualhome/entertainment", *unseen])
    food, ent = ENVS.get("virtualhome/food-preparation"), ENVS.get("virtualhome/entertainment")
    assert (round(food.ceiling, 4), food.random_return, food.paper_total_steps) == (0.7738, 0.003, 50_000)
    assert (round(ent.ceiling, 4), ent.random_return, ent.paper_total_steps) == (0.5987, 0.0, 200_000)
    for name in unseen:
        spec = ENVS.get(name)
        assert spec.tags == ("unseen",) and spec.base_task == "virtualhome/food-preparation"
        assert spec.family == "virtualhome" and spec.ceiling == food.ceiling and spec.description
    assert all(ENVS.get(name).family == "virtualhome" for name in VH_ENVS)


@pytest.mark.parametrize("name", VH_ENVS)
def test_gymnasium_check_env(name):
    env = ENVS.get(name).make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test ...
        warnings.filterwarnings("ignore", message=".*not having a spec")  # ... but this one is about gym.make
        check_env(env)
    assert env.observation_space.shape == ((11,) if "entertainment" not in name else (21,))
    assert env.observation_space.dtype == np.float32


def test_info_contract_and_fresh_data():
    env = VirtualHomeEnv("food-preparation")
    obs, info = env.reset(seed=3)
    assert obs.tolist() == [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0]  # spec §1b.3 initial vector
    assert info["action_ids"] == [0, 2, 3, 4, 5]
    assert info["actions"] == ["walk to the living room", "walk to the bathroom", "walk to the bedroom",
                               "walk to the pancake", "walk to the microwave"]
    assert np.flatnonzero(info["action_mask"]).tolist() == [0, 2, 3, 4, 5] and info["action_mask"].dtype == bool
    obs[:] = 0  # the env hands out copies: mutating them does not leak into the next step
    info["actions"].clear()
    obs2, _, _, _, info2 = env.step(4)
    assert obs2[0] == 1 and info2["actions"][0] == "walk to the living room"


def test_env_pool_same_step_autoreset():
    from harness.env_api import EnvPool

    pool = EnvPool([VirtualHomeEnv("food-preparation") for _ in range(2)])
    obs, infos = pool.reset(seed=0)
    for a in (4, 6, 5, 8, 7):
        obs, rewards, dones, infos = pool.step([a, 0])
        assert not dones.any()
    obs, rewards, dones, infos = pool.step([9, 1])
    assert rewards.tolist() == [1.0, 0.0] and dones.tolist() == [True, False]
    assert infos[0]["final_info"]["episode"]["length"] == 6 and obs[0].tolist() == [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0]
    assert infos[0]["action_ids"] == [0, 2, 3, 4, 5]  # the new episode's first offer


# -- Appendix B catalogs -----------------------------------------------------------------------
@pytest.mark.parametrize("task_name", MAIN_TASKS)
def test_offered_walk_reaches_exactly_the_spec_catalog(task_name):
    graph, expected = task_graph(task_name), CATALOG[task_name]
    task = graph.task
    found = {}  # observation -> (middle text, offered ids, all its states are success states)
    for i in offered_reachable(graph):
        node = graph.nodes[i]
        key = tuple(flag_set(task, node.flags))
        entry = (node.middle_text, list(node.action_ids))
        assert found.get(key, (entry,))[0] == entry, f"one observation, two renderings: {key}"
        terminal = found.get(key, (None, True))[1] and node.success
        found[key] = (entry, terminal)
        assert node.prompt == CATALOG["prefix"] + node.middle_text + expected["suffix"]
    spec = {tuple(o["flags"]): ((o["middle_text"], o["offered"]), o["terminal_only"]) for o in expected["observations"]}
    assert len(found) == len(spec) == {"food-preparation": 19, "entertainment": 100}[task_name]
    assert set(found) == set(spec)
    for key in spec:
        assert found[key] == spec[key], key


@pytest.mark.parametrize("task_name", MAIN_TASKS)
def test_env_info_matches_graph_on_random_walks(task_name):
    graph, rng = task_graph(task_name), random.Random(0)
    env = VirtualHomeEnv(task_name)
    by_obs = {node.flags: node for node in graph.nodes}
    for episode in range(30):
        obs, info = env.reset(seed=episode)
        done = False
        while not done:
            node = by_obs[tuple(bool(x) for x in obs)]
            assert (info["prompt"], info["action_ids"]) == (node.prompt, list(node.action_ids))
            assert info["actions"] == [env.task.action_text(i) for i in info["action_ids"]]
            obs, _, terminated, truncated, info = env.step(rng.choice(info["action_ids"]))
            done = terminated or truncated


# -- golden traces and optimality --------------------------------------------------------------
@pytest.mark.parametrize("task_name", MAIN_TASKS)
def test_shortest_trajectory_reproduces_spec(task_name):
    trace = CATALOG[task_name]["shortest"]
    env = VirtualHomeEnv(task_name)
    obs, info = env.reset(seed=0)
    for row in trace["steps"]:
        assert obs.tolist() == row["obs"]
        assert info["action_ids"] == row["offered"]
        assert info["actions"][info["action_ids"].index(row["action"])] == row["action_text"]
        obs, reward, terminated, truncated, info = env.step(row["action"])
        assert (reward, terminated, truncated) == (row["reward"], row["done"], False)
    assert info["episode"]["length"] == trace["length"]
    assert info["episode"]["return"] == trace["return"]  # bit-exact: same incremental discounting
    assert info["episode"]["success"] is True
    assert info["episode"]["return"] == pytest.approx(ENVS.get(f"virtualhome/{task_name}").ceiling, abs=1e-12)


def test_second_entertainment_optimum_from_spec():
    # §1b.5: both snacks, coffee table, put the chips on it, TV, turn on, sofa, sit.
    env = VirtualHomeEnv("entertainment", strict_actions=True)
    env.reset()
    for a in (4, 9, 5, 10, 0, 6, 11, 7, 13, 8):
        assert not env.step(a)[2]
    _, reward, terminated, _, info = env.step(15)
    assert (reward, terminated, info["episode"]["length"]) == (1.0, True, 11)


@pytest.mark.parametrize("task_name, best", [("food-preparation", 6), ("entertainment", 11)])
def test_nothing_beats_the_spec_optimum(task_name, best):
    # Deterministic, reward only at success: the best logged return is gamma**(shortest - 1).
    # Search over *all* ids (the env executes non-offered ones too), not just the offered ones.
    graph = task_graph(task_name)
    depth, queue = {0: 0}, deque([0])
    shortest = None
    while queue and shortest is None:
        i = queue.popleft()
        for j in graph.nodes[i].next:
            if j not in depth:
                depth[j] = depth[i] + 1
                if graph.nodes[j].success:
                    shortest = depth[j]
                    break
                queue.append(j)
    assert shortest == best
    assert ENVS.get(f"virtualhome/{task_name}").ceiling == pytest.approx(0.95 ** (best - 1), abs=1e-15)


# -- random policy (uniform over offered actions) -----------------------------------------------
@pytest.mark.parametrize("task_name", ["food-preparation", "entertainment"])
def test_policy_outcome_of_the_shortest_path_policy_is_the_ceiling(task_name):
    graph = task_graph(task_name)
    dist = {i: 0 for i, n in enumerate(graph.nodes) if n.success}  # decisions left, by relaxation
    for _ in graph.nodes:  # Bellman-Ford style (Entertainment has dead ends: sitting blocks walks)
        for i, n in enumerate(graph.nodes):
            if n.success:
                continue
            reach = [dist[n.next[a]] for a in n.action_ids if n.next[a] in dist]
            if reach:
                dist[i] = min(dist.get(i, len(graph.nodes)), 1 + min(reach))

    def shortest(node):
        left = [dist.get(node.next[a], math.inf) for a in node.action_ids]
        return np.eye(len(left))[int(np.argmin(left))]

    success, mean_return = policy_outcome(graph, shortest)
    assert success == 1.0
    assert mean_return == pytest.approx(ENVS.get(f"virtualhome/{task_name}").ceiling, abs=1e-12)
    assert policy_outcome(graph, lambda n: np.eye(len(n.action_ids))[0])[0] == 0.0  # first offered
    with pytest.raises(ValueError, match=r"gave shape \(1,\) for a node with 5 offered actions"):
        policy_outcome(graph, lambda n: [1.0])


def binomial_two_sided_p(k, n, p):
    pmf = [math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(n + 1)]
    return min(1.0, sum(x for x in pmf if x <= pmf[k] * (1 + 1e-9)))


@pytest.mark.parametrize("task_name, spec_successes", [("food-preparation", 5), ("entertainment", 0)])
def test_random_policy_matches_spec(task_name, spec_successes):
    # The spec's figures come from 300 random episodes per task (§1b): 1.7% = 5/300, 0% = 0/300.
    success, mean_return = policy_outcome(task_graph(task_name), uniform_policy)
    assert binomial_two_sided_p(spec_successes, 300, success) > 0.05  # spec's count is unsurprising
    assert round(mean_return, 3) == ENVS.get(f"virtualhome/{task_name}").random_return  # 0.003 / 0.000
    assert success == pytest.approx({"food-preparation": 0.015004, "entertainment": 0.003044}[task_name], abs=1e-6)

    # The env itself, sampled: within 4 standard errors of the exact value.
    env, rng, n = VirtualHomeEnv(task_name), random.Random(12345), 3000
    wins, total = 0, 0.0
    for _ in range(n):
        _, info = env.reset()
        while "episode" not in info:
            _, _, _, _, info = env.step(rng.choice(info["action_ids"]))
        wins += info["episode"]["success"]
        total += info["episode"]["return"]
    se = math.sqrt(success * (1 - success) / n)
    assert abs(wins / n - success) < 4 * se + 1e-9
    assert abs(total / n - mean_return) < 4 * math.sqrt(success / n)  # returns lie in [0, 1]: var <= P(success)


# -- dynamics details the spec singles out -----------------------------------------------------
def run(task_name, actions, **kwargs):
    env = VirtualHomeEnv(task_name, **kwargs)
    obs, info = env.reset()
    for a in actions:
        obs, _, _, _, info = env.step(a)
    return env, obs, info


def test_held_pancake_room_lag_teleports():
    # kitchen: walk to pancake, grab, bathroom, kitchen, then "walk to the pancake" lands in the bathroom.
    _, obs, info = run("food-preparation", [4, 6, 2, 1])
    assert obs[0] == 1 and 4 in info["action_ids"]
    _, obs, info = run("food-preparation", [4, 6, 2, 1, 4])
    assert obs.tolist()[:4] == [0, 1, 0, 0] and obs[6] == 1
    assert info["prompt"].startswith(CATALOG["prefix"] + "bathroom. and notice nothing useful. Currently, you have grabbed")


def test_failed_actions_cost_a_step_and_horizon_truncates():
    env = VirtualHomeEnv("food-preparation")
    obs0, _ = env.reset()
    for t in range(1, 51):
        obs, reward, terminated, truncated, info = env.step(8)  # open the microwave: not close, fails
        assert obs.tolist() == obs0.tolist() and reward == 0.0 and not terminated
        assert truncated == (t == 50)
    assert info["episode"] == {"return": 0.0, "length": 50, "success": False}
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_entertainment_quirks():
    # Two full hands block the TV switch.
    _, obs, _ = run("entertainment", [4, 9, 5, 10, 0, 7, 13])
    assert obs[15] == 0  # is_tv_on
    # Seated without the snacks: only room walks are offered and they all fail.
    env, obs, info = run("entertainment", [0, 7, 13, 8, 15])
    assert info["action_ids"] == [1, 2, 3] and obs[18] == 1
    for a in (1, 2, 3):
        obs2, _, _, _, _ = env.step(a)
        assert obs2.tolist() == obs.tolist()
    # Kitchen with only the chips in sight offers "walk to the milk", which fails (milk on the table).
    env, obs, info = run("entertainment", [5, 10, 0, 6, 12, 1])
    assert info["action_ids"] == [0, 2, 3, 5] and info["actions"][3] == "walk to the milk"
    assert env.step(5)[0].tolist() == obs.tolist()


def test_non_offered_ids_follow_original_or_raise_when_strict():
    env, obs, info = run("food-preparation", [])
    assert 6 not in info["action_ids"]
    assert env.step(6)[0].tolist() == obs.tolist()  # grab while not close: executed, fails, costs a step
    strict = VirtualHomeEnv("food-preparation", strict_actions=True)
    strict.reset()
    with pytest.raises(ValueError, match=r"action id 6 \('grab the pancake'\) is not offered.*0 \('walk to the living room'\)"):
        strict.step(6)
    with pytest.raises(ValueError, match=r"out of range.*0\.\.9"):
        strict.step(10)
    with pytest.raises(ValueError, match="integer"):
        strict.step(1.5)
    assert strict.step(np.int64(4))[0][5] == 1  # numpy ints are fine


def test_reset_is_deterministic_and_seed_accepted():
    a, b = VirtualHomeEnv("entertainment"), VirtualHomeEnv("entertainment")
    assert a.reset(seed=1)[0].tolist() == b.reset(seed=999)[0].tolist() == b.reset()[0].tolist()


def test_pickle_mid_episode_continues_identically():
    env, _, _ = run("entertainment", [4, 9, 5])
    clone = pickle.loads(pickle.dumps(env))
    assert len(pickle.dumps(env)) < 4000  # the state table is not pickled
    for a in (10, 0, 6, 11, 7, 13, 8):
        x, y = env.step(a), clone.step(a)
        assert x[0].tolist() == y[0].tolist() and x[1:4] == y[1:4] and x[4]["prompt"] == y[4]["prompt"]
    deep = copy.deepcopy(env)
    assert deep.step(15)[4]["episode"] == env.step(15)[4]["episode"] == {
        "return": 0.5987369392383786, "length": 11, "success": True}  # spec B.4's logged value, to the last bit


def test_render_ansi():
    env = VirtualHomeEnv("food-preparation", render_mode="ansi")
    env.reset()
    assert env.render().endswith("your next step is to\n  [0] walk to the living room\n  [2] walk to the bathroom\n"
                                 "  [3] walk to the bedroom\n  [4] walk to the pancake\n  [5] walk to the microwave")
    with pytest.raises(ValueError, match="render_mode"):
        VirtualHomeEnv("food-preparation", render_mode="human")
    with pytest.raises(ValueError, match="unknown VirtualHome task 'cooking'.*food-preparation"):
        VirtualHomeEnv("cooking")


# -- fix_typos -----------------------------------------------------------------------------------
TYPOS = ("not opend", "bathroom. and", "bedroom. and", "living room. and", "the them",
         "Currently, you have grabbed the chips in hand. Currently,")


@pytest.mark.parametrize("task_name", MAIN_TASKS)
def test_fix_typos_changes_text_only(task_name):
    original, fixed = task_graph(task_name), task_graph(task_name, fix_typos=True)
    assert [(n.state, n.next, n.action_ids, n.actions, n.flags) for n in original.nodes] == \
           [(n.state, n.next, n.action_ids, n.actions, n.flags) for n in fixed.nodes]
    reachable = offered_reachable(original)
    original_text = " ".join(original.nodes[i].prompt for i in reachable)
    fixed_text = " ".join(fixed.nodes[i].prompt for i in reachable)
    present = [typo for typo in TYPOS if typo in original_text]
    assert present and not any(typo in fixed_text for typo in TYPOS)
    if task_name == "entertainment":  # the sentences about the wrong object are gone too
        assert "The TV is not close to you." in original_text and "The sofa is not close to you." in original_text
        assert "The TV is not close to you." not in fixed_text and "The sofa is not close to you." not in fixed_text


@pytest.mark.parametrize("task_name", MAIN_TASKS)
def test_legacy_wording_changes_text_only(task_name):
    head, legacy = task_graph(task_name), task_graph(task_name, legacy_wording=True)
    # spec §1b.2: the strings used before commit ea878f3, by global id
    old = {"food-preparation": {4: "reach for the pancake", 5: "move to the microwave"},
           "entertainment": {4: "reach for the chips", 5: "reach for the milk", 6: "move to the coffee table",
                             7: "move to the TV", 8: "move to the sofa", 15: "take a seat on the sofa"}}[task_name]
    for h, g in zip(head.nodes, legacy.nodes):
        assert (g.state, g.next, g.action_ids) == (h.state, h.next, h.action_ids)
        assert list(g.actions) == [old.get(i, text) for i, text in zip(h.action_ids, h.actions)]
        assert g.prompt == h.prompt.replace("close to you", "within your immediate reach")
    assert any("within your immediate reach" in g.prompt for g in legacy.nodes)
    env = VirtualHomeEnv(task_name, legacy_wording=True)
    assert env.reset()[1]["actions"][3] == old[4]


def test_new_task_is_a_small_definition():
    # A household task no TWOSOME env has: put the milk in the fridge. Only data and two small functions.
    from envs.virtualhome.actions import Action
    from envs.virtualhome.graph import build_graph
    from envs.virtualhome.scene import ON, Scene, SceneState, Thing
    from envs.virtualhome.tasks import Task

    def render(f, w):
        text = "kitchen. " + ("You hold the milk. " if f.hold_milk else "")
        return text, tuple(range(6)) if f.see_milk else (2, 3)

    task = Task(
        name="store-milk",
        scene=Scene(things={"milk": Thing("milk", 46, movable=True),
                            "kitchentable": Thing("kitchentable", 72, room="kitchen"),
                            "fridge": Thing("fridge", 1, room="kitchen", openable=True)},
                    start=SceneState(room="kitchen", places=(("milk", ON, "kitchentable"),))),
        actions=(Action("walk", "milk", text="walk to the milk"), Action("grab", "milk", text="grab the milk"),
                 Action("walk", "fridge", text="walk to the {fridge}"), Action("open", "fridge", text="open the {fridge}"),
                 Action("put_in", "milk", "fridge", text="put the milk in the {fridge}"),
                 Action("close", "fridge", text="close the {fridge}")),
        flags=(("in_kitchen", "in_room", ("kitchen",)), ("see_milk", "see", ("milk",)), ("hold_milk", "hold", ("milk",))),
        goal=lambda f: f.in_kitchen and not f.see_milk,
        render=render,
        goal_text="In order to store the milk, ",
    )
    graph = build_graph(task)
    with pytest.raises(ValueError, match="action 0 .* refers to 'milkk', which is not in the scene"):
        Task(**{**task.__dict__, "actions": (Action("walk", "milkk", text="walk to the milk"),)})
    path, i = [], 0
    for a in range(6):  # the obvious plan, in id order
        i = graph.nodes[i].next[a]
        path.append(graph.nodes[i].success)
    assert path == [False] * 5 + [True]
    assert graph.nodes[0].actions[2] == "walk to the fridge"
    assert graph.nodes[0].prompt.endswith("kitchen. In order to store the milk, your next step is to")


def test_task_table_covers_spec_vocabularies():
    food, ent = TASKS["food-preparation"], TASKS["entertainment"]
    assert [food.action_text(i) for i in range(10)] == [
        "walk to the living room", "walk to the kitchen", "walk to the bathroom", "walk to the bedroom",
        "walk to the pancake", "walk to the microwave", "grab the pancake", "put the pancake in the microwave",
        "open the microwave", "close the microwave"]
    assert [ent.action_text(i) for i in range(4, 17)] == [
        "walk to the chips", "walk to the milk", "walk to the coffee table", "walk to the TV", "walk to the sofa",
        "grab the chips", "grab the milk", "put the chips on the coffee table", "put the milk on the coffee table",
        "turn on the TV", "turn off the TV", "sit on the sofa", "stand up from the sofa"]
    assert len(food.flags) == 11 and len(ent.flags) == 21
