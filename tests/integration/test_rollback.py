"""Rollback never deletes a human label, never reuses a round number, and can be undone."""

import pytest

import tasks
from alflow import rounds
from alflow.config import naming
from alflow.errors import LedgerError
from alflow.learning import learners
from alflow.loop.workspace import open_workspace
from tests.helpers import loop_config


def run_round(loop: str) -> int:
    n = tasks.open_round.fn(loop)
    for step in (tasks.query_batch, tasks.export_batch, tasks.ingest_labels, tasks.teach_learner):
        step.fn(loop, n)
    return n


def labels_of(dataset, loop):
    field = naming.label_field(loop)
    view = dataset.exists(field)
    return {
        i: (c.label, c.round, c.excluded)
        for i, c in zip(view.values("id"), view.values(field), strict=True)
    }


def test_rollback_keeps_every_label_and_the_history(digits):
    config = loop_config()
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    run_round(config.name)
    run_round(config.name)
    ws = open_workspace()
    before = labels_of(digits, config.name)
    round_2_ids = {i for i, (_, r, _) in before.items() if r == 2}

    result = rounds.rollback(ws, config.name, 1)
    assert result["round"] == 3 and result["excluded"] == 10
    after = labels_of(digits, config.name)
    assert set(after) == set(before)  # nothing deleted
    assert {i for i, (_, _, x) in after.items() if x} == round_2_ids
    assert all(after[i][0] == before[i][0] for i in before)  # labels themselves unchanged
    doc = ws.ledger.round(config.name, 3)
    assert doc["kind"] == "rollback" and doc["rolled_back_to"] == 1
    state = learners.load_checkpoint(doc["checkpoint"]["path"])
    round_1 = learners.load_checkpoint(ws.ledger.round(config.name, 1)["checkpoint"]["path"])
    assert state.training_ids == round_1.training_ids
    assert [d["round"] for d in ws.ledger.rounds(config.name)] == [0, 1, 2, 3]

    n = run_round(config.name)
    assert n == 4
    queried = set(ws.ledger.round(config.name, 4)["queried_ids"])
    assert not queried & round_2_ids  # excluded human labels are never re-queried

    back = rounds.reinclude(ws, config.name, [2])
    assert back["round"] == 5
    assert not any(x for _, _, x in labels_of(digits, config.name).values())
    final = learners.load_checkpoint(ws.ledger.round(config.name, 5)["checkpoint"]["path"])
    assert round_2_ids <= set(final.training_ids)
    assert len(final.training_ids) == len(set(final.training_ids)) == 40


def test_rollback_refuses_while_a_round_is_in_flight(digits):
    config = loop_config()
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    n = tasks.open_round.fn(config.name)
    tasks.query_batch.fn(config.name, n)
    with pytest.raises(LedgerError, match="in flight.*end it.*alflow round cancel"):
        rounds.rollback(open_workspace(), config.name, 0)


def test_raising_stop_rules_reopens_a_done_loop(digits):
    config = loop_config(stop={"max_rounds": 1})
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    run_round(config.name)
    ws = open_workspace()
    assert ws.ledger.loop(config.name)["status"] == "done"
    with pytest.raises(LedgerError, match="is done.*stop-rules"):
        tasks.open_round.fn(config.name)
    result = rounds.update_stop_rules(ws, config.name, max_rounds=2)
    assert result["status"] == "active" and ws.config(config.name).stop.max_rounds == 2
    run_round(config.name)
    assert ws.ledger.loop(config.name)["done_reason"] == "maximum rounds reached (2)"
