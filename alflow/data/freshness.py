"""Noticing feature values changed in place, at a cost proportional to the changed samples.

The cache key covers the sample set, not the values, so re-computed embeddings on the same
samples would keep being served from the old cache. Every cache therefore keeps, beside the
matrix, a digest of each row's raw (unstandardised) float32 values (``digests.npy``) and a
*mark* (``fresh.json``): the newest ``last_modified_at`` of the dataset's samples when the
values were last known to match. When the cache is opened, only samples modified since the mark
have their feature values read again and compared by digest; any difference rebuilds the cache.

FiftyOne bumps ``last_modified_at`` for every write through it, alflow's own included (the
initial labels of a new loop, clearing a deleted loop's fields). Those writes never change
features, so alflow records the time window of each of them (:func:`own_write`) and samples
whose last change falls inside such a window are not read again. (A feature edit by someone
else inside that same window of seconds is the one case this can miss; ``alflow features LOOP
--refresh`` rebuilds the cache unconditionally.) A round's predictions and the split markers
are written without moving ``last_modified_at`` (:mod:`alflow.data.bulk_writes`), so they need no
window.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DIGESTS, MARK = "digests.npy", "fresh.json"


def row_digests(block: np.ndarray) -> np.ndarray:
    """An 8-byte digest of each row's float32 values (as 16 hex characters)."""
    rows = np.ascontiguousarray(block, dtype=np.float32)
    return np.asarray(
        [hashlib.blake2b(row.tobytes(), digest_size=8).hexdigest() for row in rows], dtype="U16"
    )


def _iso(t: datetime) -> str:
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def read_mark(directory: Path) -> dict:
    path = directory / MARK
    if not path.exists():
        return {"mark": None, "own_writes": []}
    return json.loads(path.read_text())


def write_mark(directory: Path, state: dict) -> None:
    """Replace ``fresh.json`` atomically (concurrent writers: the last one wins, all valid)."""
    fd, tmp = tempfile.mkstemp(prefix=".fresh-", dir=directory)
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh)
    os.replace(tmp, directory / MARK)


def set_mark(directory: Path, mark: datetime | None) -> None:
    """Record that the cached values matched the dataset as of ``mark``."""
    state = read_mark(directory)
    state["mark"] = None if mark is None else _iso(mark)
    if mark is not None:  # windows before the mark can no longer matter
        state["own_writes"] = [w for w in state["own_writes"] if _parse(w[1]) > _aware(mark)]
    write_mark(directory, state)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@contextmanager
def own_write(directory: Path) -> Iterator[None]:
    """Record the block as a window of alflow's own writes, which change no feature value."""
    start = datetime.now(UTC)
    try:
        yield
    finally:
        end = datetime.now(UTC)
        if directory.exists():
            state = read_mark(directory)
            state["own_writes"] = [*state["own_writes"], [_iso(start), _iso(end)]]
            write_mark(directory, state)


def modified_filter(state: dict) -> dict | None:
    """The MongoDB filter of samples modified since the mark outside alflow's own writes.

    None when there is no mark (the cache's values cannot be vouched for: rebuild it).
    """
    if not state.get("mark"):
        return None
    query: dict = {"last_modified_at": {"$gt": _parse(state["mark"])}}
    windows = [
        {"last_modified_at": {"$gte": _parse(a), "$lte": _parse(b)}}
        for a, b in state.get("own_writes", [])
    ]
    if windows:
        query["$nor"] = windows
    return query


def changed_rows(ids: list[str], digests: np.ndarray, fresh: np.ndarray) -> list[str]:
    """Ids whose fresh raw values (rows of ``fresh``) differ from the cached digests."""
    return [
        sid for sid, old, new in zip(ids, digests, row_digests(fresh), strict=True) if old != new
    ]
