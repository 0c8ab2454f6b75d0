"""The alflow command line: demo data, loops, steps, status, history, simulation, server.

Heavy imports (FiftyOne, Prefect, flows) happen inside commands, so ``alflow --help`` is fast.
:func:`main` is the ``alflow`` command: it points FiftyOne and Prefect at the state directory,
hands a flow command to a warm child of the command server when it can (:mod:`alflow.cli.warm`),
and otherwise runs it here (:func:`alflow.cli.commands.run`). The Typer app is
:data:`alflow.cli.commands.app`.
"""

from __future__ import annotations

import sys

from alflow.cli.commands import app, run
from alflow.services.environment import configure_environment

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: a flow command runs in a warm child when it can, else in this process."""
    configure_environment()
    from alflow.cli import warm

    run(before=lambda: warm.run(sys.argv))
