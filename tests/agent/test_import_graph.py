"""The agent's modules import one another in one direction only.

Two checks. Every module of ``agent/`` and ``instrumentations/`` is imported alone, as
the first module of a fresh interpreter: a circle of imports shows there as an
``ImportError`` from a partially initialised module, whichever module of the circle is
reached first. And the import graph, read from the source (what a module imports while
it is imported, so not what its functions import later), has no cycle; a cycle is named
module by module.

The stages (``hook``, ``tracing``, ``export``, ``tools``) import in one direction even
from inside functions: the pipeline (``export``) never imports the stages that feed it,
the hook imports neither, and nothing on the traced path imports the tools.
"""

from __future__ import annotations

import ast
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _subproc import REPO, run_python

ROOTS = {"weave_agent": REPO / "agent", "weave_agent.instrumentations": REPO / "instrumentations"}

# Stage -> the stages it must not import, not even from inside a function.
FORBIDDEN = {
    "hook": {"tracing", "export", "tools"},
    "tracing": {"tools"},
    "export": {"hook", "tracing", "tools"},
    "instrumentations": {"tools"},
}

# Run as a program, not imported (``python -m weave_agent`` calls ``sys.exit``).
NOT_IMPORTABLE = {"weave_agent.__main__"}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module name with its file and whether it is a package."""
    found: dict[str, tuple[Path, bool]] = {}
    for package, folder in ROOTS.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder)
            if any(part.startswith((".", "__pycache__")) for part in rel.parts):
                continue
            parts = list(rel.with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            found[".".join([package, *parts])] = (path, is_package)
    return found


MODULES = _modules()


def _imports(module: str, path: Path, is_package: bool, *, lazy: bool) -> set[str]:
    """The agent modules ``module`` imports: at import time only, or (``lazy``) anywhere."""
    package = module if is_package else module.rpartition(".")[0]

    def absolute(level: int, name: str | None) -> str:
        if not level:
            return name or ""
        base = package.split(".")
        if level > 1:
            base = base[: -(level - 1)]
        return ".".join(base + ([name] if name else []))

    def walk(nodes: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for node in nodes:
            out.append(node)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not lazy:
                continue  # runs when called, not when imported
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    out.extend(walk([child]))
        return out

    found: set[str] = set()
    for node in walk(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = absolute(node.level, node.module)
            names = [base + "." + alias.name if base + "." + alias.name in MODULES else base for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in MODULES and name != module)
    return found


def _graph(*, lazy: bool) -> dict[str, set[str]]:
    return {name: _imports(name, path, pkg, lazy=lazy) for name, (path, pkg) in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt, BLACK) == GREY:
                return stack[stack.index(nxt) :] + [nxt]
            if colour.get(nxt) == WHITE:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(graph):
        if colour[node] == WHITE:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _stage(module: str) -> str | None:
    if module.startswith("weave_agent.instrumentations"):
        return "instrumentations"
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in FORBIDDEN.keys() | {"tools"} else None


def test_the_module_list_is_the_tree():
    # The checks below are only as good as the list they walk.
    assert {"weave_agent.hook.importhook", "weave_agent.tracing.streams", "weave_agent.export.telemetry",
            "weave_agent.tools.cli", "weave_agent.instrumentations.openai.openai"} <= MODULES.keys()


def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = sorted(set(MODULES) - NOT_IMPORTABLE)

    def load(name: str) -> tuple[str, str] | None:
        res = run_python("import importlib, sys; importlib.import_module(sys.argv[1])", args=[name], timeout=120)
        return None if res.returncode == 0 else (name, res.stderr.strip().splitlines()[-1] if res.stderr else "")

    with ThreadPoolExecutor(max_workers=8) as pool:
        failures = [f for f in pool.map(load, names) if f]
    assert failures == []


def test_no_import_cycle_at_import_time():
    cycle = find_cycle(_graph(lazy=False))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_stages_import_in_one_direction_even_lazily():
    wrong = sorted(
        "%s imports %s" % (module, target)
        for module, targets in _graph(lazy=True).items()
        for target in targets
        if _stage(target) in FORBIDDEN.get(_stage(module) or "", set())
    )
    assert wrong == []


def test_find_cycle_names_a_cycle():
    # The detector itself can fail: a three-module circle is found and named.
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


if __name__ == "__main__":  # python tests/agent/test_import_graph.py: print the graph
    for name, targets in sorted(_graph(lazy=False).items()):
        print(name, "->", ", ".join(sorted(targets)) or "-", file=sys.stdout)
