"""Query strategies: the common contract, cold starts, and agreement with modAL."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from modAL.disagreement import KL_max_disagreement, consensus_entropy, vote_entropy
from modAL.models import ActiveLearner, Committee
from modAL.uncertainty import entropy_sampling as modal_entropy_sampling
from modAL.uncertainty import margin_sampling as modal_margin_sampling
from modAL.uncertainty import uncertainty_sampling as modal_uncertainty_sampling
from sklearn.datasets import load_digits, make_blobs
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from alflow import strategies as st
from alflow.config.estimators import RandomForestConfig
from alflow.errors import ConfigError, PoolExhaustedError
from alflow.learning.learners import fit_learner
from alflow.strategies import coverage

N_PICK = 6


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """Digits 0-4: 900 samples, labels as class names."""
    X, y = load_digits(n_class=5, return_X_y=True)
    return X, y.astype(str)


def _one_per_class(y: np.ndarray) -> np.ndarray:
    return np.asarray([np.flatnonzero(y == c)[0] for c in np.unique(y)])


@pytest.fixture(scope="module")
def learners(digits):
    """For every strategy, a learner fitted on one label per class, and the pool without them."""
    X, y = digits
    rows = _one_per_class(y)
    pool = np.delete(X, rows, axis=0)
    fitted = {
        name: fit_learner(
            RandomForestConfig(n_estimators=20),
            name,
            X[rows],
            y[rows],
            [str(r) for r in rows],
            random_state=0,
        ).learner
        for name in st.STRATEGIES
    }
    return fitted, pool


def _check_batch(idx: np.ndarray, scores: np.ndarray, n_pool: int, n: int) -> None:
    assert idx.shape == (n,) and scores.shape == (n,)
    assert len(set(idx.tolist())) == n, "indices must be distinct"
    assert idx.min() >= 0 and idx.max() < n_pool
    assert np.issubdtype(idx.dtype, np.integer)


@pytest.mark.parametrize("name", sorted(st.STRATEGIES))
def test_strategy_contract_from_one_label_per_class(name, learners):
    fitted, pool = learners
    learner = fitted[name]
    idx, scores = st.get_strategy(name)(learner, pool, n_instances=N_PICK, random_state=7)
    _check_batch(idx, scores, len(pool), N_PICK)
    again, again_scores = st.get_strategy(name)(learner, pool, n_instances=N_PICK, random_state=7)
    np.testing.assert_array_equal(idx, again)
    np.testing.assert_array_equal(scores, again_scores)


@pytest.mark.parametrize("name", sorted(st.STRATEGIES))
def test_strategy_works_as_the_learners_query_strategy(name, learners):
    fitted, pool = learners
    picked, samples = fitted[name].query(pool, n_instances=3, random_state=1)
    assert len(set(np.asarray(picked).tolist())) == 3
    np.testing.assert_array_equal(samples, pool[picked])


@pytest.mark.parametrize("name", sorted(st.STRATEGIES))
def test_pool_exhaustion_names_both_numbers(name, learners):
    fitted, pool = learners
    with pytest.raises(PoolExhaustedError, match="4 unlabelled samples left, 5 requested"):
        st.get_strategy(name)(fitted[name], pool[:4], n_instances=5, random_state=0)


@pytest.mark.parametrize("name", sorted(st.STRATEGIES))
def test_batch_of_zero_is_refused(name, learners):
    fitted, pool = learners
    with pytest.raises(ConfigError, match="at least 1"):
        st.get_strategy(name)(fitted[name], pool, n_instances=0, random_state=0)


@pytest.mark.parametrize("name", sorted(st.STRATEGIES))
def test_whole_pool_can_be_taken(name, learners):
    fitted, pool = learners
    idx, _ = st.get_strategy(name)(fitted[name], pool[:8], n_instances=8, random_state=0)
    assert sorted(idx.tolist()) == list(range(8))


@pytest.mark.parametrize("name", sorted(st.COLD_START_STRATEGIES))
@pytest.mark.parametrize("learner_kind", ["none", "unfitted"])
def test_cold_start_from_zero_labels(name, learner_kind, digits):
    X, _ = digits
    learner = None if learner_kind == "none" else ActiveLearner(RandomForestClassifier())
    idx, scores = st.get_strategy(name)(learner, X, n_instances=N_PICK, random_state=3)
    _check_batch(idx, scores, len(X), N_PICK)
    again, _ = st.get_strategy(name)(learner, X, n_instances=N_PICK, random_state=3)
    np.testing.assert_array_equal(idx, again)


@pytest.mark.parametrize("name", sorted(set(st.STRATEGIES) - st.COLD_START_STRATEGIES))
def test_model_strategies_refuse_zero_labels_and_name_the_cold_start_ones(name, digits):
    X, _ = digits
    with pytest.raises(ConfigError) as info:
        st.get_strategy(name)(None, X, n_instances=2, random_state=0)
    message = str(info.value)
    assert name in message
    if name not in st.COMMITTEE_STRATEGIES:
        assert "typiclust" in message


@pytest.mark.parametrize("name", sorted(st.COMMITTEE_STRATEGIES))
def test_committee_strategies_refuse_a_single_learner(name, learners):
    fitted, pool = learners
    with pytest.raises(ConfigError, match="Committee"):
        st.get_strategy(name)(fitted["margin"], pool, n_instances=2, random_state=0)


def test_ties_are_broken_by_random_state_not_position():
    scores = np.zeros(50)
    picks = {tuple(st.top_k(scores, 3, np.random.default_rng(seed))) for seed in range(5)}
    assert len(picks) > 1


def test_a_generator_and_its_seed_give_the_same_batch(learners):
    fitted, pool = learners
    by_int = st.margin_sampling(fitted["margin"], pool, 4, random_state=11)
    by_gen = st.margin_sampling(fitted["margin"], pool, 4, np.random.default_rng(11))
    np.testing.assert_array_equal(by_int[0], by_gen[0])


# ------------------------------------------------------------------- agreement with modAL


@pytest.fixture(scope="module")
def lr_learner(digits):
    """A learner with continuous, tie-free probabilities (logistic regression)."""
    X, y = digits
    rows = np.arange(0, len(X), 15)
    learner = ActiveLearner(
        LogisticRegression(max_iter=500), X_training=X[rows], y_training=y[rows]
    )
    return learner, np.delete(X, rows, axis=0)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (st.margin_sampling, modal_margin_sampling),
        (st.least_confident_sampling, modal_uncertainty_sampling),
        (st.entropy_sampling, modal_entropy_sampling),
    ],
)
def test_uncertainty_strategies_pick_what_modal_picks(ours, theirs, lr_learner):
    learner, pool = lr_learner
    our_idx, our_scores = ours(learner, pool, n_instances=10, random_state=0)
    their_idx, _ = theirs(learner, pool, n_instances=10)
    assert set(our_idx.tolist()) == set(np.asarray(their_idx).tolist())
    assert np.all(np.diff(our_scores) <= 0), "best first"


@pytest.fixture(scope="module")
def int_committee(digits):
    """A modAL Committee on integer labels, where modAL's own disagreement measures work."""
    X, y = digits
    y = y.astype(int)
    members = [
        ActiveLearner(
            RandomForestClassifier(n_estimators=5, max_depth=3, random_state=seed),
            X_training=X[seed::40],
            y_training=y[seed::40],
        )
        for seed in range(4)
    ]
    return Committee(learner_list=members), X[1::3]


@pytest.mark.parametrize(
    ("measure", "modal_measure"),
    [
        (st.vote_entropy_measure, vote_entropy),
        (st.consensus_entropy_measure, consensus_entropy),
        (st.max_disagreement_measure, KL_max_disagreement),
    ],
)
def test_committee_measures_equal_modal(measure, modal_measure, int_committee):
    committee, X = int_committee
    ours = measure(committee.vote_proba(X))
    np.testing.assert_allclose(ours, modal_measure(committee, X), atol=1e-9)
    assert ours.max() > 0, "the committee must disagree somewhere for this test to mean much"


def test_vote_entropy_is_zero_for_agreement_and_log2_for_an_even_split():
    agree = np.array([[[0.9, 0.1], [0.8, 0.2]]])
    split = np.array([[[0.9, 0.1], [0.2, 0.8]]])
    assert st.vote_entropy_measure(agree)[0] == pytest.approx(0.0)
    assert st.vote_entropy_measure(split)[0] == pytest.approx(np.log(2))


def test_margin_measure_is_one_for_a_tie_and_zero_for_certainty():
    proba = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(st.margin_measure(proba), [1.0, 0.0])


@pytest.mark.parametrize("name", sorted(set(st.STRATEGIES) - st.COMMITTEE_STRATEGIES))
def test_single_model_strategies_also_work_on_a_committee(name, learners):
    fitted, pool = learners
    committee = fitted["vote_entropy"]
    idx, scores = st.get_strategy(name)(committee, pool, n_instances=N_PICK, random_state=5)
    _check_batch(idx, scores, len(pool), N_PICK)


# ------------------------------------------------------------------- diversity and cold start


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Six tight, far-apart blobs of different sizes."""
    X, blob = make_blobs(
        n_samples=[60, 50, 40, 30, 20, 10],
        centers=None,
        cluster_std=0.3,
        random_state=0,
        center_box=(-50, 50),
    )
    return X, blob


def test_typiclust_takes_one_typical_sample_per_blob(blobs):
    X, blob = blobs
    idx, _ = st.typiclust_sampling(None, X, n_instances=6, random_state=0)
    assert sorted(blob[idx].tolist()) == list(range(6))
    for i in idx:  # typical: closer to its blob's centre than the blob's average member
        members = X[blob == blob[i]]
        centre = members.mean(axis=0)
        assert np.linalg.norm(X[i] - centre) <= np.linalg.norm(members - centre, axis=1).mean()


def test_typiclust_on_a_large_pool_estimates_and_still_covers_every_blob(blobs, monkeypatch):
    """Above LARGE_POOL: mini-batch k-means on a sample, typicality within a sample of each
    cluster."""
    from sklearn.cluster import MiniBatchKMeans

    monkeypatch.setattr(coverage, "LARGE_POOL", 100)
    monkeypatch.setattr(coverage, "TYPICALITY_SAMPLE", 25)
    monkeypatch.setattr(coverage, "KMEANS_SAMPLE", 150)
    X, blob = blobs
    assert isinstance(st.cluster_model(6, len(X), 0), MiniBatchKMeans)
    assert not isinstance(st.cluster_model(6, 100, 0), MiniBatchKMeans)
    idx, _ = st.typiclust_sampling(None, X, n_instances=6, random_state=0)
    again, _ = st.typiclust_sampling(None, X, n_instances=6, random_state=0)
    np.testing.assert_array_equal(idx, again)
    assert sorted(blob[idx].tolist()) == list(range(6))


def test_typicality_sample_is_a_sorted_distinct_subset_only_when_needed(monkeypatch):
    monkeypatch.setattr(coverage, "TYPICALITY_SAMPLE", 10)
    rng = np.random.default_rng(0)
    small = np.arange(0, 20, 2)
    assert st.typicality_sample(small, rng) is small
    members = np.arange(100, 200)
    picked = st.typicality_sample(members, rng)
    assert len(picked) == 10 and len(set(picked.tolist())) == 10
    assert np.all(np.diff(picked) > 0) and set(picked.tolist()) <= set(members.tolist())


def test_typiclust_serves_uncovered_blobs_first(blobs):
    X, blob = blobs
    covered = np.flatnonzero(np.isin(blob, [0, 1, 2]))[::7]
    learner = ActiveLearner(
        LogisticRegression(), X_training=X[covered], y_training=blob[covered].astype(str)
    )
    pool = np.delete(X, covered, axis=0)
    pool_blob = np.delete(blob, covered)
    idx, _ = st.typiclust_sampling(learner, pool, n_instances=3, random_state=0)
    assert sorted(pool_blob[idx].tolist()) == [3, 4, 5]


def test_cluster_spread_covers_blobs_where_top_k_would_not(blobs):
    X, blob = blobs
    scores = np.where(blob == 0, 1.0, 0.5) + np.random.default_rng(0).random(len(X)) * 0.01
    rng = np.random.default_rng(0)
    plain = st.top_k(scores, 4, rng)
    spread = st.cluster_spread(X, scores, 4, n_candidates=len(X), rng=rng)
    assert set(blob[plain]) == {0}
    assert len(set(blob[spread])) == 4


def test_kmeans_pp_fills_the_batch_when_rows_repeat():
    embedding = np.zeros((10, 3))
    embedding[0] = 1.0

    def sq_distances_to(j: int) -> np.ndarray:
        return ((embedding - embedding[j]) ** 2).sum(axis=1)

    idx = st.kmeans_pp((embedding**2).sum(axis=1), sq_distances_to, 4, np.random.default_rng(0))
    assert len(set(idx.tolist())) == 4


def test_typiclust_margin_covers_first_then_follows_margin(digits):
    X, y = digits
    few = _one_per_class(y)
    learner = fit_learner(
        RandomForestConfig(n_estimators=20),
        "typiclust_margin",
        X[few],
        y[few],
        [str(r) for r in few],
        random_state=0,
    ).learner
    pool = np.delete(X, few, axis=0)
    early = st.typiclust_margin_sampling(learner, pool, 5, random_state=2)[0]
    np.testing.assert_array_equal(early, st.typiclust_sampling(learner, pool, 5, 2)[0])
    many = np.arange(0, len(X), 20)
    learner.teach(X[many], y[many])
    pool = np.delete(X, np.union1d(many, few), axis=0)
    late = st.typiclust_margin_sampling(learner, pool, 5, random_state=2, candidates_per_pick=1)
    np.testing.assert_array_equal(late[0], st.margin_sampling(learner, pool, 5, 2)[0])


# ------------------------------------------------------------------- registry and config


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown strategy 'qbc'.*margin"):
        st.get_strategy("qbc")


def test_every_registered_name_is_a_configurable_name_and_vice_versa():
    assert set(st.STRATEGIES) == set(st.StrategyName.__args__)
    assert st.DEFAULT_STRATEGY in st.STRATEGIES
    assert set(st.STRATEGIES) >= st.COLD_START_STRATEGIES
    assert set(st.STRATEGIES) >= st.COMMITTEE_STRATEGIES


def test_bind_strategy_binds_only_the_chosen_strategys_parameters():
    bound = st.bind_strategy(st.StrategyConfig(name="diverse_margin", candidates_per_pick=4))
    assert isinstance(bound, functools.partial)
    assert bound.keywords == {"candidates_per_pick": 4}
    assert st.bind_strategy(st.StrategyConfig(name="margin")) is st.margin_sampling


def test_strategy_config_rejects_unknown_names_and_fields():
    with pytest.raises(ValueError, match="margin"):
        st.StrategyConfig(name="svm")
    with pytest.raises(ValueError, match="Extra inputs"):
        st.StrategyConfig(name="margin", batch=3)
