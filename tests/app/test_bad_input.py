"""Bad input in the App: a warning or blocking error in the form, or one line from execute."""

from __future__ import annotations

import numpy as np
import pytest

from tests.app.operators import errors_of, execute, form_params, resolve_input
from tests.helpers import unique_name

pytestmark = pytest.mark.usefixtures("prefect_server", "plugin_dir")


def small_dataset(**fields):
    """A throwaway dataset of 12 samples with the given per-sample field values."""
    import fiftyone as fo

    dataset = fo.Dataset(unique_name("bad"))
    samples = []
    for i in range(12):
        sample = fo.Sample(filepath=f"/nowhere/{i}.png")
        for name, values in fields.items():
            sample[name] = values[i]
        samples.append(sample)
    dataset.add_samples(samples)
    return dataset


def test_a_dataset_without_features_or_labels_says_what_to_add():
    dataset = small_dataset(note=["x"] * 12)
    form = resolve_input("create_learner", dataset, name="no-features")
    problems = errors_of(form)
    assert "compute embeddings" in problems["no_features"]
    assert "label a few samples" in form.type.properties["no_labels"].view.label


def test_nan_features_fail_with_one_line_naming_field_and_samples():
    import fiftyone as fo

    vectors = [np.array([float(i), 1.0]) for i in range(12)]
    vectors[3] = np.array([np.nan, 1.0])
    labels = [fo.Classification(label="ab"[i % 2]) if i < 4 else None for i in range(12)]
    dataset = small_dataset(emb=vectors, seed=labels)
    params = {
        "name": unique_name("nan"),
        "features": {"fields": ["emb"]},
        "initial_labels": {"kind": "field", "field": "seed"},
        "strategy": {"name": "margin"},
    }
    assert not errors_of(resolve_input("create_learner", dataset, **params))
    result = execute("create_learner", dataset, **params).result
    assert "emb" in result["error"] and dataset.skip(3).first().id in result["error"]
    assert "\n" not in result["error"] and "Traceback" not in result["error"]


def test_update_with_nothing_in_flight_and_query_with_a_round_out(digits):
    loop = unique_name("nothing")
    execute("create_learner", digits, **form_params(loop))
    problems = errors_of(resolve_input("update_learner_predictions", digits, loop=loop))
    assert "no round to update yet: query a batch first" in problems["nothing"]
    first = execute("query_learner", digits, loop=loop).result
    form = resolve_input("query_learner", digits, loop=loop)
    assert "Round 1 is already waiting" in form.type.properties["in_flight"].view.label
    again = execute("query_learner", digits, loop=loop).result
    assert again["already_in_flight"] and again["sample_ids"] == first["sample_ids"]


def test_an_app_on_another_database_is_refused_naming_both(digits, monkeypatch):
    from alflow.loop.workspace import open_workspace

    ws = open_workspace()
    if not ws.ledger.loop_exists("env-check"):
        ws.ledger.create_loop("env-check", {"dataset": digits.name}, {})
    monkeypatch.setenv("FIFTYONE_DATABASE_URI", "mongodb://127.0.0.1:1")
    try:
        result = execute("loop_status", digits, loop="env-check").result
    finally:
        ws.ledger.delete_loop("env-check")  # a bare record must not reach other tests
    assert "this FiftyOne App uses the database mongodb://" in result["error"]
    assert "alflow's CLI uses mongodb://127.0.0.1:1" in result["error"]
