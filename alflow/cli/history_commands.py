"""A loop's past and present: its round history, where it stands, rollback and re-include."""

from __future__ import annotations

from typing import Annotated

import typer

from alflow.cli.dask_option import DaskWorkers
from alflow.cli.output import columns_for, print_table
from alflow.cli.prefect_setup import took_over


def history(loop: str) -> None:
    """A table of the loop's rounds with their metrics."""
    from alflow.cli.loop_table import round_history
    from alflow.loop.workspace import open_workspace

    rows = round_history(open_workspace(ledger_only=True), loop)
    print_table(rows, columns_for(rows))


def status(loop: str) -> None:
    """Where the loop stands: its status, the round in flight, and what it waits on.

    The annotation progress is asked of the backend now (once, with a short timeout).
    """
    from alflow.loop.status import describe, loop_status
    from alflow.loop.workspace import open_workspace

    for line in describe(loop_status(open_workspace(ledger_only=True), loop)):
        typer.echo(line)


def rollback(
    loop: str,
    to_round: Annotated[int, typer.Argument(help="Taught round whose learner to continue from")],
    dask_workers: DaskWorkers = None,
) -> None:
    """Start a new round from round N's learner; later labels are excluded from training.

    No label is deleted and no round number is reused; 'alflow reinclude' undoes the exclusion.
    """
    from alflow import rounds
    from alflow.loop.workspace import open_workspace
    from alflow.state import locks

    ws = open_workspace(dask_workers=dask_workers)
    owner = locks.command_owner("rollback")
    with locks.holding(ws.ledger, loop, owner) as replaced:
        took_over(ws.ledger, loop, replaced, owner)
        result = rounds.rollback(ws, loop, to_round)
    typer.echo(
        f"round {result['round']} continues from round {to_round}'s learner; "
        f"{result['excluded']} later labels excluded from training (kept in the dataset)"
    )


def reinclude(
    loop: str,
    rounds_: Annotated[list[int], typer.Argument(metavar="ROUND...", help="Rounds to re-include")],
    dask_workers: DaskWorkers = None,
) -> None:
    """Bring labels that a rollback excluded back into training (as a new taught round)."""
    from alflow import rounds
    from alflow.loop.workspace import open_workspace
    from alflow.state import locks

    ws = open_workspace(dask_workers=dask_workers)
    owner = locks.command_owner("reinclude")
    with locks.holding(ws.ledger, loop, owner) as replaced:
        took_over(ws.ledger, loop, replaced, owner)
        rows = [rounds.reinclude(ws, loop, rounds_)]
    print_table(rows, columns_for(rows))
