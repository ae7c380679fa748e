"""Two-chef Overcooked (PettingZoo ParallelEnv) on the shared simulation core."""
from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from envs.overcooked import parallel_env
from envs.overcooked.env import OvercookedEnv
from envs.overcooked.multi import MAX_JOINT_MACRO_STEPS

TASKS = ("tomato-salad", "tomato-lettuce-salad")
IDLE = {"tomato-salad": 4, "tomato-lettuce-salad": 7}  # "chop nothing": one stay step


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("obs_radius", [2, 10])
def test_pettingzoo_api(task, obs_radius):
    parallel_api_test(parallel_env(task, obs_radius=obs_radius), num_cycles=300)


@pytest.mark.parametrize("task", TASKS)
def test_pettingzoo_seed_test(task):
    parallel_seed_test(lambda: parallel_env(task))


def play(env, seed: int, episodes: int):
    rng = random.Random(seed)
    log = []
    for episode in range(episodes):
        observations, infos = env.reset(seed=episode)
        log.append(([o.tolist() for o in observations.values()], [i["prompt"] for i in infos.values()]))
        while env.agents:
            actions = {a: rng.randrange(env.n_actions) for a in env.agents}
            observations, rewards, terminations, truncations, infos = env.step(actions)
            log.append((actions, [o.tolist() for o in observations.values()], rewards, terminations, truncations))
    return log


def test_whole_episodes_are_deterministic():
    assert play(parallel_env("tomato-lettuce-salad"), 3, 20) == play(parallel_env("tomato-lettuce-salad"), 3, 20)


def test_chef_0_alone_reproduces_the_single_agent_best_sequence_with_a_detour():
    """chef_1 idles at (1, 2), which lies on chef_0's way to the board: chef_0 steps around it (2 extra
    steps); every state after a macro equals the single-agent trace C.1, and the reward is shared."""
    env = parallel_env("tomato-salad")
    single = OvercookedEnv("tomato-salad")
    env.reset()
    single.reset()
    for action in (0, 2, 4, 0, 1, 3):
        observations, rewards, terminations, truncations, infos = env.step({"chef_0": action, "chef_1": 4})
        single_obs, reward, _, _, info = single.step(action)
        assert rewards["chef_0"] == rewards["chef_1"]
        assert infos["chef_0"]["macro_action_steps"] == info["macro_action_steps"] + (2 if action == 2 else 0)
        if action != 2:
            assert rewards["chef_0"] == pytest.approx(reward, abs=1e-12)
        # chef_0's vector = the single-agent vector with chef_1's position inserted before the one-hot
        assert observations["chef_0"][:-9].tolist() == single_obs[:-7].tolist()
        assert infos["chef_0"]["prompt"] == info["prompt"]
        assert infos["chef_0"]["actions"] == info["actions"]
    assert terminations == {"chef_0": True, "chef_1": True} and not any(truncations.values())
    assert env.agents == []
    episode = infos["chef_0"]["episode"]
    assert episode == infos["chef_1"]["episode"]
    assert episode["success"] is True and episode["length"] == 6 and episode["primitive_steps"] == 30
    # macros of 2, 7, 3, 1, 10, 7 primitive steps: chopped on step 11, served on step 29 (0-based)
    expected = sum(-0.001 * 0.99**t for t in range(30)) + 0.2 * 0.99**11 + 1.0 * 0.99**29
    assert episode["return"] == pytest.approx(expected, abs=1e-12)


def test_observation_layout_and_own_prompt():
    env = parallel_env("tomato-salad")
    observations, infos = env.reset()
    # chef_0 at (1, 4) sees the tomato and chef_1 at (1, 2); chef_1 sees the board and the delivery
    # counter but not the tomato (|dy| = 3)
    assert observations["chef_0"].astype(int).tolist() == [0, 5, 0, 0, 0, 0, 0, 0, 0, 1, 4, 1, 2, 1, 0, 0, 0, 0, 0, 0]
    assert observations["chef_1"].astype(int).tolist() == [0, 0, 0, 0, 0, 1, 0, 3, 0, 1, 2, 1, 4, 1, 0, 0, 0, 0, 0, 0]
    assert infos["chef_0"]["prompt"] == OvercookedEnv("tomato-salad").reset()[1]["prompt"]
    assert "You notice" not in infos["chef_1"]["prompt"]
    assert env.observation_space("chef_0").shape == (20,)


def test_target_carried_by_the_partner_ends_the_macro():
    env = parallel_env("tomato-salad")
    env.reset()
    env.step({"chef_0": 0, "chef_1": 4})  # chef_0 picks up the tomato
    assert env.kitchen.held == [0, -1]
    *_, infos = env.step({"chef_0": 4, "chef_1": 0})  # chef_1: "pick up the tomato" -> it is carried
    assert infos["chef_1"]["macro_action_steps"] == 1
    assert env.kitchen.agents[1] == (1, 2) and env.kitchen.held == [0, -1]


def test_partner_on_the_approach_cell_ends_the_macro_at_once():
    env = parallel_env("tomato-salad")
    env.reset()
    env.step({"chef_0": 4, "chef_1": 2})  # chef_1 walks to (1, 1), the board's only access cell
    assert env.kitchen.agents[1] == (1, 1)
    env.step({"chef_0": 0, "chef_1": 4})  # chef_0 fetches the tomato
    *_, infos = env.step({"chef_0": 2, "chef_1": 4})  # no way to the board: stay, macro over
    assert infos["chef_0"]["macro_action_steps"] == 1
    assert env.kitchen.agents[0] == (1, 5) and env.kitchen.held[0] == 0


def test_primitive_moves_resolve_one_chef_after_the_other():
    from envs.overcooked.layout import DOWN, LEFT, RIGHT, UP

    env = parallel_env("tomato-salad")
    env.reset()
    k = env.kitchen
    k.agents = [(2, 3), (2, 4)]
    assert k.step([RIGHT, RIGHT])[1] == [] and k.agents == [(2, 4), (2, 5)]  # follows into a vacated cell
    assert k.step([RIGHT, LEFT])[1] == [0, 1] and k.agents == [(2, 4), (2, 5)]  # no swapping through
    k.agents = [(2, 3), (3, 4)]
    assert k.step([RIGHT, UP])[1] == [1] and k.agents == [(2, 4), (3, 4)]  # same cell: chef_0 first
    assert k.step([DOWN, DOWN])[1] == [] and k.agents == [(3, 4), (4, 4)]


@pytest.mark.parametrize("task", TASKS)
def test_random_play_keeps_the_kitchen_consistent(task):
    env = parallel_env(task)
    rng = random.Random(11)
    longest = 0
    for episode in range(300):
        env.reset(seed=episode)
        while env.agents:
            *_, infos = env.step({a: rng.randrange(env.n_actions) for a in env.agents})
            k = env.kitchen
            longest = max(longest, infos["chef_0"]["macro_action_steps"])
            assert k.agents[0] != k.agents[1]
            assert all(k.kinds[x][y] == 0 for x, y in k.agents)
            if not k.delivered:  # every object is in exactly one place
                places = list(k.lying.values()) + [h for h in k.held if h >= 0] + k.contents
                assert sorted(places) == list(range(k.plate + 1))
    assert longest < MAX_JOINT_MACRO_STEPS  # no two chefs dancing around each other forever


def test_pickle_and_render():
    env = parallel_env("tomato-lettuce-salad", render_mode="ansi")
    env.reset()
    env.step({"chef_0": 0, "chef_1": 1})
    clone = pickle.loads(pickle.dumps(env))
    actions = {"chef_0": 4, "chef_1": 3}
    out, out_clone = env.step(actions), clone.step(actions)
    assert all(np.array_equal(out[0][a], out_clone[0][a]) for a in actions) and out[1:4] == out_clone[1:4]
    text = env.render()
    assert "agent A carries" in text and "agent B carries" in text
    rgb = parallel_env("tomato-salad", render_mode="rgb_array")
    rgb.reset()
    assert rgb.render().shape == (112, 112, 3)


def test_step_errors():
    env = parallel_env("tomato-salad")
    env.reset()
    with pytest.raises(ValueError, match="missing actions"):
        env.step({"chef_0": 0})
    with pytest.raises(ValueError, match=r"chef_1 must be an int in \[0, 4\]"):
        env.step({"chef_0": 0, "chef_1": 9})
