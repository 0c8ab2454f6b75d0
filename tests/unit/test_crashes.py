"""Which Prefect runs a dead step left unfinished, why they crashed, and how that reaches Prefect
(a ``MagicMock(spec=SyncPrefectClient)``) and the round's record and report."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
from prefect.client.orchestration import SyncPrefectClient

from alflow.loop import crashes, prefect_crashes, reports
from alflow.loop.crashes import FLOW, TASK, Run
from alflow.state.ledger import Ledger

LOOP = "digits"
TAGS = ("loop:digits", "round:3")


def flow(id_, state="RUNNING", parent=None, tags=(), name=None):
    return Run(id_, name or id_, FLOW, state, parent, tuple(tags))


def task(id_, parent, state="RUNNING"):
    return Run(id_, id_, TASK, state, parent)


def test_the_step_its_round_runs_and_their_running_tasks_are_chosen_deepest_first():
    runs = [
        flow("step"),
        flow("round", parent="step", tags=TAGS, name="digits-round-003"),
        task("ingest", "round"),
        task("query", "round", state="COMPLETED"),
        task("round-call", "step"),
        flow("other-step"),  # another step of another loop, running
        task("other-task", "other-step"),
    ]
    chosen = crashes.dead_runs(LOOP, "step", runs)
    assert [r.id for r in chosen] == ["ingest", "round-call", "round", "step"]


def test_a_tagged_round_run_left_by_an_earlier_crash_is_chosen_and_finished_runs_are_not():
    runs = [
        flow("step", state="CRASHED"),
        flow("stale-round", tags=("loop:digits", "round:1")),
        flow("done-round", parent="step", state="COMPLETED", tags=TAGS),
        task("left-running", "done-round"),
        flow("other-loop", tags=("loop:digits-2", "round:1")),
    ]
    chosen = crashes.dead_runs(LOOP, "step", runs)
    assert [r.id for r in chosen] == ["left-running", "stale-round"]


def test_the_run_doing_the_marking_and_what_is_below_it_are_spared():
    runs = [
        flow("dead"),
        flow("me"),
        flow("my-round", parent="me", tags=TAGS),
        task("my-task", "me"),
    ]
    chosen = crashes.dead_runs(LOOP, "dead", runs, spare=["me"])
    assert [r.id for r in chosen] == ["dead"]


def test_tasks_of_a_step_deleted_from_prefect_are_still_chosen():
    chosen = crashes.dead_runs(LOOP, "gone", [task("t", "gone")])
    assert [r.id for r in chosen] == ["t"]


def test_a_crashed_round_run_is_filed_under_its_round_by_tag_or_name():
    runs = [
        flow("a", tags=TAGS),
        flow("b", name="digits-round-012"),
        flow("c", name="digits-step"),
        task("d", "a"),
    ]
    assert {n: [r.id for r in rs] for n, rs in crashes.crashed_rounds(LOOP, runs).items()} == {
        3: ["a"],
        12: ["b"],
    }


def test_only_a_flow_run_id_is_a_prefect_run():
    run_id = str(uuid.uuid4())
    assert crashes.flow_run_id(run_id) == run_id
    assert crashes.flow_run_id("alflow rollback (3f9c2a1b7e4d)") is None


LOCK = {
    "owner": "x",
    "pid": 4242,
    "host": "box",
    "until": datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
}


@pytest.mark.parametrize(
    ("alive", "says"),
    [
        (False, "the step holding loop 'digits' died (pid 4242 on host box)"),
        (None, "stopped renewing its lock, which expired at 2026-12-01T09:30:00+00:00"),
        (True, "was freed by force"),
    ],
)
def test_the_reason_is_one_line_saying_what_happened_who_found_out_and_that_nothing_is_lost(
    alive, says
):
    why = crashes.reason(LOOP, LOCK, alive, "'alflow unlock' freed its lock")
    assert says in why and "'alflow unlock' freed its lock" in why
    assert "\n" not in why and why.endswith("nothing it finished is lost")


def test_a_run_link_points_at_the_ui_page_from_the_api_address():
    assert (
        crashes.flow_run_url("http://127.0.0.1:4200/api/", "abc")
        == "http://127.0.0.1:4200/runs/flow-run/abc"
    )
    assert crashes.flow_run_url(None, "abc") is None


def test_the_round_report_links_the_runs_of_the_round_that_crashed():
    doc = {
        "loop": LOOP,
        "round": 3,
        "state": "taught",
        "crashed_runs": [
            {"id": "a", "name": "digits-round-003", "why": "it died", "url": "http://u/a"},
            {"id": "b", "name": "digits-round-003", "why": "it died again", "url": None},
        ],
    }
    text = reports.round_markdown(doc)
    assert "## Runs of this round that crashed" in text
    assert "* [digits-round-003](http://u/a): it died\n" in text
    assert "* `digits-round-003`: it died again\n" in text


# ------------------------------------------------------------------ the Prefect side, faked
def prefect_run(run_id, name, state="RUNNING", tags=(), flow_run_id=None):
    return SimpleNamespace(
        id=uuid.UUID(run_id),
        name=name,
        state=SimpleNamespace(type=SimpleNamespace(value=state)),
        tags=list(tags),
        flow_run_id=uuid.UUID(flow_run_id) if flow_run_id else None,
    )


@pytest.fixture
def ids():
    return SimpleNamespace(**{k: str(uuid.uuid4()) for k in ("step", "round", "task", "me")})


@pytest.fixture
def client(ids, monkeypatch):
    fake = MagicMock(spec=SyncPrefectClient)
    fake.__enter__.return_value = fake
    fake.read_flow_run.return_value = prefect_run(ids.step, "digits-step")

    def read_flow_runs(flow_run_filter):
        if flow_run_filter.parent_flow_run_id is not None:
            parent = str(flow_run_filter.parent_flow_run_id.any_[0])
            return [prefect_run(ids.round, "digits-round-003", tags=TAGS)] * (parent == ids.step)
        return [prefect_run(ids.round, "digits-round-003", tags=TAGS)]

    fake.read_flow_runs.side_effect = read_flow_runs
    fake.read_task_runs.return_value = [
        prefect_run(ids.task, "ingest-labels", flow_run_id=ids.round)
    ]
    monkeypatch.setattr("prefect.get_client", lambda sync_client: fake)
    return fake


def test_marking_a_dead_step_sets_each_run_crashed_with_the_reason_and_notes_its_round(ids, client):
    ledger = MagicMock(spec=Ledger)
    lock = {**LOCK, "owner": ids.step, "host": "elsewhere"}
    marked = prefect_crashes.mark_dead_step(ledger, LOOP, lock, "run 'me' took the loop over")
    assert [r.id for r in marked] == [ids.task, ids.round, ids.step]
    task_call = client.set_task_run_state.call_args
    assert str(task_call.args[0]) == ids.task and task_call.kwargs == {"force": True}
    state = task_call.args[1]
    assert state.type.value == "CRASHED" and "run 'me' took the loop over" in state.message
    flows = [str(c.args[0]) for c in client.set_flow_run_state.call_args_list]
    assert flows == [ids.round, ids.step]
    note = ledger.note_crashed_run.call_args
    assert note.args[:2] == (LOOP, 3)
    assert note.args[2]["id"] == ids.round and note.args[2]["why"] == state.message


def test_a_command_lock_never_reaches_prefect(client):
    ledger = MagicMock(spec=Ledger)
    lock = {**LOCK, "owner": "alflow rollback (3f9c2a1b7e4d)"}
    assert prefect_crashes.mark_dead_step(ledger, LOOP, lock, "by") == []
    assert not client.method_calls
    assert not ledger.method_calls


def test_a_prefect_api_that_does_not_answer_is_logged_not_raised(ids, client, caplog):
    import httpx

    client.read_flow_run.side_effect = httpx.ConnectError("connection refused")
    ledger = MagicMock(spec=Ledger)
    lock = {**LOCK, "owner": ids.step}
    assert prefect_crashes.mark_dead_step(ledger, LOOP, lock, "by") is None
    assert "could not mark the dead step's Prefect runs crashed" in caplog.text
    assert not ledger.method_calls
