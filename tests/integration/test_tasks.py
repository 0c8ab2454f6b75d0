"""Task bodies via ``.fn()`` on the real FiftyOne database, without a Prefect run."""

import fiftyone as fo
import numpy as np
import pytest

import tasks
from alflow.config import naming
from alflow.errors import ConfigError, DatasetError, LabelError, LedgerError, PoolExhaustedError
from alflow.loop.workspace import open_workspace
from tests.helpers import loop_config, unique_name


@pytest.fixture
def created(digits):
    config = loop_config()
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    return config


def test_register_writes_split_and_initial_labels_with_provenance(digits, created):
    name = created.name
    split = digits.count_values(naming.split_field(name))
    assert split["eval"] == round(0.2 * len(digits))
    assert split["pool"] == len(digits) - split["eval"]
    labelled = digits.exists(naming.label_field(name))
    assert len(labelled) == 10
    sample = labelled.first()[naming.label_field(name)]
    assert sample.source == "initial:field 'seed_labels'" and sample.round == 0
    assert sample.label == labelled.first()["ground_truth"].label
    assert not set(labelled.values("id")) & set(
        digits.match({naming.split_field(name): "eval"}).values("id")
    )


def test_round_zero_is_taught_with_checkpoint_and_metrics(created):
    doc = open_workspace().ledger.round(created.name, 0)
    assert doc["state"] == "taught"
    assert doc["checkpoint"]["sha256"] and doc["metrics"]["labelled"] == 10
    assert 0.3 < doc["metrics"]["accuracy"] < 1.0


def test_a_round_through_task_bodies(digits, created):
    name = created.name
    n = tasks.open_round.fn(name)
    assert n == 1
    ids = tasks.query_batch.fn(name, n)
    assert len(ids) == 10
    assert tasks.query_batch.fn(name, n) == ids  # idempotent: no second query
    assert tasks.open_round.fn(name) == n  # the round in flight is reused
    ref = tasks.export_batch.fn(name, n)
    assert ref["kind"] == "oracle" and ref["ref"]["sample_ids"] == ids
    assert tasks.check_progress.fn(name, n)["finished"]
    report = tasks.ingest_labels.fn(name, n)
    assert sorted(report["answered"]) == sorted(ids)
    labels = digits.select(ids, ordered=True).values(naming.label_field(name))
    truth = digits.select(ids, ordered=True).values("ground_truth.label")
    assert [lab.label for lab in labels] == truth
    assert {lab.source for lab in labels} == {"oracle"} and {lab.round for lab in labels} == {1}
    summary = tasks.teach_learner.fn(name, n)
    assert summary["state"] == "taught" and summary["labelled"] == 20
    preds = digits.values(naming.prediction_field(name))
    assert all(p is not None and p.round in (0, 1) and 0 < p.confidence <= 1 for p in preds)
    assert any(p.round == 1 for p in preds)  # those that changed; the rest keep round 0's


def test_queried_samples_are_never_labelled_held_out_or_queued(digits, created):
    ws = open_workspace()
    name = created.name
    eval_ids = set(digits.match({naming.split_field(name): "eval"}).values("id"))
    seen: set[str] = set(digits.exists(naming.label_field(name)).values("id"))
    for _ in range(3):
        n = tasks.open_round.fn(name)
        ids = set(tasks.query_batch.fn(name, n))
        assert not ids & eval_ids and not ids & seen
        seen |= ids
        tasks.export_batch.fn(name, n)
        tasks.ingest_labels.fn(name, n)
        tasks.teach_learner.fn(name, n)
    assert ws.ledger.loop(name)["last_round"] == 3


def test_reteaching_a_taught_round_changes_nothing(created):
    name = created.name
    n = tasks.open_round.fn(name)
    for step in (tasks.query_batch, tasks.export_batch, tasks.ingest_labels, tasks.teach_learner):
        step.fn(name, n)
    ws = open_workspace()
    before = ws.ledger.round(name, n)
    assert tasks.ingest_labels.fn(name, n) == before["ingest"]
    assert tasks.teach_learner.fn(name, n)["labelled"] == 20
    after = ws.ledger.round(name, n)
    assert after["checkpoint"] == before["checkpoint"]
    assert after["history"] == before["history"]
    assert len(ws.ledger.rounds(name)) == 2


def test_pool_exhaustion_names_the_numbers(digits, created):
    name = created.name
    n = tasks.open_round.fn(name)
    with pytest.raises(
        PoolExhaustedError,
        match=r"pool exhausted: \d+ unlabelled samples left, "
        r"5000 requested; lower batch_size",
    ):
        tasks.query_batch.fn(name, n, 5000)


def test_cancel_returns_samples_to_the_pool(created):
    name = created.name
    n = tasks.open_round.fn(name)
    ids = tasks.query_batch.fn(name, n)
    tasks.cancel_round.fn(name, n)
    assert open_workspace().ledger.round(name, n)["state"] == "cancelled"
    n2 = tasks.open_round.fn(name)
    assert n2 == n + 1
    from alflow.rounds import queued_ids

    assert not set(ids) & queued_ids(open_workspace(), name)


# ----------------------------------------------------------------------------- bad input
def test_unknown_dataset_is_named(digits):
    with pytest.raises(DatasetError, match=r"dataset 'no-such-data' does not exist.*alflow-digits"):
        tasks.register_loop.fn(loop_config(dataset="no-such-data"))


def test_missing_feature_field_is_named(digits):
    config = loop_config(features={"fields": ["pixels", "embedding"]})
    with pytest.raises(DatasetError, match=r"no feature field 'embedding'.*fields present"):
        tasks.register_loop.fn(config)
    assert not open_workspace().ledger.loop_exists(config.name)


def test_bad_loop_name_is_refused_before_anything_is_written(digits):
    with pytest.raises(ConfigError, match="naming rule"):
        from alflow.config.loop import parse_loop_config

        parse_loop_config({**loop_config().model_dump(), "name": "Bad Name"})


def test_no_initial_labels_is_refused(digits):
    field = unique_name("empty").replace("-", "_")
    digits.add_sample_field(field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification)
    config = loop_config(initial_labels={"kind": "field", "field": field})
    with pytest.raises(LabelError, match="no initial labels.*cold-start"):
        tasks.register_loop.fn(config)
    assert not open_workspace().ledger.loop_exists(config.name)


def test_fewer_than_two_classes_is_refused(digits):
    field = unique_name("one").replace("-", "_")
    ids = digits.take(3, seed=1).values("id")
    digits.set_values(field, {i: fo.Classification(label="7") for i in ids}, key_field="id")
    with pytest.raises(LabelError, match=r"only 1 class \('7'\) on 3 samples"):
        tasks.register_loop.fn(loop_config(initial_labels={"kind": "field", "field": field}))


def test_conflicting_class_tags_are_refused_with_sample_ids(digits):
    ids = digits.take(2, seed=3).values("id")
    view = digits.select(ids)
    view.tag_samples(["cat", "dog"])
    try:
        config = loop_config(initial_labels={"kind": "tags", "classes": ["cat", "dog"]})
        with pytest.raises(LabelError) as info:
            tasks.register_loop.fn(config)
        assert all(i in str(info.value) for i in ids)
    finally:
        view.untag_samples(["cat", "dog"])


def test_tag_labels_start_a_loop(digits):
    truth = np.asarray(digits.values("ground_truth.label"))
    ids = np.asarray(digits.values("id"))
    picked = {str(ids[truth == c][0]): c for c in ("3", "8")}
    for sid, c in picked.items():
        digits.select(sid).tag_samples(f"digit-{c}")
    config = loop_config(initial_labels={"kind": "tags", "classes": ["digit-3", "digit-8"]})
    result = tasks.register_loop.fn(config)
    assert result["initial_labels"] == 2 and result["classes"] == ["digit-3", "digit-8"]


def test_teach_before_ingest_is_refused(created):
    n = tasks.open_round.fn(created.name)
    tasks.query_batch.fn(created.name, n)
    with pytest.raises(LedgerError, match="ingest it before teaching"):
        tasks.teach_learner.fn(created.name, n)


def test_cold_start_loop_starts_from_zero_labels(digits):
    config = loop_config(initial_labels=None, strategy={"name": "typiclust"})
    result = tasks.register_loop.fn(config)
    assert result["initial_labels"] == 0
    round_0 = tasks.fit_initial_learner.fn(config.name)
    assert round_0["labelled"] == 0 and round_0["accuracy"] is None
    n = tasks.open_round.fn(config.name)
    ids = tasks.query_batch.fn(config.name, n)
    assert len(set(ids)) == 10
    batch_ref = tasks.export_batch.fn(config.name, n)
    assert set(batch_ref["ref"]["predicted"].values()) == {None}  # no model yet: no guesses
    tasks.ingest_labels.fn(config.name, n)
    summary = tasks.teach_learner.fn(config.name, n)
    assert summary["labelled"] == 10 and 0.0 < summary["accuracy"] <= 1.0
    assert open_workspace().ledger.round(config.name, n)["checkpoint"]["sha256"]


def test_eval_tag_holds_out_a_predefined_split(digits):
    ids = digits.take(50, seed=11).values("id")
    digits.select(ids).tag_samples("holdout-x")
    try:
        config = loop_config(eval_tag="holdout-x")
        tasks.register_loop.fn(config)
        held = set(digits.match({naming.split_field(config.name): "eval"}).values("id"))
        labelled = set(digits.exists(naming.label_field(config.name)).values("id"))
        assert held == set(ids) - labelled
        summary = tasks.fit_initial_learner.fn(config.name)
        assert 0.0 < summary["accuracy"] <= 1.0  # measured on the tagged samples
    finally:
        digits.untag_samples("holdout-x")
