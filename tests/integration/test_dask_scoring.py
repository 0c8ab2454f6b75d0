"""Scoring on a Dask cluster (two worker processes) gives exactly the in-process results."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from alflow.config.loop import ScoringConfig
from alflow.errors import ClusterError
from alflow.learning import dask_cluster, scoring
from tests.scoring_cases import cached_matrix, fitted


@pytest.fixture(scope="module")
def client():
    with dask_cluster.client_for(dask_cluster.Target(workers=2)) as dask_client:
        yield dask_client


def test_two_workers_score_exactly_like_one_process(tmp_path, client):
    fm = cached_matrix(tmp_path, n=2_501)
    model = fitted("rf", fm)
    here = scoring.Scorer(model, model.classes_, chunk_size=300).score(fm)
    there = scoring.Scorer(model, model.classes_, chunk_size=300, client=client).score(fm)
    assert len(client.nthreads()) == 2
    np.testing.assert_array_equal(there.codes, here.codes)
    np.testing.assert_array_equal(there.confidence, here.confidence)
    rows = np.array([2_000, 5, 17, 1_999])
    np.testing.assert_array_equal(
        scoring.Scorer(model, model.classes_, 3, client).score(fm, rows).confidence,
        scoring.Scorer(model, model.classes_, 3).score(fm, rows).confidence,
    )


def test_workers_without_the_cache_path_get_the_rows_shipped(tmp_path, client, monkeypatch):
    fm = cached_matrix(tmp_path, n=700)
    model = fitted("lr", fm)
    monkeypatch.setattr(dask_cluster, "workers_see", lambda client, path: False)
    shipped = scoring.Scorer(model, model.classes_, chunk_size=64, client=client).score(fm)
    here = scoring.Scorer(model, model.classes_, chunk_size=64).score(fm)
    np.testing.assert_array_equal(shipped.codes, here.codes)
    np.testing.assert_array_equal(shipped.confidence, here.confidence)


def test_the_model_is_sent_once_per_worker_not_once_per_chunk(tmp_path, client, monkeypatch):
    fm = cached_matrix(tmp_path, n=900)
    model = RandomForestClassifier(n_estimators=5, random_state=0)
    model.fit(np.asarray(fm.X[:100]), np.arange(100) % 2)
    scattered = []
    original = client.scatter
    monkeypatch.setattr(
        client, "scatter", lambda data, **kw: scattered.append(kw) or original(data, **kw)
    )
    scoring.Scorer(model, model.classes_, chunk_size=50, client=client).score(fm)
    # one broadcast; 18 chunks read the cache file
    assert scattered == [{"broadcast": True, "hash": False}]


def test_the_environment_chooses_the_cluster_over_the_configuration():
    config = ScoringConfig(dask_workers=3)
    assert dask_cluster.resolve(config, {}) == dask_cluster.Target(workers=3)
    assert dask_cluster.resolve(config, {dask_cluster.WORKERS_ENV: "2"}) == dask_cluster.Target(
        workers=2
    )
    address = {dask_cluster.ADDRESS_ENV: "tcp://10.0.0.5:8786"}
    assert dask_cluster.resolve(config, address) == dask_cluster.Target(
        address="tcp://10.0.0.5:8786"
    )
    assert dask_cluster.resolve(ScoringConfig(), {}).in_process
    with pytest.raises(ClusterError, match="ALFLOW_DASK_WORKERS='two'"):
        dask_cluster.resolve(config, {dask_cluster.WORKERS_ENV: "two"})


def test_an_unreachable_scheduler_says_what_to_fix():
    with (
        pytest.raises(ClusterError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
        dask_cluster.client_for(dask_cluster.Target(address="tcp://127.0.0.1:9")),
    ):
        pass
