"""Only changed predictions are written back; the feature cache follows the fields and the
sample set, and alflow's own writes of predictions never rebuild it."""

from __future__ import annotations

import numpy as np

import tasks
from alflow import rounds
from alflow.config import naming
from alflow.data import bulk_writes, store
from alflow.data import features as feats
from alflow.learning import learners, predictions, scoring
from alflow.loop.workspace import open_workspace
from alflow.rounds import training
from alflow.services.environment import checkpoints_dir
from tests.helpers import loop_config, unique_name


def test_write_back_writes_only_the_predictions_that_changed(digits, monkeypatch):
    config = loop_config()
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)  # round 0 writes every prediction
    ws = open_workspace()
    state = training.load_learner(ws, config.name, 1)
    written: list[int] = []
    original = bulk_writes.write_predictions
    monkeypatch.setattr(
        bulk_writes,
        "write_predictions",
        lambda d, f, ids, *a, **k: written.append(len(ids)) or original(d, f, ids, *a, **k),
    )
    assert (
        training.write_back_predictions(ws, config, state, 1) == 0 and written == []
    )  # none moved

    fm = ws.features(config)
    truth = dict(zip(digits.values("id"), digits.values("ground_truth.label"), strict=True))
    more = [str(i) for i in fm.ids[:200] if str(i) not in state.training_ids][:40]
    learners.teach(state, fm.take(more), np.asarray([truth[i] for i in more]), more)
    n = training.write_back_predictions(ws, config, state, 1)
    assert 0 < n < len(fm.ids) and sum(written) == n

    now = scoring.Scorer(state.learner, state.classes, 10_000).score(fm)
    stored = store.values_where(digits, {}, naming.prediction_field(config.name))
    by_id = dict(zip(*stored, strict=True))
    rows = [by_id[str(i)] for i in fm.ids]
    fresh = np.asarray([p["round"] == 1 for p in rows])
    assert fresh.sum() == n
    labels = np.asarray([p["label"] for p in rows])
    confidence = np.asarray([p["confidence"] for p in rows])
    np.testing.assert_array_equal(labels, now.labels())  # every label is the current one
    drift = np.abs(confidence - now.confidence)
    threshold = config.scoring.write_back_threshold
    assert (drift[fresh] == 0).all() and (drift[~fresh] < threshold).all()


def test_a_zero_threshold_rewrites_every_prediction(digits):
    config = loop_config(scoring={"write_back_threshold": 0.0})
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    ws = open_workspace()
    state = training.load_learner(ws, config.name, 1)
    assert training.write_back_predictions(ws, config, state, 1) == len(digits)


def test_the_cache_follows_fields_and_samples_but_not_prediction_writes(digits, monkeypatch):
    import fiftyone as fo

    dataset = digits.clone(unique_name("cache"))
    config = loop_config(
        dataset=dataset.name,
        features={"fields": ["pixels"], "standardize": False},
        scoring={"write_back_threshold": 0.0},  # rewrite every prediction, bumping every sample
    )
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    builds: list[int] = []
    original = feats.build_cache
    monkeypatch.setattr(
        feats, "build_cache", lambda d, c, n, s: builds.append(n) or original(d, c, n, s)
    )
    ws = open_workspace()
    first = ws.features(config).path
    state = training.load_learner(ws, config.name, 1)
    assert training.write_back_predictions(ws, config, state, 1) == len(dataset)
    assert open_workspace().features(config).path == first and builds == []

    dataset.set_values("brightness", [float(i % 7) for i in range(len(dataset))])
    wider = config.model_copy(update={"features": feats_config(["pixels", "brightness"])})
    assert open_workspace().features(wider).X.shape == (len(dataset), 65) and len(builds) == 1

    dataset.add_sample(fo.Sample(filepath="/nonexistent/extra.png", pixels=np.zeros(64)))
    grown = open_workspace().features(config)
    assert grown.path != first and len(grown.ids) == 1798 and len(builds) == 2

    dataset.delete_samples(dataset.first())
    shrunk = open_workspace().features(config)
    assert shrunk.path not in (first, grown.path) and len(shrunk.ids) == 1797
    assert len(builds) == 3


def feats_config(fields: list[str]):
    from alflow.config.loop import FeatureConfig

    return FeatureConfig(fields=fields, standardize=False)


def test_the_record_lives_and_dies_with_the_loop(digits):
    config = loop_config()
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    record = checkpoints_dir(config.name) / predictions.RECORD
    assert predictions.load_record(record).codes.min() >= 0
    rounds.delete_loop(open_workspace(), config.name)
    assert not record.exists()


def test_the_write_back_keeps_the_learners_pool_probabilities_for_the_next_query(digits):
    config = loop_config()
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)  # round 0: its write-back keeps them
    ws = open_workspace()
    fm = ws.features(config)
    state = training.load_learner(ws, config.name, 1)
    kept = training.kept_pool_proba(ws, config.name, 1, state, fm.path.name)
    # bit for bit a fresh pass of the same learner: the query's picks cannot change
    np.testing.assert_array_equal(kept, state.learner.predict_proba(np.asarray(fm.X)))
    assert training.kept_pool_proba(ws, config.name, 1, state, "another-cache") is None


def test_rewritten_predictions_keep_their_label_ids_and_a_cleared_one_is_written_whole(digits):
    import fiftyone as fo
    from bson import ObjectId

    config = loop_config(scoring={"write_back_threshold": 0.0})  # every prediction rewritten
    tasks.register_loop.fn(config)
    tasks.fit_initial_learner.fn(config.name)
    ws = open_workspace()
    field = naming.prediction_field(config.name)
    fm = ws.features(config)
    before = dict(zip(*store.values_where(digits, {}, f"{field}._id"), strict=True))
    cleared = str(fm.ids[3])
    store.samples_collection(digits).update_one({"_id": ObjectId(cleared)}, {"$set": {field: None}})
    state = training.load_learner(ws, config.name, 1)
    truth = dict(zip(digits.values("id"), digits.values("ground_truth.label"), strict=True))
    more = [str(i) for i in fm.ids[:200] if str(i) not in state.training_ids][:40]
    learners.teach(state, fm.take(more), np.asarray([truth[i] for i in more]), more)

    stamps = dict(zip(*store.values_where(digits, {}, "last_modified_at"), strict=True))
    assert training.write_back_predictions(ws, config, state, 2) == len(digits)
    # alflow's own bookkeeping leaves FiftyOne's (indexed) modification time alone
    assert dict(zip(*store.values_where(digits, {}, "last_modified_at"), strict=True)) == stamps
    now = scoring.Scorer(state.learner, state.classes, 10_000).score(fm)
    after = dict(zip(*store.values_where(digits, {}, field), strict=True))
    rows = [after[str(i)] for i in fm.ids]
    assert [p["round"] for p in rows] == [2] * len(rows)
    np.testing.assert_array_equal([p["label"] for p in rows], now.labels())
    np.testing.assert_array_equal([p["confidence"] for p in rows], now.confidence)
    kept = {sid for sid, p in after.items() if p["_id"] == before[sid]}
    assert kept == set(before) - {cleared}  # updated in place, by groups of equal values
    assert after[cleared]["_id"] != before[cleared]
    label = digits[cleared][field]  # FiftyOne reads them as its own labels
    assert isinstance(label, fo.Classification) and label.round == 2
    assert label.label == now.labels()[3]
