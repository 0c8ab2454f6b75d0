"""BADGE's gradient embeddings, measured without building them.

BADGE (Ash et al., 2020) embeds a sample as the log-loss gradient of a linear last layer at the
predicted label, ``g = r ⊗ x`` with the residual ``r = p - onehot(argmax p)``: its norm grows
with uncertainty, its direction says which classes are confused and where in feature space.
Built whole, the embedding is pool x classes x dim (41 GB at 1M x 512 x 10). k-means++ needs
only norms and distances to each pick, and for outer products both factor:

    ||g_i||^2        = ||r_i||^2 ||x_i||^2,   where ||r||^2 = 1 - 2 p_y + sum(p^2)
    ||g_i - g_j||^2  = ||g_i||^2 + ||g_j||^2 - 2 (r_i . r_j)(x_i . x_j)

so a distance to a pick costs one dot product with the pick's features and one with its
residual: O(rows x (classes + dim)) per pick, O(rows) memory.

On a pool larger than :data:`BADGE_CANDIDATES`, k-means++ runs over that many samples of the
largest gradient norm (a pre-selection, so picks differ from exact BADGE there): each pick
would otherwise read the whole pool again (50 picks at 1M x 512 read 100 GB), and the
candidates kept are the uncertain samples BADGE is after; diversity among them still comes
from k-means++. Pools up to that size get exact BADGE, the same picks as the full embedding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from alflow.strategies.pool import map_chunks

BADGE_CANDIDATES = 20_000


def residuals(proba: np.ndarray) -> np.ndarray:
    """``p - onehot(argmax p)`` per row: the gradient's class factor."""
    residual = np.array(proba, dtype=np.float64)
    residual[np.arange(len(proba)), proba.argmax(axis=1)] -= 1.0
    return residual


def row_sq_norms(X: Any) -> np.ndarray:
    """Squared Euclidean norm of every row, in float64, one chunk at a time."""

    def sq(rows: np.ndarray) -> np.ndarray:
        flat = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
        return np.einsum("ij,ij->i", flat, flat)

    return map_chunks(sq, X)


def gradient_sq_norms(residual: np.ndarray, X: Any) -> np.ndarray:
    """``||r_i ⊗ x_i||^2 = ||r_i||^2 ||x_i||^2`` for every row."""
    return (residual**2).sum(axis=1) * row_sq_norms(X)


@dataclass(frozen=True)
class GradientEmbedding:
    """The gradient embeddings ``residual[i] ⊗ X[i]`` of some rows, held as their two factors.

    ``sq_norms`` are the embeddings' squared norms, ``||g_i||^2``.
    """

    X: Any
    residual: np.ndarray
    sq_norms: np.ndarray

    @classmethod
    def of(cls, proba: np.ndarray, X: Any) -> GradientEmbedding:
        residual = residuals(proba)
        return cls(X, residual, gradient_sq_norms(residual, X))

    def sq_distances_to(self, j: int) -> np.ndarray:
        """``||g_i - g_j||^2`` for every row ``i`` (clipped at 0 against rounding)."""
        x_j = np.asarray(self.X[j], dtype=np.float64).ravel()
        x_dots = map_chunks(lambda rows: np.asarray(rows).reshape(len(rows), -1) @ x_j, self.X)
        r_dots = self.residual @ self.residual[j]
        norms = self.sq_norms
        return np.maximum(norms + norms[j] - 2.0 * r_dots * x_dots, 0.0)


def residual_sq_norms(proba: np.ndarray) -> np.ndarray:
    """``||r||^2 = 1 - 2 p_y + sum(p^2)`` per row, without a residual array of the pool's size.

    Exact to about 1e-15 absolute: enough to rank candidates, whose norms are the large ones.
    """
    sq = 1.0 - 2.0 * proba.max(axis=1) + np.einsum("ij,ij->i", proba, proba)
    return np.maximum(sq, 0.0)


def badge_candidates(proba: np.ndarray, X_pool: Any) -> np.ndarray:
    """Sorted pool positions k-means++ runs over: all, or the largest gradient norms."""
    if len(proba) <= BADGE_CANDIDATES:
        return np.arange(len(proba))
    sq_norms = residual_sq_norms(proba) * row_sq_norms(X_pool)
    return np.sort(np.argpartition(-sq_norms, BADGE_CANDIDATES - 1)[:BADGE_CANDIDATES])
