"""The pieces of alflow's Prefect servers that need no server: records, settings, commands.

The server itself (a slow start, reuse, a shared start, a killed server, stop) is exercised
end to end in tests/e2e/test_managed_server.py.
"""

from __future__ import annotations

import os

import pytest

from alflow.services import parent_death, prefect_server, temporary_prefect
from alflow.services.prefect_server import PrefectServerError, ServerRecord


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ALFLOW_HOME", str(tmp_path))
    return tmp_path


def test_a_record_survives_a_round_trip_and_garbage_reads_as_none(home):
    record = ServerRecord(pid=123, port=4321, started=1.0)
    prefect_server.SERVER.records.write(record)
    assert prefect_server.read_record() == record
    assert record.api_url == "http://127.0.0.1:4321/api"
    (home / "prefect-server" / "server.json").write_text("{not json")
    assert prefect_server.read_record() is None


def test_a_record_of_a_dead_server_is_not_running(home):
    # this test's own pid: alive, but not a Prefect server (and not one started at time 0)
    prefect_server.SERVER.records.write(ServerRecord(pid=os.getpid(), port=1, started=0.0))
    assert prefect_server.running() is None
    assert prefect_server.stop() is None  # nothing to stop, and the stale record is gone
    assert prefect_server.read_record() is None


@pytest.mark.parametrize(
    ("name", "value", "read", "message"),
    [
        (
            "ALFLOW_PREFECT_PORT",
            "http",
            prefect_server.preferred_port_from_env,
            "ALFLOW_PREFECT_PORT='http' is not a port; e.g. ALFLOW_PREFECT_PORT=4200",
        ),
        (
            "ALFLOW_PREFECT_START_TIMEOUT",
            "soon",
            prefect_server.start_timeout,
            "ALFLOW_PREFECT_START_TIMEOUT='soon' is not a number of seconds",
        ),
        (
            "ALFLOW_PREFECT_START_TIMEOUT",
            "soon",
            temporary_prefect.TemporaryPrefect().start_timeout,
            "ALFLOW_PREFECT_START_TIMEOUT='soon' is not a number of seconds",
        ),
    ],
    ids=["port", "start-timeout", "temporary-start-timeout"],
)
def test_mistyped_settings_say_what_to_write(monkeypatch, name, value, read, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(PrefectServerError, match=message):
        read()


def test_a_users_api_url_wins_and_ephemeral_starts_a_temporary_server(home, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert prefect_server.connect() == "http://127.0.0.1:9/api"
    assert not prefect_server.temporary_only()
    monkeypatch.delenv("PREFECT_API_URL")
    monkeypatch.setattr(prefect_server, "configured_api_url", lambda: None)
    monkeypatch.setenv("ALFLOW_PREFECT_SERVER", "ephemeral")
    assert prefect_server.temporary_only()
    temporary = ServerRecord(pid=1, port=4321, started=0.0)
    monkeypatch.setattr(temporary_prefect, "start", lambda: temporary)
    assert prefect_server.connect() is None  # its address is worth nothing after the command
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:4321/api"
    assert prefect_server.read_record() is None  # no lasting server recorded
    monkeypatch.setenv("ALFLOW_PREFECT_SERVER", "remote")
    with pytest.raises(PrefectServerError, match="use managed or ephemeral"):
        prefect_server.connect()


def test_the_temporary_server_is_prefects_own_command_started_through_the_launcher():
    command = temporary_prefect.server_command(4321)
    assert command[1:3] == ["-m", "uvicorn"]
    assert "prefect.server.api.server:create_app" in command
    assert command[command.index("--port") + 1] == "4321"
    bound = parent_death.bound_command(command)
    assert bound[1:3] == ["-I", parent_death.__file__]
    assert bound[3:5] == [str(os.getpid()), "--"] and bound[5:] == command
