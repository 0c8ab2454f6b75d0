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
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

from alflow.errors import AlflowError
from alflow.services.environment import state_dir
from alflow.services.parent_death import bound_command
from alflow.services.processes import (
    HOST,
    RecordFile,
    ServerRecord,
    choose_port,
    log_tail,
    mode_from_env,
    port_free,
    port_from_env,
    process_cmdline,
    seconds_from_env,
    stop_process,
)

__all__ = ["HOST", "ServerRecord", "choose_port", "port_free", "stop_process"]

DEFAULT_PORT = 4200
ENV_PORT = "ALFLOW_PREFECT_PORT"
ENV_MODE = "ALFLOW_PREFECT_SERVER"
ENV_START_TIMEOUT = "ALFLOW_PREFECT_START_TIMEOUT"
START_ATTEMPTS = 3


class PrefectServerError(AlflowError):
    """The managed Prefect server could not be started or stopped."""


def server_dir() -> Path:
    """``ALFLOW_HOME/prefect-server``: the record, the start lock and the server's log."""
    path = state_dir() / "prefect-server"
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_path() -> Path:
    return server_dir() / "server.log"


def _records() -> RecordFile:
    return RecordFile(server_dir())


def read_record() -> ServerRecord | None:
    """The recorded server, or None when none was recorded (or the record is unreadable)."""
    return _records().read()


def _write_record(record: ServerRecord) -> None:
    _records().write(record)


def _forget_record() -> None:
    _records().forget()


def _start_lock():
    """The one start lock: a second command waits here and then finds the first one's server."""
    return _records().lock()


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) Prefect server process, not a reused pid."""
    cmdline = process_cmdline(pid)
    return cmdline is not None and "prefect" in " ".join(cmdline) and "server" in cmdline


def healthy(record: ServerRecord, timeout: float = 2.0) -> bool:
    """Whether the recorded server answers its health check."""
    try:
        with urllib.request.urlopen(f"{record.api_url}/health", timeout=timeout) as reply:
            return reply.status == 200
    except OSError:
        return False


def running() -> ServerRecord | None:
    """The recorded server if its process lives and it answers, else None (no start)."""
    record = read_record()
    if record is not None and alive(record.pid) and healthy(record):
        return record
    return None


def server_command(port: int) -> list[str]:
    """The command that runs the server (a function, so a test can wrap it in a slow start)."""
    return [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", f"{port}"]


def preferred_port_from_env() -> int:
    """``ALFLOW_PREFECT_PORT``, else 4200 (Prefect's usual port); taken, any free one is used."""
    return port_from_env(ENV_PORT, DEFAULT_PORT, DEFAULT_PORT, PrefectServerError)


def start_timeout() -> float:
    return seconds_from_env(ENV_START_TIMEOUT, 600.0, PrefectServerError)


def spawn(
    command: list[str], log: Path, bound: bool = False, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server in a session of its own (so a Ctrl-C in the terminal reaches only the
    command, which stops it in order); ``bound`` ties it to this command's life besides
    (:mod:`alflow.services.parent_death`), else it outlives the command."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | (extra_env or {})
    with log.open("ab") as out:
        return subprocess.Popen(
            bound_command(command) if bound else command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_healthy(
    process: subprocess.Popen[bytes], record: ServerRecord, timeout: float, log: Path | None = None
) -> bool:
    """Poll until the server answers (True) or its process ends (False); no hang on a dead one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(record):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.25)
    stop_process(record.pid)
    raise PrefectServerError(
        f"the Prefect server on {record.url} did not answer within {timeout:.0f} s (its log: "
        f"{log or log_path()}); raise {ENV_START_TIMEOUT} on a very busy machine, or set "
        "PREFECT_API_URL to a server you run yourself"
    )


def _start(
    preferred_port: int | None, announce, bound: bool = False
) -> tuple[ServerRecord, subprocess.Popen[bytes]]:
    """Start a server, on another free port if the chosen one was taken meanwhile."""
    timeout = start_timeout()
    for _ in range(START_ATTEMPTS):
        port = choose_port(preferred_port)
        announce(f"starting a Prefect server on http://{HOST}:{port} (later commands reuse it)")
        process = spawn(server_command(port), log_path(), bound)
        record = ServerRecord(pid=process.pid, port=port, started=time.time())
        _write_record(record)
        if wait_healthy(process, record, timeout):
            return record, process
        _forget_record()
        if port_free(port):  # it died for another reason than a taken port
            break
        preferred_port = None
    raise PrefectServerError(
        f"the Prefect server exited while starting (its log, {log_path()}, ends with: "
        f"{log_tail(log_path(), 1500)!r}); fix what it says, or set PREFECT_API_URL to a "
        "server you run yourself"
    )


def ensure_running(preferred_port: int | None = None, announce=None) -> ServerRecord:
    """The managed server, started first if none answers; commands started together share it."""
    announce = announce or (lambda message: print(f"alflow: {message}", file=sys.stderr))
    with _start_lock():
        record = read_record()
        if record is not None and alive(record.pid):
            if healthy(record):
                return record
            stop_process(record.pid)  # alive but not answering: a hung or half-dead server
        _forget_record()
        return _start(preferred_port or preferred_port_from_env(), announce)[0]


def stop() -> ServerRecord | None:
    """Stop the managed server; the record of the one stopped, or None if none was running."""
    with _start_lock():
        record = read_record()
        _forget_record()
        if record is None or not alive(record.pid):
            return None
        stop_process(record.pid)
        return record


def serve_foreground(preferred_port: int | None, echo) -> None:
    """Run the managed server attached to this command until SIGTERM or SIGINT (Ctrl-C), then
    stop it and every process under it.

    Meanwhile it is the managed server that other commands find and use. It is started bound to
    this command (:mod:`alflow.services.parent_death`), so a SIGKILL of the command ends it too; a
    server that is already running is left alone (the command refuses), since other commands use it.
    """
    with _start_lock():
        record = read_record()
        if record is not None and alive(record.pid):
            raise PrefectServerError(
                f"alflow's Prefect server already runs on {record.url} (pid {record.pid}); use "
                "it, or stop it with 'alflow server --stop' and run this again"
            )
        _forget_record()
        announce = lambda message: echo(f"alflow: {message}", err=True)  # noqa: E731
        record, process = _start(preferred_port or preferred_port_from_env(), announce, True)
    echo(f"Prefect server and UI on {record.url} (API {record.api_url}, pid {record.pid})")
    echo("running until Ctrl-C or SIGTERM")
    try:
        wait_for_signal(process)
    finally:
        stop_process(record.pid)
        with _start_lock():
            if read_record() == record:
                _forget_record()
    if process.returncode not in (None, 0, -signal.SIGTERM):
        raise PrefectServerError(
            f"the Prefect server on {record.url} exited with code {process.returncode} (its "
            f"log: {log_path()})"
        )
    echo(f"stopped the Prefect server on {record.url} (pid {record.pid})")


def wait_for_signal(process: subprocess.Popen) -> None:
    """Block until SIGTERM or SIGINT arrives or ``process`` ends (its handlers then restored).

    The handlers are this process's own, so a signal ignored by whoever started the command (a
    shell's background job, a test runner) still stops a command that says "Ctrl-C to stop",
    and SIGTERM lets it stop its children instead of leaving them running."""
    stopping: list[int] = []
    handlers = {
        sig: signal.signal(sig, lambda number, _frame: stopping.append(number))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        while not stopping and process.poll() is None:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.5)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


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
        from alflow.services import temporary_prefect

        os.environ["PREFECT_API_URL"] = temporary_prefect.start().api_url
        return None
    record = ensure_running()
    os.environ["PREFECT_API_URL"] = record.api_url
    return record.api_url
