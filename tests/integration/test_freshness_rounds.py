"""Feature values changed in place are noticed; alflow's own writes are not mistaken for them."""

from __future__ import annotations

import numpy as np

import tasks
from alflow.data import store
from alflow.loop.workspace import open_workspace
from tests.helpers import loop_config, unique_name


def test_an_in_place_change_after_a_round_is_detected_and_the_rounds_writes_are_not(
    digits, monkeypatch
):
    dataset = digits.clone(unique_name("fresh"))
    config = loop_config(
        dataset=dataset.name, features={"fields": ["pixels"], "standardize": False}
    )
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    n = tasks.open_round.fn(config.name)
    for step in (tasks.query_batch, tasks.export_batch, tasks.ingest_labels, tasks.teach_learner):
        step.fn(config.name, n)  # teach rewrote the prediction of every sample
    ws = open_workspace()
    seen: list[int] = []
    original = store.ids_where
    monkeypatch.setattr(store, "ids_where", lambda d, q: seen.append(len(r := original(d, q))) or r)
    before = ws.features(config)
    assert seen and seen[-1] <= 10  # at most the round's new labels are read again, not 1797
    assert ws.features(config).path == before.path and seen[-1] == 0  # and then nothing

    sample = dataset.first()
    changed = np.asarray(sample["pixels"], dtype=float) + 1.0
    sample["pixels"] = changed
    sample.save()
    after = ws.features(config)
    np.testing.assert_allclose(after.take([sample.id])[0], changed)
    assert seen[-1] == 1


def test_a_loop_deleted_and_created_again_does_not_read_its_features_again(digits, monkeypatch):
    dataset = digits.clone(unique_name("recreated"))
    config = loop_config(dataset=dataset.name)
    tasks.register_loop.fn(config)
    ws = open_workspace()
    cached = ws.features(config).path
    from alflow import rounds

    rounds.delete_loop(ws, config.name)  # clears the loop's fields on every sample
    seen: list[int] = []
    original = store.ids_where
    monkeypatch.setattr(store, "ids_where", lambda d, q: seen.append(len(r := original(d, q))) or r)
    tasks.register_loop.fn(config)
    assert open_workspace().features(config).path == cached
    assert seen and max(seen) == 0  # the deletion's writes were alflow's own: nothing re-read
