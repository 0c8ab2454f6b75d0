"""A way out of every round state: fail or cancel keeps every label; deleted samples are dropped."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import tasks
from alflow import rounds
from alflow.backends.oracle import OracleBackend
from alflow.cli import app
from alflow.data import labels as lab
from alflow.errors import BackendError, LedgerError
from alflow.learning import learners
from alflow.loop import recovery
from alflow.loop.workspace import Workspace, open_workspace
from alflow.state.ledger import (
    CANCELLED,
    EXPORTED,
    FAILED,
    IN_FLIGHT,
    INGESTED,
    QUERIED,
    WAITING,
    check_transition,
)
from tests.helpers import loop_config, unique_name


def created(dataset_name: str | None = None):
    config = loop_config(**({"dataset": dataset_name} if dataset_name else {}))
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    return config.name


def advance_to(loop: str, state: str) -> int:
    """Open round 1 and move it to ``state`` through the real steps."""
    n = tasks.open_round.fn(loop)
    tasks.query_batch.fn(loop, n)
    if state in (EXPORTED, WAITING, INGESTED):
        tasks.export_batch.fn(loop, n)
    if state == WAITING:
        open_workspace().ledger.set_state(loop, n, WAITING)
    if state == INGESTED:
        tasks.ingest_labels.fn(loop, n)
    assert open_workspace().ledger.round(loop, n)["state"] == state
    return n


def test_every_state_before_taught_can_fail_or_be_cancelled():
    for state in IN_FLIGHT:
        for outcome in (FAILED, CANCELLED):
            check_transition("x", 1, state, outcome)


def in_pool(loop: str, ids: list[str], dataset) -> set[str]:
    ws = open_workspace()
    fm = ws.features(ws.config(loop))
    mask = lab.pool_mask(
        fm.ids,
        rounds.eval_ids(dataset, loop),
        rounds.labelled(dataset, loop, include_excluded=True),
        rounds.queued_ids(ws, loop),
    )
    return set(ids) & {str(i) for i in fm.ids[mask]}


@pytest.mark.parametrize("outcome", [FAILED, CANCELLED])
@pytest.mark.parametrize("state", [QUERIED, EXPORTED, WAITING, INGESTED])
def test_every_state_in_flight_can_end_and_keeps_its_labels(digits, state, outcome):
    loop = created()
    n = advance_to(loop, state)
    ws = open_workspace()
    batch = ws.ledger.round(loop, n)["queried_ids"]
    doc = recovery.end_round(ws, loop, n, outcome, reason="test")
    assert doc["state"] == outcome and doc["ended"]["from_state"] == state
    assert recovery.end_round(ws, loop, n, outcome)["history"] == doc["history"]  # idempotent
    labelled = rounds.labelled(digits, loop)
    if state == INGESTED:  # its labels stay, its samples do not return to the pool
        assert set(batch) <= set(labelled) and not in_pool(loop, batch, digits)
        assert doc["ended"]["labels_kept"] == len(batch)
    else:
        assert not set(batch) & set(labelled) and in_pool(loop, batch, digits) == set(batch)
        assert doc["ended"]["returned_to_pool"] == len(batch)
    nxt = tasks.open_round.fn(loop)
    assert nxt == n + 1
    for step in (tasks.query_batch, tasks.export_batch, tasks.ingest_labels, tasks.teach_learner):
        step.fn(loop, nxt)
    taught = ws.ledger.round(loop, nxt)
    state_ = learners.load_checkpoint(taught["checkpoint"]["path"])
    if state == INGESTED:  # the kept labels are taught at the next teach
        assert set(batch) <= set(state_.training_ids)
        assert taught["metrics"]["labelled"] == 30
    else:
        assert taught["metrics"]["labelled"] == 20


def test_a_taught_round_cannot_fail(digits):
    loop = created()
    with pytest.raises(LedgerError, match="round 0 is already 'taught'.*rollback"):
        recovery.end_round(open_workspace(), loop, 0, FAILED)


class UnreachableBackend(OracleBackend):
    def cancel(self, ref):
        raise BackendError("CVAT at http://127.0.0.1:9 does not answer")


def test_cancel_does_not_need_the_backend(digits, monkeypatch):
    loop = created()
    n = advance_to(loop, EXPORTED)
    monkeypatch.setattr(
        Workspace, "backend", lambda self, config: UnreachableBackend(lambda ids: {}, "gt")
    )
    summary = tasks.cancel_round.fn(loop, n)
    assert summary["state"] == CANCELLED
    (note,) = open_workspace().ledger.round(loop, n)["notes"]
    assert "could not be withdrawn" in note["note"] and "does not answer" in note["note"]


def test_the_commands_end_a_round_and_say_what_happened(digits):
    loop = created()
    n = advance_to(loop, INGESTED)
    out = CliRunner().invoke(app, ["round", "fail", loop, str(n), "--reason", "bad batch"])
    assert out.exit_code == 0, out.output
    assert f"round {n} of {loop!r} is failed; 0 samples back in the pool, 10 ingested" in out.output
    assert open_workspace().ledger.round(loop, n)["ended"]["reason"] == "bad batch"
    assert open_workspace().ledger.loop(loop)["lock"] is None  # the command let go of it
    out = CliRunner().invoke(app, ["round", "cancel", loop, str(n)])
    assert isinstance(out.exception, LedgerError) and "already 'failed'" in str(out.exception)


def test_rollback_in_flight_names_the_command_that_ends_the_round(digits):
    loop = created()
    n = advance_to(loop, WAITING)
    with pytest.raises(LedgerError, match=f"alflow round cancel {loop} {n}"):
        rounds.rollback(open_workspace(), loop, 0)


@pytest.fixture
def own_dataset(digits):
    """A copy of the digits, so a test can delete samples."""
    return digits.clone(unique_name("deleted"))


def test_samples_deleted_before_export_are_dropped_with_a_note(own_dataset):
    loop = created(own_dataset.name)
    n = tasks.open_round.fn(loop)
    ids = tasks.query_batch.fn(loop, n)
    own_dataset.delete_samples(ids[:2])
    tasks.load_features.fn(loop)
    tasks.export_batch.fn(loop, n)
    tasks.ingest_labels.fn(loop, n)
    summary = tasks.teach_learner.fn(loop, n)
    doc = open_workspace().ledger.round(loop, n)
    assert summary["state"] == "taught" and summary["labelled"] == 18
    assert doc["queried_ids"] == ids[2:] and doc["dropped_ids"] == ids[:2]
    assert "2 samples of this round were deleted" in doc["notes"][0]["note"]
    assert "8 samples remain" in doc["notes"][0]["note"]


def test_samples_deleted_while_out_for_annotation_are_dropped_at_ingest(own_dataset):
    loop = created(own_dataset.name)
    n = advance_to(loop, EXPORTED)
    ids = open_workspace().ledger.round(loop, n)["queried_ids"]
    own_dataset.delete_samples(ids[:1])
    report = tasks.ingest_labels.fn(loop, n)
    assert sorted(report["answered"]) == sorted(ids[1:])
    assert (
        "1 sample of this round was deleted"
        in (open_workspace().ledger.round(loop, n)["notes"][0]["note"])
    )
    assert tasks.teach_learner.fn(loop, n)["labelled"] == 19


def test_a_round_whose_every_sample_was_deleted_fails_and_the_loop_goes_on(own_dataset):
    loop = created(own_dataset.name)
    n = tasks.open_round.fn(loop)
    own_dataset.delete_samples(tasks.query_batch.fn(loop, n))
    with pytest.raises(LedgerError, match=f"failed: all its 10 samples were deleted.*step {loop}"):
        tasks.export_batch.fn(loop, n)
    assert open_workspace().ledger.round(loop, n)["state"] == FAILED
    assert tasks.open_round.fn(loop) == n + 1
