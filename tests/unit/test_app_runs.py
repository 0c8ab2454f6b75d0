"""Which workers count as polling a work pool (a stopped worker keeps its 'online' record)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alflow.app.runs import Target, execution_target, polling

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class Worker:
    name: str
    status: str
    last_heartbeat_time: datetime | None


def test_only_online_workers_with_a_fresh_heartbeat_poll():
    workers = [
        Worker("fresh", "ONLINE", NOW - timedelta(seconds=20)),
        Worker("stale", "ONLINE", NOW - timedelta(minutes=5)),
        Worker("offline", "OFFLINE", NOW),
        Worker("never", "ONLINE", None),
        Worker("naive", "ONLINE", (NOW - timedelta(seconds=5)).replace(tzinfo=None)),
    ]
    assert [w.name for w in polling(workers, NOW)] == ["fresh", "naive"]


def test_without_a_prefect_api_flows_run_in_process_saying_why():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        target = execution_target("alflow-step/step")
    assert target == Target(
        "in_process", "no Prefect API is configured (PREFECT_API_URL is not set)"
    )


def test_the_api_alflow_app_set_up_is_alflows_own_and_an_exported_one_the_users(monkeypatch):
    from alflow.app.runs import OWN_API_ENV, deployments_expected

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4311/api")
    monkeypatch.setenv(OWN_API_ENV, "http://127.0.0.1:4311/api")
    assert not deployments_expected()
    monkeypatch.delenv(OWN_API_ENV)
    assert deployments_expected()
    monkeypatch.delenv("PREFECT_API_URL")
    assert not deployments_expected()
