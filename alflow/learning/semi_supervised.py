"""Semi-supervised learners: they fit on the labelled samples *and* the loop's unlabelled pool.

scikit-learn's ``sklearn.semi_supervised`` estimators (``LabelSpreading``, ``LabelPropagation``,
``SelfTrainingClassifier``) take one matrix of labelled and unlabelled rows, with integer class
codes and ``-1`` for "unlabelled". alflow's learner stays a modAL ``ActiveLearner``, which fits its
estimator on the taught samples only, so :class:`SemiSupervisedClassifier` wraps the scikit-learn
model and brings the rest:

* **the pool** (:class:`UnlabelledPool`): a mask over the rows of a feature source (the loop's
  memory-mapped feature cache, or an in-memory array in simulations) saying which rows may serve
  as unlabelled data. :func:`alflow.learning.learners.fit_learner` hands it to the wrapper before
  the first fit, and :func:`alflow.learning.learners.teach` removes newly taught samples from it
  before each refit. The round code builds it from every sample *except the held-out (eval)
  samples*: neither their labels nor their features ever reach a fit, so the held-out accuracy
  measures generalisation to samples the learner never saw (as it does for the supervised learners,
  keeping the metrics and the plateau stop rule comparable), and a held-out sample that changes
  cannot change the model.
* **bounded cost**: at most ``max_unlabelled`` pool rows join a fit, drawn without replacement
  from ``np.random.default_rng([random_state, n_labels])``, so the draw is reproducible from the
  loop's ``random_state`` and the number of labels alone.
* **class names**: codes are the sorted class names' positions; ``classes_`` stays the names, and
  ``predict_proba``'s columns follow it, for any sample (pool, held-out or new).
* **small checkpoints**: a fitted ``LabelSpreading`` keeps its whole training matrix. The wrapper
  never pickles the unlabelled rows nor the fitted model: it keeps the labelled rows, the pool's
  mask (one bit per row) and the positions and sha256 of the rows it used, and after loading it
  reads those rows back from the feature cache (refusing rows whose hash changed) and refits once,
  deterministically, before its first prediction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.semi_supervised import LabelPropagation, LabelSpreading

from alflow.config.semi_supervised import (  # re-exported: the configurations' public path
    SEMI_SUPERVISED_KINDS,
    LabelPropagationConfig,
    LabelSpreadingConfig,
    SelfTrainingConfig,
    SemiSupervisedConfig,
    is_semi_supervised,
)
from alflow.errors import AlflowError, ConfigError, FeatureError

__all__ = [
    "SEMI_SUPERVISED_KINDS",
    "UNLABELLED",
    "ArraySource",
    "CacheSource",
    "LabelPropagationConfig",
    "LabelSpreadingConfig",
    "SelfTrainingConfig",
    "SemiSupervisedClassifier",
    "SemiSupervisedConfig",
    "UnlabelledPool",
    "array_pool",
    "build_semi_supervised",
    "cached_pool",
    "draw_unlabelled",
    "is_semi_supervised",
]

UNLABELLED = -1  # scikit-learn's code for a row without a label


# --------------------------------------------------------------------------------------------
# The pool
# --------------------------------------------------------------------------------------------


class ArraySource:
    """Features held in memory (simulations, tests). Refuses to be pickled: a checkpoint must
    never carry the pool's rows, and an in-memory source has nowhere else to rebuild them from."""

    def __init__(self, X: np.ndarray, ids: np.ndarray):
        self.X = np.asarray(X, dtype=np.float32)
        self.ids = np.asarray(ids, dtype=str)
        self._position = {sid: i for i, sid in enumerate(self.ids)}

    def rows(self, ids: list[str]) -> np.ndarray:
        return np.asarray([self._position[i] for i in ids if i in self._position], dtype=np.int64)

    def __getstate__(self):
        raise AlflowError(
            "a learner whose unlabelled pool is an in-memory array cannot be checkpointed; "
            "fit it on a feature-cache pool (alflow.learning.semi_supervised.cached_pool) to "
            "save it"
        )


class CacheSource:
    """The loop's feature cache (:mod:`alflow.data.features`), opened memory-mapped when needed.

    Pickles as its directory and a hash of its ids, never rows; a cache whose ids changed (the
    dataset changed and the cache was rebuilt) is refused rather than silently misread.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.ids_sha256 = _sha256(self._matrix().ids)
        self._fm = None

    def _matrix(self):
        from alflow.data.features import open_cache

        if not Path(self.path, "X.npy").exists():
            raise FeatureError(
                f"the feature cache {self.path} this learner's unlabelled pool came from is "
                "gone; refit the learner (roll the loop back to round 0 or create it again)"
            )
        return open_cache(Path(self.path))

    @property
    def fm(self):
        if self._fm is None:
            fm = self._matrix()
            if _sha256(fm.ids) != self.ids_sha256:
                raise FeatureError(
                    f"the feature cache {self.path} holds other samples than when this learner "
                    "was fitted; refit the learner (roll the loop back to round 0)"
                )
            self._fm = fm
        return self._fm

    @property
    def X(self) -> np.ndarray:
        return self.fm.X

    @property
    def ids(self) -> np.ndarray:
        return self.fm.ids

    def rows(self, ids: list[str]) -> np.ndarray:
        return self.fm.rows(ids)

    def __getstate__(self):
        return {"path": self.path, "ids_sha256": self.ids_sha256}

    def __setstate__(self, state):
        self.__dict__.update(state, _fm=None)


@dataclass
class UnlabelledPool:
    """Which rows of ``source`` may serve as unlabelled data: ``mask`` has one flag per row."""

    source: ArraySource | CacheSource
    mask: np.ndarray

    def without(self, ids: list[str]) -> UnlabelledPool:
        """The pool less ``ids`` (samples just labelled); ids outside it are ignored."""
        mask = self.mask.copy()
        mask[self.source.rows([str(i) for i in ids])] = False
        return UnlabelledPool(self.source, mask)

    @property
    def size(self) -> int:
        return int(self.mask.sum())

    def __getstate__(self):  # one bit per row: 125 kB for a million samples
        return {"source": self.source, "bits": np.packbits(self.mask), "n": len(self.mask)}

    def __setstate__(self, state):
        self.source = state["source"]
        self.mask = np.unpackbits(state["bits"], count=state["n"]).astype(bool)


def array_pool(X: np.ndarray, ids: list[str], held_out: list[str] = ()) -> UnlabelledPool:
    """An in-memory pool over rows ``X`` (ids ``ids``), less the ``held_out`` samples."""
    source = ArraySource(X, np.asarray(ids, dtype=str))
    return UnlabelledPool(source, np.ones(len(source.ids), dtype=bool)).without(list(held_out))


def cached_pool(path: str | Path, held_out: list[str]) -> UnlabelledPool:
    """The pool over the feature cache at ``path``, less the ``held_out`` (eval) samples."""
    source = CacheSource(path)
    return UnlabelledPool(source, np.ones(len(source.ids), dtype=bool)).without(list(held_out))


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def draw_unlabelled(
    pool: UnlabelledPool, limit: int | None, random_state: int, n_labels: int
) -> np.ndarray:
    """Sorted source rows of the pool that join a fit: all, or ``limit`` drawn without
    replacement from ``default_rng([random_state, n_labels])`` (see the module docstring)."""
    rows = np.flatnonzero(pool.mask)
    if limit is None or len(rows) <= limit:
        return rows
    rng = np.random.default_rng([random_state, n_labels])
    return np.sort(rng.choice(rows, size=limit, replace=False))


# --------------------------------------------------------------------------------------------
# The wrapper
# --------------------------------------------------------------------------------------------


class SemiSupervisedClassifier(ClassifierMixin, BaseEstimator):
    """A scikit-learn semi-supervised model fitted on labelled rows plus the pool's rows.

    Args:
        model: an unfitted ``LabelSpreading``, ``LabelPropagation`` or ``SelfTrainingClassifier``.
        max_unlabelled: most pool rows per fit (``None``: all).
        random_state: seeds the draw of pool rows.
    """

    def __init__(self, model=None, max_unlabelled: int | None = None, random_state: int = 0):
        self.model = model
        self.max_unlabelled = max_unlabelled
        self.random_state = random_state
        self.pool: UnlabelledPool | None = None

    def set_pool(self, pool: UnlabelledPool) -> None:
        """The unlabelled pool the next fits draw from."""
        self.pool = pool

    def fit(self, X, y) -> SemiSupervisedClassifier:
        if self.pool is None:
            raise ConfigError(
                f"{type(self.model).__name__} learns from the unlabelled pool, and none was "
                "given: fit it through alflow.learning.learners.fit_learner with unlabelled=<pool>"
            )
        y = np.asarray(y, dtype=str)
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.X_labelled_ = np.asarray(X, dtype=np.float32)
        self.codes_ = codes.astype(np.int64)
        self.unlabelled_rows_ = draw_unlabelled(
            self.pool, self.max_unlabelled, self.random_state, len(y)
        )
        X_u = np.asarray(self.pool.source.X[self.unlabelled_rows_], dtype=np.float32)
        self.unlabelled_sha256_ = _sha256(X_u)
        self._fit_model(X_u)
        return self

    def _fit_model(self, X_u: np.ndarray) -> None:
        from sklearn.base import clone

        X_all = np.vstack([self.X_labelled_, X_u])
        y_all = np.concatenate([self.codes_, np.full(len(X_u), UNLABELLED)])
        self.model_ = clone(self.model).fit(X_all, y_all)
        self.neighbours_ = None
        if isinstance(self.model_, LabelSpreading | LabelPropagation):
            self.neighbours_ = NearestNeighbors(n_neighbors=self.model_.n_neighbors).fit(X_all)

    def _rebuild(self) -> None:
        """Read the rows of the last fit back from the feature cache and refit (after loading)."""
        X_u = np.asarray(self.pool.source.X[self.unlabelled_rows_], dtype=np.float32)
        if _sha256(X_u) != self.unlabelled_sha256_:
            raise FeatureError(
                f"the features of the {len(X_u)} pool samples this learner was fitted with "
                "changed in the cache since; refit the learner (roll the loop back to round 0)"
            )
        self._fit_model(X_u)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (columns follow ``classes_``) for any rows ``X``."""
        if getattr(self, "model_", None) is None:
            self._rebuild()
        X = np.asarray(X, dtype=np.float32)
        if self.neighbours_ is None:
            return self.model_.predict_proba(X)
        # scikit-learn's kNN predict_proba loops over samples in Python; this is the same sum
        # of the neighbours' label distributions, vectorised
        neighbours = self.neighbours_.kneighbors(X, return_distance=False)
        proba = self.model_.label_distributions_[neighbours].sum(axis=1)
        total = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1.0 / proba.shape[1])
        return np.where(total > 0, proba / np.where(total > 0, total, 1.0), uniform)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def __getstate__(self):
        # never the pool's rows: the fitted model (which holds them) is rebuilt after loading
        state = dict(self.__dict__)
        state.pop("model_", None)
        state.pop("neighbours_", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def build_semi_supervised(config: SemiSupervisedConfig, random_state: int):
    """A fresh :class:`SemiSupervisedClassifier` for ``config`` (set its pool before fitting)."""
    if not isinstance(config, LabelSpreadingConfig | LabelPropagationConfig | SelfTrainingConfig):
        raise TypeError(f"no builder for estimator configuration {type(config).__name__}")
    return SemiSupervisedClassifier(config.build(random_state), config.max_unlabelled, random_state)
