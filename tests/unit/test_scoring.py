"""Scoring in chunks off the memory-mapped cache gives what one call on the whole matrix gives."""

from __future__ import annotations

import numpy as np
import pytest

from alflow.learning import predictions, scoring
from tests.scoring_cases import cached_matrix, fitted


@pytest.mark.parametrize("kind", ["rf", "lr"])
def test_chunked_scoring_equals_one_call_on_the_whole_matrix(tmp_path, kind):
    fm = cached_matrix(tmp_path)
    model = fitted(kind, fm)
    assert isinstance(fm.X, np.memmap) and isinstance(fm.ids, np.memmap)
    proba = model.predict_proba(np.asarray(fm.X))
    scores = scoring.Scorer(model, model.classes_, chunk_size=97).score(fm)
    np.testing.assert_array_equal(scores.labels(), model.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(scores.confidence, proba.max(axis=1), rtol=1e-12, atol=0)


@pytest.mark.parametrize("rows", [None, np.arange(1_002, -1, -3)])
def test_threads_score_exactly_what_one_thread_scores(tmp_path, rows):
    fm = cached_matrix(tmp_path)
    model = fitted("rf", fm)
    one = scoring.Scorer(model, model.classes_, chunk_size=50, threads=1).score(fm, rows, True)
    three = scoring.Scorer(model, model.classes_, chunk_size=50, threads=3).score(fm, rows, True)
    for a, b in zip(
        [one.codes, one.confidence, one.proba],
        [three.codes, three.confidence, three.proba],
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    taken = one.take(np.array([4, 0]))
    assert taken.labels().tolist() == one.labels(np.array([4, 0])).tolist()
    np.testing.assert_array_equal(taken.proba, one.proba[[4, 0]])


def test_scoring_chosen_rows_follows_their_order(tmp_path):
    fm = cached_matrix(tmp_path)
    model = fitted("rf", fm)
    rows = np.array([900, 3, 3, 512, 0])
    scores = scoring.Scorer(model, model.classes_, chunk_size=2).score(fm, rows)
    proba = model.predict_proba(np.asarray(fm.X[rows]))
    np.testing.assert_array_equal(scores.labels(), model.classes_[proba.argmax(axis=1)])


def scores_of(codes, confidence, classes=("a", "b")) -> scoring.Scores:
    return scoring.Scores(tuple(classes), np.asarray(codes, np.int32), np.asarray(confidence))


def test_only_new_labels_and_moved_confidences_count_as_changed():
    before = predictions.after_write(None, scores_of([0, 1, 0, 1], [0.9, 0.8, 0.7, 0.6]), "k", None)
    now = scores_of([0, 0, 0, 1], [0.904, 0.8, 0.695, 0.59])
    changed = predictions.changed_rows(before, now, "k", threshold=0.005)
    assert changed.tolist() == [False, True, True, True]  # 0.004 < 0.005 <= 0.005, 0.01


def test_a_slow_drift_is_written_once_it_adds_up_to_the_threshold():
    record = predictions.after_write(None, scores_of([0], [0.900]), "k", None)
    for confidence, expected in ((0.903, False), (0.906, True)):
        now = scores_of([0], [confidence])
        changed = predictions.changed_rows(record, now, "k", threshold=0.005)
        assert changed.tolist() == [expected]
        record = predictions.after_write(record, now, "k", changed)
    assert record.confidence.tolist() == [0.906]


def test_another_cache_or_new_classes_are_compared_by_name():
    record = predictions.after_write(None, scores_of([1, 0], [0.9, 0.9], ("a", "b")), "k", None)
    grown = scores_of([2, 1], [0.9, 0.9], ("a", "a2", "b"))  # same labels, new class index
    assert predictions.changed_rows(record, grown, "k", 0.005).tolist() == [False, True]
    assert predictions.changed_rows(record, grown, "other-cache", 0.005).all()


def test_the_record_survives_a_save_and_load(tmp_path):
    record = predictions.after_write(None, scores_of([1, 0], [0.75, 0.5]), "key", None)
    predictions.save_record(tmp_path / predictions.RECORD, record)
    loaded = predictions.load_record(tmp_path / predictions.RECORD)
    assert loaded.cache == "key" and loaded.classes == ("a", "b")
    np.testing.assert_array_equal(loaded.codes, record.codes)
    np.testing.assert_array_equal(loaded.confidence, record.confidence)
