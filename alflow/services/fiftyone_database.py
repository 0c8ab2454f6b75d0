"""FiftyOne's connection to its database: alflow's lasting mongod, else FiftyOne's own service.

FiftyOne's own service is started one process at a time, and only on this process's data
directory.

:func:`connect` points FiftyOne at alflow's lasting database
(:mod:`alflow.services.database_server`) unless the user chose another MongoDB or
``ALFLOW_DATABASE=embedded``. With no ``FIFTYONE_DATABASE_URI`` then, FiftyOne starts its
bundled mongod on first use, and attaches to one that is already running. Two things go wrong
with that:

* several processes starting together (``alflow loop create`` three times, a worker and the
  App) all see none running and all start one: every mongod but the first fails on the data
  directory's lock (``mongod ... exited with error 100``) and its process then fails to
  connect. :func:`connect` therefore makes the first connection of each process under an
  exclusive file lock in the database directory, so the first process starts the service and
  the others, waiting their turn, attach to it;
* FiftyOne attaches to *any* database service of the user, whatever its data directory: an
  alflow with another ``ALFLOW_HOME`` (a second checkout, a test run, a demo) would silently
  read and write the first one's database. :func:`connect` attaches only to a service whose
  mongod runs on this process's ``FIFTYONE_DATABASE_DIR`` (its ``--dbpath``), and otherwise
  starts one there; a mongod of that directory left by a service that is exiting is waited
  for first, so its lock on the directory cannot fail the new one.

FiftyOne's service keeps its mongod until the last process attached to it exits, so no
process outlives the commands that used it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar

import psutil

from alflow.errors import AlflowError
from alflow.services import database_server, file_locks
from alflow.services.mongod import mongods_of, services_of

T = TypeVar("T")
LOCK_NAME = "alflow-service-start.lock"
EXIT_WAIT_SECONDS = 60.0
# FiftyOne allows its mongod 60 s to listen, less than an import of FiftyOne takes in the service
# process on a loaded machine; a service that dies is noticed at once, so a long limit only
# bounds a start that hangs
START_TIMEOUT_SECONDS = 600.0


class DatabaseServiceError(AlflowError):
    """The embedded database service could not be started."""


def serialised(lock_path: Path, start: Callable[[], T]) -> T:
    """Run ``start`` while holding an exclusive lock on ``lock_path`` (waiting for it)."""
    with file_locks.held(lock_path):
        return start()


def _wait_until_free(database_dir: str, timeout: float = EXIT_WAIT_SECONDS) -> None:
    """Wait for a mongod of ``database_dir`` with no service left (one exiting) to end."""
    _, alive = psutil.wait_procs(mongods_of(database_dir), timeout=timeout)
    if alive:
        pids = ", ".join(str(p.pid) for p in alive)
        raise DatabaseServiceError(
            f"a mongod (pid {pids}) still holds {database_dir} but no FiftyOne service owns it; "
            f"stop it (kill {pids}) and run the command again"
        )


@cache
def _service_class(database_dir: str) -> type:
    """FiftyOne's ``DatabaseService``, attaching only to a service of ``database_dir``.

    A class made on first use, so that importing this module does not import FiftyOne (about
    5 s, which commands that only read the ledger need not pay).
    """
    import fiftyone.core.service as fos
    from fiftyone.service.util import send_ipc_message

    class OwnDatabaseService(fos.DatabaseService):
        @property
        def port(self) -> int:
            return _listening_port(self.child, database_dir, START_TIMEOUT_SECONDS)

        def start(self) -> None:
            for process in services_of(database_dir):
                try:
                    reply = send_ipc_message(process, ("register", os.getpid()))
                except OSError:
                    continue  # it is exiting: look further, or start one
                if reply is True:
                    self.attached, self.child = True, process
                    return
            _wait_until_free(database_dir)
            fos.Service.start(self)

    return OwnDatabaseService


def _listening_port(service: psutil.Process, database_dir: str, timeout: float) -> int:
    """The port the service's mongod listens on, once it does; an exited service fails at once."""
    from fiftyone.service.util import get_listening_tcp_ports, normalize_wrapper_process

    log = os.path.join(database_dir, "log", "mongo.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            service = normalize_wrapper_process(service)
            if service.status() == psutil.STATUS_ZOMBIE:
                break
            for child in service.children(recursive=True):
                for port in get_listening_tcp_ports(child):
                    return port
        except psutil.NoSuchProcess:
            break
        except psutil.Error:
            pass  # a child that ended meanwhile: look again
        time.sleep(0.25)
    else:
        raise DatabaseServiceError(
            f"FiftyOne's database service (pid {service.pid}) did not listen within "
            f"{timeout:.0f} s; see its log, {log}"
        )
    raise DatabaseServiceError(
        f"FiftyOne's database service exited while starting; see its log, {log}"
    )


def _attach(database_dir: str) -> None:
    """Attach FiftyOne to the service of ``database_dir`` (started if none runs) and ping it."""
    from fiftyone.core.odm import database

    if database._db_service is None:
        database._db_service = _service_class(database_dir)()
        port = database._db_service.port
        # FiftyOne's own rule: a process that knows the port connects to it directly, and the
        # processes it starts (the App's server, a worker) inherit it
        os.environ["FIFTYONE_PRIVATE_DATABASE_PORT"] = str(port)
    database.get_db_conn().command("ping")


@cache
def connect() -> None:
    """Connect this process to FiftyOne's database once: alflow's lasting database
    (:mod:`alflow.services.database_server`) unless the user chose another, else the embedded
    service, started safely."""
    database_server.connect()
    import fiftyone as fo

    if fo.config.database_uri or os.environ.get("FIFTYONE_PRIVATE_DATABASE_PORT"):
        return  # an existing MongoDB, or the service of the alflow process that started this one
    database_dir = os.path.realpath(fo.config.database_dir)
    serialised(Path(database_dir) / LOCK_NAME, lambda: _attach(database_dir))
