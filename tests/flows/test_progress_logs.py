"""Inside a Prefect run, plain progress lines go to the run's logs (and so to the UI)."""

from __future__ import annotations

import logging

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterName,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler

from alflow import progress
from flows.loop import create_loop_flow, step_flow
from tests.helpers import loop_config

pytestmark = pytest.mark.usefixtures("prefect_server")


def run_logs(name_like: str) -> list[str]:
    for handler in logging.getLogger("prefect.flow_runs").handlers:
        if isinstance(handler, APILogHandler):
            handler.flush()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=name_like))
        )
        logs = client.read_logs(
            LogFilter(flow_run_id=LogFilterFlowRunId(any_=[r.id for r in runs])), limit=200
        )
    return [log.message for log in logs]


@pytest.fixture
def info_run_logs():
    """Run loggers at INFO for one test (the session keeps Prefect at WARNING)."""
    loggers = [logging.getLogger(f"prefect.{kind}_runs") for kind in ("flow", "task")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def test_a_steps_long_work_is_reported_in_its_run_logs(digits, monkeypatch, info_run_logs):
    monkeypatch.setenv("ALFLOW_PROGRESS", "plain")
    monkeypatch.setattr(progress, "DELAY", 0.0)
    config = loop_config()
    create_loop_flow(config)
    step_flow(config.name)
    logs = run_logs(config.name)
    assert f"marking the pool/eval split of {config.name!r}: done, 1,797 samples" in " ".join(logs)
    wrote = [m for m in logs if m.startswith(f"writing predictions of {config.name!r} round ")]
    assert any(m.startswith(f"writing predictions of {config.name!r} round 0: done") for m in wrote)
