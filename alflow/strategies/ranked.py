"""Ranked batch mode (Cardoso et al., 2017) as modAL selects it, at the pool sizes alflow meets.

modAL's ``ranked_batch`` picks, ``n_instances`` times, the unpicked pool sample with the highest

    alpha * (1 - 1 / (1 + d)) + (1 - alpha) * uncertainty,

where ``d`` is the Euclidean distance to the nearest labelled-or-already-picked sample and
``alpha = |unpicked pool| / (|unpicked pool| + |labelled| + |picked|)`` (so the weight shifts
toward uncertainty as labels accumulate), ties going to the lowest pool position. It recomputes
every distance to the whole growing labelled set for each pick and copies the unpicked pool each
time: O(batch x pool x labelled x dim) time and a pool copy per pick.

:func:`ranked_batch` makes the same picks with one pass for the distances to the labelled set,
then one distance to the new pick per pool sample per pick (the nearest distance only ever
shrinks): O(pool x (labelled + batch) x dim) time and O(pool) memory. Distances come from the
same scikit-learn function modAL calls (``pairwise_distances_argmin_min``, whose reduction works
tile by tile and never holds a pool x labelled matrix), in the same dtype, so they are the same
numbers; the pool is passed in chunks only where a dtype cast would otherwise copy it whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import pairwise_distances_argmin_min

from alflow.strategies.pool import map_chunks


def nearest_distances(X_pool: Any, Y: np.ndarray) -> np.ndarray:
    """Euclidean distance from every pool row to its nearest row of ``Y``, shape (pool,)."""

    def nearest(rows: np.ndarray) -> np.ndarray:
        return pairwise_distances_argmin_min(rows, Y, metric="euclidean")[1]

    if isinstance(X_pool, np.ndarray) and X_pool.dtype == Y.dtype:  # scikit-learn reads it in tiles
        return nearest(X_pool)
    return map_chunks(nearest, X_pool)


def ranked_batch(
    X_pool: Any, X_labelled: np.ndarray, uncertainty: np.ndarray, n_instances: int
) -> np.ndarray:
    """Pool positions modAL's ranked batch picks, best first (see the module docstring).

    Args:
        X_pool: the pool, rows of features (a memory-mapped array is read, not copied).
        X_labelled: the labelled samples (at least one).
        uncertainty: one score per pool sample (modAL uses least confidence).
        n_instances: picks wanted; at most the pool's size are made.
    """
    X_labelled = np.asarray(X_labelled).reshape(len(X_labelled), -1)
    n_pool, n_labelled = len(X_pool), len(X_labelled)
    # modAL stacks each pick onto the labelled set, so later distances are in the stack's dtype
    dtype = np.result_type(np.asarray(X_pool[:0]).dtype, X_labelled.dtype)
    nearest = nearest_distances(X_pool, X_labelled.astype(dtype, copy=False))
    taken = np.zeros(n_pool, dtype=bool)
    picks: list[int] = []
    for step in range(min(n_pool, n_instances)):
        n_unlabelled = n_pool - step
        alpha = n_unlabelled / (n_unlabelled + n_labelled + step)
        scores = alpha * (1 - 1 / (1 + nearest)) + (1 - alpha) * uncertainty
        scores[taken] = -np.inf
        best = int(np.argmax(scores))  # the first of equal scores, as modAL's argmax takes
        picks.append(best)
        taken[best] = True
        if step + 1 < n_instances:
            picked_row = np.asarray(X_pool[best : best + 1], dtype=dtype).reshape(1, -1)
            nearest = np.minimum(nearest, nearest_distances(X_pool, picked_row))
    return np.asarray(picks, dtype=int)
