"""Feature matrices: assembled from sample fields, validated, cached as float32 arrays.

FiftyOne stores vectors as compressed ``np.save`` bytes, so reading 100k x 512 embeddings takes
seconds. A loop reads them once into ``<ALFLOW_HOME>/cache/<key>/`` (``X.npy`` float32 and
``ids.npy``) and every later step opens the cache memory-mapped, so memory stays bounded by what
a step actually touches. The cache key covers the dataset, the fields, the standardisation flag
and the sample ids; a change of feature *values* under the same ids is not detected, so after
recomputing embeddings in place run ``alflow features --refresh`` (or delete the cache folder).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alflow.errors import FeatureError, preview_ids


def _column(values: Sequence, field: str, ids: Sequence[str]) -> np.ndarray:
    """One field's values as a 2-D float array, raising FeatureError on bad samples."""
    missing = [ids[i] for i, v in enumerate(values) if v is None]
    if missing:
        raise FeatureError(
            f"feature field {field!r} is missing on {len(missing)} samples "
            f"({preview_ids(missing)}); "
            "compute it for every sample or exclude those samples from the dataset"
        )
    lengths = [np.size(v) for v in values]
    if len(set(lengths)) > 1:
        common = max(set(lengths), key=lengths.count)
        odd = [ids[i] for i, n in enumerate(lengths) if n != common]
        raise FeatureError(
            f"feature field {field!r} has ragged vectors: most have length {common}, but "
            f"{len(odd)} samples differ ({preview_ids(odd)}); recompute them with one model"
        )
    try:
        column = np.asarray([np.ravel(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise FeatureError(
            f"feature field {field!r} holds non-numeric values ({exc}); use float or vector fields"
        ) from None
    bad = ~np.isfinite(column).all(axis=1)
    if bad.any():
        where = [ids[i] for i in np.flatnonzero(bad)]
        raise FeatureError(
            f"feature field {field!r} has NaN or infinite values on {len(where)} samples "
            f"({preview_ids(where)}); fix or recompute them"
        )
    return column.reshape(len(values), -1)


def assemble(columns: dict[str, Sequence], ids: Sequence[str]) -> np.ndarray:
    """Concatenate per-field values, in the order of ``columns``, into one float32 matrix."""
    if not columns:
        raise FeatureError("no feature fields given; name at least one vector or float field")
    parts = [_column(values, field, ids) for field, values in columns.items()]
    return np.hstack(parts).astype(np.float32)


def standardize(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-mean, unit-variance columns (constant columns left at zero); returns X, mean, scale."""
    mean = X.mean(axis=0, dtype=np.float64)
    scale = X.std(axis=0, dtype=np.float64)
    scale[scale == 0] = 1.0
    return ((X - mean) / scale).astype(np.float32), mean, scale


def cache_key(dataset: str, fields: Sequence[str], standardized: bool, ids: np.ndarray) -> str:
    """A short stable key for a feature matrix."""
    digest = hashlib.sha256()
    digest.update(json.dumps([dataset, list(fields), standardized]).encode())
    digest.update("\n".join(map(str, ids)).encode())
    return f"{dataset[:40]}-{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class FeatureMatrix:
    """A cached feature matrix: rows of ``X`` follow ``ids``."""

    path: Path
    ids: np.ndarray
    X: np.ndarray

    def rows(self, wanted: Sequence[str]) -> np.ndarray:
        """Row positions of ``wanted`` ids, raising FeatureError for unknown ids."""
        order = np.argsort(self.ids)
        sorted_ids = self.ids[order]
        wanted_arr = np.asarray(list(wanted), dtype=object)
        pos = np.searchsorted(sorted_ids, wanted_arr)
        pos = np.clip(pos, 0, max(len(sorted_ids) - 1, 0))
        found = (
            sorted_ids[pos] == wanted_arr if len(sorted_ids) else np.zeros(len(wanted_arr), bool)
        )
        if not np.all(found):
            unknown = wanted_arr[~found]
            raise FeatureError(
                f"{len(unknown)} samples have no cached features ({preview_ids(unknown)}); "
                "they were added after the cache was built: run the step again to rebuild it"
            )
        return order[pos]

    def take(self, wanted: Sequence[str]) -> np.ndarray:
        """Feature rows for ``wanted`` ids, in that order."""
        return np.asarray(self.X[self.rows(wanted)])


def write_cache(directory: Path, ids: np.ndarray, X: np.ndarray) -> FeatureMatrix:
    """Write ``ids``/``X`` atomically into ``directory``."""
    tmp = directory.with_name(directory.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    np.save(tmp / "X.npy", X.astype(np.float32))
    np.save(tmp / "ids.npy", np.asarray(ids, dtype=str))
    if directory.exists():
        for f in directory.iterdir():
            f.unlink()
        directory.rmdir()
    tmp.rename(directory)
    return open_cache(directory)


def open_cache(directory: Path) -> FeatureMatrix:
    """Open a cached matrix memory-mapped."""
    X = np.load(directory / "X.npy", mmap_mode="r")
    ids = np.load(directory / "ids.npy").astype(object)
    return FeatureMatrix(path=directory, ids=ids, X=X)
