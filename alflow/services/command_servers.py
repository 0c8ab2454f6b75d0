"""The records of alflow's warm command servers: which run, for which environment, and
stopping them.

A command server (:mod:`alflow.cli.command_server`) serves clients whose environment and code
it was started with: its key (:func:`key`) is a digest of both, and each key has its own
socket and record file in the state directory. Reading and stopping them is what the client
(:mod:`alflow.cli.warm`), ``alflow status`` and ``alflow server --stop`` need, so it lives here,
below the command line that the server runs.

At most one server per state directory is kept: starting one (for a changed environment, or
changed code) stops the idle servers of the directory at once (:func:`replaced`), and a busy one
leaves as soon as its last command has finished (:func:`superseded`). A stopped server's running
commands finish as they would have.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sys
import sysconfig
from functools import partial
from pathlib import Path

from alflow.errors import AlflowError
from alflow.services import processes
from alflow.services.environment import state_dir
from alflow.services.processes import mode_from_env

ENV_MODE = "ALFLOW_COMMAND_SERVER"
ENV_IDLE = "ALFLOW_COMMAND_SERVER_IDLE"
MODES = ("on", "off")
IDLE_SECONDS = 900.0
# variables that differ between two terminals of one user without changing what a command does
TERMINAL_VARIABLES = frozenset(
    {"PWD", "OLDPWD", "SHLVL", "_", "TERM", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR"}
)
CODE_ROOTS = ("alflow", "flows", "tasks", "deployments")
ENV_KEY_LENGTH = 10


class CommandServerError(AlflowError):
    """The command server could not be configured."""


def mode() -> str:
    return mode_from_env(ENV_MODE, MODES, CommandServerError)


def directory() -> Path:
    path = state_dir() / "command-server"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def key(environ: dict[str, str]) -> str:
    """What a warm child inherits from its server, as a digest: the environment (less the
    terminal's own variables) and the interpreter, then alflow's code (file sizes and times)."""
    env = hashlib.sha256(sys.executable.encode())
    for name in sorted(set(environ) - TERMINAL_VARIABLES):
        env.update(f"\0{name}={environ[name]}".encode())
    code = hashlib.sha256()
    for path in _code_files():
        stat = path.stat()
        code.update(f"\0{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return env.hexdigest()[:ENV_KEY_LENGTH] + code.hexdigest()[:6]


def replaced(server_key: str) -> list[dict]:
    """The idle live servers of this state directory other than ``server_key``'s: a server
    for ``server_key`` is starting, and at most one is kept (busy ones leave when idle)."""
    return [r for r in running() if r["key"] != server_key and not r.get("children")]


def superseded(record: dict) -> bool:
    """Whether a server of this state directory (another key) started after ``record``'s."""
    return any(
        r["key"] != record["key"] and r.get("started", 0) > record["started"] for r in running()
    )


def _code_files() -> list[Path]:
    root = Path(__file__).resolve().parents[2]  # alflow/services/command_servers.py -> checkout
    files = [p for name in CODE_ROOTS for p in (root / name).rglob("*.py")]
    site = Path(sysconfig.get_paths()["purelib"])  # a package installed or upgraded changes it
    return [*sorted(files), site]


def log_path() -> Path:
    return directory() / "server.log"


def start_lock_path() -> Path:
    return directory() / "start.lock"


def socket_path(server_key: str) -> Path:
    return directory() / f"{server_key}.sock"


def record_path(server_key: str) -> Path:
    return directory() / f"{server_key}.json"


def read_record(server_key: str) -> dict | None:
    try:
        return json.loads(record_path(server_key).read_text())
    except (OSError, ValueError):
        return None


def running() -> list[dict]:
    """The records of this state directory's live command servers."""
    records = []
    for path in sorted(directory().glob("*.json")):
        record = read_record(path.stem)
        if record and alive(record.get("pid", 0), started=record.get("started")):
            records.append(record)
    return records


def stop_all() -> list[dict]:
    """Stop every command server of this state directory (their running commands finish)."""
    return stop(running())


def stop(records: list[dict]) -> list[dict]:
    for record in records:
        with contextlib.suppress(ProcessLookupError):
            os.kill(record["pid"], signal.SIGTERM)
    return records


def is_command_server(cmdline: list[str]) -> bool:
    """Whether ``cmdline`` is a command server's (or a forked child's, which shares it)."""
    return "alflow.cli.command_server" in cmdline


# whether a pid is a live command server or child (given its record's start time, the recorded
# server and not a process that reused its pid)
alive = partial(processes.alive, is_own=is_command_server)
