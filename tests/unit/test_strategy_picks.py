"""The rewritten strategies pick what they picked before, and ranked batch what modAL picks."""

from __future__ import annotations

import functools
import json
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
from modAL.batch import uncertainty_batch_sampling
from modAL.models import ActiveLearner
from sklearn.datasets import load_digits, make_blobs, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from alflow import strategies as st
from alflow.errors import ConfigError
from alflow.state import versions
from alflow.strategies import gradients
from tests.fixtures.make_strategy_picks import batches

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_every_strategy_picks_the_batches_it_picked_before_the_rewrite():
    """``strategy_picks_v1.json`` was written by the single-module strategies (commit 21e7237),
    before ranked batch, BADGE, TypiClust and the committees were rewritten for large pools."""
    before = json.loads((FIXTURES / "strategy_picks_v1.json").read_text())
    now = batches()
    assert len(now) == len(before)
    for old, new in zip(before, now, strict=True):
        where = {k: old[k] for k in ("strategy", "estimator", "per_class", "seed")}
        assert {k: new[k] for k in where} == where
        assert new["indices"] == old["indices"], where
        np.testing.assert_allclose(new["scores"], old["scores"], rtol=1e-9, err_msg=str(where))


# ------------------------------------------------------------------- ranked batch and modAL


def _digits_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits in float64, whose integer pixels make many distances tie exactly."""
    X, y = load_digits(return_X_y=True)
    rows = np.random.default_rng(seed).choice(len(X), 15 + 25 * seed, replace=False)
    return X, y, rows


def _blobs_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous float32 features of another shape (more samples, fewer dims)."""
    X, y = make_blobs(n_samples=1500, n_features=7, centers=4, random_state=seed)
    rows = np.random.default_rng(seed).choice(len(X), 8 + 40 * seed, replace=False)
    return X.astype(np.float32), y, rows


def _wide_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Few samples, many dims, float32 pool against float64 labels (a cast on the way)."""
    X, y = make_classification(n_samples=300, n_features=120, n_informative=10, random_state=seed)
    rows = np.random.default_rng(seed).choice(len(X), 30, replace=False)
    return X.astype(np.float32), y, rows


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", [_digits_case, _blobs_case, _wide_case])
@pytest.mark.parametrize("estimator", ["lr", "rf"])
def test_ranked_batch_picks_what_modals_ranked_batch_picks(case, seed, estimator):
    X, y, rows = case(seed)
    model = (
        LogisticRegression(max_iter=300)
        if estimator == "lr"
        else RandomForestClassifier(n_estimators=10, random_state=seed)
    )
    X_train = X[rows].astype(np.float64) if case is _wide_case else X[rows]
    learner = ActiveLearner(model, X_training=X_train, y_training=y[rows])
    pool = np.delete(X, rows, axis=0)
    n = 12
    theirs, their_scores = uncertainty_batch_sampling(learner, pool, n_instances=n)
    ours, our_scores = st.ranked_batch_sampling(learner, pool, n_instances=n, random_state=0)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_allclose(our_scores, their_scores, rtol=1e-12)


def test_ranked_batch_takes_the_whole_pool_in_modals_order():
    X, y = make_blobs(n_samples=25, n_features=3, centers=3, random_state=4)
    learner = ActiveLearner(LogisticRegression(), X_training=X[:10], y_training=y[:10])
    theirs, _ = uncertainty_batch_sampling(learner, X[10:], n_instances=15)
    ours, _ = st.ranked_batch_sampling(learner, X[10:], n_instances=15)
    np.testing.assert_array_equal(ours, theirs)


def test_ranked_batch_refuses_a_learner_without_labelled_samples():
    X, y = make_blobs(n_samples=40, n_features=3, centers=2, random_state=0)
    bare = LogisticRegression().fit(X, y)
    with pytest.raises(ConfigError, match="X_training"):
        st.ranked_batch_sampling(bare, X, n_instances=2)


# ------------------------------------------------------------------- BADGE without embeddings


def test_gradient_embedding_norms_and_distances_equal_the_built_embedding():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=30)
    X = rng.normal(size=(30, 5)).astype(np.float32)
    residual = proba.copy()
    residual[np.arange(30), proba.argmax(axis=1)] -= 1.0
    built = (residual[:, :, None] * X.astype(np.float64)[:, None, :]).reshape(30, -1)
    embedding = gradients.GradientEmbedding.of(proba, X)
    np.testing.assert_allclose(embedding.sq_norms, (built**2).sum(axis=1), rtol=1e-10)
    for j in (0, 7, 29):
        expected = ((built - built[j]) ** 2).sum(axis=1)
        np.testing.assert_allclose(embedding.sq_distances_to(j), expected, atol=1e-10)


def test_badge_on_a_large_pool_picks_among_the_largest_gradients(monkeypatch):
    monkeypatch.setattr(gradients, "BADGE_CANDIDATES", 40)
    X, y = make_blobs(n_samples=400, n_features=6, centers=3, cluster_std=3.0, random_state=1)
    learner = ActiveLearner(LogisticRegression(), X_training=X[:12], y_training=y[:12])
    pool = X[12:]
    idx, _ = st.badge_sampling(learner, pool, n_instances=8, random_state=0)
    assert len(set(idx.tolist())) == 8
    proba = learner.predict_proba(pool)
    norms = gradients.gradient_sq_norms(gradients.residuals(proba), pool)
    np.testing.assert_allclose(
        gradients.residual_sq_norms(proba) * gradients.row_sq_norms(pool), norms, atol=1e-10
    )
    assert norms[idx].min() >= np.sort(norms)[-40]


# ------------------------------------------------------------------- checkpoints


def test_a_checkpoint_written_before_the_split_holds_the_registered_strategy():
    with versions.moved_module_paths():
        state = joblib.load(FIXTURES / "state_v1" / "round-001.joblib")
    assert state.learner.query_strategy is st.margin_sampling


def test_learners_pickle_their_strategy_by_its_public_path():
    bound = st.bind_strategy(st.StrategyConfig(name="diverse_margin", candidates_per_pick=4))
    for strategy in (bound, st.margin_sampling, st.badge_sampling):
        data = pickle.dumps(strategy)
        assert b"alflow.strategies.sampling" not in data
        loaded = pickle.loads(data)
        if isinstance(strategy, functools.partial):
            assert loaded.func is strategy.func and loaded.keywords == strategy.keywords
        else:
            assert loaded is strategy
