"""Selectors: scores (and samples) in, a batch of distinct pool positions out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.cluster import KMeans

from alflow.strategies.pool import seed_of


def top_k(scores: np.ndarray, n_instances: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the ``n_instances`` highest scores; ties broken by ``rng``, not by position."""
    jitter = rng.random(scores.shape[0])
    order = np.lexsort((jitter, -scores))
    return order[:n_instances]


def cluster_spread(
    X: Any,
    scores: np.ndarray,
    n_instances: int,
    n_candidates: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The top-scored sample of each of ``n_instances`` k-means clusters of the top candidates.

    Plain top-k takes near-duplicates when uncertainty is concentrated in one confusion (say
    3 vs 8); clustering the ``n_candidates`` most informative samples and taking one per
    cluster spreads the batch over different confusions (Zhdanov, 2019). Only the candidates'
    rows are read from ``X``.
    """
    n_candidates = min(max(n_candidates, n_instances), len(X))
    candidates = top_k(scores, n_candidates, rng)
    if n_candidates == n_instances:
        return candidates
    kmeans = KMeans(n_clusters=n_instances, n_init=1, random_state=seed_of(rng))
    assignment = kmeans.fit_predict(X[candidates], sample_weight=scores[candidates] + 1e-12)
    picked = []
    for cluster in range(n_instances):
        members = candidates[assignment == cluster]
        if len(members):
            picked.append(members[top_k(scores[members], 1, rng)[0]])
    return fill_batch(np.asarray(picked, dtype=int), candidates, n_instances)


def fill_batch(picked: np.ndarray, ranked: np.ndarray, n_instances: int) -> np.ndarray:
    """Top up ``picked`` with the best of ``ranked`` not yet picked (empty clusters happen)."""
    if len(picked) >= n_instances:
        return picked[:n_instances]
    rest = ranked[~np.isin(ranked, picked)]
    return np.concatenate([picked, rest[: n_instances - len(picked)]])


def kmeans_pp(
    sq_norms: np.ndarray,
    sq_distances_to: Callable[[int], np.ndarray],
    n_instances: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """k-means++ seeding: each pick drawn with probability proportional to its squared distance
    from the picks so far, which favours large (informative) and distinct rows.

    The first pick is the longest row. The embedding is never needed whole: ``sq_distances_to(j)``
    gives every row's squared distance to row ``j``, so only one distance per row is held.
    Picked rows get probability 0, so rounding cannot draw a row twice; when every row left
    coincides with a pick, the batch is filled at random.
    """
    picked = [int(np.argmax(sq_norms))]
    closest = sq_distances_to(picked[0])
    while len(picked) < n_instances:
        closest[picked] = 0.0
        total = closest.sum()
        if total <= 0:
            rest = np.setdiff1d(np.arange(len(sq_norms)), picked)
            picked.extend(rng.permutation(rest)[: n_instances - len(picked)].tolist())
            break
        nxt = int(rng.choice(len(closest), p=closest / total))
        picked.append(nxt)
        closest = np.minimum(closest, sq_distances_to(nxt))
    return np.asarray(picked, dtype=int)
