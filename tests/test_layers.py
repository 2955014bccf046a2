"""The package layers run one way, checked on the source: ``converters`` -> ``ngffstore``.

Every import statement is read with :mod:`ast`, at module level and inside functions alike (an
import deferred into a function still makes a dependency; only ``if TYPE_CHECKING:`` blocks are
left out). Run ``python -m pytest tests/test_layers.py -v`` to see what breaks a rule.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ngffstore", "converters")


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module-level edges, function-level edges) between the modules of both packages.

    An edge from a module to one of its own parent packages is left out: Python imports the
    parents first anyway, so it orders nothing.
    """
    mods = _modules()
    top: dict[str, set[str]] = defaultdict(set)
    deferred: dict[str, set[str]] = defaultdict(set)

    def target(name: str) -> str:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    def visit(module: str, is_package: bool, node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(module, is_package, child.level, child.module)
                names = [base] + [f"{base}.{alias.name}" for alias in child.names]
            for name in names:
                t = target(name)
                if t and t != module and not module.startswith(t + "."):
                    (deferred if in_function else top)[module].add(t)
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(module, is_package, child, inner)

    for module, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        visit(module, path.name == "__init__.py", tree, False)
    return top, deferred


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            connect(v)
    return found


def test_ngffstore_never_imports_converters() -> None:
    top, deferred = import_graph()
    edges = sorted(
        f"{a} -> {b}"
        for graph in (top, deferred)
        for a, bs in graph.items()
        for b in bs
        if a.startswith("ngffstore") and b.split(".")[0] == "converters"
    )
    assert edges == [], "ngffstore must not import converters:\n" + "\n".join(edges)


def test_no_import_cycles_at_module_level() -> None:
    top, _ = import_graph()
    assert cycles(top) == []


def test_no_import_cycles_hidden_in_functions() -> None:
    top, deferred = import_graph()
    both = {m: top.get(m, set()) | deferred.get(m, set()) for m in set(top) | set(deferred)}
    assert cycles(both) == [], "cycles closed by function-level imports"


def test_the_checker_finds_cycles_and_edges() -> None:
    # the checker itself: a cycle of three is one component; an acyclic pair is none
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    top, _ = import_graph()
    assert "ngffstore.storage" in top["ngffstore.nodes"]
