"""The house's shape: no import circle, no arrow back up between packages, small rooms, every
module saying what it holds, and a dependency drawing that matches the code."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "dependency_graph", ROOT / "docs/dependency_graph.py"
)
graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(graph)

PRODUCT = sorted(
    p
    for folder in ("alflow", "plugins", "flows", "tasks", "deployments")
    for p in (ROOT / folder).rglob("*.py")
)
MAX_LINES = 400


def test_no_module_imports_itself_back_through_others():
    assert graph.cycles(graph.module_graph()) == []


def test_packages_form_layers_with_no_arrow_running_back_up():
    assert graph.cycles(graph.package_graph(graph.module_graph())) == []


def test_a_circle_is_found_wherever_its_imports_sit(tmp_path):
    package = tmp_path / "alflow" / "pkg"
    package.mkdir(parents=True)
    (tmp_path / "alflow" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from alflow.pkg import b\n")
    (package / "b.py").write_text("def late():\n    from alflow.pkg.a import thing\n")
    assert graph.cycles(graph.module_graph(tmp_path)) == [["alflow.pkg.a", "alflow.pkg.b"]]


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_product_module_is_a_small_room(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


@pytest.mark.parametrize(
    "path", [p for p in PRODUCT if p.is_relative_to(ROOT / "alflow")], ids=lambda p: p.name
)
def test_every_module_says_what_it_holds_in_its_first_line(path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and len(doc.splitlines()[0]) > 20, path


def test_the_drawing_in_the_architecture_page_is_current():
    assert graph.main(["--check"]) == 0, "run 'make architecture'"
