"""The layout's rules, held against the code's own imports (every import, function-level and
TYPE_CHECKING ones included): no module imports itself through others, the grader side never
imports the host side, and the host's folders import only downwards."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Top to bottom: a module may import its own layer or any layer below it, never one above.
LAYERS = [
    ("runner.cli",),
    ("runner.commands",),
    ("runner.batch.jobs",),
    ("runner.grading.pipeline",),
    ("runner.challenges.registry", "runner.intake", "runner.reports"),
    ("runner.results", "runner.errors", "runner.starters", "runner.stdout"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    modules = {
        module_name(p): p for top in ("runner", "graders") for p in (ROOT / top).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import module` depends on the module, not on the package's face
                subs = [f"{node.module}.{a.name}" for a in node.names]
                targets = [s for s in subs if s in modules] or [node.module]
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


def layer(module: str) -> int | None:
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def test_no_module_imports_itself_through_others() -> None:
    graph = imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []


def test_the_grader_side_never_imports_the_host() -> None:
    wrong = {
        (m, t)
        for m, targets in imports().items()
        if m.startswith("graders")
        for t in targets
        if t.startswith("runner")
    }
    assert wrong == set()


def test_the_host_imports_only_downwards() -> None:
    upward = []
    for m, targets in imports().items():
        here = layer(m)
        for t in targets:
            there = layer(t)
            if here is not None and there is not None and there < here:
                upward.append(f"{m} -> {t}")
    assert upward == []
