"""The in-process digits simulation: whole simulated loops (pure, but seconds each, so they
run in the integration tier and keep the unit tier near a minute)."""

from __future__ import annotations

import numpy as np
import pytest

from alflow import strategies
from alflow.demo.simulation import digits_split, initial_labels, labels_to, simulate
from alflow.errors import AlflowError, ConfigError
from alflow.strategies import DEFAULT_STRATEGY
from tests.curves import check_well_formed


@pytest.mark.parametrize(
    ("strategy", "estimator"), [("margin", "lr"), ("typiclust", "rf"), ("typiclust_margin", "ls")]
)
def test_small_budget_gives_a_well_formed_curve(strategy, estimator):
    result = simulate(strategy, estimator, seed=3, budget=40, batch=10)
    check_well_formed(result, 40, 10)
    assert result["strategy"] == strategy and result["estimator"] == estimator


def test_simulation_is_deterministic_for_a_seed():
    first = simulate("diverse_margin", "lr", seed=5, budget=40, batch=10)
    assert simulate("diverse_margin", "lr", seed=5, budget=40, batch=10) == first
    other = simulate("diverse_margin", "lr", seed=6, budget=40, batch=10)
    assert other["learning_curve"] != first["learning_curve"]


def test_committee_strategy_runs_through_the_same_loop():
    result = simulate("vote_entropy", "lr", seed=0, budget=30, batch=10)
    check_well_formed(result, 30, 10)


def test_last_batch_is_trimmed_to_the_budget():
    result = simulate("random", "lr", seed=0, budget=35, batch=10)
    assert [c for c, _ in result["learning_curve"]] == [10, 20, 30, 35]


def test_no_strategy_means_the_default():
    assert simulate(None, "lr", seed=0, budget=20)["strategy"] == DEFAULT_STRATEGY


def test_split_is_stratified_and_the_initial_labels_one_per_class():
    X_pool, _, y_pool, y_test = digits_split(0, "lr")
    assert len(y_test) == pytest.approx(0.3 * (len(y_pool) + len(y_test)), abs=1)
    assert set(y_pool) == set(y_test) == {str(d) for d in range(10)}
    np.testing.assert_allclose(X_pool.mean(axis=0), 0.0, atol=1e-5)  # standardised (float32)
    rows = initial_labels(y_pool, np.random.default_rng(0))
    assert sorted(y_pool[rows]) == sorted(set(y_pool))


def test_rf_sees_raw_pixels():
    X_pool, _, _, _ = digits_split(0, "rf")
    assert X_pool.min() == 0 and X_pool.max() == 16


def test_labels_to_counts_a_miss_as_one_batch_beyond_the_budget():
    curve = [[10, 0.5], [20, 0.91], [30, 0.89], [40, 0.96]]
    assert labels_to(curve, 0.90, 40, 10) == 20
    assert labels_to(curve, 0.95, 40, 10) == 40
    assert labels_to(curve, 0.99, 40, 10) == 50


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "nope", "estimator": "lr"}, "unknown strategy 'nope'"),
        ({"strategy": "margin", "estimator": "svm"}, "choose one of rf, lr, ls, lp, st"),
        ({"strategy": "margin", "estimator": "lr", "budget": 5}, "raise budget to at least 10"),
        ({"strategy": "margin", "estimator": "lr", "batch": 0}, "batch must be at least 1"),
    ],
)
def test_bad_arguments_are_refused_with_what_to_change(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        simulate(seed=0, **kwargs)


def test_a_strategy_returning_repeated_samples_is_caught(monkeypatch):
    def repeats(classifier, X_pool, n_instances=1, random_state=None, **_):
        return np.zeros(n_instances, dtype=int), np.zeros(n_instances)

    monkeypatch.setitem(strategies.STRATEGIES, "repeats", repeats)
    with pytest.raises(AlflowError, match="returned 1 distinct samples for a batch of 10"):
        simulate("repeats", "lr", seed=0, budget=30, batch=10)
