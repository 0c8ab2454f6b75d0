"""The unit tier: pure logic, no MongoDB, no Prefect server, no subprocess.

The session starts no mongod when only unit tests are collected (see ``tests/conftest.py``),
so a unit test that reaches the database fails; these guards make the other two rules fail
loudly too, instead of a unit test quietly slowing the tier down.
"""

from __future__ import annotations

import subprocess

import pytest

_SERVICE_FIXTURES = {"fo_db", "digits", "prefect_server"}


def pytest_collection_modifyitems(config, items) -> None:
    offenders = [
        f"{item.nodeid} uses {used}"
        for item in items
        if "/unit/" in str(item.path) and (used := _service_fixtures(item))
    ]
    if offenders:
        raise pytest.UsageError(
            "unit tests must not use the database or Prefect; move them to tests/integration: "
            + "; ".join(offenders)
        )


def _service_fixtures(item) -> list[str]:
    """The session's service fixtures this test resolves (a test module's own fixture of the
    same name, e.g. a pure ``digits`` array, does not count)."""
    defs = getattr(item, "_fixtureinfo", None)
    chosen = defs.name2fixturedefs if defs else {}
    return sorted(
        name
        for name in _SERVICE_FIXTURES
        if name in chosen and chosen[name][-1].func.__module__ == "tests.conftest"
    )


class _NoSubprocess(subprocess.Popen):
    def __init__(self, *args, **kwargs):
        raise RuntimeError(
            "a unit test started a subprocess: move it to tests/integration "
            f"(command: {args[0] if args else kwargs.get('args')!r})"
        )


@pytest.fixture(autouse=True)
def _no_subprocess(monkeypatch) -> None:
    monkeypatch.setattr(subprocess, "Popen", _NoSubprocess)
