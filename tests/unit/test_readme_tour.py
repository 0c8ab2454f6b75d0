"""The README's architecture tour names every module of the code, so a reader finds each room."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("alflow", "flows", "tasks", "deployments", "benchmarks", "plugins")


def _tour() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Architecture", 1)[1]
    return section.split("```", 2)[1]


def _modules() -> list[Path]:
    return sorted(
        path.relative_to(ROOT)
        for room in ROOMS
        for path in (ROOT / room).rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    )


def test_every_module_is_named_in_the_architecture_tour():
    names = set(re.findall(r"[\w]+\.py", _tour()))
    missing = [str(p) for p in _modules() if p.name not in names]
    assert not missing, f"README architecture tour leaves out: {missing}"


def test_every_package_is_named_in_the_architecture_tour():
    tour = _tour()
    packages = {
        p.parent.relative_to(ROOT).name
        for room in ROOMS
        for p in (ROOT / room).rglob("__init__.py")
    }
    assert not [name for name in sorted(packages) if f"{name}/" not in tour]


def _protocol_methods(source: str) -> dict[str, str]:
    """``{method: its parameters as source}`` of the one Protocol class in ``source``."""
    (protocol,) = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef) and node.name == "AnnotationBackend"
    ]
    return {f.name: ast.unparse(f.args) for f in protocol.body if isinstance(f, ast.FunctionDef)}


def test_the_readme_backend_contract_is_the_real_one():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### The annotation-backend contract", 1)[1]
    snippet = section.split("```python", 1)[1].split("```", 1)[0]
    real = (ROOT / "alflow" / "backends" / "base.py").read_text()
    assert _protocol_methods(snippet) == _protocol_methods(real)
