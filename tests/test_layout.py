"""The package's layout: imports go one way, entry points are imported by nothing, modules
stay small, and the wheel's package list matches the tree."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from evalsuite.resources import CONF_DIR, TASKS_DIR

PKG = Path(__file__).resolve().parent.parent / "evalsuite"
REPO = PKG.parent
# Thin ``python -m`` shims: they import their entry point and nothing imports them.
SHIMS = {"evalsuite.__main__", "evalsuite.compare", "evalsuite.report.__main__",
         "evalsuite.judge.__main__", "evalsuite.recipe.__main__", "evalsuite.demo.__main__",
         "evalsuite.schema.__main__", "evalsuite.ingest.__main__"}
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """evalsuite modules ``name`` imports at run time (lazy imports included; imports under
    ``if TYPE_CHECKING:`` are not run, so they are left out)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(path, name, set(mods)) for name, path in mods.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_between_modules():
    graph = _graph()
    # a package's __init__ re-exporting its own modules is not a cycle of the flow
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    assert _cycle(graph) is None


def test_no_import_cycle_between_subpackages():
    edges: dict[str, set[str]] = {}
    for name, deps in _graph().items():
        if name in SHIMS:
            continue
        src = _subpackage(name)
        edges.setdefault(src, set()).update(
            _subpackage(d) for d in deps if _subpackage(d) != src)
    assert _cycle(edges) is None, edges


def test_entry_points_are_imported_by_nothing():
    for name, deps in _graph().items():
        if name in SHIMS or name.startswith("evalsuite.cli"):
            continue
        assert not {d for d in deps if d.startswith("evalsuite.cli")}, name


def test_the_lower_layers_do_not_reach_up():
    # storage and config sit under everything; models and tasks under the run
    low = {"evalsuite.storage": {"evalsuite.errors", "evalsuite.storage"},
           "evalsuite.config": {"evalsuite.errors", "evalsuite.storage", "evalsuite.config",
                                "evalsuite.resources"}}
    for name, deps in _graph().items():
        for layer, allowed in low.items():
            if name.startswith(layer):
                assert {_subpackage(d) for d in deps} <= allowed, (name, deps)


@pytest.mark.parametrize("name", sorted(_modules()))
def test_modules_stay_small(name):
    lines = _modules()[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_the_wheel_lists_every_package():
    listed = set(tomllib.loads((PKG.parent / "pyproject.toml").read_text())["tool"]
                 ["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(PKG.parent).parts) for p in PKG.rglob("__init__.py")}
    assert listed == on_disk | {"evalsuite._conf", "evalsuite._tasks"}


def test_resources_point_at_the_shipped_folders():
    assert (CONF_DIR / "config.yaml").is_file()
    assert (TASKS_DIR / "ifeval_offline" / "ifeval_offline.yaml").is_file()


def test_committed_outputs_name_no_path_of_the_machine_that_made_them():
    import re
    import subprocess

    files = subprocess.run(["git", "ls-files", "reports", "bench/results"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    absolute = re.compile(r"(?<![\w.])/(?:work|tmp|root|home|Users)/")
    found = [f for f in files if not f.endswith((".png", ".pdf"))
             and absolute.search((REPO / f).read_text(encoding="utf-8", errors="replace"))]
    assert files and not found, found
