"""What the App's operators say: the loop in a person's words, and where it ran only to a user
whose own Prefect API was expected to run alflow's deployments."""

from __future__ import annotations

import pytest

from alflow.app import messages
from alflow.app.runs import expects_deployments

ROUND_0 = {"round": 0, "state": "taught", "labelled": 10, "accuracy": 0.7123}
IN_PROCESS = {
    "ran": "in the App's process: deployment 'alflow-step/step' is not on "
    "http://prefect.example/api ('alflow deploy' adds it)",
    "run_url": None,
    "deployment_run": False,
}


def test_alflows_own_servers_are_not_where_deployments_were_expected():
    own = ["http://127.0.0.1:4200/api", None]
    assert not expects_deployments(None, own)
    assert not expects_deployments("http://127.0.0.1:4200/api/", own)
    assert expects_deployments("http://prefect.example/api", own)


def test_created_says_what_the_loop_learned_and_what_to_do_next_without_where_it_ran():
    lines = messages.created("pets", {**IN_PROCESS, "round_0": ROUND_0})
    assert (
        lines[0] == "Loop `pets` is ready: round 0 learned from 10 labels, held-out accuracy 0.712."
    )
    assert (
        lines[1] == "Next: run 'Active Learning: query learner' to pick the first batch for review."
    )
    assert not any("deployment" in line or "Prefect" in line for line in lines)


def test_where_it_ran_is_one_short_line_when_the_users_prefect_api_was_expected():
    result = {**IN_PROCESS, "deployments_expected": True, "round_0": ROUND_0}
    lines = messages.created("pets", result)
    detail = [line for line in lines if "Prefect server" in line]
    assert detail == [
        "*Ran in the App's process: alflow's flows are not deployed on your Prefect server.*"
    ]
    assert lines[-1] == detail[0]


def test_a_deployment_run_is_linked_in_its_detail_line():
    result = {
        "ran": "deployment 'alflow-step/step' on http://p/api",
        "run_url": "http://p/runs/flow-run/abc",
        "deployment_run": True,
        "deployments_expected": True,
    }
    assert messages.where_it_ran(result) == [
        "*Ran as a deployment on your Prefect server: "
        "[Prefect flow run](http://p/runs/flow-run/abc).*"
    ]


def queried(**extra):
    return {"round": {"round": 2}, "sample_ids": ["a"] * 10, **IN_PROCESS, **extra}


def test_queried_says_where_to_review_the_batch_and_what_to_run_next():
    app = messages.queried("pets", queried(view="pets-round-002"))
    assert app[0].startswith("Round 2 of `pets`: the learner picked 10 samples for review")
    assert "view `pets-round-002`" in app[1] and app[1].endswith(
        "then run 'Active Learning: update learner predictions'."
    )
    cvat = messages.queried("pets", queried(task_url="http://cvat/tasks/7"))
    assert "CVAT task [http://cvat/tasks/7](http://cvat/tasks/7)" in cvat[1]
    again = messages.queried("pets", queried(view="pets-round-002", already_in_flight=True))
    assert again[0] == (
        "Round 2 of `pets` is already out for review (10 samples); nothing new was queried."
    )
    assert all(len(lines) == 2 for lines in (app, cvat, again))


@pytest.mark.parametrize(
    ("state", "first", "last"),
    [
        ("taught", "is done: the learner now knows 30 labels, held-out accuracy 0.850.", "Next:"),
        ("cancelled", "is cancelled: its unlabelled samples are back in the pool", "Next:"),
        ("failed", "is marked failed: its unlabelled samples are back in the pool", "Next:"),
        ("waiting", "is still out for annotation, so nothing was taught yet.", "Round 1"),
    ],
)
def test_updated_says_what_happened_to_the_round_and_what_next(state, first, last):
    r = {"round": 1, "state": state, "labelled": 30, "accuracy": 0.85}
    lines = messages.updated("pets", {**IN_PROCESS, "round": r, "loop_status": "active"})
    assert lines[0].startswith("Round 1 of `pets` ") and first in lines[0]
    assert lines[-1].startswith(last)
    assert not any("deployment" in line for line in lines)


def test_a_loop_done_by_its_stop_rule_says_so_instead_of_asking_for_another_batch():
    r = {"round": 4, "state": "taught", "labelled": 50, "accuracy": None}
    result = {"round": r, "loop_status": "done", "done_reason": "label budget of 50 reached"}
    lines = messages.updated("pets", result)
    assert lines == [
        "Round 4 of `pets` is done: the learner now knows 50 labels.",
        "The loop has reached its stop rule (label budget of 50 reached) and queries no more "
        "batches.",
    ]
