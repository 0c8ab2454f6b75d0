"""The `alflow` command line without Prefect runs: help, env, simulate, and how it fails.

Commands run through typer's test runner on :data:`alflow.cli.app`, in process; what the entry
point makes of errors, run as a process, is in ``tests/integration/test_cli_process.py``.
"""

from __future__ import annotations

import json
import os
from unittest.mock import MagicMock

import pytest
import typer
from typer.testing import CliRunner

from alflow.cli import app
from alflow.errors import AlflowError, ConfigError
from alflow.services.environment import service_environment

runner = CliRunner()


def commands(group, path=()):
    """Every (path, command) under the click group, groups included."""
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))


ALL = list(commands(typer.main.get_command(app)))


def test_the_command_tree_is_the_documented_one():
    names = {" ".join(path) for path, _ in ALL}
    assert {
        "data",
        "demo",
        "loop",
        "loop create",
        "loop delete",
        "loop list",
        "loop pause",
        "loop resume",
        "step",
        "status",
        "history",
        "rollback",
        "reinclude",
        "reexport",
        "simulate",
        "deploy",
        "serve",
        "server",
        "app",
        "env",
        "round",
        "round cancel",
        "round fail",
        "unlock",
    } <= names


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=[" ".join(p) for p, _ in ALL])
def test_every_command_explains_itself(path):
    command = dict(ALL)[path]
    result = runner.invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"Usage: root {' '.join(path)}" in text
    summary = " ".join((command.help or "").split("\n\n")[0].split())
    assert summary and summary[:40] in text
    for param in command.params:  # every option and argument is shown
        shown = param.metavar or max(param.opts, key=len)
        assert shown.upper() in text.upper()


def test_env_prints_the_session_state_as_exports(state_home, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4321/api")
    result = runner.invoke(app, ["env"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    # besides exports only shell comments (a CVAT version note recorded earlier) or blanks
    assert all(line.startswith(("export ", "# ")) or not line for line in lines), result.output
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export ")
    )
    assert exports["ALFLOW_HOME"] == str(state_home)
    for key in service_environment(state_home):
        assert exports[key] == os.environ[key]
    assert exports["PREFECT_HOME"] == str(state_home / "prefect")
    assert exports["FIFTYONE_DATABASE_DIR"] == str(state_home / "mongo")
    # the overrides that decide where state lives, so a worker started after
    # eval "$(alflow env)" uses the same database and Prefect server as the CLI
    assert exports["FIFTYONE_DATABASE_URI"] == os.environ["FIFTYONE_DATABASE_URI"]
    assert exports["FIFTYONE_DATABASE_NAME"] == "alflow-tests"
    assert exports["PREFECT_API_URL"] == "http://127.0.0.1:4321/api"


def test_simulate_prints_and_writes_the_learning_curve(tmp_path):
    out = tmp_path / "runs" / "sim.json"
    result = runner.invoke(app, ["simulate", "--budget", "30", "--batch", "10", "--json", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    curve = written["learning_curve"]
    assert [labelled for labelled, _ in curve] == [10, 20, 30]
    assert all(0.0 < acc <= 1.0 for _, acc in curve)
    assert (written["budget"], written["batch"], written["estimator"]) == (30, 10, "rf")
    rows = [line.split() for line in result.output.splitlines()[1:4]]
    assert [(int(n), float(a)) for n, a in rows] == [(n, round(a, 3)) for n, a in curve]
    assert f"wrote {out}" in result.output


def test_a_loop_file_that_cannot_be_read_is_an_alflow_error(tmp_path):
    broken = tmp_path / "loop.json"
    broken.write_text("{not json")
    result = runner.invoke(app, ["loop", "create", str(broken)])
    assert isinstance(result.exception, AlflowError)
    assert f"cannot read loop configuration {broken}" in str(result.exception)
    missing = runner.invoke(app, ["loop", "create", str(tmp_path / "nowhere.json")])
    assert "No such file" in str(missing.exception)


def test_an_invalid_loop_file_names_every_problem(tmp_path):
    path = tmp_path / "loop.json"
    path.write_text(json.dumps({"name": "Bad_Name", "dataset": "d", "batch_size": 0}))
    result = runner.invoke(app, ["loop", "create", str(path)])
    assert isinstance(result.exception, ConfigError)
    message = str(result.exception)
    assert message.startswith("invalid loop configuration: ")
    assert "name:" in message and "features:" in message and "batch_size:" in message


def test_help_texts_are_plain_and_the_loop_group_names_its_commands():
    top = runner.invoke(app, ["--help"], terminal_width=200).output
    assert "``" not in top  # no RST markup from the module docstring
    assert "--verbose" in top and "ALFLOW_VERBOSE" in top
    loop_group = dict(ALL)[("loop",)]
    summary = loop_group.help.lower()
    for name in ("create", "list", "delete", "pause", "resume", "stop rules"):
        assert name in summary
    server_help = " ".join(
        runner.invoke(app, ["server", "--help"], terminal_width=200).output.split()
    )
    assert "ALFLOW_PREFECT_PORT" in server_help and "--stop" in server_help


def test_dask_workers_travel_in_the_steps_options_not_the_environment(monkeypatch):
    import flows.loop
    from alflow.cli import round_commands
    from alflow.learning import dask_cluster

    monkeypatch.delenv(dask_cluster.WORKERS_ENV, raising=False)
    step_flow = MagicMock(spec=flows.loop.step_flow, return_value={"round": 1, "state": "taught"})
    monkeypatch.setattr(flows.loop, "step_flow", step_flow)
    monkeypatch.setattr(round_commands, "use_prefect", lambda: None)
    result = runner.invoke(app, ["step", "some-loop", "--dask-workers", "2"])
    assert result.exit_code == 0, result.output
    (loop, options), _ = step_flow.call_args
    assert loop == "some-loop" and options.dask_workers == 2
    assert dask_cluster.WORKERS_ENV not in os.environ
    refused = runner.invoke(app, ["step", "some-loop", "--dask-workers", "0"])
    assert refused.exit_code == 2


def test_a_steps_dask_workers_win_over_the_environment_and_the_configuration():
    from alflow.config.loop import ScoringConfig
    from alflow.learning import dask_cluster

    config = ScoringConfig(dask_workers=3)
    env = {dask_cluster.WORKERS_ENV: "2"}
    assert dask_cluster.resolve(config, env, step_workers=4) == dask_cluster.Target(workers=4)
    assert dask_cluster.resolve(config, env) == dask_cluster.Target(workers=2)
    assert dask_cluster.resolve(config, {}) == dask_cluster.Target(workers=3)
