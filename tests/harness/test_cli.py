import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.storage import load_frames

ROOT = Path(__file__).resolve().parents[2]


def harness(*args):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_list_prints_every_registered_method_and_env(capsys):
    from harness.registry import ENVS, METHODS
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in [*METHODS.names(), *ENVS.names()]:
        assert name in out


@pytest.mark.parametrize("args, fragment", [
    (["methods=nope"], "unknown method 'nope'; valid methods: "),
    (["methods=random", "total_steps=-3"], "total_steps"),
    (["methods=random", "seeds=x"], "seeds"),
])
def test_bad_run_arguments_exit_nonzero_with_one_line(args, fragment, tmp_path):
    result = harness("run", f"out_dir={tmp_path}", *args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]
    assert not (tmp_path / "results.db").exists()  # failed before any work started


def test_run_grid_then_rerun_does_no_new_training(tmp_path, capsys):
    """The issue's acceptance command: 2 envs x 2 seeds of `random`, then the same command again."""
    args = ["run", "--no-progress", "methods=random",
            "envs=overcooked/tomato-salad,overcooked/tomato-lettuce-salad", "seeds=0,1",
            "total_steps=5000", f"out_dir={tmp_path}"]
    assert main(args) == 0
    runs, points = load_frames(f"sqlite:///{tmp_path}/results.db")
    assert len(runs) == 4 and set(runs.status) == {"finished"}
    assert set(runs.env) == {"overcooked/tomato-salad", "overcooked/tomato-lettuce-salad"}
    assert (points.groupby("run_id").step.max() >= 5000).all()
    assert points.groupby("run_id").size().min() == 26  # step 0, every 208 steps, and 5000
    assert (tmp_path / "report.html").exists()
    # the after-run hooks: one replay per run (random trains nothing), then the report with them
    from harness.storage import Store

    assert len(Store(f"sqlite:///{tmp_path}/results.db").replays()) == 4
    assert "Episode replays" in (tmp_path / "report.html").read_text()
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().out.count("already finished, skipped") == 4
    _, points_again = load_frames(f"sqlite:///{tmp_path}/results.db")
    assert points_again.wall_time.tolist() == points.wall_time.tolist()


@pytest.mark.parametrize("command", ["report", "sweep"])
def test_delegated_commands_accept_options_before_positionals(command):
    result = harness(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"harness {command}" in result.stdout


def test_a_registered_command_is_reachable_without_the_core_naming_it(monkeypatch, capsys):
    """The core CLI dispatches through harness.registry.COMMANDS, so a plugin adds a subcommand."""
    from harness import registry
    seen = []
    module = type(sys)("fake_plugin_commands")
    module.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "fake_plugin_commands", module)
    registry.load_plugins()
    monkeypatch.setitem(registry.COMMANDS._entries, "hello",
                        registry.Command("hello", "say hello", "fake_plugin_commands:main"))
    assert main(["hello", "--loud", "x=1"]) == 3
    assert seen == [["--loud", "x=1"]]
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "say hello" in capsys.readouterr().out
