"""Commands for the services around alflow: Prefect deployments and server, the App, the env."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from alflow.cli.prefect_setup import use_prefect
from alflow.errors import AlflowError

# the checkout that holds deployments/ (alflow/cli/ is two levels below it)
REPO_ROOT = Path(__file__).resolve().parents[2]


def deploy(
    pool: Annotated[str, typer.Option(help="Process work pool to create/use")] = "alflow-process",
) -> None:
    """Create the process work pool and deploy deployments/prefect.yaml to the Prefect server.

    The server is PREFECT_API_URL's, else alflow's managed one (started if needed). Then start
    a worker with the same environment: eval "$(alflow env)"; prefect worker start --pool
    alflow-process.
    """
    from alflow.services import prefect_server

    if prefect_server.temporary_only():
        raise AlflowError(
            "deployments need a Prefect server that outlives this command, but "
            "ALFLOW_PREFECT_SERVER=ephemeral; unset it (alflow then starts its own server) or "
            "set PREFECT_API_URL to your server's API"
        )
    use_prefect()
    prefect = [sys.executable, "-m", "prefect"]
    env = {**os.environ, "PWD": str(REPO_ROOT)}
    subprocess.run(
        [*prefect, "work-pool", "create", pool, "--type", "process", "--overwrite"],
        check=True,
        env=env,
        cwd=REPO_ROOT,
    )
    code = subprocess.call(
        [*prefect, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"],
        env=env,
        cwd=REPO_ROOT,
    )
    raise typer.Exit(code)


def serve() -> None:
    """Serve the create-loop, step, advance (scheduled) and simulate deployments from this
    process (no worker)."""
    use_prefect()
    from deployments.serve import main as serve_main

    serve_main()


def app_cmd(
    loop: Annotated[str | None, typer.Argument(help="Open this loop's dataset")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Open this dataset (default: the loop's, else none)")
    ] = None,
    port: Annotated[int, typer.Option(help="Port the App listens on")] = 5151,
    address: Annotated[str, typer.Option(help="Address the App listens on")] = "127.0.0.1",
    delegated: Annotated[
        bool, typer.Option(help="Run FiftyOne's executor for operations run in the background")
    ] = True,
) -> None:
    """Open the FiftyOne App with alflow's plugin (blocks until you stop it with Ctrl-C).

    The plugin's operators ("Active Learning: ...") create, query, update and show loops on
    the same ledger as this command line.
    """
    from alflow.app.launch import open_app

    if loop and not dataset:
        from alflow.loop.workspace import open_workspace

        dataset = open_workspace().config(loop).dataset
    open_app(dataset, port, address, delegated)


def server(
    port: Annotated[
        int | None,
        typer.Option(
            help="Port to start the server on if none runs yet (default ALFLOW_PREFECT_PORT, "
            "else 4200; if it is taken, any free port)",
        ),
    ] = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop alflow's Prefect server")] = False,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Run it until Ctrl-C or SIGTERM, then stop it")
    ] = False,
) -> None:
    """Show alflow's local Prefect server (UI and API), starting it in the background if needed.

    It is the server every command uses (unless PREFECT_API_URL names another); it keeps
    running after this command, until 'alflow server --stop'.
    """
    from alflow.services import prefect_server

    if stop:
        _stop_command_servers()
        stopped = prefect_server.stop()
        typer.echo(
            f"stopped the Prefect server on {stopped.url} (pid {stopped.pid})"
            if stopped
            else "no alflow Prefect server was running"
        )
        return
    if os.environ.get("PREFECT_API_URL"):
        typer.echo(f"PREFECT_API_URL is set: commands use {os.environ['PREFECT_API_URL']}")
        return
    if foreground:
        prefect_server.serve_foreground(port, typer.echo)
        return
    record = prefect_server.ensure_running(port)
    typer.echo(f"Prefect server and UI on {record.url} (API {record.api_url}, pid {record.pid})")
    typer.echo("stop it with: alflow server --stop")


def database(
    stop: Annotated[bool, typer.Option("--stop", help="Stop alflow's database")] = False,
) -> None:
    """Show alflow's local database (FiftyOne's bundled MongoDB), starting it if needed.

    Every command uses it (unless FIFTYONE_DATABASE_URI names another MongoDB, or
    ALFLOW_DATABASE=embedded asks for FiftyOne's own service per command); it keeps running
    after this command, until 'alflow database --stop'. Its data stays in FIFTYONE_DATABASE_DIR.
    """
    from alflow.services import database_server

    if stop:
        _stop_command_servers()  # they hold the database's address
        stopped = database_server.stop()
        typer.echo(
            f"stopped alflow's database on {database_server.uri(stopped)} (pid {stopped.pid})"
            if stopped
            else "alflow's database was not running"
        )
        return
    address = database_server.connect()
    if address is None:
        typer.echo(
            "commands use "
            + (
                f"FIFTYONE_DATABASE_URI={os.environ['FIFTYONE_DATABASE_URI']}"
                if os.environ.get("FIFTYONE_DATABASE_URI")
                else f"FiftyOne's own service on {database_server.database_dir()}"
            )
        )
        return
    record = database_server.running()
    typer.echo(
        f"alflow's database on {address} (pid {record.pid if record else '?'}), data in "
        f"{database_server.database_dir()}"
    )
    typer.echo("stop it with: alflow database --stop")


def _stop_command_servers() -> None:
    from alflow.services import command_servers

    for record in command_servers.stop_all():
        typer.echo(f"stopped the command server (pid {record['pid']})")


def env_cmd() -> None:
    """Print the environment alflow uses, as shell exports (for running prefect directly)."""
    from alflow.services import database_server, prefect_server
    from alflow.services.environment import state_environment

    env = state_environment()
    if "PREFECT_API_URL" not in env and (record := prefect_server.running()):
        env["PREFECT_API_URL"] = record.api_url  # the managed server, so a worker joins it
    if "FIFTYONE_DATABASE_URI" not in env and (db := database_server.running()):
        # alflow's database, so that a plain `fiftyone` command uses it too (and does not start
        # FiftyOne's service on the same directory); alflow processes check it again on use
        env["FIFTYONE_DATABASE_URI"] = env["ALFLOW_MANAGED_DATABASE_URI"] = database_server.uri(db)
    for key, value in env.items():
        typer.echo(f"export {key}={shlex.quote(value)}")
    from alflow.backends.cvat.versions import describe, noted

    # as shell comments: eval "$(alflow env)" ignores them
    for record in noted():
        typer.echo(f"# note: {describe(record)}")
