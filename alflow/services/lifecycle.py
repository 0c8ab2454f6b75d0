"""The one life cycle of alflow's local servers: start, wait until it answers, record, reuse, stop.

:class:`LocalServer` starts a server on a loopback port: it spawns the server's command, waits
for it to answer (a dead one is noticed at once, so a slow start is only slow), and tries
another free port when the chosen one was taken between the choice and the server's bind.
:class:`LastingServer` adds what makes a server outlive the command that starts it, one per
state directory: the record in ``ALFLOW_HOME/<name>/server.json`` (written as soon as the
process exists, so a command killed meanwhile leaves it findable), the start lock that makes
commands started together share one server, the check that a recorded pid is still that server
(:func:`alflow.services.processes.alive`) before it is reused or signalled, and stop.

Each server declares only what differs: its command, how it answers, its messages and
settings (:mod:`alflow.services.prefect_server`, :mod:`alflow.services.database_server`,
:mod:`alflow.services.temporary_prefect`).
"""

from __future__ import annotations

import enum
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, TypeVar

from alflow.errors import AlflowError
from alflow.services.environment import state_dir
from alflow.services.processes import (
    RecordFile,
    ServerRecord,
    alive,
    choose_port,
    port_free,
    spawn,
    stop_process,
)

T = TypeVar("T")
Announce = Callable[[str], None]


def to_stderr(message: str) -> None:
    """How a command announces a start: ``alflow: ...`` on standard error."""
    print(f"alflow: {message}", file=sys.stderr)


class Outcome(enum.Enum):
    """How a start ended."""

    ANSWERS = "answers"
    EXITED = "exited"
    SILENT = "silent"  # neither within the start timeout


def wait_until_answering(
    process: subprocess.Popen,
    answers: Callable[[], bool],
    timeout: float,
    poll: float = 0.25,
) -> Outcome:
    """Poll until the server ``answers`` or its ``process`` ends (no hang on a dead one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return Outcome.EXITED
        if answers():
            return Outcome.ANSWERS
        time.sleep(poll)
    return Outcome.SILENT


def on_a_free_port(
    preferred: int | None, attempts: int, attempt: Callable[[int], T | None]
) -> T | None:
    """``attempt(port)`` on ``preferred`` when it is free, else on any free port, up to
    ``attempts`` times; an attempt returns None when another program took its port between the
    choice and the bind, and the next one then takes any free port. None if every one did."""
    for _ in range(attempts):
        outcome = attempt(choose_port(preferred))
        if outcome is not None:
            return outcome
        preferred = None
    return None


class LocalServer(ABC):
    """A server alflow starts on a loopback port and waits for until it answers."""

    attempts: ClassVar[int] = 3
    poll: ClassVar[float] = 0.25

    @abstractmethod
    def command(self, port: int) -> list[str]:
        """The command line that runs the server on ``port``."""

    @abstractmethod
    def answers(self, record: ServerRecord, timeout: float = 2.0) -> bool:
        """Whether the server of ``record`` answers its health check."""

    @abstractmethod
    def start_timeout(self) -> float:
        """How long a start may take (its setting read from the environment)."""

    @abstractmethod
    def exited(self, returncode: int | None) -> AlflowError:
        """The error for a server that exited while starting (not for a port taken meanwhile)."""

    @abstractmethod
    def too_slow(self, record: ServerRecord, timeout: float) -> AlflowError:
        """The error for a server that did not answer within ``timeout`` seconds."""

    def no_free_port(self) -> AlflowError:
        """The error when every attempt found its port taken."""
        return self.exited(None)

    def starting(self, port: int) -> str:
        """What a command announces as it starts the server."""
        return f"starting a server on port {port}"

    def output_log(self) -> Path | None:
        """Where the server's output goes (None: nowhere, the server keeps a log of its own)."""
        return None

    def environment(self) -> dict[str, str] | None:
        """The server's environment (None: this process's)."""
        return None

    def spawn(self, port: int, bound: bool) -> subprocess.Popen:
        """Start the server's process on ``port`` (in a session of its own)."""
        return spawn(self.command(port), self.output_log(), bound, self.environment())

    # hooks that do nothing unless a server declares them

    def prepare(self) -> None:  # noqa: B027
        """Make what the server needs before it starts (a directory), or say why it cannot."""

    def spawned(self, record: ServerRecord, process: subprocess.Popen) -> None:  # noqa: B027
        """Called once the process exists, before it answers."""

    def failed(self, record: ServerRecord) -> None:  # noqa: B027
        """Called when a start on ``record``'s port did not lead to a server that answers."""

    def launch(
        self, preferred: int | None, announce: Announce | None = None, bound: bool = False
    ) -> tuple[ServerRecord, subprocess.Popen]:
        """Start the server, on another free port if the chosen one was taken meanwhile; its
        record and process once it answers. ``bound`` ties it to this command's life."""
        timeout = self.start_timeout()
        self.prepare()

        def attempt(port: int) -> tuple[ServerRecord, subprocess.Popen] | None:
            if announce:
                announce(self.starting(port))
            process = self.spawn(port, bound)
            record = ServerRecord(pid=process.pid, port=port, started=time.time())
            self.spawned(record, process)
            outcome = wait_until_answering(
                process, lambda: self.answers(record), timeout, self.poll
            )
            if outcome is Outcome.ANSWERS:
                return record, process
            self.failed(record)
            if outcome is Outcome.SILENT:
                stop_process(record.pid)
                raise self.too_slow(record, timeout)
            if port_free(port):  # it died for another reason than a taken port
                raise self.exited(process.returncode)
            return None

        started = on_a_free_port(preferred, self.attempts, attempt)
        if started is None:
            raise self.no_free_port()
        return started


class LastingServer(LocalServer):
    """A local server that outlives the command starting it: one per state directory, recorded,
    started under a lock, reused by later commands, stopped on request."""

    directory_name: ClassVar[str]  # under ALFLOW_HOME: the record, the start lock (and a log)
    reuse_timeout: ClassVar[float] = 2.0  # how long a live recorded server may take to answer
    stop_grace: ClassVar[float] = 15.0  # how long it may take to stop cleanly after SIGTERM

    @abstractmethod
    def is_own(self, cmdline: list[str]) -> bool:
        """Whether a command line is this server's (so a reused pid is not taken for it)."""

    def preferred_port(self) -> int | None:
        """The port to try first (its setting read from the environment); None: any free one."""
        return None

    def held_elsewhere(self) -> bool:
        """Whether a process alflow did not start holds what this server needs; no server is
        then started, and :meth:`ensure_running` returns None."""
        return False

    def directory(self) -> Path:
        path = state_dir() / self.directory_name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def records(self) -> RecordFile:
        return RecordFile(self.directory())

    def is_running(self, record: ServerRecord) -> bool:
        """Whether the recorded process is still this server (whether or not it answers)."""
        return alive(record.pid, self.is_own, record.started)

    def spawned(self, record: ServerRecord, process: subprocess.Popen) -> None:
        self.records.write(record)  # a command killed meanwhile leaves it to be found or stopped

    def failed(self, record: ServerRecord) -> None:
        self.records.forget()

    def running(self) -> ServerRecord | None:
        """The recorded server if its process lives and it answers, else None (no start)."""
        record = self.records.read()
        if record is not None and self.is_running(record) and self.answers(record):
            return record
        return None

    def ensure_running(
        self, preferred: int | None = None, announce: Announce | None = None
    ) -> ServerRecord | None:
        """The server, started first if none answers (commands started together share it);
        None only when :meth:`held_elsewhere`."""
        records = self.records
        with records.lock():
            record = records.read()
            if record is not None and self.is_running(record):
                if self.answers(record, timeout=self.reuse_timeout):
                    return record
                stop_process(record.pid)  # alive but not answering: a hung or half-dead server
            records.forget()
            if self.held_elsewhere():
                return None
            preferred = preferred or self.preferred_port()
            return self.launch(preferred, announce or to_stderr)[0]

    def stop(self) -> ServerRecord | None:
        """Stop the server; the record of the one stopped, or None if none was running."""
        records = self.records
        with records.lock():
            record = records.read()
            records.forget()
            if record is None or not self.is_running(record):
                return None
            stop_process(record.pid, grace=self.stop_grace)
            return record
