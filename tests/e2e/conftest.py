"""Fixtures for the end-to-end CVAT rounds: loops annotated in the stand-in (whose own fixtures,
``cvat_server``, ``cvat_env`` and ``annotator``, come from ``tests/cvat_stand_in/fixtures.py``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

import tasks
from alflow.config.loop import LoopConfig
from flows.loop import create_loop_flow
from tests.helpers import CVAT_FAST, loop_config, unique_name


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
            backend={
                "kind": "cvat",
                "url": cvat_server.url,
                "segment_size": 4,
                **CVAT_FAST,
                **backend,
            },
        )
        if flow:
            create_loop_flow(config)
        else:
            tasks.register_loop.fn(config)
            tasks.fit_initial_learner.fn(config.name)
        return config

    return make
