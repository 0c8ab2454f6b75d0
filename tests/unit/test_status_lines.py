"""What `alflow status` says when the annotation server gives no progress: what it answered
(a deleted task, refused credentials, another error) or that it did not answer, in one line."""

from __future__ import annotations

import pytest

from alflow.loop.status import LoopStatus, waiting_for


def waiting(backend: str, answer: str, error: str = "the server's words") -> LoopStatus:
    return LoopStatus(
        loop="l", dataset="d", status="active", done_reason=None, backend=backend, round=3,
        state="waiting", done=1, total=2, progress_error=error, progress_answer=answer,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("backend", "server", "unit"),
    [("cvat", "CVAT", "annotation jobs"), ("label_studio", "Label Studio", "Label Studio tasks")],
)
@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ("task_deleted", "{server} answered that the round's task is deleted (the server's words)"),
        ("credentials_refused", "{server} refused the credentials (the server's words)"),
        ("unreachable", "could not reach {server} to read its progress now (the server's words)"),
        ("error", "{server} answered with an error to the progress read (the server's words)"),
    ],
)
def test_each_answer_has_its_own_line(backend, server, unit, answer, says):
    line = waiting_for(waiting(backend, answer))
    assert line.startswith("round 3 is 'waiting'; " + says.format(server=server))
    stored = f"; at the last step 1/2 {unit} were finished"
    # a deleted task has no progress worth showing; the others keep the last step's
    assert line.endswith(stored) is (answer != "task_deleted")
    assert "\n" not in line
