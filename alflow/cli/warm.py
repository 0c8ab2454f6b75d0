"""The client side of :mod:`alflow.cli.command_server`: run a flow command in a warm child.

Only the commands that import the whole stack go there (:data:`WARM_COMMANDS`); a command
that reads the ledger is fast on its own. Anything that stands in the way (the server is off,
``--verbose``, a temporary Prefect server per command, a server that cannot start) runs the
command in this process instead, as before: the warm path is only ever a shortcut.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

from alflow.cli import command_server as server
from alflow.errors import AlflowError
from alflow.services import command_servers as records
from alflow.services import file_locks
from alflow.services.processes import seconds_from_env

WARM_COMMANDS = frozenset({"step", "rollback", "reinclude", "reexport", "features", "simulate"})
WARM_GROUP_COMMANDS = frozenset({("loop", "create"), ("round", "cancel"), ("round", "fail")})
ENV_START_TIMEOUT = "ALFLOW_COMMAND_SERVER_START_TIMEOUT"
START_TIMEOUT_SECONDS = 600.0  # imports only; a busy 2-core machine took 40 s
SOCKET_PATH_LIMIT = 100  # sun_path holds 108 bytes


def wanted(argv: list[str]) -> bool:
    """Whether ``argv`` (without the program name) is a command worth a warm child."""
    words = [a for a in argv if not a.startswith("-")]
    if any(a in ("-v", "--verbose", "--help") for a in argv) or not words:
        return False
    return words[0] in WARM_COMMANDS or tuple(words[:2]) in WARM_GROUP_COMMANDS


def run(argv: list[str]) -> int | None:
    """Run ``argv`` in a warm child; its exit code, or None to run it in this process."""
    if not wanted(argv[1:]) or records.mode() == "off" or os.environ.get("ALFLOW_VERBOSE"):
        return None
    from alflow.services import prefect_server

    if prefect_server.temporary_only():
        return None  # a temporary server is this command's own: nothing to share
    server_key = records.key(dict(os.environ))
    if len(str(records.socket_path(server_key))) > SOCKET_PATH_LIMIT:
        return _run_here(
            f"ALFLOW_HOME is too deep for the command server's socket ({records.directory()})"
        )
    try:
        addresses = _addresses()
    except AlflowError:
        return None  # the command, run here, says what is wrong in its one line
    conn = _connect(server_key, addresses)
    if conn is None:
        return None
    with conn:
        return _run_in_child(conn, argv)


def _addresses() -> dict:
    """The database and Prefect server a child would use (started here if need be): a server
    started before either moved is out of date."""
    from alflow.services import database_server, prefect_server

    return {
        "database_uri": database_server.connect() or os.environ.get("FIFTYONE_DATABASE_URI"),
        "prefect_api_url": prefect_server.connect(),
    }


def _connect(server_key: str, addresses: dict) -> socket.socket | None:
    """A connection to this key's server, started first if there is none (or a stale one)."""
    with file_locks.held(records.start_lock_path()):  # commands started together share one
        record = records.read_record(server_key)
        if record and records.alive(record["pid"], started=record.get("started")):
            if all(record.get(k) == v for k, v in addresses.items()):
                conn = _try_connect(server_key)
                if conn is not None:
                    return conn
            with contextlib.suppress(ProcessLookupError):
                os.kill(record["pid"], signal.SIGTERM)
        return _start(server_key)


def _try_connect(server_key: str) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(records.socket_path(server_key)))
    except OSError:
        conn.close()
        return None
    return conn


def _start(server_key: str) -> socket.socket | None:
    """Start this key's server and wait until it listens; None (run here) if it cannot."""
    records.stop(records.replaced(server_key))  # at most one server per state directory
    with contextlib.suppress(FileNotFoundError):
        records.record_path(server_key).unlink()
    log_path = records.log_path()
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "alflow.cli.command_server", server_key],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    timeout = seconds_from_env(ENV_START_TIMEOUT, START_TIMEOUT_SECONDS, records.CommandServerError)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if records.read_record(server_key):
            conn = _try_connect(server_key)
            if conn is not None:
                return conn
        time.sleep(0.1)
    if process.poll() is None:
        process.terminate()
    return _run_here(f"the command server did not start (its log: {log_path})")


def _run_in_child(conn: socket.socket, argv: list[str]) -> int | None:
    """Hand the command over; forward Ctrl-C and termination; the child's exit code."""
    request = {
        "argv": argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        # `python -m alflow.cli` or the `alflow` script: usage lines name the program by it
        "main_package": getattr(sys.modules["__main__"], "__package__", None),
    }
    try:
        server.send_message(conn, request, fds=[0, 1, 2])
        started, _ = server.recv_message(conn)
    except OSError:
        started = None
    if not started:  # the server went away before a child took the command
        return _run_here(
            f"the command server ended before it took the command ({records.log_path()})"
        )
    child = started["pid"]
    forwarded = _forward_signals(child)
    try:
        while True:
            try:
                done, _ = server.recv_message(conn)
                break
            except InterruptedError:
                continue
    finally:
        for signum, previous in forwarded.items():
            signal.signal(signum, previous)
    if done is None:
        print(
            f"alflow: error: the command's process ({child}) ended without an exit status; "
            f"its log may be in {records.directory()}",
            file=sys.stderr,
        )
        return 1
    return int(done["exit"])


def _run_here(why: str) -> None:
    """Say why the command runs in this process after all (it still runs: the command server
    is only a shortcut), and let it."""
    print(f"alflow: {why}; running the command in its own process", file=sys.stderr)
    return None


def _forward_signals(child: int) -> dict:
    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    return {
        signum: signal.signal(signum, forward)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
