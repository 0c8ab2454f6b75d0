"""Loop creation validates everything before it writes, and leaves nothing when it fails."""

from __future__ import annotations

import fiftyone as fo
import numpy as np
import pytest

import tasks
from alflow import rounds
from alflow.config import naming
from alflow.data import store
from alflow.errors import AlflowError, DatasetError, FeatureError, LabelError, LedgerError
from alflow.loop.workspace import open_workspace
from alflow.services.environment import checkpoints_dir
from tests.helpers import loop_config, unique_name

GOOD = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9], [0.9, 0.1], [0.4, 0.6]]


def small_dataset(features=GOOD, classes=("a", "b", "a", "b", "a", "b"), seeds=(0, 1)):
    """Six samples with a feature field ``emb``, ground truth and initial labels on ``seeds``."""
    dataset = fo.Dataset(unique_name("create-ds"))
    samples = []
    for i, (vector, label) in enumerate(zip(features, classes, strict=True)):
        sample = fo.Sample(filepath=f"/nonexistent/{i}.png", gt=fo.Classification(label=label))
        if vector is not None:
            sample["emb"] = vector
        if i in seeds:
            sample["seed"] = fo.Classification(label=label)
        samples.append(sample)
    dataset.add_samples(samples)
    if all(v is None for v in features):
        dataset.add_sample_field("emb", fo.ListField)
    if not seeds:
        dataset.add_sample_field(
            "seed", fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification
        )
    return dataset


def config_for(dataset, **overrides):
    data = {
        "dataset": dataset.name,
        "features": {"fields": ["emb"]},
        "initial_labels": {"kind": "field", "field": "seed"},
        "ground_truth_field": "gt",
        "eval_fraction": 0.0,
        "batch_size": 1,
        **overrides,
    }
    return loop_config(**data)


def assert_nothing_left(dataset, name: str) -> None:
    assert not open_workspace().ledger.loop_exists(name)
    assert open_workspace().ledger.rounds(name) == []
    dataset.reload()
    assert not set(naming.loop_fields(name)) & set(dataset.get_field_schema())
    assert list(checkpoints_dir(name).iterdir()) == []


BAD = {
    "NaN": (
        FeatureError,
        "NaN or infinite values on 1 sample",
        {"features": [*GOOD[:5], [np.nan, 1.0]]},
    ),
    "inf": (FeatureError, "NaN or infinite", {"features": [[np.inf, 0.0], *GOOD[1:]]}),
    "missing": (
        FeatureError,
        "is missing on 1 sample ",
        {"features": [*GOOD[:3], None, *GOOD[4:]]},
    ),
    "ragged": (FeatureError, "ragged vectors", {"features": [*GOOD[:5], [1.0, 2.0, 3.0]]}),
    "text": (
        FeatureError,
        "text instead of numbers",
        {"features": ["0.5", "1", "2", "3", "4", "5"]},
    ),
    "one class": (LabelError, "only 1 class", {"seeds": (0, 2)}),
    "no labels": (LabelError, "no initial labels", {"seeds": ()}),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_failed_validation_writes_nothing(fo_db, case):
    error, message, data = BAD[case]
    dataset = small_dataset(**data)
    config = config_for(dataset)
    with pytest.raises(error, match=message):
        tasks.register_loop.fn(config)
    assert_nothing_left(dataset, config.name)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"features": {"fields": ["nope"]}}, "no feature field 'nope'"),
        ({"ground_truth_field": "nope"}, "no ground-truth field 'nope'"),
        ({"initial_labels": {"kind": "field", "field": "nope"}}, "no initial-label field"),
    ],
)
def test_a_missing_field_writes_nothing(fo_db, overrides, message):
    dataset = small_dataset()
    config = config_for(dataset, **overrides)
    with pytest.raises(DatasetError, match=message):
        tasks.register_loop.fn(config)
    assert_nothing_left(dataset, config.name)


def test_a_failure_while_fields_are_written_removes_the_loop(fo_db, monkeypatch):
    dataset = small_dataset()
    config = config_for(dataset)

    def broken(*args, **kwargs):
        raise OSError("connection reset")

    monkeypatch.setattr(store, "write_labels", broken)
    with pytest.raises(OSError, match="connection reset"):
        tasks.register_loop.fn(config)
    assert_nothing_left(dataset, config.name)


def test_a_retried_register_is_idempotent_and_a_half_loop_never_steps(fo_db):
    dataset = small_dataset()
    config = config_for(dataset, eval_fraction=0.0)
    first = tasks.register_loop.fn(config)  # ... and the process dies before round 0
    ws = open_workspace()
    assert ws.ledger.loop(config.name)["status"] == "creating"
    with pytest.raises(LedgerError, match="not completely created.*loop create.*again"):
        tasks.open_round.fn(config.name)
    assert rounds.readiness(ws, config.name) == (False, "loop is creating")
    assert tasks.register_loop.fn(config) == first  # the retry (or the next create) starts over
    assert len(rounds.labelled(dataset, config.name)) == 2
    tasks.fit_initial_learner.fn(config.name)
    assert ws.ledger.loop(config.name)["status"] == "active"
    assert tasks.open_round.fn(config.name) == 1
    with pytest.raises(LedgerError, match="already exists"):
        tasks.register_loop.fn(config)  # a complete loop is never replaced by accident


def test_discarding_keeps_a_complete_loop(digits):
    config = loop_config()
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    assert tasks.discard_unfinished_loop.fn(config.name) is False
    assert open_workspace().ledger.loop(config.name)["status"] == "active"


def test_every_validation_error_is_an_alflow_error():
    assert all(issubclass(error, AlflowError) for error, _, _ in BAD.values())
