import pytest

from harness.config import ConfigError, parse_overrides, resolve_grid, split_list


def grid(**overrides):
    return resolve_grid({"envs": "toy/corridor", "methods": "random", **overrides})


def test_comma_lists_expand_to_a_grid():
    configs = grid(seeds="0,1,2", total_steps="40")
    assert [c.seed for c in configs] == [0, 1, 2]
    assert len({c.run_id for c in configs}) == 3


def test_run_id_is_stable_and_ignores_output_location():
    a = grid(out_dir="/tmp/a", total_steps="40")[0]
    b = grid(out_dir="/tmp/b", total_steps="40")[0]
    assert a.run_id == b.run_id
    assert a.run_id != grid(total_steps="80")[0].run_id


def test_eval_every_is_rounded_to_whole_learn_units():
    config = grid(total_steps="101", eval_every="10")[0]  # random learns in steps of num_envs=4
    assert config.eval_every == 12 and config.total_steps == 104


@pytest.mark.parametrize("overrides, fragment", [
    ({"methods": "nope"}, "unknown method 'nope'; valid methods: "),
    ({"envs": "overcooked/tomato-salat"}, "unknown env 'overcooked/tomato-salat'"),
    ({"total_steps": "-3"}, "total_steps='-3': must be a positive integer"),
    ({"total_steps": "1.5"}, "total_steps='1.5': expected int"),
    ({"seeds": "x"}, "seeds='x': expected int"),
    ({"seeds": "-1"}, "seeds='-1': must be an integer in [0, "),
    ({"eval_episodes": "0"}, "eval_episodes='0': must be a positive integer"),
    ({"lr": "3"}, "unknown key 'lr'; valid keys: "),
    ({"preset": "nope"}, "preset='nope' for method 'random': valid presets: cpu"),
    ({"preset": "missing.json"}, "preset='missing.json': file not found"),
    ({"store": "results.db"}, "store='results.db': expected an SQLAlchemy URL"),
    ({"env.length": "0"}, "length must be >= 1, got 0"),
    ({"env.colour": "red"}, "unexpected keyword argument 'colour'"),
    ({"ppo.lr": "1"}, "'ppo' is not a selected method"),
])
def test_bad_keys_and_values_fail_with_one_line_naming_them(overrides, fragment):
    base = {"envs": "toy/corridor", "methods": "random", **overrides}
    with pytest.raises(ConfigError) as err:
        resolve_grid(base)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_parse_overrides_rejects_tokens_without_equals():
    assert parse_overrides(["a=1", "b=x,y"]) == {"a": "1", "b": "x,y"}
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["methods"])


def test_split_list_keeps_bracketed_commas():
    assert split_list("[1024,512],[64,64]") == ["[1024,512]", "[64,64]"]
    assert split_list("a, b") == ["a", "b"]


def test_env_kwargs_reach_the_env():
    config = grid(**{"env.length": "2"})[0]
    assert config.env_kwargs == {"length": 2}


def test_a_suite_expands_its_grids_with_the_overrides_on_top(tmp_path):
    from harness.config import resolve_suite

    configs = resolve_suite({"suite": "paper-cpu", "seeds": "0", "out_dir": str(tmp_path)})
    keys = {(c.method, c.env, c.preset) for c in configs}
    assert len(keys) == len(configs)  # one run per (method, env, preset) with seeds=0
    assert ("twosome", "virtualhome/entertainment", "cpu") in keys
    assert ("ppo", "overcooked/tomato-lettuce-salad", "paper") in keys
    assert ("twosome-none", "overcooked/tomato-lettuce-salad", "cpu") in keys
    assert all(c.seed == 0 and c.out_dir == str(tmp_path) and c.final_eval_episodes == 100
               for c in configs)
    by_env = {}
    for c in configs:
        if c.preset == "cpu":
            by_env.setdefault(c.env, set()).add((c.total_steps, c.eval_every))
    assert all(len(grid) == 1 for grid in by_env.values())  # every method on one budget and grid


def test_an_unknown_suite_is_one_line():
    from harness.config import resolve_suite

    with pytest.raises(ConfigError, match="suite: unknown suite 'nope'; valid suites: paper-cpu"):
        resolve_suite({"suite": "nope"})


def test_final_eval_episodes_applies_to_the_last_point_only_and_keeps_old_run_ids(tmp_path):
    base = {"methods": "random", "envs": "toy/corridor", "total_steps": "32", "eval_every": "16",
            "eval_episodes": "2", "out_dir": str(tmp_path)}
    (plain,) = resolve_grid(base)
    (final,) = resolve_grid({**base, "final_eval_episodes": "7"})
    assert [final.episodes_at(s) for s in (0, 16, 32)] == [2, 2, 7]
    assert [plain.episodes_at(s) for s in (0, 16, 32)] == [2, 2, 2]
    assert "final_eval_episodes" not in plain.identity() and plain.run_id != final.run_id


def test_methods_and_envs_given_with_a_suite_select_its_runs_with_their_budgets(tmp_path):
    from harness.config import resolve_suite

    configs = resolve_suite({"suite": "paper-cpu", "methods": "twosome",
                             "envs": "overcooked/tomato-salad,overcooked/tomato-lettuce-salad",
                             "out_dir": str(tmp_path)})
    assert {(c.env, c.total_steps) for c in configs} == {
        ("overcooked/tomato-salad", 12_288), ("overcooked/tomato-lettuce-salad", 61_440)}
    assert {c.method for c in configs} == {"twosome"} and len(configs) == 6
    with pytest.raises(ConfigError, match="has no run with methods=random"):
        resolve_suite({"suite": "paper-cpu", "methods": "random"})
