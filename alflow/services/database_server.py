"""alflow's lasting local MongoDB: started once in the background, reused by every command.

FiftyOne's bundled database runs as a *service* that stops its mongod when the last process
attached to it exits. A command line is a series of short processes, so each command would pay
for a new service: a second Python process importing FiftyOne, then mongod starting on the data
directory (tens of seconds on a loaded machine, for ``alflow status`` as for ``alflow step``).
alflow therefore keeps one mongod per state directory, as it keeps one Prefect server
(:mod:`alflow.services.prefect_server`):

* the first command that needs the database starts FiftyOne's bundled ``mongod`` on
  ``FIFTYONE_DATABASE_DIR`` (the same data, so nothing moves), on a free loopback port,
  detached from the command; its pid and port are recorded in
  ``ALFLOW_HOME/database-server/server.json`` under one start lock, so commands started
  together share one mongod;
* every process then reaches it through ``FIFTYONE_DATABASE_URI``, set before FiftyOne is
  imported (FiftyOne reads its configuration once) and inherited by the processes it starts
  (the App's server, a flow run), so no FiftyOne service is started at all; a command that only
  reads the ledger reaches it with pymongo, without importing FiftyOne;
* a dead mongod or a stale record leads to a new start, a mongod that dies while starting
  fails at once with its log's last line, and a slow start is only slow
  (``ALFLOW_DATABASE_START_TIMEOUT``, default 600 s);
* ``alflow database`` shows it and ``alflow database --stop`` stops it (mongod shuts down
  cleanly on SIGTERM).

A ``FIFTYONE_DATABASE_URI`` of the user's always wins, and ``ALFLOW_DATABASE=embedded`` keeps
FiftyOne's own per-command service (:mod:`alflow.services.fiftyone_database`). Finding mongods
is :mod:`alflow.services.mongod`, the life cycle :mod:`alflow.services.lifecycle`. Nothing here
imports FiftyOne.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from alflow.errors import AlflowError
from alflow.services import mongod
from alflow.services.environment import state_dir
from alflow.services.lifecycle import LastingServer
from alflow.services.processes import (
    HOST,
    ServerRecord,
    log_tail,
    mode_from_env,
    port_from_env,
    seconds_from_env,
)

ENV_MODE = "ALFLOW_DATABASE"
ENV_PORT = "ALFLOW_DATABASE_PORT"
ENV_START_TIMEOUT = "ALFLOW_DATABASE_START_TIMEOUT"
# set beside FIFTYONE_DATABASE_URI, so that processes started from this one know that the URI is
# alflow's own database and not one the user chose (messages then name the data directory)
ENV_MANAGED_URI = "ALFLOW_MANAGED_DATABASE_URI"


class DatabaseServerError(AlflowError):
    """alflow's database server could not be started or stopped."""


def uri(record: ServerRecord) -> str:
    return f"mongodb://{HOST}:{record.port}"


def database_dir() -> Path:
    """The data directory (``FIFTYONE_DATABASE_DIR``, which alflow's settings always set)."""
    return Path(os.environ.get("FIFTYONE_DATABASE_DIR") or state_dir() / "mongo").resolve()


def log_path() -> Path:
    """mongod's log, where FiftyOne's service keeps it too."""
    return database_dir() / "log" / "mongo.log"


def mode() -> str:
    return mode_from_env(ENV_MODE, ("managed", "embedded"), DatabaseServerError)


def answers(address: str, timeout: float = 2.0) -> bool:
    """Whether a MongoDB answers a ping at ``address``."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client = MongoClient(address, serverSelectionTimeoutMS=int(timeout * 1000), appname="alflow")
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def command(port: int) -> list[str]:
    """The mongod command line (FiftyOne's own, on a fixed port, with its log)."""
    return [
        str(mongod.mongod_binary()),
        "--dbpath",
        str(database_dir()),
        "--logpath",
        str(log_path()),
        "--logappend",
        "--port",
        str(port),
        "--bind_ip",
        HOST,
        "--nounixsocket",
    ]


class DatabaseServer(LastingServer):
    """FiftyOne's bundled mongod on ``FIFTYONE_DATABASE_DIR``; it shuts down cleanly on SIGTERM,
    given time."""

    directory_name = "database-server"
    reuse_timeout = 30.0
    stop_grace = 60.0

    def command(self, port: int) -> list[str]:
        return command(port)

    def is_own(self, cmdline: list[str]) -> bool:
        return mongod.is_mongod_of(cmdline, str(database_dir()))

    def answers(self, record: ServerRecord, timeout: float = 2.0) -> bool:
        return answers(uri(record), timeout)

    def start_timeout(self) -> float:
        return seconds_from_env(ENV_START_TIMEOUT, 600.0, DatabaseServerError)

    def preferred_port(self) -> int | None:
        return port_from_env(ENV_PORT, None, 27117, DatabaseServerError)

    def held_elsewhere(self) -> bool:
        return bool(mongod.mongods_of(str(database_dir())))

    def starting(self, port: int) -> str:
        return f"starting alflow's database on {HOST}:{port} (later commands reuse it)"

    def prepare(self) -> None:
        try:
            log_path().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseServerError(
                f"FIFTYONE_DATABASE_DIR={database_dir()} is not a directory alflow can write to "
                f"({exc.strerror}); point it at one, or unset it to use ALFLOW_HOME/mongo"
            ) from None

    def exited(self, returncode: int | None) -> DatabaseServerError:
        return DatabaseServerError(
            f"alflow's database (mongod on {database_dir()}) exited with code {returncode} "
            f"while starting; its log, {log_path()}, ends with: {log_tail(log_path(), 600)!r}"
        )

    def no_free_port(self) -> DatabaseServerError:
        return DatabaseServerError(
            f"alflow's database found no free port in {self.attempts} attempts; set "
            f"{ENV_PORT} to a port nothing else uses"
        )

    def too_slow(self, record: ServerRecord, timeout: float) -> DatabaseServerError:
        return DatabaseServerError(
            f"alflow's database did not answer within {timeout:.0f} s (its log: {log_path()}); "
            f"raise {ENV_START_TIMEOUT} on a very busy machine"
        )


SERVER = DatabaseServer()
running = SERVER.running
stop = SERVER.stop


def ensure_running(announce=None) -> ServerRecord | None:
    """alflow's mongod, started first if none runs; None when a mongod that alflow did not start
    holds the data directory (FiftyOne's own service, from an earlier command): this process
    then attaches to that service (:mod:`alflow.services.fiftyone_database`), and a later
    command, once it has ended, starts alflow's."""
    return SERVER.ensure_running(announce=announce)


def managed_uri() -> str | None:
    """The URI of alflow's database when this process (or the one that started it) uses it."""
    value = os.environ.get(ENV_MANAGED_URI)
    return value if value and value == os.environ.get("FIFTYONE_DATABASE_URI") else None


@cache
def connect() -> str | None:
    """Point this process at alflow's database before FiftyOne connects; its URI, or None when
    the user's ``FIFTYONE_DATABASE_URI`` or FiftyOne's own service (``ALFLOW_DATABASE=embedded``)
    is used instead. A URI inherited from the command that started this process is checked
    again: the database may have been restarted on another port meanwhile."""
    inherited = managed_uri()
    if not inherited and (
        os.environ.get("FIFTYONE_DATABASE_URI")
        or os.environ.get("FIFTYONE_PRIVATE_DATABASE_PORT")
        or mode() == "embedded"
    ):
        return None
    record = ensure_running()
    if record is None:
        return None
    address = uri(record)
    os.environ["FIFTYONE_DATABASE_URI"] = os.environ[ENV_MANAGED_URI] = address
    if "fiftyone.core.config" in sys.modules:  # FiftyOne read its configuration already
        import fiftyone as fo

        fo.config.database_uri = address
    return address
