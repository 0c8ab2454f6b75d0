"""`alflow status` reads the annotation progress from CVAT now, without writing the ledger, and
stays fast (one try, a short timeout) when CVAT fails or is down, and names what CVAT answered
(a deleted task, refused credentials, an error) or that it did not answer.

Rounds wait in the CVAT stand-in: 8 samples in two jobs of 4 frames.
"""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

import tasks
from alflow.cli import app
from alflow.loop.status import LIVE_TIMEOUT_SECONDS, describe, loop_status
from alflow.loop.workspace import open_workspace

pytestmark = pytest.mark.usefixtures("prefect_server")


def waiting_loop(cvat_loop) -> str:
    loop = cvat_loop(flow=False).name
    number = tasks.open_round.fn(loop)
    tasks.query_batch.fn(loop, number)
    tasks.export_batch.fn(loop, number)
    assert tasks.check_progress.fn(loop, number)["finished"] is False  # stored: 0/2
    return loop


def round_doc(loop: str) -> dict:
    return open_workspace().ledger.round(loop, 1)


def test_status_shows_what_cvat_says_now_and_writes_nothing(cvat_loop, annotator):
    loop = waiting_loop(cvat_loop)
    annotator.complete(round_doc(loop)["backend"]["ref"]["task_id"], jobs=[0])
    before = round_doc(loop)

    st = loop_status(open_workspace(), loop)
    assert (st.round, st.state, st.done, st.total, st.live) == (1, "waiting", 1, 2, True)
    assert before["progress"]["done"] == 0  # the last step saw none finished
    assert round_doc(loop) == before  # reading status wrote nothing

    out = CliRunner().invoke(app, ["status", loop]).output
    assert "round 1 is 'waiting': 1/2 annotation jobs finished" in out


def test_status_tries_cvat_once_and_says_when_it_could_not(cvat_loop, cvat_server):
    loop = waiting_loop(cvat_loop)
    # one failing answer: the loop's own settings (4 retries) would get past it, status does not
    cvat_server.fail_next(1, 503)
    st = loop_status(open_workspace(), loop)
    assert st.progress_error and "503" in st.progress_error
    assert (st.done, st.total, st.live) == (0, 2, False)  # the progress stored at the last step
    line = describe(st)[1]
    # CVAT did answer (503): not "could not reach"
    assert line.startswith("round 1 is 'waiting'; CVAT answered with an error to the progress")
    assert line.endswith("at the last step 0/2 annotation jobs were finished")

    cvat_server.stop()
    started = time.monotonic()
    st = loop_status(open_workspace(), loop)
    assert time.monotonic() - started < 2 * LIVE_TIMEOUT_SECONDS
    assert st.progress_error and st.live is False
    line = describe(st)[1]
    assert line.startswith("round 1 is 'waiting'; could not reach CVAT to read its progress now")
    assert "\n" not in line


def test_status_says_cvat_answered_that_the_task_is_deleted(cvat_loop, annotator):
    loop = waiting_loop(cvat_loop)
    annotator.delete_task(round_doc(loop)["backend"]["ref"]["task_id"])

    st = loop_status(open_workspace(), loop)
    assert st.progress_answer == "task_deleted"
    line = describe(st)[1]
    assert line.startswith("round 1 is 'waiting'; CVAT answered that the round's task is deleted")
    assert f"alflow reexport {loop} 1" in line  # the fix
    assert "could not reach" not in line
    out = CliRunner().invoke(app, ["status", loop]).output
    assert line in out.splitlines()


def test_status_says_cvat_refused_the_credentials_never_showing_them(
    cvat_loop, cvat_env, monkeypatch
):
    loop = waiting_loop(cvat_loop)
    monkeypatch.setenv("ALFLOW_CVAT_PASSWORD", "not-the-password-31337")

    st = loop_status(open_workspace(), loop)
    assert st.progress_answer == "credentials_refused"
    line = describe(st)[1]
    assert line.startswith("round 1 is 'waiting'; CVAT refused the credentials")
    assert "ALFLOW_CVAT_USERNAME/ALFLOW_CVAT_PASSWORD" in line  # where they came from
    assert line.endswith("at the last step 0/2 annotation jobs were finished")
    assert "31337" not in line and "could not reach" not in line
