"""The transfer stage (`harness transfer`, `harness report --generalization`): every unseen pair
the envs declare, n/a for incompatible pairs, results stored and reported; a new unseen variant is
one registration."""
import functools
import sqlite3

import pandas as pd

from harness import transfer as stage
from harness.cli import main as harness_main
from harness.registry import ENVS, register_env
from harness.storage import Store
from reports import transfer as gen

VECTOR_METHOD = "ppo"  # reads the observation vector: no crossover between the two tasks
FOOD = "virtualhome/food-preparation"
ENTERTAINMENT = "virtualhome/entertainment"
VARIANTS = ("cheese", "hamburger", "apple-pie", "pizza", "washing-plate", "laundry")
# The paper's eight unseen evaluations (Figure 6), as the envs declare them.
UNSEEN = [*((FOOD, f"{FOOD}-{v}") for v in VARIANTS), (FOOD, ENTERTAINMENT), (ENTERTAINMENT, FOOD)]


def test_the_envs_declare_the_papers_eight_unseen_evaluations():
    pairs = stage.transfer_pairs()
    assert [(p.train_env, p.eval_env) for p in pairs] == UNSEEN
    assert [p.kind for p in pairs] == ["variant"] * 6 + ["crossover"] * 2


def test_one_command_lists_all_eight_unseen_evaluations(tmp_path, capsys):
    # ppo reads the observation vector; a tiny rollout keeps it fast
    assert harness_main(["run", f"methods=random,{VECTOR_METHOD}",
                         f"envs={FOOD},{ENTERTAINMENT}", "seeds=0,1", "total_steps=8",
                         "eval_every=4", "eval_episodes=2", f"out_dir={tmp_path}",
                         "ppo.num_steps=2", "ppo.minibatch_size=8", "--no-progress"]) == 0
    capsys.readouterr()
    # (source first: harness/cli.py passes the rest on via argparse.REMAINDER, which rejects a
    # leading option such as "report --generalization runs/")
    assert harness_main(["report", str(tmp_path), "--generalization", "--episodes", "3",
                         "--untrained", VECTOR_METHOD, "--reps", "200"]) == 0
    printed = capsys.readouterr().out

    stored = gen.read_transfer(f"sqlite:///{tmp_path / 'results.db'}")
    pairs = set(zip(stored["train_env"], stored["eval_env"]))
    assert pairs == set(UNSEEN)
    # random reads only the offered ids: measured everywhere, for both training seeds
    rnd = stored[stored["method"] == "random"]
    assert len(rnd) == 16 and (rnd["status"] == "ok").all() and set(rnd["stage"]) == {"final"}
    assert rnd["return_mean"].notna().all() and (rnd["episodes"] == 3).all()
    # the vector policy transfers to the prompt variants (same spaces) but not across tasks
    vec = stored[stored["method"] == VECTOR_METHOD]
    assert set(vec["stage"]) == {"final", "step0"}
    crossover = vec["eval_env"].eq(ENTERTAINMENT) | vec["train_env"].eq(ENTERTAINMENT)
    assert (vec["kind"] == "crossover").equals(crossover)
    assert (vec.loc[crossover, "status"] == "n/a").all()
    assert vec.loc[crossover, "note"].str.contains("incompatible").all()
    assert (vec.loc[~crossover, "status"] == "ok").all()

    # printed table: one row per unseen task, n/a cells for the crossovers
    for task in ("cheese", "hamburger", "apple-pie", "pizza", "washing-plate", "laundry",
                 "food-preparation -> entertainment", "entertainment -> food-preparation"):
        assert task in printed
    table = gen.display_table(gen.summary(stored, reps=100))
    assert len(table) == 8
    assert set(table.columns[1:]) == {"random", VECTOR_METHOD, f"{VECTOR_METHOD} (step 0)"}
    assert table.iloc[6][VECTOR_METHOD] == "n/a" and table.iloc[0]["random"] != "n/a"

    html = (tmp_path / "report.html").read_text()
    assert "Generalization to unseen tasks" in html
    assert html.count("data:image/png;base64,") == 3  # two env curve figures + the bar plot


def test_missing_source_task_gives_na_rows_not_a_crash(tmp_path):
    assert harness_main(["run", "methods=random", f"envs={FOOD}", "seeds=0", "total_steps=4",
                         "eval_every=4", "eval_episodes=1", f"out_dir={tmp_path}",
                         "--no-progress"]) == 0
    frame = pd.DataFrame(stage.run_transfer(f"sqlite:///{tmp_path / 'results.db'}", episodes=2,
                                            log=lambda line: None))
    assert len(frame) == 8
    last = frame[frame["train_env"] == ENTERTAINMENT].iloc[0]
    assert last["status"] == "n/a" and "no random run trained on" in last["note"]


def test_a_new_unseen_variant_is_one_registration(tmp_path):
    """A plugin registers one more variant of Food Preparation; transfer and report pick it up."""
    from envs.virtualhome import make

    name = f"{FOOD}-toast"
    register_env(name, description="test variant", family="virtualhome",
                 tags=("unseen",), base_task=FOOD)(functools.partial(make, "food-preparation"))
    try:
        assert harness_main(["run", "methods=random", f"envs={FOOD}", "seeds=0", "total_steps=4",
                             "eval_every=4", "eval_episodes=1", f"out_dir={tmp_path}",
                             "--no-progress"]) == 0
        assert harness_main(["transfer", str(tmp_path), "--episodes", "2"]) == 0
        stored = gen.read_transfer(f"sqlite:///{tmp_path / 'results.db'}")
        toast = stored[stored["eval_env"] == name]
        assert len(toast) == 1 and toast.iloc[0]["status"] == "ok"
        assert toast.iloc[0]["kind"] == "variant"
        assert harness_main(["report", str(tmp_path), "--reps", "50"]) == 0
        html = (tmp_path / "report.html").read_text()
        assert "<td>toast</td>" in html
    finally:
        import gymnasium

        ENVS._entries.pop(name, None)
        gymnasium.registry.pop(name, None)


def test_a_legacy_generalization_table_is_read_and_migrated(tmp_path):
    url = f"sqlite:///{tmp_path / 'results.db'}"
    Store(url)  # the current schema, then a legacy table with one row beside it
    with sqlite3.connect(tmp_path / "results.db") as conn:
        conn.execute("CREATE TABLE generalization (source_run_id TEXT, stage TEXT, method TEXT, "
                     "train_env TEXT, eval_env TEXT, eval_seed INTEGER, episodes INTEGER, "
                     "seed INTEGER, status TEXT, note TEXT, return_mean REAL, return_std REAL, "
                     "success_rate REAL, length_mean REAL, created_at TEXT)")
        conn.execute("INSERT INTO generalization VALUES ('r0', 'final', 'twosome', ?, ?, 10, 100, "
                     "0, 'ok', '', 0.5, 0.1, 0.9, 6.0, 'then')", (FOOD, f"{FOOD}-cheese"))
    rows = Store(url).transfer_frame()
    assert rows[["source_run_id", "kind", "return_mean"]].values.tolist() == [
        ["r0", "variant", 0.5]]
