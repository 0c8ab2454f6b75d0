"""Fixtures for the end-to-end CVAT rounds: the stand-in, credentials, an annotator, loops."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

import tasks
from alflow.backends import cvat
from alflow.config.loop import LoopConfig
from flows.loop import create_loop_flow
from tests.cvat_stand_in.fixtures import cvat_server
from tests.helpers import loop_config, unique_name

from .annotator import Annotator

__all__ = ["annotator", "cvat_env", "cvat_loop", "cvat_server"]


def pytest_collection_modifyitems(config, items) -> None:
    """Every end-to-end test is ``slow``: ``make test-fast`` leaves the whole tier out."""
    here = str(config.rootpath / "tests" / "e2e")
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.slow)


# tiny retry waits and upload polling, so a test never sleeps for long
FAST = {"backoff_seconds": 0.01, "backoff_max_seconds": 0.05, "poll_seconds": 0.01}


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


@pytest.fixture
def cvat_loop(digits, cvat_server, cvat_env, prefect_server) -> Callable[..., LoopConfig]:
    """Factory: a new loop on the digits data annotated in the stand-in, 8 samples a round in
    jobs of 4 frames. Keyword arguments override backend fields; ``flow=False`` creates the
    loop through the task bodies instead of ``create_loop_flow`` (faster, same effect)."""

    def make(flow: bool = True, **backend: Any) -> LoopConfig:
        # a random part: test sessions running at the same time share FiftyOne's database
        name = unique_name(f"cvat-{secrets.token_hex(3)}")
        config = loop_config(
            name,
            batch_size=8,
            backend={"kind": "cvat", "url": cvat_server.url, "segment_size": 4, **FAST, **backend},
        )
        if flow:
            create_loop_flow(config)
        else:
            tasks.register_loop.fn(config)
            tasks.fit_initial_learner.fn(config.name)
        return config

    return make
