"""Semi-supervised learners: configuration, the pool, held-out samples, checkpoints, strategies."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from alflow.config.estimators import (
    EstimatorConfig,
    LabelPropagationConfig,
    LabelSpreadingConfig,
    LogisticRegressionConfig,
    SelfTrainingConfig,
)
from alflow.data import features
from alflow.errors import AlflowError, ConfigError, FeatureError
from alflow.learning import learners as lrn
from alflow.learning.semi_supervised import SemiSupervisedClassifier, array_pool, cached_pool
from alflow.strategies import STRATEGIES, StrategyConfig

LS = LabelSpreadingConfig()
ST = SelfTrainingConfig(base_estimator=LogisticRegressionConfig(max_iter=200), max_iter=3)
LEARNERS = {"ls": LS, "lp": LabelPropagationConfig(max_iter=200), "st": ST}


@pytest.fixture(scope="module")
def data():
    """Standardised digits: 600 pool samples (10 labelled, one per class), 200 held out."""
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:800]).astype(np.float32)
    y = y[:800].astype(str)
    ids = [f"s{i:04d}" for i in range(800)]
    held_out = ids[600:]
    labelled = np.asarray([np.flatnonzero(y[:600] == c)[0] for c in np.unique(y)])
    return X, y, ids, held_out, labelled


def _fit(data, config=LS, strategy="margin", X=None, random_state=0, pool=None):
    X_all, y, ids, held_out, rows = data
    X_all = X_all if X is None else X
    pool = pool or array_pool(X_all, ids, held_out=held_out)
    return lrn.fit_learner(
        config, strategy, X_all[rows], y[rows], [ids[r] for r in rows], random_state, 0, pool
    )


def _proba(state, X):
    return state.learner.predict_proba(X)


# ---------------------------------------------------------------------------- configuration


def test_semi_supervised_kinds_join_the_estimator_union():
    adapter = TypeAdapter(EstimatorConfig)
    assert isinstance(adapter.validate_python({"kind": "label_spreading"}), LabelSpreadingConfig)
    assert isinstance(
        adapter.validate_python({"kind": "label_propagation"}), LabelPropagationConfig
    )
    st = adapter.validate_python(
        {
            "kind": "self_training",
            "base_estimator": {"kind": "random_forest"},
            "criterion": "k_best",
        }
    )
    assert st.base_estimator.kind == "random_forest" and st.criterion == "k_best"


def test_self_training_refuses_a_semi_supervised_base_saying_why():
    with pytest.raises(ValidationError, match="self-training wraps a supervised estimator"):
        SelfTrainingConfig.model_validate({"base_estimator": {"kind": "label_spreading"}})


@pytest.mark.parametrize(
    "bad", [{"alpha": 1.0}, {"n_neighbors": 0}, {"max_unlabelled": -1}, {"kernel": "rbf"}]
)
def test_label_spreading_rejects_invalid_values(bad):
    with pytest.raises(ValidationError):
        LabelSpreadingConfig.model_validate(bad)


def test_fit_without_a_pool_is_refused_with_the_fix(data):
    X, y, ids, _, rows = data
    with pytest.raises(ConfigError, match="unlabelled="):
        lrn.fit_learner(LS, "margin", X[rows], y[rows], [ids[r] for r in rows], 0)


# ---------------------------------------------------------------------------- fitting


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_fits_with_the_pool_and_predicts_names_for_every_sample(data, name):
    X, _y, _ids, _, _ = data
    state = _fit(data, LEARNERS[name])
    assert state.classes == [str(c) for c in range(10)]
    proba = _proba(state, X)
    assert proba.shape == (800, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    predicted, _ = lrn.predict(state, X)
    assert set(predicted) <= set(state.classes)


def test_the_unlabelled_pool_is_what_makes_label_spreading_accurate(data):
    X, y, ids, _held_out, _ = data
    with_pool = _fit(data)
    empty = array_pool(X, ids, held_out=ids)  # every row excluded: labelled rows only
    without = _fit(data, pool=empty)
    acc = [np.mean(lrn.predict(s, X[600:])[0] == y[600:]) for s in (with_pool, without)]
    assert acc[0] > acc[1] + 0.1, acc


def test_held_out_features_never_reach_a_fit_but_pool_features_do(data):
    X, *_ = data
    base = _proba(_fit(data), X[:600])
    perturbed = X.copy()
    perturbed[600:] += np.random.default_rng(0).normal(0, 3, perturbed[600:].shape)
    np.testing.assert_array_equal(_proba(_fit(data, X=perturbed), X[:600]), base)
    pool_changed = X.copy()
    pool_changed[100:600] += np.random.default_rng(1).normal(0, 3, pool_changed[100:600].shape)
    assert not np.array_equal(_proba(_fit(data, X=pool_changed), X[:600]), base)


def test_teach_takes_the_new_labels_out_of_the_pool(data):
    X, y, ids, _, _ = data
    state = _fit(data)
    (model,) = lrn.semi_supervised_models(state.learner)
    before = model.pool.size
    lrn.teach(state, X[20:30], y[20:30], ids[20:30])
    assert model.pool.size == before - len(set(range(20, 30)) - set(data[4]))
    assert not model.pool.mask[20:30].any()


def test_max_unlabelled_bounds_the_rows_and_follows_the_random_state(data):
    small = LabelSpreadingConfig(max_unlabelled=100)
    a, b, c = _fit(data, small), _fit(data, small), _fit(data, small, random_state=1)
    rows = [lrn.semi_supervised_models(s.learner)[0].unlabelled_rows_ for s in (a, b, c)]
    assert len(rows[0]) == 100 and np.array_equal(rows[0], rows[1])
    assert not np.array_equal(rows[0], rows[2])
    assert (rows[0] < 600).all()  # never a held-out row


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_a_fixed_random_state_gives_identical_learners(data, name):
    X, *_ = data
    a, b = _fit(data, LEARNERS[name]), _fit(data, LEARNERS[name])
    np.testing.assert_array_equal(_proba(a, X), _proba(b, X))


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_queries_and_teaches_with_label_spreading(data, strategy):
    X, y, ids, _, rows = data
    state = _fit(data, strategy=StrategyConfig(name=strategy))
    pool = np.setdiff1d(np.arange(600), rows)
    picked, _ = lrn.select_batch(state, X[pool], 5, random_state=0)
    chosen = pool[np.asarray(picked, dtype=int)]
    assert len(set(chosen)) == 5
    lrn.teach(state, X[chosen], y[chosen], [ids[i] for i in chosen])
    assert state.n_labels == 15 and _proba(state, X).shape == (800, 10)


# ---------------------------------------------------------------------------- checkpoints


def _cache(tmp_path, X, ids):
    chunks = [(ids, {"f": list(X)})]
    return features.build_cache(tmp_path / "cache", chunks, len(ids), standardized=False)


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_checkpoint_keeps_ids_not_rows_and_rebuilds_the_same_learner(data, tmp_path, name):
    X, y, ids, held_out, _ = data
    fm = _cache(tmp_path, X, ids)
    state = _fit(data, LEARNERS[name], pool=cached_pool(fm.path, held_out))
    lrn.teach(state, fm.take(ids[30:40]), y[30:40], ids[30:40])
    expected = _proba(state, X)
    path = tmp_path / "round.joblib"
    lrn.save_checkpoint(state, path)
    full = tmp_path / "full.joblib"  # what pickling the fitted scikit-learn models would cost
    joblib.dump([m.model_ for m in lrn.semi_supervised_models(state.learner)], full)
    if name != "st":  # the graph learners keep their whole training matrix
        assert path.stat().st_size < full.stat().st_size / 3
    loaded = lrn.load_checkpoint(path)
    np.testing.assert_allclose(_proba(loaded, X), expected, rtol=1e-6, atol=1e-9)
    assert loaded.training_ids == state.training_ids


def test_a_rebuild_refuses_pool_rows_that_changed_in_the_cache(data, tmp_path):
    X, _y, ids, held_out, _ = data
    fm = _cache(tmp_path, X, ids)
    state = _fit(data, pool=cached_pool(fm.path, held_out))
    lrn.save_checkpoint(state, tmp_path / "round.joblib")
    cached = np.load(fm.path / "X.npy", mmap_mode="r+")
    cached[300] += 1.0
    cached.flush()
    loaded = lrn.load_checkpoint(tmp_path / "round.joblib")
    with pytest.raises(FeatureError, match="changed in the cache"):
        lrn.predict(loaded, X[:5])


def test_an_in_memory_pool_is_never_pickled(data, tmp_path):
    state = _fit(data)
    with pytest.raises(AlflowError, match="cannot be checkpointed"):
        lrn.save_checkpoint(state, tmp_path / "round.joblib")


def test_wrapper_exposes_names_not_codes(data):
    state = _fit(data)
    (model,) = lrn.semi_supervised_models(state.learner)
    assert isinstance(model, SemiSupervisedClassifier)
    assert model.classes_.dtype.kind == "U" and set(model.codes_) == set(range(10))
