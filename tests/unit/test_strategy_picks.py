"""The strategies pick what the single-module strategies picked, and ranked batch what modAL picks.

A recorded batch pins behaviour, not rounding: a pick may differ from the recorded one only
where the choice is a tie up to floating-point noise (see :func:`picks_within_noise`).
"""

from __future__ import annotations

import copy
import functools
import json
import pickle
from pathlib import Path
from typing import Any

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
from alflow.strategies import COMMITTEE_STRATEGIES, gradients
from tests.fixtures import make_strategy_picks as recorded

FIXTURES = Path(__file__).parents[1] / "fixtures"

# Scores are float32 probabilities (or measures of them) computed through OpenBLAS, whose
# kernels (Haswell, SkylakeX, Sandybridge...) round products differently: up to 5e-7 apart
# between the kernels of one machine, so a few float32 steps of slack and no more.
SCORES = {"rtol": 1e-5, "atol": 1e-5}
# A nudged learner moves each parameter by up to this fraction: about twice the spread of a
# float32 logit from one BLAS kernel to another, and far below any change of behaviour (two
# lbfgs fits of the same data, stopped within tolerance, differ by 1e-3).
NUDGE = 1e-6
PROBES = 16


def _nudge(values: np.ndarray, probe: int) -> np.ndarray:
    """``values`` each moved by a relative amount in ``[-NUDGE, NUDGE]`` that depends only on
    the probe, the value and its position: equal arrays (committee members fitted on the same
    labels) stay equal, as they do under any kernel, and exact ties stay exact."""
    flat = np.ascontiguousarray(values).ravel()
    bits = flat.view(np.uint32 if flat.itemsize == 4 else np.uint64).astype(np.uint64)
    with np.errstate(over="ignore"):  # splitmix64: wrapping uint64 arithmetic is the point
        z = bits + np.arange(flat.size, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = z + np.uint64(probe + 1) * np.uint64(0xD1B54A32D192ED03)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    unit = (z >> np.uint64(11)).astype(np.float64) / 2.0**53
    moved = flat.astype(np.float64) * (1.0 + NUDGE * (2.0 * unit - 1.0))
    return moved.astype(values.dtype).reshape(values.shape)


def nudged(learner: Any, probe: int) -> Any:
    """A copy of a linear learner with every coefficient and intercept nudged (:func:`_nudge`)."""
    moved = copy.deepcopy(learner)
    for model in recorded.models(moved):
        model.coef_ = _nudge(model.coef_, probe)
        model.intercept_ = _nudge(model.intercept_, probe)
    return moved


def picks_within_noise(
    name: str, learner: Any, pool: np.ndarray, seed: int, indices: list[int]
) -> np.ndarray | None:
    """The scores of the first of ``PROBES`` nudged learners whose batch is ``indices``, or None.

    A batch that only floating-point noise separates from ``indices`` is picked by some learner
    within ``NUDGE`` of this one: a near-tie goes either way under the nudges, while a change of
    behaviour is not undone by them. Only linear learners are nudged (None for others): a forest
    compares feature values with thresholds and adds vote fractions, which no kernel changes.
    """
    if recorded.linear_parameters(learner) is None:
        return None
    strategy = st.get_strategy(name)
    for probe in range(PROBES):
        idx, scores = strategy(nudged(learner, probe), pool, len(indices), random_state=seed)
        if np.asarray(idx).tolist() == list(indices):
            return np.asarray(scores, dtype=float)
    return None


@functools.cache
def _scenario(per_class: int) -> tuple[np.ndarray, dict[tuple[str, bool], Any]]:
    pinned = json.loads((FIXTURES / "strategy_picks_v1_learners.json").read_text())
    return recorded.scenario(per_class)[3], recorded.fitted_learners(per_class, pinned)


def test_every_strategy_picks_the_batches_the_single_module_strategies_picked():
    """``strategy_picks_v1.json`` holds the batches of the single-module strategies (commit
    21e7237), from which ranked batch, BADGE, TypiClust and the committees were rewritten for
    large pools; ``strategy_picks_v1_learners.json`` the logistic regressions they were picked
    with, which are set on the learners here (``make_strategy_picks.py`` says why)."""
    pinned = json.loads((FIXTURES / "strategy_picks_v1_learners.json").read_text())
    before = json.loads((FIXTURES / "strategy_picks_v1.json").read_text())
    now = recorded.batches(pinned)
    assert len(now) == len(before)
    for old, new in zip(before, now, strict=True):
        where = {k: old[k] for k in ("strategy", "estimator", "per_class", "seed")}
        assert {k: new[k] for k in where} == where
        scores = np.asarray(new["scores"])
        if new["indices"] != old["indices"]:
            pool, learners = _scenario(old["per_class"])
            learner = learners[old["estimator"], old["strategy"] in COMMITTEE_STRATEGIES]
            scores = picks_within_noise(old["strategy"], learner, pool, old["seed"], old["indices"])
            assert scores is not None, (
                f"{where}: picks {new['indices']} where the fixture holds {old['indices']}, and "
                + (
                    f"no learner within {NUDGE:g} of the recorded one picks those"
                    if recorded.linear_parameters(learner) is not None
                    else "a forest's picks involve no rounding"
                )
                + ": a change of behaviour, not a near-tie"
            )
        np.testing.assert_allclose(scores, old["scores"], **SCORES, err_msg=str(where))


def _tied_pair() -> tuple[ActiveLearner, np.ndarray]:
    """A logistic regression whose two most uncertain pool samples differ in margin by one
    float32 step, with two confident samples beside them."""
    X = np.array([[-2, -2], [-1, -2], [2, 2], [2, 1]], dtype=np.float32)
    learner = ActiveLearner(LogisticRegression(), X_training=X, y_training=np.array(list("aabb")))
    learner.estimator.coef_ = np.array([[1.0, np.nextafter(np.float32(1), 2)]], np.float32)
    learner.estimator.intercept_ = np.zeros(1, np.float32)
    pool = np.array([[0.5, 0], [0, 0.5], [4, 4], [-3, -4]], dtype=np.float32)
    return learner, pool


def test_a_near_tie_may_go_either_way_but_another_batch_fails():
    learner, pool = _tied_pair()
    picked, _ = st.margin_sampling(learner, pool, 2, random_state=0)
    assert sorted(picked.tolist()) == [0, 1]
    swapped = picked[::-1].tolist()
    assert picks_within_noise("margin", learner, pool, 0, swapped) is not None
    assert picks_within_noise("margin", learner, pool, 0, [int(picked[0]), 2]) is None
    assert picks_within_noise("entropy", learner, pool, 0, [2, 3]) is None


def test_nudges_keep_equal_parameters_equal_and_move_them_within_bounds():
    values = np.array([0.25, -1.5, 0.25], dtype=np.float32)
    moved = [_nudge(values, probe) for probe in range(PROBES)]
    for probe, m in enumerate(moved):
        assert m.dtype == np.float32 and np.array_equal(m, _nudge(values.copy(), probe))
        assert np.all(np.abs(m / values - 1) <= NUDGE + np.finfo(np.float32).eps)
    assert any(m[0] != m[2] for m in moved)  # an equal value elsewhere moves apart
    assert len({m.tobytes() for m in moved}) == PROBES


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
