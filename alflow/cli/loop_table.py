"""Loops as the command line lists and steers them: the loop table, pause, resume, round history.

Each is one call for a command, so no command reads ledger records or writes a loop's status
itself; the status names are :mod:`alflow.state.ledger`'s (``ACTIVE``, ``PAUSED``, ...).
"""

from __future__ import annotations

from typing import Any

from alflow.loop.workspace import Workspace
from alflow.rounds import summarize
from alflow.state.ledger import ACTIVE, PAUSED


def loop_table(ws: Workspace) -> list[dict[str, Any]]:
    """One row per loop, by name: its dataset, status and the number of its last round."""
    return [
        {
            "name": doc["_id"],
            "dataset": doc["config"]["dataset"],
            "status": doc["status"],
            "rounds": doc["last_round"],
        }
        for doc in ws.ledger.loops()
    ]


def pause_loop(ws: Workspace, name: str) -> str:
    """Pause a loop: the scheduled advance skips it. Returns its new status."""
    return _set_status(ws, name, PAUSED)


def resume_loop(ws: Workspace, name: str) -> str:
    """Make a paused or done loop active again (its done reason is cleared). Returns its status."""
    return _set_status(ws, name, ACTIVE)


def _set_status(ws: Workspace, name: str, status: str) -> str:
    ws.ledger.loop(name)  # an unknown loop is an error, not a silent no-op
    ws.ledger.update_loop(name, status=status, done_reason=None)
    return status


def round_history(ws: Workspace, loop: str) -> list[dict[str, Any]]:
    """A summary of each of the loop's rounds, in round order.

    Raises:
        LedgerError: no loop of that name (an unknown loop is an error, not an empty history).
    """
    ws.ledger.loop(loop)
    return [summarize(doc) for doc in ws.ledger.rounds(loop)]
