"""The round ledger on the real (session) MongoDB."""

import itertools

import pytest

from alflow.errors import LedgerError, RoundInFlightError
from alflow.state import ledger as L

_names = (f"ledger-{i}" for i in itertools.count())


@pytest.fixture
def ledger(fo_db):
    return L.Ledger(fo_db)


@pytest.fixture
def loop(ledger):
    name = next(_names)
    ledger.create_loop(name, {"schema_version": 1}, {})
    # a bare record, not a loop other tests' commands could list, step or advance
    yield name
    ledger.delete_loop(name)


def test_round_numbers_only_grow(ledger, loop):
    numbers = [ledger.allocate_round(loop) for _ in range(3)]
    assert numbers == [1, 2, 3]
    ledger.insert_round(loop, 2, L.QUERIED)
    ledger.set_state(loop, 2, L.CANCELLED)
    assert ledger.allocate_round(loop) == 4


def test_insert_round_is_idempotent(ledger, loop):
    assert ledger.insert_round(loop, 1, L.QUERIED, queried_ids=["a"])
    assert not ledger.insert_round(loop, 1, L.QUERIED, queried_ids=["b"])
    assert ledger.round(loop, 1)["queried_ids"] == ["a"]
    assert len(ledger.rounds(loop)) == 1


def test_state_history_is_recorded(ledger, loop):
    ledger.insert_round(loop, 1, L.QUERIED)
    ledger.set_state(loop, 1, L.EXPORTED)
    ledger.set_state(loop, 1, L.WAITING)
    states = [h["state"] for h in ledger.round(loop, 1)["history"]]
    assert states == [L.QUERIED, L.EXPORTED, L.WAITING]
    assert ledger.in_flight(loop)["round"] == 1


def test_duplicate_loop_name_is_refused(ledger, loop):
    with pytest.raises(LedgerError, match="already exists.*alflow loop delete"):
        ledger.create_loop(loop, {}, {})


def test_unknown_loop_suggests_close_names(ledger, loop):
    with pytest.raises(LedgerError, match=f"no loop named '{loop}x'.*did you mean '{loop}'"):
        ledger.loop(f"{loop}x")
    with pytest.raises(LedgerError, match="no loop named 'zzzz' .*alflow loop list"):
        ledger.loop("zzzz")


def test_lock_refuses_a_second_owner_until_released(ledger, loop):
    ledger.acquire(loop, "run-a", 60)
    ledger.acquire(loop, "run-a", 60)  # re-entrant for the same run
    with pytest.raises(RoundInFlightError, match="busy.*run-a"):
        ledger.acquire(loop, "run-b", 60)
    ledger.release(loop, "run-a")
    ledger.acquire(loop, "run-b", 60)


def test_expired_lock_can_be_taken(ledger, loop):
    ledger.acquire(loop, "dead-run", -1)
    ledger.acquire(loop, "run-b", 60)
    assert ledger.loop(loop)["lock"]["owner"] == "run-b"
