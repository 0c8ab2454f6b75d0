"""Draw alflow's package dependencies, and find import circles, from the source alone.

    python docs/dependency_graph.py            # rewrite the drawing in docs/architecture.md
    python docs/dependency_graph.py --check    # exit 1 if the drawing is out of date

Every ``import`` counts, at module level or inside a function: a circle that only works
because one side imports late is still a circle. The drawing is a Mermaid graph of the
first-level packages of ``alflow/`` (and its top-level modules), one arrow per dependency.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
START, END = "<!-- dependency-graph:start -->", "<!-- dependency-graph:end -->"


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the ``alflow`` package by dotted name."""
    out = {}
    for path in sorted((root / "alflow").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imported(name: str, path: Path, known: Iterable[str]) -> set[str]:
    known = set(known)
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
    return {m for m in found if m in known and m != name}


def module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the alflow modules it imports."""
    mods = modules(root)
    return {name: _imported(name, path, mods) for name, path in mods.items()}


def package_of(module: str) -> str:
    """``alflow.data.store`` -> ``data``; ``alflow.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "alflow"


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, deps in graph.items():
        src = package_of(module)
        out.setdefault(src, set())
        out[src].update(package_of(d) for d in deps if package_of(d) != src)
    out.pop("alflow", None)  # the package's own __init__ imports nothing
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def mermaid(packages: dict[str, set[str]]) -> str:
    lines = ["```mermaid", "graph TD"]
    for src in sorted(packages):
        for dst in sorted(packages[src]):
            lines.append(f"    {src} --> {dst}")
    lines.append("```")
    return "\n".join(lines)


def drawn(text: str, drawing: str) -> str:
    """``text`` with the block between the markers replaced by ``drawing``."""
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{drawing}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the drawing is stale")
    args = parser.parse_args(argv)
    graph = module_graph()
    for component in cycles(graph):
        print(f"import circle: {' <-> '.join(component)}", file=sys.stderr)
    text = ARCHITECTURE.read_text()
    new = drawn(text, mermaid(package_graph(graph)))
    if args.check:
        if new != text:
            print(
                "docs/architecture.md's drawing is stale: run 'make architecture'", file=sys.stderr
            )
            return 1
        return 0
    ARCHITECTURE.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
