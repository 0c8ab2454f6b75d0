"""Semi-supervised learners through the real round steps: held-out labels, rollback, re-include."""

from __future__ import annotations

import numpy as np

import tasks
from alflow import rounds
from alflow.data import store
from alflow.demo import data as demo_data
from alflow.learning import learners
from alflow.loop.workspace import open_workspace
from tests.helpers import loop_config

LS = {"kind": "label_spreading", "n_neighbors": 7}


def run_round(loop: str) -> int:
    n = tasks.open_round.fn(loop)
    for step in (tasks.query_batch, tasks.export_batch, tasks.ingest_labels, tasks.teach_learner):
        step.fn(loop, n)
    return n


def _loop(rounds_to_run: int = 1, **overrides):
    config = loop_config(estimator=LS, **overrides)
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    for _ in range(rounds_to_run):
        run_round(config.name)
    return config


def _latest(ws, loop: str) -> learners.LearnerState:
    doc = ws.ledger.rounds(loop)[-1]
    return learners.load_checkpoint(doc["checkpoint"]["path"], doc["checkpoint"]["sha256"])


def _proba_everywhere(ws, config) -> np.ndarray:
    return _latest(ws, config.name).learner.predict_proba(np.asarray(ws.features(config).X))


def test_changing_every_held_out_label_leaves_the_fit_unchanged(digits):
    ws = open_workspace()
    first = _loop()
    held_out = rounds.eval_ids(digits, first.name)
    expected = _proba_everywhere(ws, first)
    field = f"{demo_data.GROUND_TRUTH}.label"
    truth = dict(zip(held_out, store.read_values(digits, field, held_out), strict=True))
    wrong = {sid: str((int(label) + 1) % 10) for sid, label in truth.items()}
    digits.set_values(field, wrong, key_field="id")
    try:
        second = _loop()
        assert rounds.eval_ids(digits, second.name) == held_out  # the same split
        np.testing.assert_array_equal(_proba_everywhere(ws, second), expected)
        accuracy = [ws.ledger.rounds(c.name)[-1]["metrics"]["accuracy"] for c in (first, second)]
        assert accuracy[1] < 0.2 < accuracy[0]  # the labels did change: evaluation sees them
    finally:
        digits.set_values(field, truth, key_field="id")


def test_the_round_pool_is_every_sample_but_the_held_out_ones(digits):
    ws = open_workspace()
    config = _loop(rounds_to_run=0)
    state = _latest(ws, config.name)
    (model,) = learners.semi_supervised_models(state.learner)
    fm = ws.features(config)
    held_out = set(rounds.eval_ids(digits, config.name))
    pool_ids = {str(i) for i in fm.ids[model.pool.mask]}
    assert not pool_ids & held_out and not pool_ids & set(state.training_ids)
    assert len(pool_ids) == len(fm.ids) - len(held_out) - state.n_labels


def test_rollback_and_reinclude_with_label_spreading(digits):
    ws = open_workspace()
    config = _loop(rounds_to_run=2)
    round_1 = learners.load_checkpoint(ws.ledger.round(config.name, 1)["checkpoint"]["path"])
    X = np.asarray(ws.features(config).X)
    rolled = rounds.rollback(ws, config.name, 1)
    state = _latest(ws, config.name)
    assert rolled["excluded"] == 10 and state.training_ids == round_1.training_ids
    np.testing.assert_array_equal(state.learner.predict_proba(X), round_1.learner.predict_proba(X))
    back = rounds.reinclude(ws, config.name, [2])
    final = _latest(ws, config.name)
    (model,) = learners.semi_supervised_models(final.learner)
    assert back["labelled"] == 30 and len(set(final.training_ids)) == 30
    fm = ws.features(config)
    assert not set(final.training_ids) & {str(i) for i in fm.ids[model.pool.mask]}
    n = run_round(config.name)  # the loop goes on from the re-included learner
    assert ws.ledger.round(config.name, n)["metrics"]["labelled"] == 40
