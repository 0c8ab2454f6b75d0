"""The Typer app of the alflow command line, and the one way a command runs in a process.

The commands live by group in ``*_commands`` modules; this module puts them together into one
Typer app, top-level commands in the order ``alflow --help`` lists them. :func:`run` invokes the
app and turns alflow's own errors into one clear line and exit code 2. Both the entry point
(:func:`alflow.cli.main`) and a warm child of the command server
(:mod:`alflow.cli.command_server`) call :func:`run`; only the entry point hands commands to
the command server first.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Annotated, NoReturn

import typer

from alflow import progress
from alflow.cli import (
    console,
    demo_commands,
    history_commands,
    loop_commands,
    review_commands,
    round_commands,
    service_commands,
)
from alflow.errors import AlflowError

HELP = "The alflow command line: demo data, loops, steps, status, history, simulation, server."

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False)


@app.callback()
def root(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show Prefect's log and the traceback of an error (also: ALFLOW_VERBOSE=1)",
        ),
    ] = False,
) -> None:
    """The alflow command line: demo data, loops, steps, status, history, simulation, server."""
    if verbose:
        console.set_verbose()


app.command()(demo_commands.data)
app.command("demo")(demo_commands.demo_cmd)
app.command()(round_commands.step)
app.command()(history_commands.history)
app.command()(history_commands.status)
app.command()(loop_commands.features)
app.command()(history_commands.rollback)
app.command()(history_commands.reinclude)
app.command()(loop_commands.unlock)
app.command()(round_commands.reexport)
app.command()(demo_commands.simulate)
app.command()(service_commands.deploy)
app.command()(service_commands.serve)
app.command("app")(service_commands.app_cmd)
app.command()(service_commands.server)
app.command()(service_commands.database)
app.command("env")(service_commands.env_cmd)
app.add_typer(loop_commands.loop_app, name="loop")
app.add_typer(review_commands.review_app, name="review")
app.add_typer(review_commands.predictions_app, name="predictions")
app.add_typer(round_commands.round_app, name="round")


def run(before: Callable[[], int | None] | None = None) -> NoReturn:
    """Run the command of ``sys.argv``; exit with its code.

    Args:
        before: called first, inside the error handling; an exit code it returns ends the
            command with that code instead of running the app here (the warm dispatch).
    """
    try:
        progress.choose_mode(sys.stderr)  # a mistyped ALFLOW_PROGRESS fails before any work
        if before is not None and (code := before()) is not None:
            raise SystemExit(code)
        app(standalone_mode=False)
    except AlflowError as exc:
        if console.verbose():
            traceback.print_exc()
        typer.echo(f"alflow: error: {exc}", err=True)
        raise SystemExit(2) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        raise SystemExit(130) from None
    except typer.TyperException as exc:
        # usage errors carry their own message (the locked typer bundles its own click, so
        # they are not click.ClickException)
        exc.show()
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(0)
