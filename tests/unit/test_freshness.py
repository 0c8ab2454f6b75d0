"""Feature values changed in place are noticed; alflow's own writes are not mistaken for them."""

from __future__ import annotations

import numpy as np

import tasks
from alflow import freshness, store
from alflow.workspace import open_workspace
from tests.helpers import loop_config, unique_name


def test_the_filter_skips_own_write_windows_and_needs_a_mark():
    assert freshness.modified_filter({"mark": None, "own_writes": []}) is None
    state = {
        "mark": "2026-12-01T09:00:00+00:00",
        "own_writes": [["2026-12-01T09:01:00+00:00", "2026-12-01T09:02:00+00:00"]],
    }
    query = freshness.modified_filter(state)
    assert "$gt" in query["last_modified_at"] and len(query["$nor"]) == 1


def test_row_digests_tell_rows_apart():
    a = freshness.row_digests(np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.5]]))
    assert a[0] == a[1] != a[2]


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
    original = store.modified_ids
    monkeypatch.setattr(
        store, "modified_ids", lambda d, q: seen.append(len(r := original(d, q))) or r
    )
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
