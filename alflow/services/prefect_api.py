"""What alflow's lasting and temporary Prefect servers share: settings, health check, error.

The lasting server (:mod:`alflow.services.prefect_server`) and a command's temporary one
(:mod:`alflow.services.temporary_prefect`) keep their logs in one directory, start with one
environment and one start timeout, answer one health check and fail with one error.

Nothing here imports Prefect.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

from alflow.errors import AlflowError
from alflow.services.environment import state_dir
from alflow.services.processes import ServerRecord, seconds_from_env

ENV_START_TIMEOUT = "ALFLOW_PREFECT_START_TIMEOUT"


class PrefectServerError(AlflowError):
    """The managed Prefect server could not be started or stopped."""


def server_dir() -> Path:
    """``ALFLOW_HOME/prefect-server``: the record, the start lock and the servers' logs."""
    path = state_dir() / "prefect-server"
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_timeout() -> float:
    """``ALFLOW_PREFECT_START_TIMEOUT``, default 600 s: a dead server is noticed at once, so a
    long limit only bounds a start that hangs."""
    return seconds_from_env(ENV_START_TIMEOUT, 600.0, PrefectServerError)


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A server's environment: this process's, less the API URL it is about to serve."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return env | (extra or {})


def healthy(record: ServerRecord, timeout: float = 2.0) -> bool:
    """Whether the recorded server answers its health check."""
    try:
        with urllib.request.urlopen(f"{record.api_url}/health", timeout=timeout) as reply:
            return reply.status == 200
    except OSError:
        return False


def too_slow(record: ServerRecord, timeout: float, log: Path) -> PrefectServerError:
    return PrefectServerError(
        f"the Prefect server on {record.url} did not answer within {timeout:.0f} s (its log: "
        f"{log}); raise {ENV_START_TIMEOUT} on a very busy machine, or set PREFECT_API_URL to "
        "a server you run yourself"
    )
