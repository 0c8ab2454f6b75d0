"""What every strategy checks and reads: the pool in chunks, the learner, explicit randomness.

The pool may be a memory-mapped array of a million rows, so nothing here copies it whole: the
learner is asked for probabilities one chunk of rows at a time (:func:`map_chunks`), and only
the per-sample results (a score, or one row of class probabilities) are kept for the whole pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from modAL.models import Committee
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from alflow.config.strategy_names import COLD_START_STRATEGIES
from alflow.data.features import spans
from alflow.errors import ConfigError, PoolExhaustedError

RandomState = int | np.random.Generator | None

# Values (rows x features) read from the pool at once: 2M float32 values are 8 MB, small beside
# the pool and large enough that a forest's predict_proba is not dominated by per-call overhead.
CHUNK_VALUES = 2**21


def rng_of(random_state: RandomState) -> np.random.Generator:
    """``random_state`` as a generator (a generator is used as it is, so draws follow it)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def seed_of(rng: np.random.Generator) -> int:
    """An int seed for scikit-learn, drawn from ``rng`` (so it follows ``random_state``)."""
    return int(rng.integers(2**31 - 1))


def check_pool(n_pool: int, n_instances: int) -> None:
    """Raise unless a pool of ``n_pool`` samples can fill a batch of ``n_instances``.

    Raises:
        ConfigError: ``n_instances`` is below 1.
        PoolExhaustedError: fewer samples are left than requested (the message has both).
    """
    if n_instances < 1:
        raise ConfigError(f"n_instances must be at least 1, got {n_instances}")
    if n_pool < n_instances:
        raise PoolExhaustedError(
            f"pool exhausted: {n_pool} unlabelled samples left, {n_instances} requested; "
            "lower batch_size or add samples"
        )


def chunk_bounds(n_rows: int, n_features: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` row ranges covering ``n_rows``, each about :data:`CHUNK_VALUES` values."""
    yield from spans(n_rows, max(256, CHUNK_VALUES // max(n_features, 1)))


class PoolRows:
    """The pool's rows of a (memory-mapped) feature matrix, read on demand, never copied whole.

    The pool is the cache's matrix minus the labelled, held-out and queued rows; indexing the
    memory map with the pool's row numbers would copy the pool (2 GB at a million x 512). This
    reads only the rows a strategy asks for (a chunk, a candidate set); ``np.asarray`` of it is
    the one full copy, which only the small-pool paths make.
    """

    def __init__(self, X: Any, rows: np.ndarray, proba: np.ndarray | None = None) -> None:
        self.X, self.rows = X, np.asarray(rows, dtype=np.intp)
        # the learner's probabilities for these rows, when already computed (pool_scores)
        self.proba = proba

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.X.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.X.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.X[self.rows[key]])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.X[self.rows], dtype=dtype)


def n_features_of(X: Any) -> int:
    """Values per row of an array-like pool (1 for a vector)."""
    return int(np.prod(np.shape(X)[1:]))


def map_chunks(fn: Callable[[np.ndarray], np.ndarray], X: Any) -> np.ndarray:
    """``fn`` applied to consecutive row chunks of ``X``, the results stacked in one array.

    The output is allocated once (no list of parts to concatenate, which would double it);
    ``fn`` must return one row (or one value) per input row.
    """
    out: np.ndarray | None = None
    for start, stop in chunk_bounds(len(X), n_features_of(X)):
        part = np.asarray(fn(X[start:stop]))
        if out is None:
            out = np.empty((len(X), *part.shape[1:]), dtype=part.dtype)
        out[start:stop] = part
    return np.empty(0) if out is None else out


def is_fitted(classifier: Any) -> bool:
    """Whether ``classifier`` (modAL learner, committee or estimator) can predict."""
    if classifier is None:
        return False
    if isinstance(classifier, Committee):
        return classifier.classes_ is not None
    estimator = getattr(classifier, "estimator", classifier)
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def require_fitted(classifier: Any, name: str) -> None:
    """Raise ConfigError naming the cold-start strategies unless ``classifier`` can predict."""
    if not is_fitted(classifier):
        raise ConfigError(
            f"strategy {name!r} measures a fitted model's uncertainty, but the learner is not "
            f"fitted: label samples of at least two classes first, or start with a cold-start "
            f"strategy ({', '.join(sorted(COLD_START_STRATEGIES))})"
        )


def pool_proba(classifier: Any, X_pool: Any, name: str) -> np.ndarray:
    """The fitted learner's class probabilities for the pool, shape (samples, classes): those
    the pool carries (the same learner's, kept at its write-back), else computed by chunks."""
    require_fitted(classifier, name)
    kept = getattr(X_pool, "proba", None)
    if kept is not None:
        return kept
    return map_chunks(classifier.predict_proba, X_pool)


def committee_scores(
    classifier: Any, X_pool: Any, measure: Callable[[np.ndarray], np.ndarray], name: str
) -> np.ndarray:
    """A disagreement ``measure`` of the members' probabilities, one chunk of the pool at a time.

    Members' probabilities are (samples, members, classes): kept for one chunk only.
    """
    if not isinstance(classifier, Committee):
        raise ConfigError(
            f"strategy {name!r} measures a committee's disagreement, but the learner is a "
            f"{type(classifier).__name__}: fit it with alflow.learning.learners.fit_learner, which "
            "builds "
            "a modAL Committee for committee strategies"
        )
    require_fitted(classifier, name)
    return map_chunks(lambda X: measure(classifier.vote_proba(X)), X_pool)


def labelled_X(classifier: Any) -> np.ndarray | None:
    """The samples the learner was taught (``None`` for no learner or a bare estimator).

    modAL's Committee keeps no ``X_training`` of its own; its members all hold the labels.
    """
    if isinstance(classifier, Committee):
        classifier = classifier.learner_list[0]
    X = getattr(classifier, "X_training", None)
    return None if X is None else np.asarray(X)


def classes_of(classifier: Any) -> np.ndarray:
    """The classes a fitted learner or committee predicts (empty when it knows none)."""
    if isinstance(classifier, Committee):
        return np.asarray(classifier.classes_ if classifier.classes_ is not None else [])
    estimator = getattr(classifier, "estimator", classifier)
    return np.asarray(getattr(estimator, "classes_", []))
