"""A user error raised inside a flow or task is one line on the terminal and exit code 2.

Each command is a real `alflow` process (the installed entry point, so what a user sees) on the
session's Prefect test server and MongoDB; the error is raised inside the create-loop or step
flow's tasks, where Prefect logs it with its traceback before re-raising it.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from alflow.loop.workspace import open_workspace
from flows.loop import step_flow
from tasks import fit_initial_learner, load_features, register_loop
from tests.helpers import loop_config, run_cli, unique_name

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture
def cli_env(prefect_server) -> dict[str, str]:
    """The session's environment, pointed at the session's Prefect test server."""
    from prefect.settings import get_current_settings

    return {**os.environ, "PREFECT_API_URL": get_current_settings().api.url}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env=env)


def one_error_line(out: subprocess.CompletedProcess) -> str:
    """The single line a failed command printed on stderr (and nothing else there)."""
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("alflow: error: ")
    return lines[0].removeprefix("alflow: error: ")


def write_config(tmp_path, **overrides) -> str:
    path = tmp_path / "loop.json"
    config = loop_config(unique_name("err"), **overrides)
    path.write_text(json.dumps(config.model_dump(mode="json")))
    return str(path)


def test_an_unknown_dataset(cli_env, tmp_path, digits):
    message = one_error_line(run(cli_env, "loop", "create", write_config(tmp_path, dataset="x")))
    assert message.startswith("FiftyOne dataset 'x' does not exist (datasets here: ")
    assert "alflow-digits" in message
    # the database actually in use: the session's MongoDB URI, not FIFTYONE_DATABASE_DIR
    assert f"FIFTYONE_DATABASE_URI={os.environ['FIFTYONE_DATABASE_URI']}" in message
    assert "FIFTYONE_DATABASE_DIR" not in message


def test_a_missing_feature_field(cli_env, tmp_path, digits):
    path = write_config(tmp_path, features={"fields": ["no_such_field"]})
    message = one_error_line(run(cli_env, "loop", "create", path))
    assert "has no feature field 'no_such_field'" in message


def test_stepping_a_missing_loop(cli_env):
    message = one_error_line(run(cli_env, "step", "no-such-loop"))
    assert message.startswith("no loop named 'no-such-loop'")


def test_stepping_a_done_loop(cli_env, digits):
    config = loop_config(unique_name("done"), stop={"max_rounds": 1})
    register_loop.fn(config)
    load_features.fn(config.name)
    fit_initial_learner.fn(config.name)
    step_flow(config.name)
    assert open_workspace().ledger.loop(config.name)["status"] == "done"
    message = one_error_line(run(cli_env, "step", config.name))
    assert f"{config.name!r}" in message and "done" in message


def test_verbose_shows_prefects_log_and_the_traceback(cli_env):
    out = run(cli_env, "--verbose", "step", "no-such-loop")
    assert out.returncode == 2
    assert "Traceback (most recent call last)" in out.stderr
    assert "Task run failed with exception: LedgerError" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("alflow: error: no loop named")
