"""A temporary Prefect server for one command (``ALFLOW_PREFECT_SERVER=ephemeral``), dying with it.

Prefect's own temporary server (``SubprocessASGIServer`` in ``prefect/server/api/server.py``)
is a plain ``subprocess.Popen`` of uvicorn, stopped by an ``atexit`` hook: a command that is
SIGKILLed never runs the hook, and the server (about 200 MB) stays, re-parented to PID 1. Its
``Popen`` takes no hook to change that, and Prefect may start it from whatever thread first
needs a client, while the kernel's parent-death signal follows the thread that started the
child. Reaping orphans from a later command would leave them until one runs, and could not
tell a server of this command's from another program's.

So alflow starts the same server itself, before Prefect is imported and from the command's
main thread: the uvicorn command and settings Prefect uses (no UI, ``PREFECT__SERVER_EPHEMERAL``),
on a free loopback port, through :mod:`alflow.services.parent_death` so the kernel kills it when the
command dies in any way, and in a session of its own so the command stops it in order at a
normal exit (``atexit``). ``PREFECT_API_URL`` then points at it, so Prefect starts none. A
slow start is only slow (``ALFLOW_PREFECT_START_TIMEOUT``), a dead one fails at once.
"""

from __future__ import annotations

import atexit
import importlib.util
import subprocess
import sys
from pathlib import Path

from alflow.services.lifecycle import LocalServer
from alflow.services.prefect_api import (
    PrefectServerError,
    environment,
    healthy,
    server_dir,
    start_timeout,
    too_slow,
)
from alflow.services.processes import HOST, ServerRecord, stop_process

SERVER_SETTINGS = {  # what Prefect sets for its own temporary server
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}


def log_path() -> Path:
    return server_dir() / "temporary.log"


def server_command(port: int) -> list[str]:
    """Prefect's own command for its temporary server (located without importing Prefect)."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise PrefectServerError("Prefect is not installed here; run 'make setup'")
    app_dir = str(Path(next(iter(spec.submodule_search_locations))).parent)
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        app_dir,
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


class TemporaryPrefect(LocalServer):
    """Prefect's temporary server (no UI), bound to this command, stopped at its exit."""

    def command(self, port: int) -> list[str]:
        return server_command(port)

    def answers(self, record: ServerRecord, timeout: float = 2.0) -> bool:
        return healthy(record, timeout)

    def start_timeout(self) -> float:
        return start_timeout()

    def output_log(self) -> Path:
        return log_path()

    def environment(self) -> dict[str, str]:
        return environment(SERVER_SETTINGS)

    def spawned(self, record: ServerRecord, process: subprocess.Popen) -> None:
        atexit.register(_stop, process)

    def exited(self, returncode: int | None) -> PrefectServerError:
        return PrefectServerError(
            f"this command's temporary Prefect server exited while starting (its log: "
            f"{log_path()}); fix what it says, or unset ALFLOW_PREFECT_SERVER to use alflow's "
            "lasting server"
        )

    def too_slow(self, record: ServerRecord, timeout: float) -> PrefectServerError:
        return too_slow(record, timeout, log_path())


def start() -> ServerRecord:
    """Start this command's server (stopped at exit, killed with the command); its record."""
    return TemporaryPrefect().launch(None, bound=True)[0]


def _stop(process: subprocess.Popen) -> None:
    """Stop the server at a normal exit (only while it runs: its pid is not reused then)."""
    if process.poll() is None:
        stop_process(process.pid, grace=5.0)
