"""`harness report --generalization` from one command: all eight unseen evaluations, n/a for
incompatible pairs, results stored and reported."""
from harness.cli import main as harness_main
from reports import generalization as gen

VECTOR_METHOD = "ppo"  # reads the observation vector: no crossover between the two tasks


def test_one_command_lists_all_eight_unseen_evaluations(tmp_path, capsys):
    # ppo reads the observation vector; a tiny rollout keeps it fast
    assert harness_main(["run", f"methods=random,{VECTOR_METHOD}",
                         f"envs={gen.FOOD},{gen.ENTERTAINMENT}", "seeds=0,1", "total_steps=8",
                         "eval_every=4", "eval_episodes=2", f"out_dir={tmp_path}",
                         "ppo.num_steps=2", "ppo.minibatch_size=8", "--no-progress"]) == 0
    capsys.readouterr()
    # (source first: harness/cli.py passes the rest on via argparse.REMAINDER, which rejects a
    # leading option such as "report --generalization runs/")
    assert harness_main(["report", str(tmp_path), "--generalization", "--episodes", "3",
                         "--untrained", VECTOR_METHOD, "--reps", "200"]) == 0
    printed = capsys.readouterr().out

    stored = gen.read_generalization(f"sqlite:///{tmp_path / 'results.db'}")
    pairs = set(zip(stored["train_env"], stored["eval_env"]))
    assert pairs == set(gen.UNSEEN) and len(gen.UNSEEN) == 8
    # random reads only the offered ids: measured everywhere, for both training seeds
    rnd = stored[stored["method"] == "random"]
    assert len(rnd) == 16 and (rnd["status"] == "ok").all() and set(rnd["stage"]) == {"final"}
    assert rnd["return_mean"].notna().all() and (rnd["episodes"] == 3).all()
    # the vector policy transfers to the prompt variants (same spaces) but not across tasks
    vec = stored[stored["method"] == VECTOR_METHOD]
    assert set(vec["stage"]) == {"final", "step0"}
    crossover = vec["eval_env"].eq(gen.ENTERTAINMENT) | vec["train_env"].eq(gen.ENTERTAINMENT)
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
    assert harness_main(["run", "methods=random", f"envs={gen.FOOD}", "seeds=0", "total_steps=4",
                         "eval_every=4", "eval_episodes=1", f"out_dir={tmp_path}",
                         "--no-progress"]) == 0
    frame = gen.run_generalization(f"sqlite:///{tmp_path / 'results.db'}", episodes=2,
                                   log=lambda line: None)
    assert len(frame) == 8
    last = frame[frame["train_env"] == gen.ENTERTAINMENT].iloc[0]
    assert last["status"] == "n/a" and "no random run trained on" in last["note"]
