"""The life cycle alflow's local servers share, on fakes: records, liveness against a fake
process table, the port retry, and reuse, replacement and stop of a lasting server.

The real servers (mongod, Prefect) go through the same code in tests/integration and tests/e2e.
"""

from __future__ import annotations

import subprocess
import time
from functools import partial
from unittest.mock import MagicMock

import psutil
import pytest

from alflow.errors import AlflowError
from alflow.services import lifecycle, processes
from alflow.services.lifecycle import LastingServer, Outcome
from alflow.services.processes import RecordFile, ServerRecord

OWN = ["fake-server", "--port", "1"]


class FakeProcessTable:
    """The system's processes by pid: a command line, a create time and a status each; a pid
    not in it is no such process, and ``denied`` ones belong to another user."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[list[str], float, str]] = {}
        self.denied: set[int] = set()

    def add(self, pid: int, cmdline: list[str], created: float, status: str = "running"):
        self.rows[pid] = (cmdline, created, status)

    def __call__(self, pid: int) -> psutil.Process:
        if pid not in self.rows:
            raise psutil.NoSuchProcess(pid)
        cmdline, created, status = self.rows[pid]
        process = MagicMock(spec=psutil.Process)
        process.status.return_value = status
        process.create_time.return_value = created
        if pid in self.denied:
            process.cmdline.side_effect = psutil.AccessDenied(pid)
        else:
            process.cmdline.return_value = cmdline
        return process


class FakePorts:
    """Loopback ports: ``taken`` ones are bound by other programs; free ones are handed out
    from 5001 up."""

    def __init__(self, taken: set[int] = frozenset()) -> None:
        self.taken = set(taken)
        self.chosen: list[tuple[int | None, int]] = []
        self._next = 5001

    def choose_port(self, preferred: int | None) -> int:
        if preferred is not None and preferred not in self.taken:
            port = preferred
        else:
            while self._next in self.taken:
                self._next += 1
            port, self._next = self._next, self._next + 1
        self.chosen.append((preferred, port))
        return port

    def port_free(self, port: int) -> bool:
        return port not in self.taken


class FakeError(AlflowError):
    pass


class FakeServer(LastingServer):
    """A lasting server whose processes are fakes: each spawn is the next of ``starts``, a
    ``(returncode, takes_port)`` pair: None keeps running (and answers), a code exits at once,
    ``takes_port`` means another program bound its port first."""

    directory_name = "fake-server"
    poll = 0.0
    stop_grace = 7.0

    def __init__(self, table: FakeProcessTable, ports: FakePorts, starts=((None, False),)):
        self.table, self.ports, self.starts = table, ports, list(starts)
        self.answering: set[int] = set()  # pids that answer
        self.spawned_on: list[int] = []
        self.timeout = 5.0
        self.started_servers_answer = True
        self.holder: str | None = None  # another program holding what the server needs

    def command(self, port: int) -> list[str]:
        return ["fake-server", "--port", str(port)]

    def is_own(self, cmdline: list[str]) -> bool:
        return cmdline[:1] == ["fake-server"]

    def answers(self, record: ServerRecord, timeout: float = 2.0) -> bool:
        return record.pid in self.answering

    def start_timeout(self) -> float:
        return self.timeout

    def preferred_port(self) -> int:
        return 4999

    def held_elsewhere(self) -> bool:
        return self.holder is not None

    def starting(self, port: int) -> str:
        return f"starting the fake server on {port}"

    def exited(self, returncode: int | None) -> FakeError:
        return FakeError(f"the fake server exited with code {returncode}")

    def no_free_port(self) -> FakeError:
        return FakeError("no free port")

    def too_slow(self, record: ServerRecord, timeout: float) -> FakeError:
        return FakeError(f"no answer within {timeout} s")

    def spawn(self, port: int, bound: bool) -> subprocess.Popen:
        returncode, takes_port = self.starts.pop(0)
        pid = 1000 + len(self.spawned_on)
        self.spawned_on.append(port)
        if takes_port:
            self.ports.taken.add(port)
        process = MagicMock(spec=subprocess.Popen)
        process.pid = pid
        process.poll.return_value = returncode
        process.returncode = returncode
        if returncode is None:
            self.table.add(pid, self.command(port), created=time.time())
            if self.started_servers_answer:
                self.answering.add(pid)
        return process


@pytest.fixture
def table(monkeypatch):
    table = FakeProcessTable()
    monkeypatch.setattr(lifecycle, "alive", partial(processes.alive, table=table))
    return table


@pytest.fixture
def ports(monkeypatch):
    ports = FakePorts()
    monkeypatch.setattr(lifecycle, "choose_port", ports.choose_port)
    monkeypatch.setattr(lifecycle, "port_free", ports.port_free)
    return ports


@pytest.fixture
def stopped(monkeypatch):
    stop = MagicMock(spec=processes.stop_process)
    monkeypatch.setattr(lifecycle, "stop_process", stop)
    return stop


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ALFLOW_HOME", str(tmp_path))
    return tmp_path


# --- records --------------------------------------------------------------------------------


def test_a_record_survives_a_round_trip_and_garbage_reads_as_none(tmp_path):
    records = RecordFile(tmp_path / "server")
    assert records.read() is None
    record = ServerRecord(pid=12, port=4321, started=3.5)
    records.write(record)
    assert records.read() == record
    assert sorted(p.name for p in (tmp_path / "server").iterdir()) == ["server.json"]
    records.path.write_text('{"pid": 12}')  # a record of another shape
    assert records.read() is None
    records.forget()
    records.forget()  # forgetting twice is no error
    assert records.read() is None


# --- liveness -------------------------------------------------------------------------------


def test_a_recorded_process_that_runs_its_own_command_is_alive():
    table = FakeProcessTable()
    table.add(7, OWN, created=100.0)
    assert processes.alive(7, lambda cmdline: cmdline == OWN, started=100.1, table=table)


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (None, "no such process"),
        ((OWN, 100.0, psutil.STATUS_ZOMBIE), "a zombie"),
        ((["python", "-c", "pass"], 100.0, "running"), "another program's command line"),
        ((OWN, 160.0, "running"), "a pid reused after the record was written"),
    ],
    ids=["gone", "zombie", "other-command", "reused-pid"],
)
def test_a_recorded_pid_is_not_alive_when_it_is(row, why):
    table = FakeProcessTable()
    if row:
        table.add(7, *row)
    assert not processes.alive(7, lambda cmdline: cmdline == OWN, started=100.0, table=table), why


def test_another_users_process_is_not_ours():
    table = FakeProcessTable()
    table.add(7, OWN, created=100.0)
    table.denied.add(7)
    assert not processes.alive(7, lambda cmdline: True, table=table)


def test_the_create_time_allows_for_the_whole_seconds_of_the_boot_time():
    table = FakeProcessTable()
    table.add(7, OWN, created=101.5)  # read against a boot time rounded to the second
    assert processes.alive(7, lambda cmdline: True, started=100.0, table=table)
    assert processes.alive(7, lambda cmdline: True, table=table)  # no record: no time to check


# --- port retry -----------------------------------------------------------------------------


def test_the_preferred_port_is_tried_first(ports):
    tried = []
    assert lifecycle.on_a_free_port(4999, 3, lambda port: tried.append(port) or port) == 4999
    assert tried == [4999]


def test_a_port_taken_meanwhile_leads_to_any_free_one(ports):
    outcomes = iter([None, "started"])
    assert lifecycle.on_a_free_port(4999, 3, lambda port: next(outcomes)) == "started"
    assert ports.chosen == [(4999, 4999), (None, 5001)]  # the second choice ignores the preference


def test_after_every_attempt_found_its_port_taken_there_is_none(ports):
    assert lifecycle.on_a_free_port(4999, 3, lambda port: None) is None
    assert len(ports.chosen) == 3


def test_a_failed_attempt_is_not_retried(ports):
    def attempt(port):
        raise FakeError("broken")

    with pytest.raises(FakeError, match="broken"):
        lifecycle.on_a_free_port(None, 3, attempt)
    assert len(ports.chosen) == 1


def test_waiting_ends_at_once_when_the_process_exits():
    process = MagicMock(spec=subprocess.Popen)
    process.poll.return_value = 1
    answers = MagicMock(return_value=True, spec=lambda: None)
    assert lifecycle.wait_until_answering(process, answers, timeout=60.0) is Outcome.EXITED
    answers.assert_not_called()


# --- a lasting server -----------------------------------------------------------------------


def test_the_first_command_starts_the_server_and_records_it(home, table, ports, stopped):
    server = FakeServer(table, ports)
    announced = []
    record = server.ensure_running(announce=announced.append)
    assert (record.pid, record.port) == (1000, 4999)
    assert server.records.read() == record
    assert announced == ["starting the fake server on 4999"]
    assert server.running() == record
    stopped.assert_not_called()


def test_a_recorded_server_that_answers_is_reused(home, table, ports, stopped):
    server = FakeServer(table, ports, starts=[])
    record = ServerRecord(pid=77, port=4999, started=time.time())
    table.add(77, OWN, created=record.started - 1)
    server.answering.add(77)
    server.records.write(record)
    assert server.ensure_running(announce=print) == record
    assert server.spawned_on == []


def test_a_recorded_server_that_does_not_answer_is_stopped_and_replaced(
    home, table, ports, stopped
):
    server = FakeServer(table, ports)
    hung = ServerRecord(pid=77, port=4999, started=time.time())
    table.add(77, OWN, created=hung.started - 1)
    server.records.write(hung)
    record = server.ensure_running(announce=lambda message: None)
    stopped.assert_called_once_with(77)
    assert record.pid == 1000 and server.records.read() == record


def test_a_recorded_pid_now_another_process_is_never_signalled(home, table, ports, stopped):
    server = FakeServer(table, ports)
    old = ServerRecord(pid=77, port=4999, started=time.time() - 3600)
    table.add(77, OWN, created=time.time())  # the pid reused by a later process
    server.records.write(old)
    assert server.running() is None
    assert server.stop() is None
    record = server.ensure_running(announce=lambda message: None)
    stopped.assert_not_called()
    assert record.pid == 1000


def test_a_port_taken_between_choice_and_start_leads_to_another(home, table, ports, stopped):
    server = FakeServer(table, ports, starts=[(48, True), (None, False)])
    record = server.ensure_running(announce=lambda message: None)
    assert server.spawned_on == [4999, 5001]
    assert record.port == 5001 and server.records.read() == record


def test_a_server_that_exits_on_its_own_fails_at_once_saying_so(home, table, ports, stopped):
    server = FakeServer(table, ports, starts=[(14, False), (None, False)])
    with pytest.raises(FakeError, match="exited with code 14"):
        server.ensure_running(announce=lambda message: None)
    assert server.spawned_on == [4999]  # not retried: its port was free
    assert server.records.read() is None


def test_a_server_that_never_answers_is_stopped_and_named_slow(home, table, ports, stopped):
    server = FakeServer(table, ports)
    server.timeout = 0.05
    server.started_servers_answer = False
    with pytest.raises(FakeError, match="no answer within 0.05 s"):
        server.ensure_running(announce=lambda message: None)
    stopped.assert_called_once_with(1000)
    assert server.records.read() is None


def test_when_every_port_is_taken_meanwhile_the_error_says_so(home, table, ports, stopped):
    server = FakeServer(table, ports, starts=[(48, True)] * 3)
    with pytest.raises(FakeError, match="no free port"):
        server.ensure_running(announce=lambda message: None)
    assert len(server.spawned_on) == server.attempts


def test_a_server_held_elsewhere_is_not_started(home, table, ports, stopped):
    server = FakeServer(table, ports)
    server.holder = "FiftyOne's service"
    assert server.ensure_running(announce=lambda message: None) is None
    assert server.spawned_on == []


def test_stop_ends_a_live_server_and_forgets_it(home, table, ports, stopped):
    server = FakeServer(table, ports)
    record = server.ensure_running(announce=lambda message: None)
    assert server.stop() == record
    stopped.assert_called_once_with(record.pid, grace=7.0)
    assert server.records.read() is None
    assert server.stop() is None  # nothing left to stop
