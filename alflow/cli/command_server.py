"""A warm process that runs alflow's flow commands without importing everything again.

Why: before an ``alflow step`` does any work it imports Prefect, FiftyOne, scikit-learn, modAL
and the flows, about 8 s of CPU on an idle 2-core machine (twice that on a busy one) and the
larger part of a warm step. The command server imports them once, then *forks* a child per
command: the child is a fresh process (its own state, its own crash, commands run side by
side) that starts with every module loaded. The client (:mod:`alflow.cli.warm`) hands it the
terminal's file descriptors, the working directory, the environment and the arguments, forwards
Ctrl-C, and exits with the child's code; to the user it is the same command, only faster.

What keeps a forked child correct:

* the server only *imports*: it opens no database connection and starts no thread before it
  forks (pymongo's and Prefect's clients are not fork-safe), so each child connects itself;
* modules read part of their configuration (FiftyOne's, Prefect's settings) at import, so a
  server serves only clients whose environment it was started with and whose code it runs:
  its key (:func:`key`) is a digest of both, and each key has its own server;
* the child dies with its client: when the client's end of the socket closes without an exit
  status (the client was killed), the child is SIGKILLed, as the command itself would have been.

A server exits after ``ALFLOW_COMMAND_SERVER_IDLE`` seconds (default 900) without a command,
on ``alflow server --stop``, when a server for another key of its state directory starts while
it is idle, and when its last command finishes after one has (one server per state directory).
``ALFLOW_COMMAND_SERVER=off`` runs every command in its own process, as before.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path

from alflow.services.command_servers import (
    ENV_IDLE,
    IDLE_SECONDS,
    CommandServerError,
    read_record,
    record_path,
    socket_path,
    superseded,
)
from alflow.services.processes import seconds_from_env

# what a warm child finds imported (what a flow command imports before its first line of work)
WARM_MODULES = (
    "fiftyone",
    "prefect",
    "prefect.flows",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.semi_supervised",
    "modAL",
    "alflow.cli",
    "alflow.rounds",
    "alflow.loop.workspace",
    "flows.loop",
    "flows.round",
    "flows.simulate",
)
MAX_MESSAGE = 1 << 22


def recv_message(conn: socket.socket, fds: int = 0) -> tuple[dict | None, list[int]]:
    """One newline-ended JSON message (and up to ``fds`` descriptors sent with it)."""
    data, received = b"", []
    while not data.endswith(b"\n"):
        if fds and not received:
            chunk, received, _, _ = socket.recv_fds(conn, 65536, fds)
        else:
            chunk = conn.recv(65536)
        if not chunk:
            return None, received
        data += chunk
        if len(data) > MAX_MESSAGE:
            raise ValueError("message too long")
    return json.loads(data), list(received)


def send_message(conn: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = (json.dumps(message) + "\n").encode()
    if fds:
        sent = socket.send_fds(conn, [data], fds)
        data = data[sent:]
    conn.sendall(data)


# --- the server ---------------------------------------------------------------------------


def serve(server_key: str) -> None:
    """Import once, then fork a child per command until idle (``python -m`` entry point)."""
    from alflow.cli import console
    from alflow.services.environment import configure_environment

    configure_environment()
    idle = seconds_from_env(ENV_IDLE, IDLE_SECONDS, CommandServerError)
    console.quiet_prefect()  # before Prefect is imported, as a command does it
    for name in WARM_MODULES:
        __import__(name)
    console.filter_run_failures()
    listener = _listen(socket_path(server_key))
    record = _record(server_key)
    _write_record(record)
    children: set[int] = set()
    idle_since = time.monotonic()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        while not stopping and (children or time.monotonic() - idle_since < idle):
            _reap(children)
            if len(children) != record["children"]:
                record["children"] = len(children)  # busy or idle, for the next server's start
                _write_record(record)
            if not children and superseded(record):
                break  # a server for another environment or code started: one is kept
            try:
                conn, _ = listener.accept()
            except (TimeoutError, InterruptedError):
                continue
            child = _fork_child(conn, listener)
            conn.close()
            children.add(child)
            record.update(commands=record["commands"] + 1, last_child=child, children=len(children))
            _write_record(record)
            idle_since = time.monotonic()
    finally:
        _forget(server_key)
    # running children keep their clients' commands; they are not ours to end


def _forget(server_key: str) -> None:
    """Remove this server's record and socket, unless a successor of the same key (started
    when this one was stopped as out of date) has written its own already."""
    current = read_record(server_key)
    if current is not None and current["pid"] != os.getpid():
        return
    for path in (record_path(server_key), socket_path(server_key)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _listen(path: Path) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)
    listener.listen(16)
    listener.settimeout(1.0)
    return listener


def _record(server_key: str) -> dict:
    return {
        "pid": os.getpid(),
        "key": server_key,
        "started": time.time(),
        "database_uri": os.environ.get("FIFTYONE_DATABASE_URI"),
        "prefect_api_url": os.environ.get("PREFECT_API_URL"),
        "commands": 0,  # forked so far, and the last child's pid (what `status` and tests see)
        "last_child": None,
        "children": 0,  # commands running now: an idle server is stopped by a newer one
    }


def _write_record(record: dict) -> None:
    path = record_path(record["key"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)


def _reap(children: set[int]) -> None:
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if not done:
                continue
        children.discard(pid)


def _fork_child(conn: socket.socket, listener: socket.socket) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        listener.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        conn.settimeout(None)
        code = _run_child(conn)
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _run_child(conn: socket.socket) -> int:
    """One command in this forked child: the client's descriptors, directory, environment and
    arguments, then :func:`alflow.cli.commands.run`; its exit code goes back to the client."""
    request, fds = recv_message(conn, fds=3)
    if request is None or len(fds) != 3:
        return 1
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    _reopen_stdio()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = request["argv"]
    _pose_as_main(request.get("main_package"))
    send_message(conn, {"pid": os.getpid()})
    threading.Thread(target=_die_with_client, args=(conn,), daemon=True).start()
    code = _main()
    sys.stdout.flush()
    sys.stderr.flush()
    _FINISHED.set()
    with contextlib.suppress(OSError):
        send_message(conn, {"exit": code})
    return code


def _reopen_stdio() -> None:
    """Text streams on the client's descriptors, buffered as Python buffers a terminal's (the
    server's own streams are a log file's)."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        raw = os.fdopen(fd, "rb" if fd == 0 else "wb", closefd=False)
        stream = io.TextIOWrapper(
            raw, encoding=old.encoding, errors=old.errors, line_buffering=fd and os.isatty(fd)
        )
        if fd == 2:
            stream.reconfigure(line_buffering=True)
        setattr(sys, name, stream)


def _pose_as_main(package: str | None) -> None:
    """Make ``__main__`` look like the client's: usage lines take the program's name from its
    ``__package__`` and ``sys.argv[0]`` (``alflow`` or ``python -m alflow.cli``)."""
    main = sys.modules["__main__"]
    main.__package__ = package
    main.__spec__ = importlib.util.find_spec(f"{package}.__main__") if package else None


_FINISHED = threading.Event()


def _die_with_client(conn: socket.socket) -> None:
    """The client sends nothing more: its end closing means it was killed (or interrupted
    before the exit status); the command goes with it, as it would in its own process."""
    with contextlib.suppress(OSError):
        conn.recv(1)
    if not _FINISHED.is_set():
        os.kill(os.getpid(), signal.SIGKILL)


def _main() -> int:
    from alflow.cli import commands

    try:
        commands.run()
    except SystemExit as exit_:
        return _exit_code(exit_.code)
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    serve(sys.argv[1])
