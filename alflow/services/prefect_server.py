"""The alflow-managed local Prefect server: started once in the background, reused by every command.

Without an API URL Prefect starts a temporary server in every process that runs a flow: about
11 s per command on an idle machine, and a start that takes longer than Prefect's 20 s default
fails the command outright on a loaded one. alflow therefore keeps one local server per state
directory, as FiftyOne does with its database service:

* the first command that needs Prefect starts ``prefect server start`` on loopback, detached
  from the command (its own session), with its database in ``PREFECT_HOME``;
* the server's process id and port are recorded in ``ALFLOW_HOME/prefect-server/server.json``;
  later commands find it there, check that it answers, and point ``PREFECT_API_URL`` at it;
* one lock file (``server.lock``) serialises starts, so commands started together share one
  server; a dead process or a port another program took leads to a new start on a free port,
  never to a wait on something that cannot answer;
* waiting for the start has no short limit (``ALFLOW_PREFECT_START_TIMEOUT``, default 600 s)
  because a dead server is noticed at once: a slow start is only slow.

A ``PREFECT_API_URL`` of the user's (or a server already configured in this process, as the
test harness does) always wins, and ``ALFLOW_PREFECT_SERVER=ephemeral`` falls back to a
temporary server per command (:mod:`alflow.services.temporary_prefect`). ``alflow server`` shows (or
starts) the same server, ``alflow server --foreground`` runs it until SIGTERM or Ctrl-C, and
``alflow server --stop`` stops it.

Nothing here imports Prefect: the commands that need it set ``PREFECT_API_URL`` before they
import it, because Prefect reads its settings once, at import.
"""

from __future__ import annotations

import os
import signal
import sys
from functools import partial
from pathlib import Path

from alflow.services import processes, temporary_prefect
from alflow.services.lifecycle import LastingServer
from alflow.services.prefect_api import (
    PrefectServerError,
    environment,
    healthy,
    server_dir,
    start_timeout,
    too_slow,
)
from alflow.services.processes import (
    HOST,
    ServerRecord,
    log_tail,
    mode_from_env,
    port_from_env,
    stop_process,
    wait_for_signal,
)

DEFAULT_PORT = 4200
ENV_PORT = "ALFLOW_PREFECT_PORT"
ENV_MODE = "ALFLOW_PREFECT_SERVER"


def log_path() -> Path:
    return server_dir() / "server.log"


def is_prefect_server(cmdline: list[str]) -> bool:
    return "prefect" in " ".join(cmdline) and "server" in cmdline


def server_command(port: int) -> list[str]:
    """The command that runs the server (a function, so a test can wrap it in a slow start)."""
    return [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", f"{port}"]


def preferred_port_from_env() -> int:
    """``ALFLOW_PREFECT_PORT``, else 4200 (Prefect's usual port); taken, any free one is used."""
    return port_from_env(ENV_PORT, DEFAULT_PORT, DEFAULT_PORT, PrefectServerError)


class PrefectServer(LastingServer):
    """``prefect server start`` on loopback, its database in ``PREFECT_HOME`` (nothing else
    holds what it needs, so :meth:`ensure_running` always gives a record)."""

    directory_name = "prefect-server"

    def command(self, port: int) -> list[str]:
        return server_command(port)

    def is_own(self, cmdline: list[str]) -> bool:
        return is_prefect_server(cmdline)

    def answers(self, record: ServerRecord, timeout: float = 2.0) -> bool:
        return healthy(record, timeout)

    def start_timeout(self) -> float:
        return start_timeout()

    def preferred_port(self) -> int:
        return preferred_port_from_env()

    def starting(self, port: int) -> str:
        return f"starting a Prefect server on http://{HOST}:{port} (later commands reuse it)"

    def output_log(self) -> Path:
        return log_path()

    def environment(self) -> dict[str, str]:
        return environment()

    def exited(self, returncode: int | None) -> PrefectServerError:
        return PrefectServerError(
            f"the Prefect server exited while starting (its log, {log_path()}, ends with: "
            f"{log_tail(log_path(), 1500)!r}); fix what it says, or set PREFECT_API_URL to a "
            "server you run yourself"
        )

    def too_slow(self, record: ServerRecord, timeout: float) -> PrefectServerError:
        return too_slow(record, timeout, log_path())


SERVER = PrefectServer()
# whether a pid is a live Prefect server (given its record's start time, the recorded one)
alive = partial(processes.alive, is_own=is_prefect_server)
running = SERVER.running
ensure_running = SERVER.ensure_running
stop = SERVER.stop


def read_record() -> ServerRecord | None:
    """The recorded server, or None when none was recorded (or the record is unreadable)."""
    return SERVER.records.read()


def serve_foreground(preferred_port: int | None, echo) -> None:
    """Run the managed server attached to this command until SIGTERM or SIGINT (Ctrl-C), then
    stop it and every process under it.

    Meanwhile it is the managed server that other commands find and use. It is started bound to
    this command (:mod:`alflow.services.parent_death`), so a SIGKILL of the command ends it too; a
    server that is already running is left alone (the command refuses), since other commands use it.
    """
    records = SERVER.records
    with records.lock():
        record = records.read()
        if record is not None and SERVER.is_running(record):
            raise PrefectServerError(
                f"alflow's Prefect server already runs on {record.url} (pid {record.pid}); use "
                "it, or stop it with 'alflow server --stop' and run this again"
            )
        records.forget()
        announce = lambda message: echo(f"alflow: {message}", err=True)  # noqa: E731
        record, process = SERVER.launch(preferred_port or SERVER.preferred_port(), announce, True)
    echo(f"Prefect server and UI on {record.url} (API {record.api_url}, pid {record.pid})")
    echo("running until Ctrl-C or SIGTERM")
    try:
        wait_for_signal(process)
    finally:
        stop_process(record.pid)
        with records.lock():
            if records.read() == record:
                records.forget()
    if process.returncode not in (None, 0, -signal.SIGTERM):
        raise PrefectServerError(
            f"the Prefect server on {record.url} exited with code {process.returncode} (its "
            f"log: {log_path()})"
        )
    echo(f"stopped the Prefect server on {record.url} (pid {record.pid})")


def configured_api_url() -> str | None:
    """A Prefect API this process already uses: the user's ``PREFECT_API_URL``, or a server
    configured in-process (e.g. Prefect's test harness) when Prefect is already imported."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if "prefect.settings" in sys.modules:
        from prefect.settings import get_current_settings

        return get_current_settings().api.url
    return None


def temporary_only() -> bool:
    """Whether this process would get only a temporary server, one that ends with the command
    (``ALFLOW_PREFECT_SERVER=ephemeral`` and no API URL configured)."""
    return configured_api_url() is None and _mode() == "ephemeral"


def _mode() -> str:
    return mode_from_env(ENV_MODE, ("managed", "ephemeral"), PrefectServerError)


def connect() -> str | None:
    """Point this process at a Prefect server before Prefect is imported; its API URL, or None
    for a temporary server of this command's (``ALFLOW_PREFECT_SERVER=ephemeral``, see
    :mod:`alflow.services.temporary_prefect`), whose address is worth nothing once the command
    ends."""
    url = configured_api_url()
    if url:
        return url
    if _mode() == "ephemeral":
        os.environ["PREFECT_API_URL"] = temporary_prefect.start().api_url
        return None
    record = ensure_running()
    os.environ["PREFECT_API_URL"] = record.api_url
    return record.api_url
