"""What the entry point (:func:`alflow.cli.main`) makes of errors, checked by running
``python -m alflow.cli`` as a user does."""

from __future__ import annotations

import os

import pytest

from tests.helpers import run_cli


def test_an_unknown_loop_is_one_clear_line_and_exit_code_2(fo_db):
    out = run_cli("status", "no-such-loop")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("alflow: error: no loop named 'no-such-loop' (")
    assert "create it with 'alflow loop create'" in line


def test_deploy_without_a_lasting_server_says_how_to_get_one():
    # a process of its own: no test harness server is configured in it
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    out = run_cli("deploy", env={**env, "ALFLOW_PREFECT_SERVER": "ephemeral"})
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("alflow: error: deployments need a Prefect server")
    assert "ALFLOW_PREFECT_SERVER=ephemeral" in line and "PREFECT_API_URL" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["step", "some-loop", "--when-unfinished", "later"],
            "'later' is not one of 'wait', 'accept_partial', 'cancel'",
        ),
        (["status"], "Missing argument 'loop'"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_usage_errors_show_usage_and_exit_code_2(args, message):
    out = run_cli(*args)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("Usage: python -m alflow.cli")
    assert message in out.stderr


def test_a_mistyped_progress_mode_fails_before_any_work():
    out = run_cli("status", "any-loop", env={**os.environ, "ALFLOW_PROGRESS": "pretty"})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        "alflow: error: ALFLOW_PROGRESS='pretty' is not a progress mode; "
        "use one of auto, bar, plain, off"
    )
