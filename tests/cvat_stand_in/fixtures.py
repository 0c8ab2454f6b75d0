"""Pytest fixtures around the CVAT stand-in; import them into a conftest to use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
