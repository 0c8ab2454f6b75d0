"""No strategy copies the pool: on a memory-mapped 200k x 64 pool each stays below one copy,
also when the pool is a selection of the matrix's rows (as a round's query passes it).

NumPy reports its buffers to ``tracemalloc``, and pages of a memory-mapped file are not
allocations, so the traced peak is what a strategy allocates on top of the pool: a pool-sized
copy, square matrix or pool x classes x dim array would each exceed the pool's own size.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from modAL.models import ActiveLearner
from sklearn.linear_model import LogisticRegression

from alflow import strategies as st
from alflow.config.estimators import LogisticRegressionConfig
from alflow.learning.learners import fit_learner
from alflow.strategies.pool import PoolRows

N_POOL, N_DIMS, N_CLASSES, N_LABELLED = 200_000, 64, 10, 100


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> np.memmap:
    """Ten Gaussian blobs, float32 (as the feature cache holds them), on disk."""
    path = tmp_path_factory.mktemp("pool") / "X.f32"
    X = np.memmap(path, dtype=np.float32, mode="w+", shape=(N_POOL, N_DIMS))
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(N_CLASSES, N_DIMS))
    for start in range(0, N_POOL, 20_000):
        blob = rng.integers(N_CLASSES, size=20_000)
        X[start : start + 20_000] = centres[blob] + rng.normal(size=(20_000, N_DIMS))
    X.flush()
    del X
    return np.memmap(path, dtype=np.float32, mode="r", shape=(N_POOL, N_DIMS))


@pytest.fixture(scope="module")
def learners(pool):
    """A single model and a committee, taught the nearest sample of each blob's centre."""
    X_lab = np.asarray(pool[:N_LABELLED])
    y_lab = np.asarray([str(i % N_CLASSES) for i in range(N_LABELLED)])
    model = LogisticRegression(C=0.1, max_iter=500)
    single = ActiveLearner(model, X_training=X_lab, y_training=y_lab)
    committee = fit_learner(
        LogisticRegressionConfig(),
        "vote_entropy",
        X_lab,
        y_lab,
        [str(i) for i in range(N_LABELLED)],
        random_state=0,
    ).learner
    return single, committee


@pytest.mark.parametrize("name", sorted(st.STRATEGIES))
def test_strategy_on_a_memory_mapped_pool_allocates_less_than_the_pool(name, pool, learners):
    single, committee = learners
    learner = committee if name in st.COMMITTEE_STRATEGIES else single
    strategy = st.get_strategy(name)
    rows = PoolRows(pool, np.arange(N_LABELLED, N_POOL))  # the unlabelled rows, not copied
    tracemalloc.start()
    try:
        idx, _ = strategy(learner, rows, n_instances=10, random_state=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(set(np.asarray(idx).tolist())) == 10
    mib = 2**20
    assert peak < pool.nbytes, f"{name}: {peak / mib:.0f} MiB, pool {pool.nbytes / mib:.0f} MiB"


@pytest.mark.parametrize("name", sorted(st.STRATEGIES))
def test_a_selection_of_rows_gets_the_picks_of_its_copy(name, pool, learners):
    single, committee = learners
    learner = committee if name in st.COMMITTEE_STRATEGIES else single
    strategy = st.get_strategy(name)
    rows = np.arange(N_LABELLED, 12_000, 3)
    picked, scores = strategy(learner, PoolRows(pool, rows), n_instances=10, random_state=3)
    expected, expected_scores = strategy(
        learner, np.asarray(pool[rows]), n_instances=10, random_state=3
    )
    np.testing.assert_array_equal(np.ravel(picked), np.ravel(expected))
    np.testing.assert_allclose(np.ravel(scores), np.ravel(expected_scores), rtol=1e-5)
