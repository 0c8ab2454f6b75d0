"""The write-back's probabilities, kept for the next query: only ever the same learner's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from alflow.data.features import FeatureMatrix
from alflow.learning import pool_scores, scoring
from alflow.strategies.pool import PoolRows, pool_proba


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ALFLOW_HOME", str(tmp_path))


def test_kept_probabilities_come_back_only_for_the_same_checkpoint_cache_and_classes():
    proba = np.random.default_rng(0).random((5, 3))
    pool_scores.save("l", 2, "sha-2", "cache-a", ["a", "b", "c"], proba)
    np.testing.assert_array_equal(
        pool_scores.load("l", 2, "sha-2", "cache-a", ["a", "b", "c"]), proba
    )
    assert pool_scores.load("l", 2, "sha-other", "cache-a", ["a", "b", "c"]) is None
    assert pool_scores.load("l", 2, "sha-2", "cache-b", ["a", "b", "c"]) is None
    assert pool_scores.load("l", 2, "sha-2", "cache-a", ["a", "c", "b"]) is None
    assert pool_scores.load("l", 1, "sha-2", "cache-a", ["a", "b", "c"]) is None

    pool_scores.save("l", 3, "sha-3", "cache-a", ["a", "b", "c"], proba)
    assert pool_scores.load("l", 2, "sha-2", "cache-a", ["a", "b", "c"]) is None  # replaced


def test_too_many_values_are_not_kept():
    assert pool_scores.worth_keeping(1_000_000, 10)
    assert not pool_scores.worth_keeping(1_000_000, 1_000)


def _model():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.asarray(["a", "b", "c"] * 20)
    return LogisticRegression().fit(X + (y == "b")[:, None] * 2, y), X


def test_a_scorer_keeps_exactly_the_learners_probabilities(tmp_path):
    model, X = _model()
    ids = np.asarray([str(i) for i in range(len(X))])
    fm = FeatureMatrix(path=tmp_path, ids=ids, X=X, order=np.argsort(ids))
    scores = scoring.Scorer(model, model.classes_, chunk_size=7).score(fm, keep_proba=True)
    np.testing.assert_array_equal(scores.proba, model.predict_proba(X))
    assert scoring.Scorer(model, model.classes_, chunk_size=7).score(fm).proba is None


def test_a_pool_that_carries_probabilities_is_not_scored_again(monkeypatch):
    model, X = _model()
    rows = np.arange(10, 50)
    kept = model.predict_proba(X)[rows]
    monkeypatch.setattr(model, "predict_proba", lambda X: pytest.fail("scored again"))
    np.testing.assert_array_equal(pool_proba(model, PoolRows(X, rows, kept), "margin"), kept)


def test_semi_supervised_learners_keep_none():
    from alflow.config.estimators import LogisticRegressionConfig
    from alflow.config.semi_supervised import LabelSpreadingConfig

    assert pool_scores.exact_after_load(LogisticRegressionConfig())
    assert not pool_scores.exact_after_load(LabelSpreadingConfig())  # rebuilt when loaded
