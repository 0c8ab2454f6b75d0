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
    ("name", "value", "read", "message"),
    [
        (
            "ALFLOW_DATABASE",
            "mongo",
            database_server.mode,
            "ALFLOW_DATABASE='mongo' is not a mode; use managed or embedded",
        ),
        (
            "ALFLOW_DATABASE_PORT",
            "high",
            database_server.SERVER.preferred_port,
            "ALFLOW_DATABASE_PORT='high' is not a port; e.g. ALFLOW_DATABASE_PORT=27117",
        ),
        (
            "ALFLOW_DATABASE_START_TIMEOUT",
            "-1",
            database_server.SERVER.start_timeout,
            "ALFLOW_DATABASE_START_TIMEOUT='-1' is not a number of seconds",
        ),
    ],
    ids=["mode", "port", "start-timeout"],
)
def test_mistyped_settings_say_what_to_write(monkeypatch, name, value, read, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(DatabaseServerError, match=message):
        read()


def test_a_mongod_is_known_by_its_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("FIFTYONE_DATABASE_DIR", str(tmp_path / "mongo"))
    ours = ["/x/bin/mongod", "--dbpath", str(tmp_path / "mongo"), "--port", "1"]
    assert database_server.SERVER.is_own(ours)
    assert not database_server.SERVER.is_own([*ours[:2], str(tmp_path / "other")])
    assert not database_server.SERVER.is_own(["python", "--dbpath", str(tmp_path / "mongo")])


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
