"""The architecture page names every package and module, so a reader finds each room; the README
stays a short guide that links every docs page."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
README = ROOT / "README.md"
ROOMS = ("alflow", "flows", "tasks", "deployments", "benchmarks", "plugins")
README_MAX_LINES = 260


def _modules(room: str) -> list[Path]:
    return sorted(
        path.relative_to(ROOT)
        for path in (ROOT / room).rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    )


def _packages(room: str) -> list[Path]:
    return sorted(
        path.parent.relative_to(ROOT)
        for path in (ROOT / room).rglob("__init__.py")
        if "__pycache__" not in path.parts
    )


def test_every_module_is_named_by_its_path():
    page = ARCHITECTURE.read_text()
    missing = [str(p) for room in ROOMS for p in _modules(room) if f"`{p.as_posix()}" not in page]
    assert not missing, f"docs/architecture.md leaves out: {missing}"


def test_every_package_and_top_level_folder_is_named():
    page = ARCHITECTURE.read_text()
    packages = [p for room in ROOMS for p in _packages(room)]
    assert len(packages) > 15  # the walk found alflow's packages
    missing = [str(p) for p in packages if f"`{p.as_posix()}/" not in page]
    folders = ("alflow/", "flows/", "tasks/", "deployments/", "plugins/", "benchmarks/", "tests/")
    missing += [f for f in folders if f"| `{f}` |" not in page]
    assert not missing, f"docs/architecture.md leaves out: {missing}"


def test_the_layering_names_every_package_of_alflow():
    page = ARCHITECTURE.read_text()
    layering = page.split("## The packages of `alflow/`", 1)[1].split("```", 2)[1]
    named = set(re.findall(r"[a-z_]+", layering))
    top = {p.parts[1] for p in _packages("alflow") if len(p.parts) > 1}
    top |= {p.stem for p in (ROOT / "alflow").glob("*.py") if p.name != "__init__.py"}
    assert top <= named, f"the layering leaves out: {sorted(top - named)}"


def test_the_dependency_graph_has_its_place():
    page = ARCHITECTURE.read_text()
    start, end = "<!-- dependency-graph:start -->", "<!-- dependency-graph:end -->"
    assert page.count(start) == 1 and page.count(end) == 1 and page.index(start) < page.index(end)


def _protocol_methods(source: str) -> dict[str, str]:
    """``{method: its parameters as source}`` of the one Protocol class in ``source``."""
    (protocol,) = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef) and node.name == "AnnotationBackend"
    ]
    return {f.name: ast.unparse(f.args) for f in protocol.body if isinstance(f, ast.FunctionDef)}


def test_the_documented_backend_contract_is_the_real_one():
    page = ARCHITECTURE.read_text()
    section = page.split("## The annotation-backend contract", 1)[1]
    snippet = section.split("```python", 1)[1].split("```", 1)[0]
    real = (ROOT / "alflow" / "backends" / "base.py").read_text()
    assert _protocol_methods(snippet) == _protocol_methods(real)


def test_the_readme_is_a_short_guide():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_the_readme_links_every_docs_page_and_every_link_resolves():
    text = README.read_text()
    links = set(re.findall(r"\]\(((?:docs/)[^)#\s]+)", text))
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert pages and pages <= links, f"README.md does not link: {sorted(pages - links)}"
    assert not [link for link in links if not (ROOT / link).exists()]


def test_every_relative_link_of_the_docs_resolves():
    broken = []
    for page in [README, *(ROOT / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken
