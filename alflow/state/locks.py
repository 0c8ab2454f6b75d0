"""The loop lock as a crash-tolerant lease: short, renewed by a heartbeat, freed by ``unlock``.

A step holds its loop's lock (in the loop's ledger record) for as long as it works. The lock is
a lease of :data:`LEASE_SECONDS`: a heartbeat thread in the holding process renews it every
third of that, so a step that works for hours keeps it, and a step that is killed (SIGKILL, a
lost worker) lets it expire within minutes instead of blocking the loop. The holder's host and
process id are stored with it, so ``alflow unlock`` can refuse to free a lock whose holder is
alive and free a dead one's at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError, PyMongoError

from alflow.errors import LedgerError, RoundInFlightError
from alflow.services import processes
from alflow.state.ledger import Ledger, format_time

log = logging.getLogger(__name__)

LEASE_SECONDS = 300.0  # a dead holder blocks its loop at most this long


def this_holder() -> dict[str, Any]:
    """Who holds a lock taken by this process: host name and process id."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def command_owner(command: str) -> str:
    """A unique lock owner for a command-line edit, e.g. ``alflow rollback (3f9c2a1b7e4d)``."""
    return f"alflow {command} ({uuid.uuid4().hex[:12]})"


def expired(lock: dict[str, Any], at: datetime | None = None) -> bool:
    until = lock["until"]
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    return until <= (at or datetime.now(UTC))


def holder_alive(lock: dict[str, Any]) -> bool | None:
    """True or False when the holder runs on this host; None when that cannot be known here."""
    if lock.get("host") != socket.gethostname() or not lock.get("pid"):
        return None
    since = lock.get("since")
    if isinstance(since, datetime) and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    # any process running since the lock was taken; a later one that reused the pid is not it
    started = since.timestamp() if isinstance(since, datetime) else None
    return processes.alive(int(lock["pid"]), is_own=lambda _: True, started=started)


def live_lock(lock: dict[str, Any] | None) -> dict[str, Any] | None:
    """The lock if it still binds: not expired, and not held by a process known to be dead."""
    if not lock or expired(lock) or holder_alive(lock) is False:
        return None
    return lock


def describe_holder(lock: dict[str, Any]) -> str:
    """``run 'abc' (pid 12 on host h) since 2026-12-01T09:30:00+00:00``."""
    where = f" (pid {lock['pid']} on host {lock['host']})" if lock.get("pid") else ""
    return f"run {lock['owner']!r}{where} since {format_time(lock.get('since'))}"


class Heartbeat:
    """A daemon thread that renews ``owner``'s lock on ``loop`` until stopped.

    If the lock was lost (taken over after it expired, or freed by ``alflow unlock --force``)
    the heartbeat logs it and stops: the ledger's checked state transitions then refuse the
    old holder's next write.
    """

    def __init__(self, ledger: Ledger, loop: str, owner: str, lease: float = LEASE_SECONDS):
        self._ledger, self._loop, self._owner, self._lease = ledger, loop, owner, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lock-{loop}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._lease / 3):
            try:
                kept = self._ledger.renew(self._loop, self._owner, self._lease)
            except PyMongoError as exc:  # a database hiccup: try again at the next beat
                log.warning("could not renew the lock of loop %r: %s", self._loop, exc)
                continue
            if not kept:
                log.warning(
                    "loop %r: run %r lost its lock (it expired or was freed by 'alflow unlock')",
                    self._loop,
                    self._owner,
                )
                return


def take(ledger: Ledger, loop: str, owner: str, lease: float = LEASE_SECONDS) -> dict | None:
    """Take ``loop``'s lock for ``owner``; a lock whose holder is known to be dead is taken over.

    Returns the replaced lock of a dead or expired holder, or None.

    Raises:
        RoundInFlightError: a live holder (or one whose lease still runs) has it.
    """
    try:
        return ledger.acquire(loop, owner, lease, **this_holder())
    except RoundInFlightError:
        lock = ledger.loop(loop).get("lock")
        if not lock or holder_alive(lock) is not False:
            raise
        log.warning("loop %r: taking over the lock of %s (dead)", loop, describe_holder(lock))
        ledger.clear_lock(loop, lock["owner"])
        ledger.acquire(loop, owner, lease, **this_holder())
        return lock


@contextmanager
def holding(
    ledger: Ledger, loop: str, owner: str, lease: float = LEASE_SECONDS
) -> Iterator[dict[str, Any] | None]:
    """Hold ``loop``'s lock, renewed by a heartbeat, for the ``with`` block.

    Yields the expired lock of a dead holder that this one replaced (None if there was none).
    """
    replaced = take(ledger, loop, owner, lease)
    beat = Heartbeat(ledger, loop, owner, lease).start()
    try:
        yield replaced
    finally:
        beat.stop()
        ledger.release(loop, owner)


def unlock(ledger: Ledger, loop: str, force: bool = False) -> dict[str, Any] | None:
    """Free ``loop``'s lock; refuse while its holder may be alive unless ``force``.

    Returns the lock that was freed (None if the loop was not locked).

    Raises:
        LedgerError: the holder is alive (or, on another host, its lease has not expired).
    """
    lock = ledger.loop(loop).get("lock")
    if not lock:
        return None
    alive = holder_alive(lock)
    if not force and (alive is True or (alive is None and not expired(lock))):
        where = "is alive" if alive else "may be alive (its lease has not expired)"
        raise LedgerError(
            f"loop {loop!r} is locked by {describe_holder(lock)}, which {where}; wait for it "
            f"to finish, stop that process, or free the lock anyway with 'alflow unlock {loop} "
            "--force' if you know it is stuck"
        )
    ledger.clear_lock(loop, lock["owner"])
    return lock


# ------------------------------------------------------------------ dataset schema lock
DATASET_LOCKS = "alflow_dataset_locks"
SCHEMA_LEASE_SECONDS = 300.0  # a crashed holder delays other schema changes at most this long


@contextmanager
def dataset_schema(database, dataset, wait_seconds: float = 600.0) -> Iterator[None]:
    """Serialise changes of ``dataset``'s field schema across processes and hosts.

    FiftyOne saves a dataset's whole field list when a field is added, so two processes that
    add fields at once lose one of them (the field vanishes from the schema while documents
    still hold it). Whoever changes the schema takes this lock (a document in MongoDB, so it
    works for the CLI, workers and the App alike), reloads the dataset to see the fields others
    added, makes its change and lets go.

    Raises:
        LedgerError: the lock stayed taken for ``wait_seconds``.
    """
    collection = database[DATASET_LOCKS]
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    deadline = time.monotonic() + wait_seconds
    pause = 0.02
    while not _take_schema(collection, dataset.name, owner):
        if time.monotonic() > deadline:
            held = collection.find_one({"_id": dataset.name}) or {}
            raise LedgerError(
                f"the field schema of dataset {dataset.name!r} has been locked by "
                f"{held.get('owner')!r} since {format_time(held.get('since'))}; another "
                f"process is adding or deleting fields: try again when it is done"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    try:
        dataset.reload()
        yield
    finally:
        collection.update_one({"_id": dataset.name, "owner": owner}, {"$set": {"owner": None}})


def _take_schema(collection, name: str, owner: str) -> bool:
    t = datetime.now(UTC)
    try:
        collection.find_one_and_update(
            {"_id": name, "$or": [{"owner": None}, {"until": {"$lt": t}}]},
            {"$set": {"owner": owner, "since": t, "until": _later(t, SCHEMA_LEASE_SECONDS)}},
            upsert=True,
        )
    except DuplicateKeyError:  # the document exists and is held: the upsert's insert collided
        return False
    return True


def _later(t: datetime, seconds: float) -> datetime:
    return datetime.fromtimestamp(t.timestamp() + seconds, UTC)
