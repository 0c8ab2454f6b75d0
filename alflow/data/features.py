"""Feature matrices: assembled from sample fields, validated, cached as float32 arrays.

FiftyOne stores vectors as compressed ``np.save`` bytes, so reading 100k x 512 embeddings takes
seconds. A loop reads them once into ``<ALFLOW_HOME>/cache/<key>/`` (``X.npy`` float32 and
``ids.npy``) and every later step opens the cache memory-mapped, so memory stays bounded by what
a step actually touches. The cache key covers the dataset, the fields, the standardisation flag
and a fingerprint of the sample set (count, smallest and largest id); a change of feature
*values* on the same samples is noticed by :mod:`alflow.data.freshness` (per-row digests, re-read
only for samples modified since the cache's mark), which rebuilds the cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from alflow.data import freshness
from alflow.errors import FeatureError, plural, preview_ids
from alflow.services import file_locks


def _column(values: Sequence, field: str, ids: Sequence[str]) -> np.ndarray:
    """One field's values as a 2-D float array, raising FeatureError on bad samples."""
    if isinstance(values, np.ndarray) and values.ndim >= 1 and values.dtype.kind in "fiub":
        return _finite(values.reshape(len(values), -1).astype(np.float32, copy=False), field, ids)
    missing = [ids[i] for i, v in enumerate(values) if v is None]
    if missing:
        raise FeatureError(
            f"feature field {field!r} is missing on {plural(len(missing), 'sample')} "
            f"({preview_ids(missing)}); "
            "compute it for every sample or exclude those samples from the dataset"
        )
    text = [ids[i] for i, v in enumerate(values) if _holds_text(v)]
    if text:
        # numpy would parse "1.5" as a number: a string field is never silently used as numbers
        raise FeatureError(
            f"feature field {field!r} holds text instead of numbers on "
            f"{plural(len(text), 'sample')} ({preview_ids(text)}); use float or vector fields"
        )
    lengths = [np.size(v) for v in values]
    if len(set(lengths)) > 1:
        common = max(set(lengths), key=lengths.count)
        odd = [ids[i] for i, n in enumerate(lengths) if n != common]
        raise FeatureError(
            f"feature field {field!r} has ragged vectors: most have length {common}, but "
            f"{plural(len(odd), 'sample')} {'differs' if len(odd) == 1 else 'differ'} "
            f"({preview_ids(odd)}); recompute them with one model"
        )
    try:
        column = np.asarray([np.ravel(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise FeatureError(
            f"feature field {field!r} holds non-numeric values ({exc}); use float or vector fields"
        ) from None
    with np.errstate(over="ignore"):  # beyond float32's range: infinite, refused just below
        column = column.reshape(len(values), -1).astype(np.float32)
    return _finite(column, field, ids)


def _finite(column: np.ndarray, field: str, ids: Sequence[str]) -> np.ndarray:
    bad = ~np.isfinite(column).all(axis=1)
    if bad.any():
        where = [ids[i] for i in np.flatnonzero(bad)]
        raise FeatureError(
            f"feature field {field!r} has NaN or infinite values on {plural(len(where), 'sample')} "
            f"({preview_ids(where)}); fix or recompute them (features are stored as float32: "
            "a magnitude beyond 3.4e38 is infinite)"
        )
    return column


def _holds_text(value) -> bool:
    """Whether a feature value is (or contains) strings or bytes rather than numbers."""
    if isinstance(value, str | bytes):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "USO" and any(isinstance(v, str | bytes) for v in value.flat)
    if isinstance(value, list | tuple):
        return any(_holds_text(v) for v in value)
    return False


def _blocks(
    chunks: Iterable[tuple[Sequence[str], dict[str, Sequence]]],
) -> Iterator[tuple[Sequence[str], np.ndarray]]:
    """Each chunk's ids and float32 block, checked like one read (widths agree across chunks)."""
    widths: dict[str, int] | None = None
    for chunk_ids, columns in chunks:
        if not columns:
            raise FeatureError("no feature fields given; name at least one vector or float field")
        parts = {f: _column(v, f, chunk_ids) for f, v in columns.items()}
        seen = {f: part.shape[1] for f, part in parts.items()}
        if widths is None:
            widths = seen
        for field, width in seen.items():
            if width != widths[field]:
                raise FeatureError(
                    f"feature field {field!r} has ragged vectors: the first samples have length "
                    f"{widths[field]}, but {plural(len(chunk_ids), 'later sample')} "
                    f"{'has' if len(chunk_ids) == 1 else 'have'} {width} "
                    f"({preview_ids(chunk_ids)}); recompute them with one model"
                )
        blocks = list(parts.values())
        yield chunk_ids, blocks[0] if len(blocks) == 1 else np.hstack(blocks)


def assemble(columns: dict[str, Sequence], ids: Sequence[str]) -> np.ndarray:
    """Concatenate per-field values, in the order of ``columns``, into one float32 matrix.

    Raises:
        FeatureError: no fields, or missing, non-numeric, non-finite or ragged values.
    """
    ((_, X),) = _blocks([(ids, columns)])
    return X


def standardize_in_place(X: np.ndarray, chunk: int = 65_536) -> None:
    """Zero-mean, unit-variance columns (constant columns become zero), chunk by chunk.

    Works on a memory-mapped matrix without a second copy: two passes in float64 (mean, then
    squared deviations, like ``X.std``), then one writing pass.
    """
    n = len(X)
    if n == 0:
        return
    total = np.zeros(X.shape[1])
    for start in range(0, n, chunk):
        total += X[start : start + chunk].sum(axis=0, dtype=np.float64)
    mean = total / n
    squares = np.zeros(X.shape[1])
    for start in range(0, n, chunk):
        squares += ((X[start : start + chunk] - mean) ** 2).sum(axis=0)
    scale = np.sqrt(squares / n)
    scale[scale == 0] = 1.0
    for start in range(0, n, chunk):
        X[start : start + chunk] = ((X[start : start + chunk] - mean) / scale).astype(np.float32)


def spans(n: int, chunk: int) -> list[tuple[int, int]]:
    """``[start, stop)`` pairs covering ``range(n)`` rows in steps of ``chunk``: how a matrix
    too big to handle at once is read, scored or searched piece by piece."""
    return [(start, min(start + chunk, n)) for start in range(0, n, chunk)]


def cache_key(
    dataset: str, fields: Sequence[str], standardized: bool, fingerprint: Sequence[str]
) -> str:
    """A short stable key for a feature matrix of ``dataset`` in the state ``fingerprint``."""
    digest = hashlib.sha256()
    digest.update(json.dumps([dataset, list(fields), standardized, list(fingerprint)]).encode())
    return f"{dataset[:40]}-{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class FeatureMatrix:
    """A cached feature matrix: rows of ``X`` follow ``ids``; ``order`` sorts ``ids``.

    All three arrays are memory-mapped: a million ids (about 100 MB of fixed-width strings)
    are paged in only where a step reads them.
    """

    path: Path
    ids: np.ndarray
    X: np.ndarray
    order: np.ndarray

    @cached_property
    def sorted_ids(self) -> np.ndarray:
        """``ids`` in sorted order, computed once per opened matrix (for :meth:`rows`)."""
        return np.asarray(self.ids[self.order])

    def rows(self, wanted: Sequence[str]) -> np.ndarray:
        """Row positions of ``wanted`` ids, raising FeatureError for unknown ids."""
        wanted_arr = np.asarray(list(wanted), dtype=self.ids.dtype)
        if not len(self.ids):
            found = np.zeros(len(wanted_arr), dtype=bool)
            pos = np.zeros(len(wanted_arr), dtype=int)
        else:
            sorted_ids = self.sorted_ids
            pos = np.clip(np.searchsorted(sorted_ids, wanted_arr), 0, len(sorted_ids) - 1)
            found = sorted_ids[pos] == wanted_arr
        if not np.all(found):
            unknown = wanted_arr[~found]
            raise FeatureError(
                f"{plural(len(unknown), 'sample')} {'has' if len(unknown) == 1 else 'have'} no "
                f"cached features ({preview_ids(unknown)}); "
                "they were added after the cache was built: run the step again to rebuild it"
            )
        return self.order[pos]

    def take(self, wanted: Sequence[str]) -> np.ndarray:
        """Feature rows for ``wanted`` ids, in that order."""
        return np.asarray(self.X[self.rows(wanted)])


def build_cache(
    directory: Path,
    chunks: Iterable[tuple[Sequence[str], dict[str, Sequence]]],
    n_rows: int,
    standardized: bool,
) -> FeatureMatrix:
    """Assemble ``chunks`` straight into a memory-mapped ``X.npy`` under ``directory``.

    Peak memory is one chunk plus the ids, not the matrix: a million 512-d float32 rows (2 GB)
    never sit in memory at once. Nothing is left behind when a chunk is bad.

    Raises:
        FeatureError: bad values (see :func:`assemble`; vector lengths must also agree
            between chunks), or not ``n_rows`` rows.
    """
    tmp = _fresh_tmp(directory)
    try:
        ids: list[str] = []
        digests: list[np.ndarray] = []
        X = None
        for chunk_ids, block in _blocks(chunks):
            digests.append(freshness.row_digests(block))  # of the raw values: see freshness
            if X is None:
                shape = (n_rows, block.shape[1])
                X = np.lib.format.open_memmap(tmp / "X.npy", "w+", np.float32, shape)
            if len(ids) + len(block) > n_rows:
                raise _changed_while_read(len(ids) + len(block), n_rows)
            X[len(ids) : len(ids) + len(block)] = block
            ids.extend(chunk_ids)
        if len(ids) != n_rows:
            raise _changed_while_read(len(ids), n_rows)
        if X is None:
            np.save(tmp / "X.npy", np.zeros((0, 0), dtype=np.float32))
        else:
            if standardized:
                standardize_in_place(X)
            X.flush()
            del X
        _save_ids(tmp, np.asarray(ids, dtype=str))
        np.save(
            tmp / freshness.DIGESTS, np.concatenate(digests) if digests else np.array([], "U16")
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _publish(tmp, directory)


def _changed_while_read(read: int, expected: int) -> FeatureError:
    return FeatureError(
        f"{read} samples were read where {expected} were expected; the dataset "
        "changed while its features were read: run the step again"
    )


def _fresh_tmp(directory: Path) -> Path:
    """A new private folder next to ``directory``: concurrent builders never share one."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{directory.name}.tmp-", dir=directory.parent))


def _save_ids(directory: Path, ids: np.ndarray) -> None:
    np.save(directory / "ids.npy", ids)
    np.save(directory / "order.npy", np.argsort(ids, kind="stable"))


def _publish(tmp: Path, directory: Path) -> FeatureMatrix:
    """Put the finished ``tmp`` in place of ``directory`` and open it.

    Two renames under the key's swap lock, never a removal in place: a reader (which takes the
    lock shared, for the instant of opening) finds the old cache or the new one, never a
    half-deleted folder or files of both. Two publishers of one key take turns; the later
    one's (equal) cache stays.
    """
    old = Path(tempfile.mkdtemp(prefix=f"{directory.name}.old-", dir=directory.parent))
    with file_locks.held(_lock_path(directory, "swap")):
        if directory.exists():
            directory.rename(old / "cache")
        tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    return open_cache(directory)


@contextmanager
def build_lock(directory: Path) -> Iterator[None]:
    """Serialise the builds of one cache key across processes: the second builder waits,
    then finds the first one's cache instead of reading the dataset again."""
    with file_locks.held(_lock_path(directory, "build")):
        yield


def _lock_path(directory: Path, purpose: str) -> Path:
    """A lock file next to the cache folder (hidden: it outlives every version of it)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    return directory.parent / f".{directory.name}.{purpose}-lock"


def open_cache(directory: Path) -> FeatureMatrix:
    """Open a cached matrix memory-mapped, so only touched rows (and ids) are read.

    Under the key's swap lock, shared: a concurrent :func:`_publish` waits the instant this
    takes, and the files opened are of one version (once open, a replaced file stays readable).

    Raises:
        FileNotFoundError: there is no cache at ``directory``.
    """
    with file_locks.held(_lock_path(directory, "swap"), shared=True):
        if not directory.exists():
            raise FileNotFoundError(f"no feature cache at {directory}")
        return FeatureMatrix(
            path=directory,
            ids=np.load(directory / "ids.npy", mmap_mode="r"),
            X=np.load(directory / "X.npy", mmap_mode="r"),
            order=np.load(directory / "order.npy", mmap_mode="r"),
        )
