"""What a command does before it imports Prefect: reach the managed server, quiet its log; and
what it does with the Prefect runs of a dead step whose lock it took or freed."""

from __future__ import annotations

from typing import Any

import typer

from alflow.cli import console
from alflow.errors import plural


def use_prefect() -> str | None:
    """Before a command imports Prefect: reach the managed server (started on first use, see
    :mod:`alflow.services.prefect_server`) and keep Prefect's log off the terminal; the API URL."""
    from alflow.services import prefect_server

    console.quiet_prefect()
    url = prefect_server.connect()
    console.filter_run_failures()
    return url


def ui_url(api_url: str | None) -> str:
    """The Prefect UI address of an API URL (``.../api`` stripped)."""
    return api_url.removesuffix("/").removesuffix("/api") if api_url else "the Prefect UI"


def mark_dead_holder(ledger, loop: str, lock: dict[str, Any], by: str) -> str | None:
    """After a dead step's lock was taken or freed: mark the Prefect runs it left unfinished
    crashed (:mod:`alflow.loop.prefect_crashes`); one line saying what was done, or None when
    the lock was a command's, which starts no Prefect run."""
    from alflow.errors import AlflowError
    from alflow.loop import crashes

    if crashes.flow_run_id(lock["owner"]) is None:
        return None
    try:
        use_prefect()
    except AlflowError as exc:
        return f"its Prefect runs could not be marked crashed: {exc}"
    from alflow.loop import prefect_crashes

    marked = prefect_crashes.mark_dead_step(ledger, loop, lock, by)
    if marked is None:
        return "the Prefect API did not answer, so its runs still show as running there"
    if not marked:
        return "Prefect shows no run of it as running"
    return f"{plural(len(marked), 'Prefect run')} it left running marked Crashed"


def took_over(ledger, loop: str, replaced: dict[str, Any] | None, owner: str) -> None:
    """A command that took a dead step's lock over marks that step's runs crashed, saying so."""
    from alflow.state import locks

    if replaced is None:
        return
    said = mark_dead_holder(ledger, loop, replaced, f"{owner} took the loop over")
    if said:
        typer.echo(
            f"took over the lock of a step that is gone, {locks.describe_holder(replaced)}: {said}"
        )
