"""The loop lock is a short lease renewed by a heartbeat; a dead holder's is freed or taken over."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from alflow.cli import app
from alflow.errors import LedgerError, RoundInFlightError
from alflow.loop.status import describe, loop_status
from alflow.loop.workspace import open_workspace
from alflow.state import ledger as L
from alflow.state import locks
from tests.helpers import unique_name


@pytest.fixture
def ledger(fo_db):
    return L.Ledger(fo_db)


@pytest.fixture
def loop(ledger):
    name = unique_name("lock")
    ledger.create_loop(name, {"schema_version": 1, "dataset": "d", "backend": {}}, {})
    # a bare record, not a loop other tests' commands could list, step or advance
    yield name
    ledger.delete_loop(name)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_heartbeat_keeps_a_short_lease_alive_while_the_step_works(ledger, loop):
    with locks.holding(ledger, loop, "run-a", lease=0.6):
        time.sleep(1.5)  # more than two leases: only the heartbeat keeps it
        lock = ledger.loop(loop)["lock"]
        assert lock["owner"] == "run-a" and not locks.expired(lock)
        with pytest.raises(RoundInFlightError, match=r"busy: run 'run-a'.*\+00:00.*alflow unlock"):
            locks.take(ledger, loop, "run-b")
    assert ledger.loop(loop)["lock"] is None


def test_a_killed_holders_lease_expires_within_the_lease(ledger, loop):
    ledger.acquire(loop, "killed", 0.3, host="elsewhere", pid=1)  # no heartbeat: it died
    with pytest.raises(RoundInFlightError):
        locks.take(ledger, loop, "next")
    time.sleep(0.4)
    assert locks.take(ledger, loop, "next")["owner"] == "killed"
    assert locks.LEASE_SECONDS <= 600  # a killed step blocks its loop for minutes, not an hour


def test_a_dead_holder_on_this_host_is_taken_over_at_once(ledger, loop):
    ledger.acquire(loop, "dead-run", 3600, **{**locks.this_holder(), "pid": dead_pid()})
    assert locks.take(ledger, loop, "next")["owner"] == "dead-run"
    assert ledger.loop(loop)["lock"]["owner"] == "next"


def test_unlock_refuses_a_live_holder_unless_forced(ledger, loop):
    ledger.acquire(loop, "alive-run", 3600, **locks.this_holder())
    with pytest.raises(
        LedgerError, match=r"locked by run 'alive-run' \(pid \d+ on host .*is alive"
    ):
        locks.unlock(ledger, loop)
    result = CliRunner().invoke(app, ["unlock", loop])
    assert isinstance(result.exception, LedgerError) and "--force" in str(result.exception)
    result = CliRunner().invoke(app, ["unlock", loop, "--force"])
    assert result.exit_code == 0 and "freed the lock" in result.output
    assert ledger.loop(loop)["lock"] is None
    assert (
        CliRunner().invoke(app, ["unlock", loop]).output.strip() == f"loop {loop!r} is not locked"
    )


def test_unlock_frees_a_dead_holder_and_waits_out_another_hosts_lease(ledger, loop):
    ledger.acquire(loop, "dead-run", 3600, **{**locks.this_holder(), "pid": dead_pid()})
    assert locks.unlock(ledger, loop)["owner"] == "dead-run"
    ledger.acquire(loop, "remote-run", 3600, host="another-host", pid=4242)
    with pytest.raises(LedgerError, match="may be alive"):
        locks.unlock(ledger, loop)
    ledger.acquire(loop, "remote-run", -1, host="another-host", pid=4242)  # expired
    assert locks.unlock(ledger, loop)["owner"] == "remote-run"


def test_status_shows_the_holder_and_since_when_with_the_timezone(ledger, loop):
    ledger.acquire(loop, "run-x", 3600, **locks.this_holder())
    lines = describe(loop_status(open_workspace(), loop, live=False))
    assert lines[1].startswith("a step is working on it: run 'run-x' (pid ")
    (line,) = [line for line in lines if line.startswith("locked by")]
    since = datetime.fromisoformat(line.split(" since ")[1].split(",")[0])
    assert since.tzinfo is not None and abs(since - datetime.now(UTC)) < timedelta(minutes=1)
    assert "lease until" in line and "+00:00" in line
