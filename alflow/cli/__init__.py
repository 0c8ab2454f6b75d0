"""The alflow command line: demo data, loops, steps, status, history, simulation, server.

Heavy imports (FiftyOne, Prefect, flows) happen inside commands, so ``alflow --help`` is fast
and each command configures the state directory before anything starts a service.

The commands live by group in ``*_commands`` modules; this module puts them together into one
Typer app, top-level commands in the order ``alflow --help`` lists them, and holds the entry
point :func:`main`.
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

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
    warm,
)
from alflow.errors import AlflowError

app = typer.Typer(help=__doc__.split("\n")[0], no_args_is_help=True, add_completion=False)


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
app.add_typer(round_commands.round_app, name="round")


# set in a child of the command server (alflow.cli.command_server), which runs the command itself
IN_COMMAND_SERVER = False


def main() -> None:
    """Entry point: turn alflow's own errors into one clear line and exit code 2.

    A flow command goes to a warm child of the command server when it can (see
    :mod:`alflow.cli.warm`), which exits with that child's code.
    """
    try:
        progress.choose_mode(sys.stderr)  # a mistyped ALFLOW_PROGRESS fails before any work
        if not IN_COMMAND_SERVER and (code := warm.run(sys.argv)) is not None:
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
