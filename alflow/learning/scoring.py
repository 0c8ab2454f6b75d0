"""Scoring rows of the feature cache with a fitted learner: in chunks, here or on Dask workers.

A round scores every sample once (its predictions; a supervised learner's evaluation takes
its held-out rows from the same pass), so scoring must not hold the pool in memory:
:class:`Scorer` walks the memory-mapped matrix ``chunk_size`` rows at a time, on
:data:`THREADS` threads, and keeps only each row's best class and its probability (12 bytes a row).

On Dask (:mod:`alflow.learning.dask_cluster`) the same chunks become tasks. The fitted learner is
scattered once per worker (``broadcast=True``), not sent with every chunk, and each worker opens the
cache file itself, memory-mapped, when it can see the path (a shared filesystem); otherwise the
chunk's rows are shipped to it. At most two chunks per worker are in flight, so neither side
holds more than a few chunks. Chunk boundaries are the same as in-process, so the results are
identical, not just close.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alflow.data.features import FeatureMatrix, spans

log = logging.getLogger(__name__)

# In process, chunks are scored on this many threads: a forest's or a kNN graph's prediction
# releases the GIL (a RandomForest(100) scored 200k x 512 rows in 2.2 s on 2 threads, 4.1 s on
# one), a linear model's is one BLAS call that gains or loses little
THREADS = max(1, min(4, len(os.sched_getaffinity(0))))


@dataclass(frozen=True)
class Scores:
    """Per row: the index of the most probable class in ``classes``, and its probability."""

    classes: tuple[str, ...]
    codes: np.ndarray
    confidence: np.ndarray
    proba: np.ndarray | None = None  # every class's probability, when asked to keep them

    def take(self, rows: np.ndarray) -> Scores:
        """The scores of ``rows`` (indices into these), in that order."""
        proba = None if self.proba is None else self.proba[rows]
        return Scores(self.classes, self.codes[rows], self.confidence[rows], proba)

    def labels(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Class names of ``rows`` (every row by default)."""
        return np.asarray(self.classes, dtype=object)[self.codes[rows]]


def score_block(model, X: np.ndarray, keep: bool = False) -> tuple[np.ndarray, ...]:
    """Best class index (int32) and its probability (float64) for each row of ``X``; with
    ``keep``, every class's probability too."""
    proba = model.predict_proba(np.asarray(X, dtype=np.float32))
    best = proba.argmax(axis=1)
    scored = best.astype(np.int32), np.asarray(proba[np.arange(len(best)), best], np.float64)
    return (*scored, proba) if keep else scored


def score_part(model, source: str | np.ndarray, start: int, stop: int, rows=None, keep=False):
    """Score one chunk; on a worker ``source`` is the cache's ``X.npy`` path (opened
    memory-mapped) or the chunk's shipped rows."""
    if isinstance(source, np.ndarray):
        return score_block(model, source, keep)
    X = np.load(Path(source), mmap_mode="r")
    return score_block(model, X[start:stop] if rows is None else X[rows[start:stop]], keep)


class Scorer:
    """Scores rows of a cached matrix with one fitted learner, in process or on a Dask cluster.

    Create one per learner and client: the learner is sent to the workers once, here.
    """

    def __init__(
        self, learner, classes: Sequence[str], chunk_size: int, client=None, threads: int = 0
    ):
        self.classes = tuple(str(c) for c in classes)
        self.chunk_size = chunk_size
        self.threads = threads or THREADS
        self._client = client
        # hash=False: a key of its own per scorer. Scattered by content hash, a second scorer
        # of the same learner reuses the key while the first one's release deletes that data
        # ("lost dependencies" on a loaded machine)
        self._model = (
            learner if client is None else client.scatter(learner, broadcast=True, hash=False)
        )
        self._shared: dict[str, bool] = {}

    def score(
        self, fm: FeatureMatrix, rows: np.ndarray | None = None, keep_proba: bool = False
    ) -> Scores:
        """Scores of every row of ``fm`` (or of ``rows``, in that order); with ``keep_proba``
        every class's probability as well (rows x classes: the caller bounds the size)."""
        n = len(fm.X) if rows is None else len(rows)
        parts = spans(n, self.chunk_size)
        run = self._in_process if self._client is None else self._on_cluster
        results = list(run(fm, rows, parts, keep_proba))
        if not results:
            return Scores(self.classes, np.zeros(0, np.int32), np.zeros(0))
        columns = [np.concatenate(column) for column in zip(*results, strict=True)]
        return Scores(self.classes, *columns)

    def _in_process(self, fm, rows, parts, keep) -> Iterator[tuple[np.ndarray, ...]]:
        def part(span: tuple[int, int]) -> tuple[np.ndarray, ...]:
            start, stop = span
            block = fm.X[start:stop] if rows is None else fm.X[rows[start:stop]]
            return score_block(self._model, block, keep)

        if self.threads == 1 or len(parts) < 2:
            yield from map(part, parts)
            return
        with ThreadPoolExecutor(self.threads, thread_name_prefix="alflow-score") as pool:
            yield from pool.map(part, parts)  # in order; each part's rows read while it runs

    def _on_cluster(self, fm, rows, parts, keep) -> Iterator[tuple[np.ndarray, ...]]:
        from distributed import wait

        from alflow.learning import dask_cluster

        client = self._client
        path = str((fm.path / "X.npy").resolve())
        shared = self._sees(path)
        rows_future = None
        if shared and rows is not None:
            rows_future = client.scatter(np.asarray(rows), broadcast=True, hash=False)
        window = 2 * dask_cluster.worker_count(client)
        pending: list = []
        for start, stop in parts:
            if shared:
                future = client.submit(
                    score_part, self._model, path, start, stop, rows_future, keep, pure=False
                )
            else:
                block = np.asarray(fm.X[start:stop] if rows is None else fm.X[rows[start:stop]])
                future = client.submit(
                    score_part,
                    self._model,
                    client.scatter(block),
                    start,
                    stop,
                    keep=keep,
                    pure=False,
                )
            pending.append(future)
            if len(pending) >= window:  # bound what is in flight: results come back in order
                wait(pending[0])
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()

    def _sees(self, path: str) -> bool:
        from alflow.learning import dask_cluster

        if path not in self._shared:
            self._shared[path] = dask_cluster.workers_see(self._client, path)
            if not self._shared[path]:
                log.warning(
                    "the Dask workers cannot open %s (no shared filesystem): shipping the "
                    "feature rows to them chunk by chunk",
                    path,
                )
        return self._shared[path]
