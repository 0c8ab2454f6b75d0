"""Three `alflow loop create` at once on FiftyOne's embedded database, its service not running.

(``ALFLOW_DATABASE=embedded``: by default alflow runs a lasting database of its own, see
``test_database_server.py``.)

Every other test uses the session's mongod through ``FIFTYONE_DATABASE_URI``; these processes
have no URI and a database directory of their own, so the first of them starts FiftyOne's
service and the others must attach to it (not race to start their own, and not attach to the
decoy: another FiftyOne service of the same user, on another directory, running all along).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import suppress

import psutil
import pytest

from alflow.services import mongod
from alflow.services.environment import service_environment
from tests.helpers import loop_config

pytestmark = pytest.mark.slow

SETUP = """
from alflow.demo import data as demo_data
from alflow.services.environment import state_dir
dataset = demo_data.build_digits(directory=state_dir() / "digits")
demo_data.seed_one_per_class(dataset)
"""

CHECK = """
import json, sys
import fiftyone as fo
from alflow.demo import data as demo_data
from alflow.config import naming
from alflow import rounds
from alflow.loop.workspace import open_workspace
ws, dataset = open_workspace(), fo.load_dataset(demo_data.DATASET)
schema = set(dataset.get_field_schema())
print(json.dumps({
    name: {
        "status": ws.ledger.loop(name)["status"],
        "round_0_labelled": ws.ledger.round(name, 0)["metrics"]["labelled"],
        "labelled": len(rounds.labelled(dataset, name)),
        "split": dataset.count_values(naming.split_field(name)),
        "fields": sorted(
            (set(naming.loop_fields(name)) - set(naming.review_surface_fields(name))) - schema
        ),
    }
    for name in sys.argv[1:]
}))
"""

DECOY = """
import sys
from alflow.services import fiftyone_database
fiftyone_database.connect()
print("up", flush=True)
sys.stdin.read()
"""


def embedded_env(home, api_url: str) -> dict[str, str]:
    """A user's shell on the embedded default: no URI, state under ``home``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("FIFTYONE_DATABASE_URI", "FIFTYONE_DATABASE_NAME", "FIFTYONE_PRIVATE_DATABASE_PORT")
    }
    env.update(service_environment(home))
    env.update(ALFLOW_HOME=str(home), PREFECT_API_URL=api_url, ALFLOW_DATABASE="embedded")
    assert env["FIFTYONE_DATABASE_VALIDATION"] == "false"  # as alflow's settings keep it
    return env


def python(env, script: str, *args: str, timeout: float = 300) -> str:
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def gone(database_dir: str, timeout: float = 60) -> list[psutil.Process]:
    """The mongods of ``database_dir`` still running after ``timeout`` seconds."""
    return psutil.wait_procs(mongod.mongods_of(database_dir), timeout=timeout)[1]


@pytest.fixture
def decoy(tmp_path):
    """Another FiftyOne service of this user, on another directory, running throughout."""
    env = embedded_env(tmp_path / "decoy", "http://127.0.0.1:9/api")
    process = subprocess.Popen(
        [sys.executable, "-c", DECOY], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdout.readline() == b"up\n"
    yield env["FIFTYONE_DATABASE_DIR"]
    process.stdin.close()
    process.wait(timeout=60)
    assert gone(env["FIFTYONE_DATABASE_DIR"]) == []


def test_three_creations_at_once_share_one_embedded_service_and_keep_every_label(
    tmp_path, prefect_server, decoy
):
    from prefect.settings import get_current_settings

    env = embedded_env(tmp_path / "home", get_current_settings().api.url)
    database_dir = env["FIFTYONE_DATABASE_DIR"]
    python(env, SETUP)
    assert (tmp_path / "home" / "mongo" / "WiredTiger").exists()  # its own, not the decoy's
    assert gone(database_dir) == []  # the service stopped with its last process

    names = [f"embedded-{i}" for i in range(3)]
    for name in names:
        config = loop_config(name).model_dump(mode="json")  # on the demo's digits dataset
        (tmp_path / f"{name}.json").write_text(json.dumps(config))
    # output to files, not pipes: the service a creation starts inherits them and outlives it
    logs = [open(tmp_path / f"{n}.log", "w+") for n in names]  # noqa: SIM115
    creations = [
        subprocess.Popen(
            [sys.executable, "-m", "alflow.cli", "loop", "create", str(tmp_path / f"{n}.json")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for n, log in zip(names, logs, strict=True)
    ]
    try:
        codes = [p.wait(timeout=600) for p in creations]
        outputs = [log.seek(0) or log.read() for log in logs]
        assert codes == [0, 0, 0], outputs
        loops = json.loads(python(env, CHECK, *names))
        for name in names:
            assert loops[name] == {
                "status": "active",
                "round_0_labelled": 10,
                "labelled": 10,
                "split": {"eval": 359, "pool": 1797 - 359},
                "fields": [],
            }
    finally:
        for p, log in zip(creations, logs, strict=True):
            with suppress(ProcessLookupError):
                p.kill()
            log.close()
        left = gone(database_dir)
        for process in left:
            process.kill()
    assert left == []
    assert mongod.mongods_of(decoy)  # never stopped, never used by these processes
