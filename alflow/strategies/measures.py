"""Measures of informativeness: probabilities (or samples) in, one score per sample out.

Higher is more informative. Every measure works row by row, so it gives the same scores on a
chunk of the pool as on the whole pool, which is how the strategies call it.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors


def least_confident_measure(proba: np.ndarray) -> np.ndarray:
    """1 minus the probability of the most likely class."""
    return 1.0 - proba.max(axis=1)


def margin_measure(proba: np.ndarray) -> np.ndarray:
    """1 minus the gap between the two most probable classes (higher = less sure)."""
    if proba.shape[1] < 2:
        return np.zeros(proba.shape[0])
    top2 = -np.partition(-proba, 1, axis=1)[:, :2]
    return 1.0 - (top2[:, 0] - top2[:, 1])


def entropy_measure(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of the predicted class distribution."""
    return entropy(proba)


def entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy (nats) along ``axis``, with 0 log 0 taken as 0."""
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(axis=axis)


def vote_entropy_measure(member_proba: np.ndarray) -> np.ndarray:
    """Entropy of the members' hard votes: high when members predict different classes."""
    n_samples, n_members, n_classes = member_proba.shape
    votes = member_proba.argmax(axis=2)
    shares = np.zeros((n_samples, n_classes))
    for member in range(n_members):
        shares[np.arange(n_samples), votes[:, member]] += 1.0 / n_members
    return entropy(shares)


def consensus_entropy_measure(member_proba: np.ndarray) -> np.ndarray:
    """Entropy of the members' averaged probabilities."""
    return entropy(member_proba.mean(axis=1))


def max_disagreement_measure(member_proba: np.ndarray) -> np.ndarray:
    """Largest Kullback-Leibler divergence of one member from the consensus."""
    consensus = member_proba.mean(axis=1, keepdims=True)
    ratio = np.where(member_proba > 0, member_proba / np.where(consensus > 0, consensus, 1), 1)
    kl = (member_proba * np.log(ratio)).sum(axis=2)
    return kl.max(axis=1)


def typicality(X: np.ndarray, n_neighbors: int = 20) -> np.ndarray:
    """Inverse mean distance to the ``n_neighbors`` nearest other samples (TypiClust).

    Dense regions are typical: a label there speaks for many samples, where an outlier's
    label speaks only for itself. Quadratic in ``len(X)``: callers pass a bounded sample.
    """
    k = min(n_neighbors, len(X) - 1)
    if k < 1:
        return np.ones(len(X))
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    return 1.0 / (distances[:, 1:].mean(axis=1) + 1e-12)
