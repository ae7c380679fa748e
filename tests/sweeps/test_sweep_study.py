"""Sweep machinery: search spaces, objective, pruning, stale-trial recovery, preset export, the
study-derived sampler seed and parallel workers; on SQLite and PostgreSQL (the ``db_url`` fixture)."""
import json

import optuna
import pytest
from optuna.trial import TrialState

from sweeps import space as spaces
from tests.conftest import new_postgres_database
from sweeps.cli import UsageError, parse_args
from sweeps.study import (SweepConfig, SweepError, make_storage, open_study, recover_stale_trials,
                          run_sweep, seed_value)


def write_space(tmp_path, params):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"params": params}))
    return str(path)


LR_SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "layers": {"type": "int", "low": 1, "high": 3},
            "act": {"type": "categorical", "choices": ["tanh", "relu"]}}


def quadratic_runner(calls):
    """A stand-in for protocol runs: return peaks at lr = 1e-2, reported at 3 eval points."""
    import math

    def run_seed(params, seed, report):
        calls.append((dict(params), seed))
        final = 1.0 - (math.log10(params["lr"]) + 2) ** 2 / 4
        points = []
        for step in (0, 100, 200):
            point = {"step": step, "return_mean": final * step / 200}
            points.append(point)
            report(step, {k: v for k, v in point.items() if k != "step"})
        return points

    return run_seed


def sweep_config(tmp_path, **kw):
    base = dict(method="toy", env="toy/env", trials=6, seeds=(0, 1), out_dir=str(tmp_path),
                space=write_space(tmp_path, LR_SPACE), pruner="none",
                heartbeat=0)  # the heartbeat thread costs ~0.4 s per trial on SQLite
    return SweepConfig(**{**base, **kw})


def test_space_validation_names_the_problem(tmp_path):
    with pytest.raises(spaces.SpaceError, match="'lr': a log scale needs low > 0"):
        spaces.load_space("x", write_space(tmp_path, {"lr": {"type": "float", "low": 0,
                                                             "high": 1, "log": True}}))
    with pytest.raises(spaces.SpaceError, match="'lr' is not a hyperparameter.*its keys: a, b"):
        spaces.load_space("x", write_space(tmp_path, LR_SPACE), config_fields={"a", "b"})
    with pytest.raises(spaces.SpaceError, match="missing \\['high'\\]"):
        spaces.load_space("x", write_space(tmp_path, {"n": {"type": "int", "low": 1}}))
    with pytest.raises(spaces.SpaceError, match="no search space for method 'nope'"):
        spaces.load_space("nope")


def test_builtin_spaces_are_valid():
    files = sorted(spaces.SPACES_DIR.glob("*.json"))
    assert files, "ship at least one search space"
    for file in files:
        fields = spaces.method_config_fields(file.stem)
        spaces.load_space(file.stem, config_fields=fields)  # raises on any bad key


def test_seed_value_objectives():
    points = [{"step": 0, "return_mean": 0.0}, {"step": 100, "return_mean": 1.0},
              {"step": 200, "return_mean": 1.0}]
    assert seed_value(points, "final") == 1.0
    assert seed_value(points, "auc") == pytest.approx(0.75)  # (0.5*100 + 1*100) / 200


def test_sweep_finds_the_optimum_and_exports_a_preset(tmp_path, db_url):
    calls = []
    study = run_sweep(sweep_config(tmp_path, trials=12, storage=db_url), run_seed=quadratic_runner(calls),
                      total_steps=200, config_fields={"lr", "layers", "act"}, log=lambda m: None)
    assert len(study.trials) == 12 and len(calls) == 24  # two seeds per trial
    assert abs(study.best_params["lr"] - 1e-2) < abs(1e-4 - 1e-2)
    best = json.loads((tmp_path / "sweeps" / "toy__toy-env__auc" / "best.json").read_text())
    assert best["params"] == study.best_params and best["value"] == study.best_value
    # the intermediate values are the running objective at distinct steps per seed
    trial = study.best_trial
    assert sorted(trial.intermediate_values) == [0, 100, 200, 201, 301, 401]


def test_rerunning_tops_the_study_up_and_keeps_one_study(tmp_path, db_url):
    calls = []
    run_sweep(sweep_config(tmp_path, trials=3, storage=db_url), run_seed=quadratic_runner(calls),
              total_steps=200, log=lambda m: None)
    study = run_sweep(sweep_config(tmp_path, trials=5, storage=db_url),
                      run_seed=quadratic_runner(calls), total_steps=200, log=lambda m: None)
    assert len(study.trials) == 5
    storage = make_storage(db_url)
    assert [s.study_name for s in storage.get_all_studies()] == ["toy__toy-env__auc"]
    with pytest.raises(SweepError, match="created with objective='auc'"):
        open_study(sweep_config(tmp_path, study="toy__toy-env__auc", objective="final",
                                storage=db_url))


def test_topping_up_draws_what_one_uninterrupted_sweep_draws(tmp_path, db_url):
    """trials=3 then trials=5 (two invocations, the sampler rebuilt each time) proposes the same
    five parameter sets as trials=5 at once, and never re-proposes trials 0 and 1."""
    def params(study):
        return [t.params for t in study.get_trials(states=(TrialState.COMPLETE,))]

    quiet = dict(run_seed=quadratic_runner([]), total_steps=200, log=lambda m: None)
    cfg = dict(storage=db_url, seeds=(0,))
    run_sweep(sweep_config(tmp_path, trials=3, study="topped", **cfg), **quiet)
    topped = params(run_sweep(sweep_config(tmp_path, trials=5, study="topped", **cfg), **quiet))
    at_once = params(run_sweep(sweep_config(tmp_path, trials=5, study="once", **cfg), **quiet))
    assert topped == at_once and len({t["lr"] for t in topped}) == 5
    other_seed = params(run_sweep(sweep_config(tmp_path, trials=2, study="seed1", sampler_seed=1,
                                               **cfg), **quiet))
    assert other_seed != at_once[:2]


def test_pruning_stops_bad_trials(tmp_path, db_url):
    calls = []
    study = run_sweep(sweep_config(tmp_path, trials=15, pruner="median", seeds=(0,),
                                   storage=db_url),
                      run_seed=quadratic_runner(calls), total_steps=200, log=lambda m: None)
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    assert pruned, "median pruner never fired on a space with clearly bad regions"
    assert all(len(t.intermediate_values) < 3 for t in pruned)


@pytest.mark.parametrize("storage", ["sqlite", "journal", "postgresql"])
def test_stale_running_trial_of_a_dead_worker_is_failed_and_requeued(tmp_path, storage, request):
    url = (f"sqlite:///{tmp_path}/s.db" if storage == "sqlite" else
           f"journal:///{tmp_path}/s.log" if storage == "journal" else
           new_postgres_database(request.getfixturevalue("postgres_server")))
    cfg = sweep_config(tmp_path, storage=url, trials=2, heartbeat=60)
    study, store = open_study(cfg)
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
    trial.set_user_attr("worker", f"{__import__('socket').gethostname()}:999999999")  # no such pid
    alive = study.ask()
    alive.set_user_attr("worker", f"{__import__('socket').gethostname()}:{__import__('os').getpid()}")
    failed = recover_stale_trials(study, store, log=lambda m: None)
    assert failed == [trial.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states[trial.number] == TrialState.FAIL and states[alive.number] == TrialState.RUNNING
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs["retry_of"] == trial.number
    assert waiting[0].system_attrs["fixed_params"] == {"lr": trial.params["lr"]}


def test_cli_parsing_errors():
    with pytest.raises(UsageError, match="missing env="):
        parse_args(["method=ppo"])
    with pytest.raises(UsageError, match="a sweep tunes one method"):
        parse_args(["method=ppo,twosome", "env=x"])
    with pytest.raises(SweepError, match="objective='best'"):
        parse_args(["method=ppo", "env=x", "objective=best"])
    cfg = parse_args(["method=ppo", "env=overcooked/tomato-salad", "trials=30", "seeds=0,1,2",
                      "total_steps=5000", "lr=1e-3"])
    assert (cfg.trials, cfg.seeds, cfg.fixed) == (30, (0, 1, 2), {"total_steps": "5000",
                                                                 "lr": "1e-3"})
    assert cfg.study == "ppo__overcooked-tomato-salad__auc"


def test_protocol_runner_prunes_through_run_stopped(tmp_path, db_url):
    """A pruned trial stops its protocol run at the eval point and the store says 'pruned'."""
    import tests.toy_env  # noqa: F401  registers toy/corridor
    from harness.storage import Store
    from sweeps.study import protocol_seed_runner

    cfg = SweepConfig(method="random", env="toy/corridor", seeds=(0,), out_dir=str(tmp_path),
                      storage=db_url,
                      fixed={"total_steps": "40", "eval_every": "8", "eval_episodes": "2"})
    run_seed = protocol_seed_runner(cfg)
    seen = []

    def report(step, point):
        seen.append(step)
        if step >= 8:
            raise optuna.TrialPruned("median says stop")

    with pytest.raises(optuna.TrialPruned, match="median says stop"):
        run_seed({"num_envs": 2}, 0, report)
    assert seen == [0, 8]
    runs = Store(cfg.store).runs_frame()
    assert list(runs["status"]) == ["pruned"] and list(runs["steps_done"]) == [8]
    # unpruned, the same runner returns the stored eval points of the finished run
    points = run_seed({"num_envs": 1}, 0, lambda step, point: None)
    assert [p["step"] for p in points] == [0, 8, 16, 24, 32, 40]


def test_builtin_ppo_space_runs_through_the_protocol(tmp_path, db_url):
    """Two trials of the shipped ppo.json space on the toy corridor, real protocol runs; the
    trial runs land in the same database as the study."""
    import tests.toy_env  # noqa: F401
    from harness.storage import Store

    cfg = SweepConfig(method="ppo", env="toy/corridor", trials=2, seeds=(0,), pruner="none",
                      out_dir=str(tmp_path), heartbeat=0, storage=db_url,
                      fixed={"total_steps": "256", "eval_every": "256", "eval_episodes": "2",
                             "num_steps": "32", "num_envs": "2"})
    logged = []
    study = run_sweep(cfg, log=logged.append)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    # num_steps is pinned by the command line, every other key of ppo.json is tuned
    assert "fixed by the command line, not tuned: num_steps" in logged
    assert set(study.best_params) == set(spaces.load_space("ppo")) - {"num_steps"}
    best = json.loads(open(cfg.export).read())
    assert best["params"]["num_steps"] == 32 and best["params"]["num_envs"] == 2
    assert cfg.store == db_url
    runs = Store(cfg.store).runs_frame()
    assert len(runs) == 2 and set(runs["status"]) == {"finished"}


def test_parallel_workers_share_one_study_on_postgresql(tmp_path, postgres_server):
    """workers=2 (two processes) on one PostgreSQL study: the trials are split between them, no
    parameters are drawn twice, and the study stops at ``trials``."""
    import tests.toy_env  # noqa: F401

    url = new_postgres_database(postgres_server)
    space = write_space(tmp_path, {"num_envs": {"type": "int", "low": 1, "high": 64}})
    cfg = SweepConfig(method="random", env="toy/corridor", trials=4, seeds=(0,), pruner="none",
                      out_dir=str(tmp_path), heartbeat=0, storage=url, space=space, workers=2,
                      fixed={"total_steps": "16", "eval_every": "8", "eval_episodes": "2",
                             "env.step_delay": "0.01"})
    logged = []
    study = run_sweep(cfg, log=logged.append)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert 4 <= len(done) <= 5 and "2 workers (processes) on study" in logged[1]
    assert len({t.user_attrs["worker"] for t in done}) == 2, "one worker did everything"
    assert len({t.params["num_envs"] for t in done}) == len(done)
    assert json.loads(open(cfg.export).read())["finished_trials"] == len(done)


@pytest.mark.parametrize("name", ["../../x", "a/b", ".hidden", "x\\y"])
def test_a_study_name_is_never_a_path_outside_out_dir(name):
    from sweeps.study import SweepConfig, SweepError

    with pytest.raises(SweepError, match="not a path"):
        SweepConfig(method="ppo", env="overcooked/tomato-salad", study=name)
