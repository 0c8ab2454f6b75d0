"""Feature caches and fitted models for the scoring tests (in process and on Dask)."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from alflow.data import features as feats


def cached_matrix(tmp_path, n=1_003, dim=12, seed=0) -> feats.FeatureMatrix:
    """A memory-mapped feature cache of ``n`` random ``dim``-d rows, built in chunks of 250."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim)).astype(np.float32)
    ids = [f"{i:024x}" for i in range(n)]
    chunks = [(ids[a : a + 250], {"v": X[a : a + 250]}) for a in range(0, n, 250)]
    return feats.build_cache(tmp_path / "cache", chunks, n, standardized=False)


def fitted(kind: str, fm: feats.FeatureMatrix):
    """A forest (``"rf"``) or a logistic regression fitted on the cache's first 300 rows, three
    classes split by the first features."""
    X = np.asarray(fm.X[:300])
    y = np.where(X[:, 0] + X[:, 1] > 0, "a", np.where(X[:, 2] > 0, "b", "c"))
    if kind == "rf":
        return RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    return LogisticRegression(max_iter=500).fit(X, y)
