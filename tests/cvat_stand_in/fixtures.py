"""Pytest fixtures around the CVAT stand-in, registered for every test by ``pytest_plugins`` in
``tests/conftest.py``: request them by name, never import them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alflow.backends import cvat

from .annotator import Annotator
from .server import CvatStandIn


@pytest.fixture
def cvat_server() -> Iterator[CvatStandIn]:
    """A fresh, running CVAT stand-in per test: ``.url``, ``.username``, ``.password``,
    ``.token``, plus :meth:`~CvatStandIn.fail_next`, :meth:`~CvatStandIn.stop` and ``.state``."""
    server = CvatStandIn().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cvat_env(cvat_server, monkeypatch) -> dict[str, str]:
    """The stand-in's admin credentials in ALFLOW_CVAT_USERNAME/PASSWORD, nothing else set."""
    for name in (cvat.ENV_URL, cvat.ENV_TOKEN, cvat.ENV_SECRET_BLOCK):
        monkeypatch.delenv(name, raising=False)
    values = {cvat.ENV_USERNAME: cvat_server.username, cvat.ENV_PASSWORD: cvat_server.password}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def annotator(cvat_server) -> Annotator:
    """A person in CVAT (a second user of the stand-in, working through cvat-sdk)."""
    cvat_server.add_user("annotator", "annotator-password")
    return Annotator(cvat_server.url, "annotator", "annotator-password")
