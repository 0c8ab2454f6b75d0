"""Commands on a round: run the next step, export a round again, end a round in flight."""

from __future__ import annotations

import enum
from typing import Annotated, get_args

import typer

from alflow.cli.dask_option import DaskWorkers
from alflow.cli.output import columns_for, print_table
from alflow.cli.prefect_setup import took_over, use_prefect
from alflow.config.loop import StepOptions
from alflow.errors import plural

round_app = typer.Typer(help="End a round in flight (fail or cancel).", no_args_is_help=True)

# the step's choices, offered by the CLI as the deployment's form offers them
WhenUnfinished = enum.StrEnum(
    "WhenUnfinished", list(get_args(StepOptions.model_fields["when_unfinished"].annotation))
)


def step(
    loop: str,
    when_unfinished: Annotated[
        WhenUnfinished,
        typer.Option(help="If annotation is unfinished: wait, accept the finished jobs, or cancel"),
    ] = WhenUnfinished.wait,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Override batch size")] = None,
    dask_workers: DaskWorkers = None,
) -> None:
    """Run the loop's next step as Prefect flow runs (finish the round in flight, or a new one)."""
    use_prefect()
    from flows.loop import step_flow

    options = StepOptions(
        when_unfinished=when_unfinished.value, batch_size=batch_size, dask_workers=dask_workers
    )
    summary = step_flow(loop, options)
    # a step that teaches a waiting round and opens the next one prints both rows
    rows = summary.get("touched") or [summary]
    print_table(rows, columns_for(rows))


def reexport(loop: str, round_number: Annotated[int, typer.Argument(metavar="ROUND")]) -> None:
    """Export a round's batch again, e.g. after its CVAT task was deleted."""
    from alflow import rounds
    from alflow.loop.workspace import open_workspace

    result = rounds.export(open_workspace(), loop, round_number, force_new=True)
    ref = result.get("ref", {})
    typer.echo(
        f"round {round_number} re-exported to {result.get('kind')}"
        + (f" task {ref['task_id']}" if ref.get("task_id") else "")
    )


@round_app.command("cancel")
def round_cancel(
    loop: str,
    round_number: Annotated[int, typer.Argument(metavar="ROUND")],
    reason: Annotated[str | None, typer.Option(help="Why, for the round's record")] = None,
) -> None:
    """Cancel a round in flight: withdraw its annotation task, return its batch to the pool."""
    from alflow.state.ledger import CANCELLED

    _end_round(loop, round_number, CANCELLED, reason)


@round_app.command("fail")
def round_fail(
    loop: str,
    round_number: Annotated[int, typer.Argument(metavar="ROUND")],
    reason: Annotated[str | None, typer.Option(help="Why, for the round's record")] = None,
) -> None:
    """Mark a round in flight failed (its annotation task is kept); its batch goes to the pool."""
    from alflow.state.ledger import FAILED

    _end_round(loop, round_number, FAILED, reason)


def _end_round(loop: str, round_number: int, outcome: str, reason: str | None) -> None:
    from alflow.loop import recovery
    from alflow.loop.workspace import open_workspace
    from alflow.state import locks

    ws = open_workspace()
    owner = locks.command_owner(f"round {outcome}")
    with locks.holding(ws.ledger, loop, owner) as replaced:
        took_over(ws.ledger, loop, replaced, owner)
        doc = recovery.end_round(ws, loop, round_number, outcome, reason)
    ended = doc.get("ended") or {}
    back, kept = ended.get("returned_to_pool", 0), ended.get("labels_kept", 0)
    typer.echo(
        f"round {round_number} of {loop!r} is {doc['state']}; {plural(back, 'sample')} back in "
        f"the pool, {plural(kept, 'ingested label')} kept (taught at the next teach)"
    )
    for note in doc.get("notes", []):
        typer.echo(f"note: {note['note']}")
