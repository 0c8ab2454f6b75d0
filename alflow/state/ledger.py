"""The round ledger: loops and their rounds, durable in FiftyOne's MongoDB.

Two collections live beside FiftyOne's own: ``alflow_loops`` (one document per loop: its
configuration, status, and the round counter) and ``alflow_rounds`` (one document per round).
Round numbers come from an atomic ``$inc`` on the loop's counter, so they only grow and are never
reused, even when a round fails or is cancelled. Every state change is checked against
:data:`TRANSITIONS` and appended to the round's history with a timestamp.

Round states::

    queried -> exported -> waiting -> ingested -> taught
        \\          \\          \\          \\
         `-------------------------------------> failed | cancelled

Every state before ``taught`` can become ``failed`` or ``cancelled`` (see
:mod:`alflow.loop.recovery`), so no round can keep a loop from advancing.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from alflow.errors import LedgerError, RoundInFlightError

QUERIED, EXPORTED, WAITING, INGESTED, TAUGHT = (
    "queried",
    "exported",
    "waiting",
    "ingested",
    "taught",
)
FAILED, CANCELLED = "failed", "cancelled"
TERMINAL = frozenset({TAUGHT, FAILED, CANCELLED})
IN_FLIGHT = frozenset({QUERIED, EXPORTED, WAITING, INGESTED})
TRANSITIONS: dict[str, frozenset[str]] = {
    QUERIED: frozenset({EXPORTED, FAILED, CANCELLED}),
    EXPORTED: frozenset({WAITING, INGESTED, FAILED, CANCELLED}),
    WAITING: frozenset({WAITING, INGESTED, FAILED, CANCELLED}),
    INGESTED: frozenset({TAUGHT, FAILED, CANCELLED}),
    TAUGHT: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
}
LOOPS, ROUNDS = "alflow_loops", "alflow_rounds"
ACTIVE, PAUSED, DONE = "active", "paused", "done"
# a loop whose creation has not reached round 0 yet: no step runs it, and the next create of
# the same name starts it over (so a create killed part-way never leaves a half loop in use)
CREATING = "creating"


def now() -> datetime:
    return datetime.now(UTC)


def check_transition(loop: str, round_number: int, old: str, new: str) -> None:
    """Raise LedgerError unless a round may move from ``old`` to ``new``."""
    if new not in TRANSITIONS.get(old, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(old, ()))) or "none: it is final"
        raise LedgerError(
            f"loop {loop!r} round {round_number} is {old!r} and cannot become {new!r} "
            f"(allowed: {allowed})"
        )


def _after(t: datetime, seconds: float) -> datetime:
    return datetime.fromtimestamp(t.timestamp() + seconds, UTC)


def format_time(value: datetime | None) -> str:
    """A ledger time (MongoDB hands back naive UTC) with its timezone, to the second."""
    if value is None:
        return "an unknown time"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def round_id(loop: str, round_number: int) -> str:
    return f"{loop}/{round_number:06d}"


class Ledger:
    """Reads and writes loop and round records in one MongoDB database."""

    def __init__(self, database) -> None:
        self._loops = database[LOOPS]
        self._rounds = database[ROUNDS]
        self._rounds.create_index([("loop", 1), ("round", 1)], unique=True)

    # loops -----------------------------------------------------------------------------------
    def create_loop(
        self, name: str, config: dict[str, Any], extra: dict[str, Any], status: str = ACTIVE
    ) -> None:
        """Store a new loop; refuses a name already taken."""
        doc = {
            "_id": name,
            "config": config,
            "status": status,
            "last_round": 0,
            "created_at": now(),
            "lock": None,
            **extra,
        }
        try:
            self._loops.insert_one(doc)
        except DuplicateKeyError:
            raise LedgerError(
                f"a loop named {name!r} already exists; pick another name, or delete it first "
                f"with 'alflow loop delete {name}'"
            ) from None

    def loop(self, name: str) -> dict[str, Any]:
        """The loop's record, or a LedgerError listing the loops that exist."""
        doc = self._loops.find_one({"_id": name})
        if doc is None:
            names = [d["_id"] for d in self._loops.find({}, {"_id": 1})]
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
            raise LedgerError(
                f"no loop named {name!r} ({len(names)} loops exist; {hint}'alflow loop list' "
                "shows them); create it with 'alflow loop create' or the create-loop deployment"
            )
        return doc

    def loop_exists(self, name: str) -> bool:
        return self._loops.count_documents({"_id": name}, limit=1) > 0

    def loops(self, status: str | None = None) -> list[dict[str, Any]]:
        query = {} if status is None else {"status": status}
        return list(self._loops.find(query).sort("_id", 1))

    def update_loop(self, name: str, **fields: Any) -> None:
        self._loops.update_one({"_id": name}, {"$set": fields})

    def delete_loop(self, name: str) -> None:
        """Remove a loop and all its rounds from the ledger."""
        self._loops.delete_one({"_id": name})
        self._rounds.delete_many({"loop": name})

    def allocate_round(self, name: str, pending: dict[str, Any] | None = None) -> int:
        """The next round number; atomic, so two callers never get the same one.

        ``pending`` describes a history edit (rollback, re-include) that the new number is for:
        it is stored as the loop's ``pending_edit``, with the number, in the same write, so an
        edit interrupted before its round is recorded is found and completed by the next step.
        """
        update: Any = {"$inc": {"last_round": 1}}
        if pending is not None:
            update = [
                {"$set": {"last_round": {"$add": ["$last_round", 1]}}},
                {
                    "$set": {
                        "pending_edit": {
                            "$mergeObjects": [{"$literal": pending}, {"round": "$last_round"}]
                        }
                    }
                },
            ]
        doc = self._loops.find_one_and_update(
            {"_id": name}, update, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            self.loop(name)  # raises the helpful error
        return int(doc["last_round"])

    def clear_pending_edit(self, name: str, round_number: int) -> None:
        self._loops.update_one(
            {"_id": name, "pending_edit.round": round_number}, {"$set": {"pending_edit": None}}
        )

    def acquire(
        self, name: str, owner: str, ttl_seconds: float, **holder: Any
    ) -> dict[str, Any] | None:
        """Take the loop's lock, or raise RoundInFlightError naming who holds it.

        The lock expires ``ttl_seconds`` after it was taken or last renewed (:meth:`renew`), so
        a crashed holder blocks the loop only that long. ``holder`` (host, pid) is stored so
        ``alflow unlock`` can tell a live holder from a dead one. Returns the lock this one
        replaced (an expired lock of another owner), or None.
        """
        t = now()
        lock = {"owner": owner, "since": t, "until": _after(t, ttl_seconds), **holder}
        before = self._loops.find_one_and_update(
            {
                "_id": name,
                "$or": [{"lock": None}, {"lock.until": {"$lt": t}}, {"lock.owner": owner}],
            },
            {"$set": {"lock": lock}},
        )
        if before is None:
            held = self.loop(name).get("lock") or {}
            raise RoundInFlightError(
                f"loop {name!r} is busy: run {held.get('owner')!r} has been working on it since "
                f"{format_time(held.get('since'))}; wait for it to finish (at most one round is "
                "in flight per loop) or, if that run died, retry after the lock expires at "
                f"{format_time(held.get('until'))} (or free it now with 'alflow unlock {name}')"
            )
        previous = before.get("lock")
        return previous if previous and previous.get("owner") != owner else None

    def renew(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Push the lock's expiry ``ttl_seconds`` ahead; False if ``owner`` no longer holds it."""
        t = now()
        result = self._loops.update_one(
            {"_id": name, "lock.owner": owner},
            {"$set": {"lock.until": _after(t, ttl_seconds), "lock.renewed_at": t}},
        )
        return result.matched_count == 1

    def release(self, name: str, owner: str) -> None:
        """Give the lock back if ``owner`` still holds it."""
        self.clear_lock(name, owner)

    def clear_lock(self, name: str, owner: str) -> bool:
        """Remove the lock if ``owner`` still holds it (an unlock never frees a newer holder)."""
        result = self._loops.update_one(
            {"_id": name, "lock.owner": owner}, {"$set": {"lock": None}}
        )
        return result.modified_count == 1

    # rounds ----------------------------------------------------------------------------------
    def insert_round(self, loop: str, round_number: int, state: str, **fields: Any) -> bool:
        """Create a round record; returns False (and changes nothing) if it already exists."""
        t = now()
        doc = {
            "_id": round_id(loop, round_number),
            "loop": loop,
            "round": round_number,
            "state": state,
            "history": [{"state": state, "at": t}],
            "created_at": t,
            "updated_at": t,
            **fields,
        }
        try:
            self._rounds.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    def get_round(self, loop: str, round_number: int) -> dict[str, Any] | None:
        return self._rounds.find_one({"_id": round_id(loop, round_number)})

    def round(self, loop: str, round_number: int) -> dict[str, Any]:
        doc = self.get_round(loop, round_number)
        if doc is None:
            raise LedgerError(f"loop {loop!r} has no round {round_number} in the ledger")
        return doc

    def rounds(self, loop: str) -> list[dict[str, Any]]:
        return list(self._rounds.find({"loop": loop}).sort("round", 1))

    def latest_round(self, loop: str, states: frozenset[str] | None = None) -> dict | None:
        query: dict[str, Any] = {"loop": loop}
        if states is not None:
            query["state"] = {"$in": sorted(states)}
        return self._rounds.find_one(query, sort=[("round", -1)])

    def in_flight(self, loop: str) -> dict[str, Any] | None:
        return self.latest_round(loop, IN_FLIGHT)

    def update_round(self, loop: str, round_number: int, **fields: Any) -> None:
        """Set fields of a round without changing its state."""
        fields["updated_at"] = now()
        self._rounds.update_one({"_id": round_id(loop, round_number)}, {"$set": fields})

    def set_state(self, loop: str, round_number: int, new: str, **fields: Any) -> None:
        """Move a round to ``new`` (checked), recording the time; also sets ``fields``."""
        old = self.round(loop, round_number)["state"]
        check_transition(loop, round_number, old, new)
        t = now()
        result = self._rounds.update_one(
            {"_id": round_id(loop, round_number), "state": old},
            {
                "$set": {"state": new, "updated_at": t, **fields},
                "$push": {"history": {"state": new, "at": t}},
            },
        )
        if result.matched_count != 1:
            raise RoundInFlightError(
                f"loop {loop!r} round {round_number} changed state while this run worked on it; "
                "another run is active: let it finish"
            )

    def add_note(self, loop: str, round_number: int, note: str) -> None:
        """Append a sentence to the round's notes (shown in its report)."""
        self._rounds.update_one(
            {"_id": round_id(loop, round_number)},
            {"$push": {"notes": {"at": now(), "note": note}}, "$set": {"updated_at": now()}},
        )

    def note_flow_run(self, loop: str, round_number: int, run_id: str, name: str | None) -> None:
        """Remember which flow runs worked on a round (several when it waited for people)."""
        self._rounds.update_one(
            {"_id": round_id(loop, round_number)},
            {"$addToSet": {"flow_runs": {"id": run_id, "name": name}}},
        )

    def note_crashed_run(self, loop: str, round_number: int, run: dict[str, Any]) -> None:
        """Remember a flow run of a round that crashed (id, name, why, link), for its report."""
        self._rounds.update_one(
            {"_id": round_id(loop, round_number)}, {"$addToSet": {"crashed_runs": run}}
        )
