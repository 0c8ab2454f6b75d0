"""TypiClust (Hacohen et al., 2022): cover the data with the most typical sample of each cluster.

Needs no model, so it works from zero labels. Above :data:`LARGE_POOL` samples it works on
estimates, because exact k-means of a million 512-d vectors into a few hundred clusters takes
many minutes and exact typicality is quadratic in a cluster's size: mini-batch k-means fitted on
a random sample of the pool (:data:`KMEANS_SAMPLE` rows, plus every labelled sample) assigns the
whole pool chunk by chunk, and typicality is measured within a random sample of each cluster
(:data:`TYPICALITY_SAMPLE`). Only those samples' rows are ever copied out of the pool.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

from alflow.strategies.measures import typicality
from alflow.strategies.pool import map_chunks, seed_of
from alflow.strategies.selectors import top_k

LARGE_POOL = 20_000
TYPICALITY_SAMPLE = 5_000
KMEANS_SAMPLE = 50_000


def cluster_model(n_clusters: int, n_samples: int, seed: int) -> KMeans | MiniBatchKMeans:
    """Exact k-means for pools up to ``LARGE_POOL`` samples, mini-batch k-means above."""
    if n_samples <= LARGE_POOL:
        return KMeans(n_clusters=n_clusters, n_init=1, random_state=seed)
    return MiniBatchKMeans(n_clusters=n_clusters, n_init=1, batch_size=4096, random_state=seed)


def typicality_sample(members: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``members``, or a random ``TYPICALITY_SAMPLE`` of them (sorted) when there are more."""
    if len(members) <= TYPICALITY_SAMPLE:
        return members
    return np.sort(rng.choice(members, TYPICALITY_SAMPLE, replace=False))


def fit_sample(n_pool: int, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted pool positions a large pool's k-means is fitted on (at least 20 per cluster)."""
    size = min(n_pool, max(KMEANS_SAMPLE, 20 * n_clusters))
    return np.sort(rng.choice(n_pool, size, replace=False))


def stacked(X_pool: Any, X_labelled: np.ndarray | None) -> np.ndarray:
    """Pool rows then labelled rows in one array (a copy: callers bound its size)."""
    if X_labelled is None or len(X_labelled) == 0:
        return np.asarray(X_pool)
    return np.vstack([X_pool, X_labelled])


def cluster_pool(
    X_pool: Any, X_labelled: np.ndarray | None, n_clusters: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """k-means clusters of pool and labelled samples together.

    Returns:
        The cluster of every pool sample and of every labelled sample.
    """
    n_pool = len(X_pool)
    n_labelled = 0 if X_labelled is None else len(X_labelled)
    model = cluster_model(n_clusters, n_pool + n_labelled, seed_of(rng))
    if n_pool + n_labelled <= LARGE_POOL:
        assignment = model.fit_predict(stacked(X_pool, X_labelled))
        return assignment[:n_pool], assignment[n_pool:]
    model.fit(stacked(X_pool[fit_sample(n_pool, n_clusters, rng)], X_labelled))
    labelled_cluster = model.predict(X_labelled) if n_labelled else np.empty(0, dtype=int)
    return map_chunks(model.predict, X_pool), labelled_cluster


def typical_uncovered(
    X_pool: Any,
    X_labelled: np.ndarray | None,
    n_instances: int,
    rng: np.random.Generator,
    n_neighbors: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """The most typical pool sample of each of the largest uncovered clusters.

    Pool and labelled samples are clustered into ``n_labelled + n_instances`` k-means clusters;
    clusters holding the fewest labels (then the most samples) are served first, each with its
    most typical pool sample.

    Returns:
        Pool indices and their typicality.
    """
    n_labelled = 0 if X_labelled is None else len(X_labelled)
    n_clusters = min(n_labelled + n_instances, len(X_pool) + n_labelled)
    pool_cluster, labelled_cluster = cluster_pool(X_pool, X_labelled, n_clusters, rng)
    labels_in = np.bincount(labelled_cluster, minlength=n_clusters)
    size = np.bincount(pool_cluster, minlength=n_clusters)
    picked: list[int] = []
    scores: list[float] = []
    for cluster in np.lexsort((-size, labels_in)):
        members = typicality_sample(np.flatnonzero(pool_cluster == cluster), rng)
        if len(members) == 0:
            continue
        typ = typicality(X_pool[members], n_neighbors)
        best = top_k(typ, 1, rng)[0]
        picked.append(int(members[best]))
        scores.append(float(typ[best]))
        if len(picked) == n_instances:
            break
    idx = np.asarray(picked, dtype=int)
    if len(idx) < n_instances:  # fewer non-empty clusters than picks: top up at random
        rest = rng.permutation(np.setdiff1d(np.arange(len(X_pool)), idx))
        idx = np.concatenate([idx, rest[: n_instances - len(idx)]])
        scores.extend([0.0] * (n_instances - len(scores)))
    return idx, np.asarray(scores)
