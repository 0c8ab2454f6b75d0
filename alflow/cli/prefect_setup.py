"""What a command does before it imports Prefect: reach the managed server, quiet its log."""

from __future__ import annotations

from alflow.cli import console


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
