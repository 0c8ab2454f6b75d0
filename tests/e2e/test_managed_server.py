"""The CLI's own Prefect server: a slow start does not fail a command, later commands reuse it,
commands started together share one, a dead server is replaced, and `alflow server --stop` ends it.

Every command is a real `alflow` process with a state directory of its own (so the server it
starts is this module's alone) and the session's MongoDB; the module stops the server at its
end, so none outlives the test session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress

import psutil
import pytest

from alflow.services import prefect_server
from tasks import fit_initial_learner, load_features, register_loop
from tests.e2e.services import free_port
from tests.helpers import loop_config, unique_name

# runs the real entry point with the server's start delayed by 30 s, beyond Prefect's 20 s
# default start-up timeout, as a first start on a loaded machine can be
SLOW_START = """
import sys
from alflow.services import prefect_server
real = prefect_server.server_command
prefect_server.server_command = lambda port: [
    "sh", "-c", 'sleep 30 && exec "$@"', "slow-start", *real(port)
]
from alflow.cli import main
sys.argv = ["alflow", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory, fo_db):
    """The environment of a user's shell: a fresh ALFLOW_HOME and Prefect home, no API URL."""
    home = tmp_path_factory.mktemp("managed-home")
    env = {
        **os.environ,
        "ALFLOW_HOME": str(home),
        "PREFECT_HOME": str(home / "prefect"),
        "ALFLOW_PREFECT_PORT": str(free_port()),  # never a developer's 4200
    }
    env.pop("PREFECT_API_URL", None)
    yield env
    stopped = alflow(env, "server", "--stop")
    assert stopped.returncode == 0, stopped.stderr
    record = _record(env)
    assert record is None


def alflow(env, *args: str, script: str | None = None, timeout: float = 600):
    """Run `alflow ARGS` (or ``script`` with ARGS) as its own process."""
    cmd = [sys.executable, "-c", script, *args] if script else [sys.executable, "-m", "alflow.cli"]
    if not script:
        cmd += list(args)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _record(env) -> dict | None:
    path = os.path.join(env["ALFLOW_HOME"], "prefect-server", "server.json")
    return json.loads(open(path).read()) if os.path.exists(path) else None


@pytest.fixture(scope="module")
def loop(digits):
    config = loop_config(unique_name("managed"))
    register_loop.fn(config)
    load_features.fn(config.name)
    fit_initial_learner.fn(config.name)
    return config.name


def step_row(out: str) -> list[str]:
    lines = [line.split() for line in out.splitlines() if line.strip()]
    assert lines[0][:2] == ["round", "state"], out
    return lines[1]


def test_a_slow_first_start_does_not_fail_the_command_and_later_commands_reuse_it(cli_env, loop):
    started = time.monotonic()
    first = alflow(cli_env, "step", loop, script=SLOW_START)
    assert first.returncode == 0, first.stdout + first.stderr
    assert time.monotonic() - started > 30  # the start really was slower than Prefect's 20 s
    assert step_row(first.stdout)[:2] == ["1", "taught"]
    port = cli_env["ALFLOW_PREFECT_PORT"]
    assert f"alflow: starting a Prefect server on http://127.0.0.1:{port}" in first.stderr
    record = _record(cli_env)
    assert record["port"] == int(port) and psutil.pid_exists(record["pid"])

    second = alflow(cli_env, "step", loop)
    assert second.returncode == 0, second.stdout + second.stderr
    assert step_row(second.stdout)[:2] == ["2", "taught"]
    assert "starting" not in second.stderr  # the same server, not a new one
    assert _record(cli_env) == record

    shown = alflow(cli_env, "server")
    assert shown.stdout.splitlines()[0] == (
        f"Prefect server and UI on http://127.0.0.1:{port} "
        f"(API http://127.0.0.1:{port}/api, pid {record['pid']})"
    )
    exports = alflow(cli_env, "env").stdout.splitlines()
    env = dict(line.removeprefix("export ").split("=", 1) for line in exports)
    assert env["PREFECT_API_URL"] == f"http://127.0.0.1:{port}/api"


def test_a_dead_server_is_replaced_and_commands_started_together_share_one(cli_env, loop):
    alflow(cli_env, "server")
    dead = _record(cli_env)
    os.killpg(dead["pid"], signal.SIGKILL)  # as a crash or an OOM kill would
    with suppress(psutil.NoSuchProcess):
        psutil.Process(dead["pid"]).wait(timeout=30)

    together = [
        subprocess.Popen(
            [sys.executable, "-m", "alflow.cli", "server"],
            env=cli_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in together]
    assert [p.returncode for p in together] == [0, 0], outputs
    new = _record(cli_env)
    assert new["pid"] != dead["pid"] and prefect_server.alive(new["pid"])
    assert {out.splitlines()[0] for out, _ in outputs} == {
        f"Prefect server and UI on http://127.0.0.1:{new['port']} "
        f"(API http://127.0.0.1:{new['port']}/api, pid {new['pid']})"
    }
    assert sum("starting a Prefect server" in err for _, err in outputs) == 1

    stopped = alflow(cli_env, "server", "--stop")
    assert stopped.stdout.strip() == (
        f"stopped the Prefect server on http://127.0.0.1:{new['port']} (pid {new['pid']})"
    )
    assert not prefect_server.alive(new["pid"]) and _record(cli_env) is None
