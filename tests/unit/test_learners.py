"""Learners: the modAL shim, committees, class growth, teaching and checkpoints."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from modAL.models import ActiveLearner, Committee
from modAL.models import learners as modal_learners
from sklearn.datasets import load_digits
from sklearn.utils import check_X_y

from alflow import strategies as st
from alflow.config.estimators import LogisticRegressionConfig, RandomForestConfig
from alflow.errors import ConfigError, LabelError, LedgerError
from alflow.learning import learners as lrn
from alflow.learning.build import build_estimator
from alflow.strategies import StrategyConfig

LR = LogisticRegressionConfig()


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    X, y = load_digits(n_class=4, return_X_y=True)
    return X, y.astype(str), [f"s{i}" for i in range(len(y))]


def _rows(y: np.ndarray, classes: list[str], per_class: int) -> np.ndarray:
    return np.concatenate([np.flatnonzero(y == c)[:per_class] for c in classes])


def _fit(digits, strategy="margin", classes=("0", "1", "2", "3"), per_class=2, estimator=LR):
    X, y, ids = digits
    rows = _rows(y, list(classes), per_class)
    state = lrn.fit_learner(estimator, strategy, X[rows], y[rows], [ids[r] for r in rows], 0)
    return state, rows


# ---------------------------------------------------------------------------- the shim


def test_installed_sklearn_refuses_modals_keyword_so_the_shim_is_needed():
    with pytest.raises(TypeError, match="force_all_finite"):
        check_X_y(np.zeros((2, 1)), np.zeros(2), force_all_finite=True)


def test_shim_is_applied_by_a_fit_and_idempotent(digits):
    X, y, ids = digits
    lrn.fit_learner(LR, "margin", X[:20], y[:20], ids[:20], random_state=0)
    wrapped = modal_learners.check_X_y
    assert hasattr(wrapped, "__wrapped__")
    lrn.apply_modal_shim()
    assert modal_learners.check_X_y is wrapped


def test_modal_teach_works_on_installed_sklearn(digits):
    X, y, _ = digits
    lrn.apply_modal_shim()
    learner = ActiveLearner(estimator=build_estimator(LR, 0), X_training=X[:20], y_training=y[:20])
    learner.teach(X[20:30], y[20:30])
    assert len(learner.X_training) == 30


def test_shim_still_rejects_non_finite_features(digits):
    X, y, _ = digits
    learner = ActiveLearner(estimator=build_estimator(LR, 0), X_training=X[:20], y_training=y[:20])
    bad = X[20:22].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        learner.teach(bad, y[20:22])


# ---------------------------------------------------------------------------- fit and teach


def test_fit_learner_builds_an_active_learner_for_single_model_strategies(digits):
    state, rows = _fit(digits)
    assert isinstance(state.learner, ActiveLearner)
    assert state.classes == ["0", "1", "2", "3"]
    assert state.n_labels == len(rows)


@pytest.mark.parametrize("strategy", ["vote_entropy", "consensus_entropy", "max_disagreement"])
def test_fit_learner_builds_a_committee_for_committee_strategies(strategy, digits):
    state, _ = _fit(digits, strategy=StrategyConfig(name=strategy, committee_size=3))
    assert isinstance(state.learner, Committee)
    assert len(state.learner) == 3
    assert state.classes == ["0", "1", "2", "3"]


def test_committee_size_defaults_to_the_config_default_for_a_bare_name(digits):
    state, _ = _fit(digits, strategy="vote_entropy")
    assert len(state.learner) == StrategyConfig().committee_size


def test_committee_members_differ_and_the_committee_is_reproducible(digits):
    X, _, _ = digits
    config = StrategyConfig(name="vote_entropy", committee_size=3)
    first, _ = _fit(digits, strategy=config, per_class=6)
    second, _ = _fit(digits, strategy=config, per_class=6)
    votes = first.learner.vote_proba(X)
    assert not np.allclose(votes[:, 0], votes[:, 1]), "bootstraps should make members differ"
    np.testing.assert_array_equal(votes, second.learner.vote_proba(X))


def test_a_forest_committee_shares_the_configured_trees_among_members(digits):
    forest = RandomForestConfig(n_estimators=10)
    state, _ = _fit(digits, strategy="vote_entropy", estimator=forest)
    sizes = [member.estimator.n_estimators for member in state.learner]
    assert sum(sizes) == 10 and max(sizes) - min(sizes) <= 1


def test_member_config_copies_single_models_and_refuses_too_few_trees():
    assert lrn.member_config(LR, 3, 0) is LR
    with pytest.raises(ConfigError, match="raise n_estimators to at least 4"):
        lrn.member_config(RandomForestConfig(n_estimators=2), 4, 0)


def test_stratified_bootstrap_keeps_every_class_even_with_one_label_each():
    labels = np.array(["a", "b", "c", "c", "c"])
    for seed in range(20):
        rows = lrn.stratified_bootstrap(labels, np.random.default_rng(seed))
        assert len(rows) == len(labels)
        assert set(labels[rows]) == {"a", "b", "c"}


def test_fit_learner_binds_strategy_parameters(digits):
    state, _ = _fit(digits, strategy=StrategyConfig(name="diverse_margin", candidates_per_pick=4))
    assert isinstance(state.learner.query_strategy, functools.partial)
    assert state.learner.query_strategy.keywords == {"candidates_per_pick": 4}


def test_fit_learner_needs_two_classes(digits):
    with pytest.raises(LabelError, match="at least two classes, found 1"):
        _fit(digits, classes=("2",))


def test_fit_learner_refuses_misaligned_inputs(digits):
    X, y, ids = digits
    with pytest.raises(LabelError, match="3 rows, 3 labels and 2 ids"):
        lrn.fit_learner(LR, "margin", X[:3], y[:3], ids[:2], 0)


@pytest.mark.parametrize("strategy", ["margin", "vote_entropy"])
def test_a_class_first_seen_in_teach_grows_the_class_map(strategy, digits):
    X, y, ids = digits
    state, _ = _fit(digits, strategy=strategy, classes=("0", "1"))
    new = _rows(y, ["3"], 3)
    assert lrn.teach(state, X[new], y[new], [ids[r] for r in new]) == 3
    assert state.classes == ["0", "1", "3"]
    predicted, confidence = lrn.predict(state, X)
    assert set(predicted) <= {"0", "1", "3"} and "3" in set(predicted)
    assert np.all((confidence > 0) & (confidence <= 1))


@pytest.mark.parametrize("strategy", ["margin", "vote_entropy"])
def test_teach_skips_samples_already_taught(strategy, digits):
    X, y, ids = digits
    state, rows = _fit(digits, strategy=strategy)
    before = state.n_labels
    mixed = np.concatenate([rows[:2], _rows(y, ["1"], 5)[-2:]])
    taught = lrn.teach(state, X[mixed], y[mixed], [ids[r] for r in mixed])
    assert taught == 2 and state.n_labels == before + 2
    assert lrn.teach(state, X[mixed], y[mixed], [ids[r] for r in mixed]) == 0


def test_teach_refuses_misaligned_inputs(digits):
    X, y, ids = digits
    state, _ = _fit(digits)
    with pytest.raises(LabelError, match="2 rows, 1 labels and 2 ids"):
        lrn.teach(state, X[:2], y[:1], ids[:2])


def test_predict_returns_the_most_probable_class_and_its_probability(digits):
    X, _, _ = digits
    state, _ = _fit(digits, per_class=5)
    predicted, confidence = lrn.predict(state, X[:50])
    proba = state.learner.predict_proba(X[:50].astype(np.float32))
    np.testing.assert_array_equal(predicted, np.asarray(state.classes)[proba.argmax(axis=1)])
    np.testing.assert_allclose(confidence, proba.max(axis=1))


# ---------------------------------------------------------------------------- query


def test_select_batch_returns_the_learners_strategys_batch(digits):
    X, _, _ = digits
    state, _ = _fit(digits, strategy=StrategyConfig(name="diverse_margin", candidates_per_pick=2))
    picked, scores = lrn.select_batch(state, X, 5, random_state=4)
    expected, expected_scores = st.diverse_margin_sampling(
        state.learner, X, 5, random_state=4, candidates_per_pick=2
    )
    np.testing.assert_array_equal(picked, expected)
    np.testing.assert_array_equal(scores, expected_scores)
    assert picked.dtype.kind == "i" and scores.dtype == np.float64


class StrategyFailure(Exception):
    """What the failing strategy below raises."""


def test_a_failing_strategy_is_called_once_and_its_error_surfaces(digits):
    """modAL's ``query()`` would catch the error with a bare ``except:`` and call it again."""
    X, _, _ = digits
    state, _ = _fit(digits)
    calls = []

    def failing(classifier, X_pool, n_instances=1, random_state=None, **_):
        calls.append((n_instances, random_state))
        raise StrategyFailure("no batch today")

    state.learner.query_strategy = failing
    with pytest.raises(StrategyFailure, match="no batch today"):
        lrn.select_batch(state, X, 3, random_state=9)
    assert calls == [(3, 9)]


# ---------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("strategy", ["diverse_margin", "vote_entropy"])
def test_checkpoint_round_trip_queries_the_same_batch(strategy, digits, tmp_path):
    X, _, _ = digits
    state, _ = _fit(digits, strategy=strategy, estimator=RandomForestConfig(n_estimators=10))
    path = tmp_path / "learner.joblib"
    digest = lrn.save_checkpoint(state, path)
    loaded = lrn.load_checkpoint(path, digest)
    assert loaded.classes == state.classes and loaded.training_ids == state.training_ids
    original, _ = lrn.select_batch(state, X, 4, random_state=3)
    reloaded, _ = lrn.select_batch(loaded, X, 4, random_state=3)
    np.testing.assert_array_equal(original, reloaded)


def test_checkpoint_with_a_different_hash_is_refused(digits, tmp_path):
    state, _ = _fit(digits)
    path = tmp_path / "learner.joblib"
    lrn.save_checkpoint(state, path)
    with pytest.raises(LedgerError, match="does not match the hash"):
        lrn.load_checkpoint(path, "0" * 64)


def test_missing_checkpoint_says_how_to_recover(tmp_path):
    with pytest.raises(LedgerError, match="alflow rollback"):
        lrn.load_checkpoint(tmp_path / "nope.joblib")
