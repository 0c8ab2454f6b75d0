"""Which database service a process starts before its first connection: none where a MongoDB
is already given, else FiftyOne's own, under the data directory's start lock.

(Processes taking that lock one after another: tests/integration/test_fiftyone_database.py.)
"""

from __future__ import annotations

import os
from pathlib import Path
from unittest.mock import MagicMock

import pytest

from alflow.services import database_server, fiftyone_database


@pytest.fixture
def starts(monkeypatch):
    """``connect`` run afresh, with fakes for what would start a database (none starts here)."""
    import fiftyone as fo

    fiftyone_database.connect.cache_clear()
    database_server.connect.cache_clear()
    serialised = MagicMock(spec=fiftyone_database.serialised)
    ensure_running = MagicMock(spec=database_server.ensure_running)
    monkeypatch.setattr(fiftyone_database, "serialised", serialised)
    monkeypatch.setattr(database_server, "ensure_running", ensure_running)
    monkeypatch.delenv("FIFTYONE_PRIVATE_DATABASE_PORT", raising=False)
    monkeypatch.setattr(fo.config, "database_uri", fo.config.database_uri)
    yield {"service": serialised, "alflow's database": ensure_running}
    fiftyone_database.connect.cache_clear()
    database_server.connect.cache_clear()


def test_a_database_uri_needs_no_service(starts):
    import fiftyone as fo

    assert fo.config.database_uri == os.environ["FIFTYONE_DATABASE_URI"]  # the session's
    fiftyone_database.connect()
    starts["service"].assert_not_called()
    starts["alflow's database"].assert_not_called()  # the user's URI wins over alflow's


def test_a_port_inherited_from_the_process_that_started_the_service_needs_none(starts, monkeypatch):
    import fiftyone as fo

    monkeypatch.setattr(fo.config, "database_uri", None)
    monkeypatch.setenv("FIFTYONE_PRIVATE_DATABASE_PORT", "27999")
    fiftyone_database.connect()
    starts["service"].assert_not_called()


def test_otherwise_the_service_starts_under_the_data_directorys_lock(starts, monkeypatch, tmp_path):
    import fiftyone as fo

    monkeypatch.setattr(fo.config, "database_uri", None)
    monkeypatch.setattr(fo.config, "database_dir", str(tmp_path / "mongo"))
    fiftyone_database.connect()
    starts["service"].assert_called_once()
    lock, start = starts["service"].call_args.args
    assert lock == Path(os.path.realpath(tmp_path / "mongo")) / fiftyone_database.LOCK_NAME
    assert callable(start)
