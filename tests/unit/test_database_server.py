"""Which database a process uses, decided before FiftyOne is imported (no mongod started here)."""

from __future__ import annotations

import sys

import pytest

from alflow.services import database_server
from alflow.services.database_server import DatabaseServerError
from alflow.services.environment import state_environment


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    database_server.connect.cache_clear()
    monkeypatch.setenv("ALFLOW_HOME", str(tmp_path))
    for name in ("FIFTYONE_DATABASE_URI", "ALFLOW_MANAGED_DATABASE_URI", "ALFLOW_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(database_server, "ensure_running", _no_start)
    if "fiftyone.core.config" in sys.modules:  # connect() points FiftyOne's config too: restore it
        import fiftyone as fo

        monkeypatch.setattr(fo.config, "database_uri", fo.config.database_uri)
    yield
    database_server.connect.cache_clear()


def _no_start(announce=None):
    raise AssertionError("no database may be started here")


def test_a_users_uri_wins(monkeypatch):
    monkeypatch.setenv("FIFTYONE_DATABASE_URI", "mongodb://db.example:27017")
    assert database_server.connect() is None
    assert database_server.managed_uri() is None


def test_embedded_mode_leaves_the_database_to_fiftyone(monkeypatch):
    monkeypatch.setenv("ALFLOW_DATABASE", "embedded")
    assert database_server.connect() is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ALFLOW_DATABASE", "mongo", "ALFLOW_DATABASE='mongo' is not a mode; use managed or"),
        ("ALFLOW_DATABASE_PORT", "high", "ALFLOW_DATABASE_PORT='high' is not a port"),
        ("ALFLOW_DATABASE_START_TIMEOUT", "-1", "is not a number of seconds"),
    ],
)
def test_mistyped_settings_say_what_to_write(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(DatabaseServerError, match=message):
        database_server.mode()
        database_server._preferred_port()
        database_server.seconds_from_env(
            database_server.ENV_START_TIMEOUT, 1.0, DatabaseServerError
        )


def test_an_inherited_managed_uri_is_checked_again(monkeypatch):
    from alflow.services.processes import ServerRecord

    monkeypatch.setenv("FIFTYONE_DATABASE_URI", "mongodb://127.0.0.1:1111")
    monkeypatch.setenv("ALFLOW_MANAGED_DATABASE_URI", "mongodb://127.0.0.1:1111")
    restarted = ServerRecord(pid=1, port=2222, started=0.0)
    monkeypatch.setattr(database_server, "ensure_running", lambda announce=None: restarted)
    assert database_server.connect() == "mongodb://127.0.0.1:2222"
    assert database_server.managed_uri() == "mongodb://127.0.0.1:2222"


def test_env_marks_alflows_own_uri_so_a_worker_checks_it_again(monkeypatch):
    monkeypatch.setenv("FIFTYONE_DATABASE_URI", "mongodb://127.0.0.1:1111")
    monkeypatch.setenv("ALFLOW_MANAGED_DATABASE_URI", "mongodb://127.0.0.1:1111")
    env = state_environment()
    assert env["ALFLOW_MANAGED_DATABASE_URI"] == env["FIFTYONE_DATABASE_URI"]
    monkeypatch.delenv("ALFLOW_MANAGED_DATABASE_URI")
    assert "ALFLOW_MANAGED_DATABASE_URI" not in state_environment()  # a user's URI stays theirs
