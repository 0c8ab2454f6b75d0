"""The ``alflow review`` group: the in-App review of a round (backend 'app'); the ``alflow
predictions`` group: a team's own predictions declared rewritten."""

from __future__ import annotations

from typing import Annotated

import typer

review_app = typer.Typer(
    help="The in-App review of a round (backend 'app'): declare it finished.",
    no_args_is_help=True,
)


@review_app.command("finish")
def review_finish(
    loop: str,
    round_number: Annotated[
        int | None, typer.Option("--round", help="Round to finish (default: the one in flight)")
    ] = None,
) -> None:
    """Declare a round's review finished: unmarked samples then accept their prediction.

    The next 'alflow step' (or the scheduled advance) ingests and teaches the round.
    """
    from alflow import rounds
    from alflow.loop.workspace import open_workspace

    result = rounds.finish_review(open_workspace(), loop, round_number, by="cli")
    typer.echo(
        f"round {result['round']} of loop {loop!r}: review finished at "
        f"{result['review_finished']['at']}; 'alflow step {loop}' ingests and teaches it"
    )


predictions_app = typer.Typer(
    help="A team's own model's predictions (scorer 'model_predictions'): vouch for them.",
    no_args_is_help=True,
)


@predictions_app.command("ready")
def predictions_ready(loop: str) -> None:
    """Declare the predictions field rewritten: a loop waiting for new predictions goes on.

    The next 'alflow step' (or the scheduled advance) evaluates the model, teaches the round
    and queries the next batch from the predictions as they are.
    """
    from alflow.loop.workspace import open_workspace
    from alflow.rounds import own_model

    result = own_model.mark_ready(open_workspace(), loop, by="cli")
    typer.echo(
        f"loop {loop!r}: predictions accepted after round {result['round']}'s ingest; "
        f"'alflow step {loop}' goes on from them"
    )
