"""Commands on a loop as a whole: the ``alflow loop`` group, its feature cache and its lock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from alflow.cli.dask_option import DaskWorkers
from alflow.cli.output import columns_for, print_table
from alflow.cli.prefect_setup import mark_dead_holder, use_prefect
from alflow.errors import AlflowError

loop_app = typer.Typer(
    help="Create, list, delete, pause and resume loops, and change their stop rules.",
    no_args_is_help=True,
)


@loop_app.command("create")
def loop_create(
    config_file: Annotated[Path, typer.Argument(help="Loop configuration (JSON)")],
    replace: Annotated[bool, typer.Option(help="Delete a loop of that name first")] = False,
    dask_workers: DaskWorkers = None,
) -> None:
    """Create a loop from a JSON configuration file (its fields: docs/configuration.md).

    docs/configuration.md lists every field with its default, constraints and choices.
    """
    from alflow.config.loop import parse_loop_config

    try:
        raw = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AlflowError(f"cannot read loop configuration {config_file}: {exc}") from None
    config = parse_loop_config(raw)
    use_prefect()
    from flows.loop import create_loop_flow

    result = create_loop_flow(config, replace=replace, dask_workers=dask_workers)
    rows = [result["round_0"]]
    print_table(rows, columns_for(rows))


@loop_app.command("delete")
def loop_delete(name: str) -> None:
    """Delete a loop: its fields, ledger records and checkpoints (the dataset stays)."""
    from alflow import rounds
    from alflow.loop.workspace import open_workspace

    result = rounds.delete_loop(open_workspace(), name)
    typer.echo(
        f"deleted loop {name!r}; fields removed: {', '.join(result['fields_deleted']) or 'none'}"
    )


@loop_app.command("list")
def loop_list() -> None:
    """List loops with their status."""
    from alflow.cli.loop_table import loop_table
    from alflow.loop.workspace import open_workspace

    print_table(
        loop_table(open_workspace(ledger_only=True)),
        [
            ("name", "loop", ""),
            ("dataset", "dataset", ""),
            ("status", "status", ""),
            ("rounds", "rounds", ""),
        ],
    )


@loop_app.command("stop-rules")
def loop_stop_rules(
    name: str,
    label_budget: Annotated[
        int | None, typer.Option(min=1, help="Stop at this many labels")
    ] = None,
    max_rounds: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many rounds")
    ] = None,
    plateau_rounds: Annotated[
        int | None, typer.Option(min=2, help="Stop when accuracy stalls over this many rounds")
    ] = None,
    plateau_delta: Annotated[
        float | None, typer.Option(min=0, help="Smallest gain that is not a stall")
    ] = None,
) -> None:
    """Change when the loop is done; a done loop whose new rules allow more rounds resumes."""
    from alflow import rounds
    from alflow.backends import settings_read_prefect
    from alflow.loop.workspace import open_workspace

    ws = open_workspace()
    if settings_read_prefect(ws.config(name)):
        use_prefect()  # the changed configuration is checked against its Secret block's URL
    result = rounds.update_stop_rules(
        ws,
        name,
        label_budget=label_budget,
        max_rounds=max_rounds,
        plateau_rounds=plateau_rounds,
        plateau_delta=plateau_delta,
    )
    typer.echo(
        f"loop {name!r} is {result['status']}; stop rules: {result['stop']}"
        + (f" ({result['reason']})" if result["reason"] else "")
    )


@loop_app.command("pause")
def loop_pause(name: str) -> None:
    """Pause a loop: the scheduled advance skips it (a running round is not interrupted)."""
    from alflow.cli.loop_table import pause_loop
    from alflow.loop.workspace import open_workspace

    typer.echo(f"loop {name!r} is {pause_loop(open_workspace(ledger_only=True), name)}")


@loop_app.command("resume")
def loop_resume(name: str) -> None:
    """Resume a paused or done loop (raise its stop rules first if it is done)."""
    from alflow.cli.loop_table import resume_loop
    from alflow.loop.workspace import open_workspace

    typer.echo(f"loop {name!r} is {resume_loop(open_workspace(ledger_only=True), name)}")


def features(
    loop: str,
    refresh: Annotated[bool, typer.Option(help="Re-read from FiftyOne even if cached")] = False,
) -> None:
    """Build (or with --refresh rebuild) the loop's cached feature matrix (and, for a
    detection loop, its proposals' box features)."""
    from alflow.loop.workspace import open_workspace

    ws = open_workspace()
    config = ws.config(loop)
    fm = ws.features(config, refresh=refresh)
    typer.echo(f"{fm.X.shape[0]} samples x {fm.X.shape[1]} features cached in {fm.path}")
    if config.task == "detection" and config.detection.proposals is not None:
        from alflow.rounds import detection

        pool = detection.box_pool(ws, config, refresh=refresh)
        typer.echo(f"{len(pool.sample)} proposals x {pool.X.shape[1]} box features cached")


def unlock(
    loop: str,
    force: Annotated[bool, typer.Option(help="Free it even if its holder may be alive")] = False,
) -> None:
    """Free a loop's lock left by a step that died (refused while the holder lives); the
    Prefect runs that step left running are marked Crashed."""
    from alflow.loop.workspace import open_workspace
    from alflow.state import locks

    ledger = open_workspace().ledger
    freed = locks.unlock(ledger, loop, force)
    if freed is None:
        typer.echo(f"loop {loop!r} is not locked")
        return
    typer.echo(f"freed the lock of loop {loop!r} held by {locks.describe_holder(freed)}")
    by = "'alflow unlock --force' freed its lock" if force else "'alflow unlock' freed its lock"
    marked = mark_dead_holder(ledger, loop, freed, by)
    if marked:
        typer.echo(marked)
