"""The benchmark scripts still import what they use from the project (they run outside pytest).

Checked from the source (ast), so no framework is imported: every ``from logifold_kedro.x
import a`` in ``benchmarks/*.py`` must name a module of the package that defines or imports
``a`` at its top level.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("bench_*.py"))


def top_level_names(module: str) -> set[str]:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"no module {module}"
    tree = ast.parse(Path(spec.origin).read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:  # a name, or a tuple of names (a, b = ...)
                names |= {t.id for t in ast.walk(target) if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Try):  # e.g. optional imports
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    names |= {(a.asname or a.name).split(".")[0] for a in inner.names}
    return names


def project_imports(script: Path) -> list[tuple[str, str]]:
    tree = ast.parse(script.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("logifold_kedro"):
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.startswith("logifold_kedro")]
    return found


def test_there_are_benchmarks():
    assert {path.name for path in BENCHMARKS} >= {"bench_apgd.py", "bench_training.py"}


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda path: path.name)
def test_benchmark_imports_exist_in_the_project(script):
    for module, name in project_imports(script):
        if not name:
            assert importlib.util.find_spec(module) is not None, f"{script.name}: no {module}"
        elif name not in top_level_names(module):  # else it must be a submodule of a package
            package = importlib.util.find_spec(module)
            assert package.submodule_search_locations is not None, (
                f"{script.name}: {module} has no {name}"
            )
            assert importlib.util.find_spec(f"{module}.{name}"), (
                f"{script.name}: no {module}.{name}"
            )
