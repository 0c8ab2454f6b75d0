"""Label spreading on raw pixels (the simulation's ``lsr``): features, held-out samples,
determinism, checkpoints and every strategy, on the features the benchmark's best row uses."""

from __future__ import annotations

import numpy as np
import pytest

from alflow.config.estimators import LabelSpreadingConfig
from alflow.data import features
from alflow.demo import simulation
from alflow.learning import learners as lrn
from alflow.learning.semi_supervised import array_pool, cached_pool
from alflow.strategies import STRATEGIES, StrategyConfig

LSR = simulation.estimator_config("lsr")


@pytest.fixture(scope="module")
def split():
    """Seed 0's raw-pixel split: pool then test rows, ids, and one label per class."""
    X_pool, X_test, y_pool, y_test = simulation.digits_split(0, "lsr")
    X = np.vstack([X_pool, X_test])
    ids = [f"s{i:04d}" for i in range(len(X))]
    rows = simulation.initial_labels(y_pool, np.random.default_rng(0))
    return X, np.concatenate([y_pool, y_test]), ids, len(y_pool), rows


def _fit(split, X=None, strategy="diverse_margin", pool=None):
    X_all, y, ids, n_pool, rows = split
    X_all = X_all if X is None else X
    pool = pool or array_pool(X_all, ids, held_out=ids[n_pool:])
    labelled = [ids[r] for r in rows]
    return lrn.fit_learner(LSR, strategy, X_all[rows], y[rows], labelled, 0, 0, pool)


def test_lsr_is_label_spreading_on_the_pixels_as_they_are():
    assert isinstance(LSR, LabelSpreadingConfig) and "lsr" in simulation.ESTIMATOR_NAMES
    raw, _, y_raw, _ = simulation.digits_split(3, "lsr")
    standardised, _, y_std, _ = simulation.digits_split(3, "ls")
    assert raw.min() == 0 and raw.max() == 16  # what rf sees
    np.testing.assert_array_equal(raw, simulation.digits_split(3, "rf")[0])
    np.testing.assert_array_equal(y_raw, y_std)  # the same split: only the scaling differs
    assert not np.array_equal(raw, standardised)


def test_held_out_labels_and_features_never_reach_the_fit(split):
    X, _y, _ids, n_pool, _ = split
    base = _fit(split).learner.predict_proba(X[:n_pool])
    moved = X.copy()
    moved[n_pool:] = np.random.default_rng(0).integers(0, 17, moved[n_pool:].shape)
    np.testing.assert_array_equal(_fit(split, X=moved).learner.predict_proba(X[:n_pool]), base)


def test_relabelling_the_test_split_changes_no_query_of_a_simulation(monkeypatch):
    """Every test label changed: the same samples are taught in the same rounds."""
    real_split, real_teach = simulation.digits_split, simulation.teach

    def run(relabel: bool) -> list[list[str]]:
        taught: list[list[str]] = []

        def split(seed, estimator):
            X_pool, X_test, y_pool, y_test = real_split(seed, estimator)
            y_test = np.roll(y_test, 1) if relabel else y_test
            return X_pool, X_test, y_pool, y_test

        def teach(state, X, y, ids):
            taught.append(list(ids))
            return real_teach(state, X, y, ids)

        monkeypatch.setattr(simulation, "digits_split", split)
        monkeypatch.setattr(simulation, "teach", teach)
        simulation.simulate("typiclust_margin", "lsr", seed=1, budget=50, batch=10)
        return taught

    assert run(relabel=False) == run(relabel=True)


@pytest.mark.parametrize("strategy", ["diverse_margin", "typiclust_margin"])
def test_a_fixed_seed_gives_the_same_learning_curve(strategy):
    a = simulation.simulate(strategy, "lsr", seed=2, budget=40, batch=10)
    b = simulation.simulate(strategy, "lsr", seed=2, budget=40, batch=10)
    assert a["learning_curve"] == b["learning_curve"]
    assert [c for c, _ in a["learning_curve"]] == [10, 20, 30, 40]


def test_checkpoint_rebuilds_from_the_raw_feature_cache(split, tmp_path):
    X, y, ids, n_pool, _ = split
    fm = features.build_cache(tmp_path / "cache", [(ids, {"f": list(X)})], len(ids), False)
    state = _fit(split, pool=cached_pool(fm.path, ids[n_pool:]))
    lrn.teach(state, fm.take(ids[40:50]), y[40:50], ids[40:50])
    expected = state.learner.predict_proba(X)
    path = tmp_path / "round.joblib"
    lrn.save_checkpoint(state, path)
    assert path.stat().st_size < X[:n_pool].nbytes / 3  # the pool's rows are not in it
    loaded = lrn.load_checkpoint(path)
    np.testing.assert_allclose(loaded.learner.predict_proba(X), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_queries_and_teaches_on_raw_pixels(split, strategy):
    X, y, ids, n_pool, rows = split
    state = _fit(split, strategy=StrategyConfig(name=strategy))
    pool = np.setdiff1d(np.arange(n_pool), rows)
    picked, _ = lrn.select_batch(state, X[pool], 5, random_state=0)
    chosen = pool[np.asarray(picked, dtype=int)]
    assert len(set(chosen)) == 5
    lrn.teach(state, X[chosen], y[chosen], [ids[i] for i in chosen])
    assert state.n_labels == 15 and state.learner.predict_proba(X).shape == (len(X), 10)
