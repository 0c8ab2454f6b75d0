"""alflow's lasting database: one mongod per state directory, shared, restarted when dead.

Every other test uses the session's mongod through ``FIFTYONE_DATABASE_URI``; these processes
have no URI and an ``ALFLOW_HOME`` of their own, as a user's shell has, so the first of them
starts alflow's database and the others find it in the record.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from alflow.services import mongod
from alflow.services.environment import service_environment
from tests.helpers import run_cli

PROBE = """
import json, os, sys
from alflow.services import connections, database_server
connections.ledger_db()["probe"].insert_one({"pid": os.getpid()})
record = database_server.running()
print(json.dumps({
    "pid": record.pid,
    "port": record.port,
    "uri": os.environ["FIFTYONE_DATABASE_URI"],
    "count": connections.ledger_db()["probe"].count_documents({}),
    "fiftyone": "fiftyone" in sys.modules,
}))
"""

WITH_FIFTYONE = """
import json, os
from alflow.services import fiftyone_database
import fiftyone as fo
fiftyone_database.connect()
fo.Dataset("managed-probe").add_sample(fo.Sample(filepath="/x.png"))
samples = fo.load_dataset("managed-probe").count()
print(json.dumps({"uri": fo.config.database_uri, "samples": samples}))
"""


@pytest.fixture
def user_env(tmp_path):
    """A user's shell: no database URI, state under a fresh ALFLOW_HOME; its database is
    stopped afterwards (and any mongod left on its directory killed, failing the test)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FIFTYONE_DATABASE_URI", "FIFTYONE_DATABASE_NAME", "PREFECT_API_URL")
    }
    env.update(service_environment(tmp_path))
    env["ALFLOW_HOME"] = str(tmp_path)
    yield env
    subprocess.run([sys.executable, "-m", "alflow.cli", "database", "--stop"], env=env, timeout=120)
    left = psutil.wait_procs(mongod.mongods_of(env["FIFTYONE_DATABASE_DIR"]), timeout=60)[1]
    for process in left:
        process.kill()
    assert left == []


def python(env, script: str, timeout: float = 300) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def alflow(env, *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env=env)


def test_commands_started_together_share_one_database_that_outlives_them(user_env):
    database_dir = user_env["FIFTYONE_DATABASE_DIR"]
    probes = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE], env=user_env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in probes]
    assert [p.returncode for p in probes] == [0, 0, 0]
    assert len({o["pid"] for o in outputs}) == 1  # one mongod for the three
    assert not any(o["fiftyone"] for o in outputs)  # the ledger is reached without FiftyOne
    (server,) = mongod.mongods_of(database_dir)  # still running after they all ended
    assert server.pid == outputs[0]["pid"]
    assert mongod.services_of(database_dir) == []  # and no FiftyOne service was started

    later = python(user_env, PROBE)
    assert (later["pid"], later["count"]) == (server.pid, 4)

    shown = alflow(user_env, "database")
    assert shown.returncode == 0, shown.stderr
    assert f"mongodb://127.0.0.1:{later['port']} (pid {server.pid})" in shown.stdout

    stopped = alflow(user_env, "database", "--stop")
    assert f"(pid {server.pid})" in stopped.stdout
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
    assert "was not running" in alflow(user_env, "database", "--stop").stdout


def test_fiftyone_in_a_command_uses_the_same_database(user_env):
    first = python(user_env, PROBE)
    seen = python(user_env, WITH_FIFTYONE)
    assert seen == {"uri": first["uri"], "samples": 1}
    assert mongod.services_of(user_env["FIFTYONE_DATABASE_DIR"]) == []


def test_a_killed_database_is_started_again_with_its_data(user_env):
    first = python(user_env, PROBE)
    os.kill(first["pid"], signal.SIGKILL)
    psutil.wait_procs([psutil.Process(first["pid"])], timeout=30)
    second = python(user_env, PROBE)
    assert second["pid"] != first["pid"]
    assert second["count"] == 2  # the first probe's document survived the kill


def test_a_taken_port_leads_to_a_free_one(user_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = python({**user_env, "ALFLOW_DATABASE_PORT": str(port)}, PROBE)
    assert out["port"] != port


TAKEN_MEANWHILE = """
import json, socket
from alflow.services import database_server, lifecycle
taken = socket.socket()
taken.bind(("127.0.0.1", 0))
taken.listen()
port = taken.getsockname()[1]
chosen = iter([port])  # as if another program bound the port after alflow chose it
free = lifecycle.choose_port
lifecycle.choose_port = lambda preferred: next(chosen, None) or free(None)
print(json.dumps({"taken": port, "uri": database_server.connect()}))
"""


def test_a_port_taken_between_choice_and_start_leads_to_another(user_env):
    out = python(user_env, TAKEN_MEANWHILE)
    assert out["uri"].startswith("mongodb://127.0.0.1:")
    assert not out["uri"].endswith(f":{out['taken']}")


def test_a_mongod_that_cannot_start_fails_at_once_saying_why(user_env):
    # a data directory whose storage metadata is garbage: mongod aborts at once
    database_dir = user_env["FIFTYONE_DATABASE_DIR"]
    os.makedirs(database_dir)
    with open(os.path.join(database_dir, "storage.bson"), "w") as handle:
        handle.write("not bson")
    out = alflow(user_env, "loop", "list")
    assert out.returncode == 2
    (line,) = [ln for ln in out.stderr.splitlines() if ln.startswith("alflow: error:")]
    assert f"mongod on {database_dir}) exited with code 14 while starting" in line
    assert "mongo.log" in line
    assert "Traceback" not in out.stderr


def test_a_data_directory_that_is_a_file_is_named(user_env, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    out = alflow({**user_env, "FIFTYONE_DATABASE_DIR": str(blocked)}, "loop", "list")
    assert out.returncode == 2
    assert f"FIFTYONE_DATABASE_DIR={blocked} is not a directory" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_app_and_its_executor_use_alflows_database(user_env, tmp_path, sig):
    import socket

    from tests.mongo import free_port

    env = {**user_env, "PREFECT_API_URL": "http://127.0.0.1:9/api"}  # no flow runs here
    log = open(tmp_path / "app.log", "w+")  # noqa: SIM115
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "alflow.cli", "app", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while "FiftyOne App on" not in (tmp_path / "app.log").read_text():
            assert app.poll() is None, (tmp_path / "app.log").read_text()
            assert time.monotonic() < deadline, "the App did not start"
            time.sleep(1)
        database_dir = user_env["FIFTYONE_DATABASE_DIR"]
        assert len(mongod.mongods_of(database_dir)) == 1  # alflow's, shared by all three
        assert mongod.services_of(database_dir) == []  # no FiftyOne service was started
    finally:
        # Ctrl-C (even where the runner that started it ignores SIGINT) or a plain kill
        os.killpg(app.pid, sig)
        try:
            app.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
            pytest.fail(f"alflow app ignored signal {sig} for 120 s:\n{log_text(tmp_path)}")
        finally:
            log.close()
    with pytest.raises(OSError):  # the App server it started is gone with it
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def log_text(tmp_path) -> str:
    return (tmp_path / "app.log").read_text(errors="replace")[-3000:]
