"""One embedded database service for every alflow process that starts at once.

With no ``FIFTYONE_DATABASE_URI``, FiftyOne starts its bundled mongod on first use, and attaches
to one that is already running. Several processes starting together (``alflow loop create``
three times, a worker and the App) all see none running and all start one: every mongod but
the first fails on the data directory's lock (``mongod ... exited with error 100``) and its
process then fails to connect. :func:`connect` makes the first connection of each process under
an exclusive file lock in the database directory, so the first process starts the service and
the others, waiting their turn, attach to it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
LOCK_NAME = "alflow-service-start.lock"


def serialised(lock_path: Path, start: Callable[[], T]) -> T:
    """Run ``start`` while holding an exclusive lock on ``lock_path`` (waiting for it)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            return start()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@cache
def connect() -> None:
    """Connect this process to FiftyOne's database once, starting the embedded one safely."""
    import fiftyone as fo
    from fiftyone.core.odm.database import get_db_conn

    if fo.config.database_uri:  # an existing MongoDB: nothing to start
        return
    serialised(Path(fo.config.database_dir) / LOCK_NAME, lambda: get_db_conn().command("ping"))
