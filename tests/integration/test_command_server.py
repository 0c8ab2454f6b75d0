"""Flow commands through the warm command server (:mod:`alflow.cli.command_server`), run as a user
runs them: ``alflow`` in a process of its own, the server started by the first command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from alflow.services import command_servers
from tests.helpers import loop_config, run_cli, unique_name

COMPARED = ("round", "state", "queried", "labelled", "accuracy", "macro-F1")


@pytest.fixture(scope="module")
def warm_env(digits):
    """One environment for the module's commands, so they share one server (its key)."""
    env = {**os.environ, "ALFLOW_COMMAND_SERVER": "on"}
    yield env
    command_servers.stop_all()


def _rows(output: str) -> list[dict[str, str]]:
    lines = [line for line in output.splitlines() if line.strip()]
    header = next(i for i, line in enumerate(lines) if line.split()[0] == "round")
    keys = lines[header].split()
    rows = [dict(zip(keys, line.split(), strict=True)) for line in lines[header + 1 :]]
    return [{k: row[k] for k in COMPARED} for row in rows]


def _create_and_step(tmp_path, env: dict[str, str]) -> tuple[str, list[dict[str, str]]]:
    config = loop_config(unique_name("warm"))
    path = tmp_path / f"{config.name}.json"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    rows = []
    for args in (("loop", "create", str(path)), ("step", config.name)):
        out = run_cli(*args, env=env, timeout=600)
        assert out.returncode == 0, out.stderr
        assert "Traceback" not in out.stderr
        rows += _rows(out.stdout)
    return config.name, rows


def _server(env: dict[str, str]) -> dict:
    """The one command server running (the other tests' commands run with it off)."""
    (record,) = command_servers.running()
    return record


def test_commands_through_the_warm_server_give_what_they_give_in_their_own_process(
    warm_env, tmp_path
):
    _, cold = _create_and_step(tmp_path, {**warm_env, "ALFLOW_COMMAND_SERVER": "off"})
    assert command_servers.running() == []
    _, warm = _create_and_step(tmp_path, warm_env)
    assert warm == cold and [r["round"] for r in warm] == ["0", "1"]
    record = _server(warm_env)
    assert record["commands"] == 2  # both went through it: loop create, then step
    again = run_cli("step", "no-such-loop", env=warm_env)
    assert _server(warm_env)["commands"] == 3 and _server(warm_env)["pid"] == record["pid"]
    # a user error in a warm child: the one line and exit code 2, as in a process of its own
    assert again.returncode == 2
    (line,) = again.stderr.strip().splitlines()
    assert line.startswith("alflow: error: no loop named 'no-such-loop'")


def test_usage_errors_in_a_warm_child_show_usage_and_exit_code_2(warm_env):
    out = run_cli("step", "some-loop", "--when-unfinished", "later", env=warm_env)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("Usage: python -m alflow.cli")
    assert "'later' is not one of 'wait', 'accept_partial', 'cancel'" in out.stderr


def test_a_killed_command_takes_its_warm_child_with_it(warm_env, tmp_path):
    config = loop_config(unique_name("killed"))
    path = tmp_path / "loop.json"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    before = _server(warm_env)["commands"]
    client = subprocess.Popen(
        [sys.executable, "-m", "alflow.cli", "loop", "create", str(path)],
        env=warm_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while _server(warm_env)["commands"] == before and time.monotonic() < deadline:
        time.sleep(0.1)
    child = _server(warm_env)["last_child"]
    assert child and command_servers.alive(child)
    client.send_signal(signal.SIGKILL)
    client.wait()
    deadline = time.monotonic() + 30
    while command_servers.alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not command_servers.alive(child)
    assert command_servers.alive(_server(warm_env)["pid"])  # the server itself stays


def test_status_names_the_server_and_server_stop_stops_it(warm_env, tmp_path):
    name, _ = _create_and_step(tmp_path, warm_env)
    pid = _server(warm_env)["pid"]
    status = run_cli("status", name, env=warm_env)
    assert f"keeps flow commands warm (pid {pid})" in status.stdout
    stopped = run_cli("server", "--stop", env=warm_env)
    assert f"stopped the command server (pid {pid})" in stopped.stdout
    deadline = time.monotonic() + 30
    while command_servers.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not command_servers.alive(pid) and command_servers.running() == []


def test_a_server_that_cannot_start_in_time_leaves_the_command_to_its_own_process(digits):
    env = {
        **os.environ,
        "ALFLOW_COMMAND_SERVER": "on",
        "ALFLOW_COMMAND_SERVER_START_TIMEOUT": "0.5",
    }
    env["ALFLOW_TEST_KEY"] = "a key of its own"  # not the module's server
    out = run_cli("step", "no-such-loop", env=env)
    # (a line about a server this command started may come first)
    *_, notice, error = out.stderr.strip().splitlines()
    assert notice.startswith("alflow: the command server did not start (its log: ")
    assert notice.endswith("; running the command in its own process")
    assert error.startswith("alflow: error: no loop named 'no-such-loop'")  # run here, as ever
    assert out.returncode == 2


def _wait_gone(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while command_servers.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not command_servers.alive(pid)


def test_a_server_for_a_changed_environment_stops_the_idle_one(digits):
    """A changed environment (a new password, say) gets its own server; the idle server of the
    old one is stopped, so a state directory keeps one, not one per environment."""
    base = {**os.environ, "ALFLOW_COMMAND_SERVER": "on"}
    servers = []
    try:
        for password in ("first-password", "second-password"):
            env = {**base, "ALFLOW_CVAT_PASSWORD": password}
            started = time.time()
            out = run_cli("step", "no-such-loop", env=env)
            assert out.returncode == 2 and "no loop named 'no-such-loop'" in out.stderr
            (record,) = [r for r in command_servers.running() if r["started"] >= started]
            servers.append(record)
        first, second = servers
        assert first["key"] != second["key"]
        assert _wait_gone(first["pid"])  # idle: stopped when the second one started
        assert [r["key"] for r in command_servers.running()] == [second["key"]]
    finally:
        command_servers.stop_all()
