"""Importing alflow changes nothing: no directory, no environment variable, no patched library;
an entry point's ``alflow.services.configured`` import sets the state directory up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from alflow.services.environment import STATE_OVERRIDES, service_environment

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    "alflow",
    "alflow.cli",
    "alflow.config.loop",
    "alflow.data.store",
    "alflow.learning.learners",
    "alflow.loop.workspace",
    "alflow.rounds",
    "alflow.strategies.sampling",
    "alflow.services.prefect_server",
]
REPORT = """
import json, os, sys
before = dict(os.environ)
for name in sys.argv[1:]:
    __import__(name)
import modAL.models.learners as modal
changed = sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k))
print(json.dumps({"changed": changed, "patched": hasattr(modal.check_X_y, "__wrapped__")}))
"""


def _run(tmp_path: Path, *modules: str) -> dict:
    home = tmp_path / "home"
    unset = set(service_environment(home)) | set(STATE_OVERRIDES)
    env = {k: v for k, v in os.environ.items() if k not in unset and not k.startswith("ALFLOW_")}
    env.update(ALFLOW_HOME=str(home), PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", REPORT, *modules],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "home_exists": home.exists()}


def test_importing_alflows_modules_creates_no_directory_sets_nothing_patches_nothing(tmp_path):
    found = _run(tmp_path, *MODULES)
    # scikit-learn's OpenMP runtime sets its own KMP_ variables when imported
    assert [k for k in found["changed"] if not k.startswith("KMP_")] == []
    assert not found["patched"] and not found["home_exists"]


def test_an_entry_points_configured_import_points_fiftyone_and_prefect_at_the_state(tmp_path):
    found = _run(tmp_path, "alflow.services.configured")
    assert {"FIFTYONE_DATABASE_DIR", "PREFECT_HOME", "MPLCONFIGDIR"} <= set(found["changed"])
    assert found["home_exists"]
