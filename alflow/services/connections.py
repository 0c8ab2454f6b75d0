"""Which MongoDB this process uses, and the shortest way to it.

FiftyOne's connection (through alflow's lasting database or FiftyOne's own service, see
:mod:`alflow.services.database_server` and :mod:`alflow.services.fiftyone_database`) for anything
that touches datasets, and a plain pymongo connection for commands that only read the ledger, so
that they need not import FiftyOne. Kept apart from :mod:`alflow.data.store` (what alflow reads and
writes) because every module that talks to the database starts here.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from urllib.parse import urlsplit, urlunsplit

from alflow.services import database_server, fiftyone_database, mongod


def fiftyone():
    """FiftyOne, connected to this process's database (imported here: it takes seconds)."""
    import fiftyone as fo

    fiftyone_database.connect()
    return fo


def database_in_use() -> str:
    """The FiftyOne database this process uses, as a user can find it again: the data directory
    of alflow's own database or of FiftyOne's bundled one, else the user's URI (without
    credentials)."""
    config = fiftyone().config
    managed = database_server.managed_uri()
    if managed and config.database_uri == managed:
        where = f"alflow's database, FIFTYONE_DATABASE_DIR={config.database_dir} ({managed})"
    elif config.database_uri:
        parts = urlsplit(config.database_uri)
        netloc = parts.netloc.rsplit("@", 1)[-1]  # never print a password
        where = f"FIFTYONE_DATABASE_URI={urlunsplit(parts._replace(netloc=netloc))}"
    else:
        where = f"FIFTYONE_DATABASE_DIR={config.database_dir}"
    return f"{where}, FIFTYONE_DATABASE_NAME={config.database_name}"


def db():
    """The MongoDB database FiftyOne uses, for alflow's own collections."""
    from fiftyone.core.odm.database import get_db_conn

    fiftyone_database.connect()
    return get_db_conn()


def ledger_db():
    """The database of alflow's ledger, without importing FiftyOne where that can be avoided.

    ``import fiftyone`` takes seconds; a command that only reads or edits the ledger (status,
    history, loop list/pause/resume) need not pay it. alflow's own database
    (:mod:`alflow.services.database_server`) and a ``FIFTYONE_DATABASE_URI`` are reached with
    pymongo directly (FiftyOne's database name rule: ``FIFTYONE_DATABASE_NAME``, default
    ``fiftyone``); so is FiftyOne's bundled mongod when it already runs on ``FIFTYONE_DATABASE_DIR``
    (its port read from the process). Otherwise (FiftyOne imported anyway, or its service to be
    started) this is :func:`db`.
    """
    if "fiftyone" in sys.modules:
        return db()
    uri = database_server.connect() or os.environ.get("FIFTYONE_DATABASE_URI")
    if not uri:
        port = mongod.running_port(os.environ.get("FIFTYONE_DATABASE_DIR"))
        if port is None:
            return db()
        uri = f"mongodb://127.0.0.1:{port}"
    return _direct_db(uri, os.environ.get("FIFTYONE_DATABASE_NAME") or "fiftyone")


@cache
def _direct_db(uri: str, name: str):
    from pymongo import MongoClient

    return MongoClient(uri, appname="alflow")[name]
