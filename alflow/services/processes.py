"""Process-level pieces of alflow's local servers: records, liveness, ports, spawn and stop.

A record of the running server and its start lock, liveness of a recorded pid, free ports,
spawning, stopping a process tree, and the servers' settings from the environment.

alflow keeps two processes that outlive the commands that start them, one of each per state
directory: its Prefect server (:mod:`alflow.services.prefect_server`) and its MongoDB
(:mod:`alflow.services.database_server`). Each has a directory under ``ALFLOW_HOME`` holding
``server.json`` (pid, port, start time) and ``server.lock``; their life cycle (start under the
lock, reuse, stop) is :mod:`alflow.services.lifecycle`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from alflow.services import file_locks
from alflow.services.parent_death import bound_command

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServerRecord:
    """What the state directory remembers of a running server."""

    pid: int
    port: int
    started: float

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


class RecordFile:
    """``server.json`` and ``server.lock`` in one server's directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def path(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / "server.json"

    def read(self) -> ServerRecord | None:
        """The recorded server, or None when none was recorded (or the record is unreadable)."""
        try:
            return ServerRecord(**json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, record: ServerRecord) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(self.path)  # atomic: a reader sees the old record or the new one

    def forget(self) -> None:
        with suppress(FileNotFoundError):
            self.path.unlink()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The one start lock: a second command waits here, then finds the first one's server."""
        with file_locks.held(self.path.parent / "server.lock"):
            yield


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def choose_port(preferred: int | None) -> int:
    """``preferred`` when it is free, else any free loopback port."""
    if preferred is not None and port_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# how far a process's create time can read after the time recorded for it: psutil adds the
# process's ticks since boot to the boot time, which /proc/stat gives in whole seconds
CREATE_TIME_SLACK = 2.0


def alive(
    pid: int,
    is_own: Callable[[list[str]], bool],
    started: float | None = None,
    table: Callable[[int], psutil.Process] = psutil.Process,
) -> bool:
    """Whether ``pid`` is a live (not zombie) process whose command line ``is_own``, and, given
    the ``started`` time of its record, one that already ran then: a pid the system reused for
    a later process is never taken for the recorded one, so it is never signalled.

    ``table`` looks a pid up (psutil's process table; a test's fake one).
    """
    try:
        process = table(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if started is not None and process.create_time() > started + CREATE_TIME_SLACK:
            return False
        return is_own(process.cmdline())
    except psutil.Error:  # gone, or another user's: not ours either way
        return False


def spawn(
    command: list[str],
    log: Path | None = None,
    bound: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server in a session of its own (so a Ctrl-C in the terminal reaches only the
    command, which stops it in order), its output appended to ``log`` (else discarded), with
    ``env`` (else this process's environment); ``bound`` ties it to this command's life besides
    (:mod:`alflow.services.parent_death`), else it outlives the command."""
    with log.open("ab") if log else nullcontext(subprocess.DEVNULL) as out:
        return subprocess.Popen(
            bound_command(command) if bound else command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_process(pid: int, grace: float = 15.0) -> None:
    """SIGTERM the process and every process under it (its process group, and any descendant
    that left the group); SIGKILL what is left after ``grace`` seconds."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    for process in tree:
        with suppress(psutil.Error):
            process.terminate()
    _, left = psutil.wait_procs(tree, timeout=grace)
    for process in left:
        with suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(left, timeout=5)


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


def mode_from_env(name: str, modes: tuple[str, ...], error: type[Exception]) -> str:
    """The mode ``name`` chooses, one of ``modes`` (the first by default; else ``error``)."""
    value = os.environ.get(name, modes[0])
    if value not in modes:
        raise error(f"{name}={value!r} is not a mode; use {' or '.join(modes)}")
    return value


def port_from_env(
    name: str, default: int | None, example: int, error: type[Exception]
) -> int | None:
    """A port from the environment variable ``name`` (``default`` when unset; else ``error``)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise error(f"{name}={raw!r} is not a port; e.g. {name}={example}")
    return int(raw)


def log_tail(path: Path, limit: int) -> str:
    """The last ``limit`` characters of a server's log, for an error message ("" if unreadable)."""
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return ""


def seconds_from_env(name: str, default: float, error: type[Exception]) -> float:
    """A positive number of seconds from the environment variable ``name`` (else ``error``)."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise error(f"{name}={raw!r} is not a number of seconds; e.g. {name}=600")
    return value
