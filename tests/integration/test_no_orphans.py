"""No process outlives a command but alflow's managed Prefect server, which status reports.

Each test runs real `alflow` processes in a state directory of its own, collects the tree of
processes under the command while it works (by parent pid), then kills or signals it and
asserts, within a bounded time, which of those processes remain.
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

from alflow.services import parent_death, prefect_server
from tasks import fit_initial_learner, load_features, register_loop
from tests.helpers import loop_config, unique_name
from tests.mongo import free_port

# runs `alflow ARGS` with the create-loop flow held in its load-features task, so that the
# command is killed while a flow runs on its Prefect server
HELD_FLOW = """
import sys, time
from alflow.services import prefect_server
prefect_server.connect()  # before Prefect is imported, as the CLI does
import tasks
def held(*args, **kwargs):
    print("flow running", flush=True)
    time.sleep(600)
tasks.load_features.fn = held
from alflow.cli import main
sys.argv = ["alflow", *sys.argv[1:]]
main()
"""


def survivors(processes: list[psutil.Process], timeout: float = 30) -> list[psutil.Process]:
    """Those of ``processes`` still running (not zombies) after up to ``timeout`` seconds."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


@pytest.fixture
def cli_env(tmp_path):
    """A user's shell: a fresh ALFLOW_HOME and Prefect home, no API URL, a free port."""
    env = {
        **os.environ,
        "ALFLOW_HOME": str(tmp_path),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "ALFLOW_PREFECT_PORT": str(free_port()),
    }
    env.pop("PREFECT_API_URL", None)
    yield env
    subprocess.run([sys.executable, "-m", "alflow.cli", "server", "--stop"], env=env, check=True)


def test_a_bound_child_dies_with_its_parent_however_the_parent_ends():
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; from alflow.services.parent_death import bound_command; "
            "child = subprocess.Popen(bound_command(['sleep', '600'])); "
            "print(child.pid, flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    child = psutil.Process(int(parent.stdout.readline()))
    deadline = time.monotonic() + 30
    while child.cmdline() != ["sleep", "600"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.cmdline() == ["sleep", "600"]  # the launcher became the command
    parent.kill()  # SIGKILL: no atexit, no finally
    parent.wait()
    assert survivors([child], timeout=10) == []

    # a parent that died before the tie was set: the launcher ends at once
    late = subprocess.run(
        [*parent_death.bound_command(["sleep", "600"])[:3], str(parent.pid), "--", "sleep", "1"],
        timeout=30,
    )
    assert late.returncode == 1


def alflow_process(env, *args: str, script: str | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-c", script] if script else [sys.executable, "-m", "alflow.cli"]
    return subprocess.Popen(
        [*cmd, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_foreground_server_stops_with_its_children_on_a_signal(cli_env, sig):
    command = alflow_process(cli_env, "server", "--foreground")
    try:
        first = command.stdout.readline()
        assert first.startswith("Prefect server and UI on http://127.0.0.1:"), (
            first + command.stderr.read()
        )
        record = prefect_server.ServerRecord(**_record(cli_env))
        assert prefect_server.healthy(record)  # other commands use it meanwhile
        processes = tree(command.pid)
        assert record.pid in [p.pid for p in processes]
        command.send_signal(sig)
        out, err = command.communicate(timeout=60)
    finally:
        with suppress(ProcessLookupError):
            command.kill()
    assert command.returncode == 0, err
    assert f"stopped the Prefect server on {record.url}" in out
    assert survivors(processes) == []
    assert _record(cli_env) is None


def _record(env) -> dict | None:
    path = os.path.join(env["ALFLOW_HOME"], "prefect-server", "server.json")
    return json.loads(open(path).read()) if os.path.exists(path) else None


def _held_creation(env, tmp_path) -> subprocess.Popen:
    """`alflow loop create` on the digits dataset, started and held inside its flow."""
    config = tmp_path / "loop.json"
    config.write_text(loop_config(unique_name("orphan")).model_dump_json())
    command = alflow_process(env, "loop", "create", str(config), script=HELD_FLOW)
    line = command.stdout.readline()
    if line != "flow running\n":
        command.kill()
        pytest.fail(line + command.communicate()[1])
    return command


def test_a_killed_command_leaves_no_temporary_server_behind(cli_env, tmp_path, digits):
    env = {**cli_env, "ALFLOW_PREFECT_SERVER": "ephemeral"}
    command = _held_creation(env, tmp_path)
    processes = tree(command.pid)
    servers = [p for p in processes if "uvicorn" in p.cmdline()]
    assert len(servers) == 1  # this command's temporary server, serving the flow
    command.kill()
    command.wait()
    assert survivors(processes) == []
    assert _record(cli_env) is None  # and no lasting server was started


@pytest.fixture
def loop(digits):
    config = loop_config(unique_name("managed-orphan"))
    register_loop.fn(config)
    load_features.fn(config.name)
    fit_initial_learner.fn(config.name)
    return config.name


def test_a_killed_command_leaves_only_the_managed_server_which_status_shows(
    cli_env, tmp_path, loop
):
    command = _held_creation(cli_env, tmp_path)
    processes = tree(command.pid)
    record = prefect_server.ServerRecord(**_record(cli_env))
    managed = {p.pid for p in tree(record.pid)}
    command.kill()
    command.wait()
    assert {p.pid for p in survivors(processes)} == managed  # the managed server alone

    status = subprocess.run(
        [sys.executable, "-m", "alflow.cli", "status", loop],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[-1] == (
        f"alflow's Prefect server runs on {record.url} (pid {record.pid}); "
        "'alflow server --stop' stops it"
    )
    stop = subprocess.run(
        [sys.executable, "-m", "alflow.cli", "server", "--stop"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stop.stdout.strip() == f"stopped the Prefect server on {record.url} (pid {record.pid})"
    assert survivors(processes) == []
