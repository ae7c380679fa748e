"""The layout's boundaries hold in the code (shared/ARCHITECTURE.md, README "Layout").

Every import statement of every module is read (at any depth: lazy imports inside functions count),
and none may point against the arrows: the core knows only interfaces, reports read the store.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package -> the project packages it must never import
FORBIDDEN = {
    "harness": {"envs", "methods", "reports", "sweeps", "suites"},  # plugins register themselves
    "envs": {"methods", "reports", "sweeps"},  # envs know nothing of methods
    "methods": {"envs", "reports", "sweeps"},  # methods read the env interface only
    "reports": {"envs", "methods", "sweeps"},  # reports read the store only
    "sweeps": {"envs", "methods", "reports"},
    "suites": {"envs", "methods", "reports", "sweeps"},  # suites only name grids
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def violations() -> list[str]:
    bad = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for target, line in sorted(imported_packages(path)):
                if target in forbidden:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return bad


def test_no_import_runs_against_the_layering():
    assert violations() == []


def test_the_checker_sees_a_lazy_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from reports import comparison\n    import envs.overcooked\n")
    assert imported_packages(module) == {("reports", 2), ("envs", 3)}

