"""A learner's scores written back to FiftyOne (only those that changed) and its evaluation.

Rewriting every sample's prediction every round costs a bulk update of the whole dataset (about
a minute at a million samples) although most predictions barely move between rounds. alflow
therefore keeps, beside the loop's checkpoints, a record of what it last wrote to the prediction
field (``predictions.npz``: class and confidence per row of the feature cache) and writes a
prediction only when its label changed or its confidence moved by at least
``scoring.write_back_threshold`` (default 0.005) from the value last *written*, so slow drifts
are written once they add up; the label is always the latest learner's. A forest's confidences
jitter from one refit to the next by single trees' votes: a RandomForest(100) refitted on 50
more labels moved 91 % of them by 0.005 or more, 29 % by 0.05 and 3 % by 0.1 (synthetic
20k x 512, 10 classes); such predictions are written in groups of equal values
(:mod:`alflow.data.bulk_writes`), which keeps even a full rewrite of a million cheap (12 s).

A prediction's ``round`` is therefore the round whose learner last wrote it: the latest round
for every prediction that changed, an earlier one for those that held still. A new feature
cache (samples added or removed), a prediction field deleted by hand, or a missing record makes
every prediction count as changed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from alflow import progress as reporting
from alflow.config import naming
from alflow.config.loop import LoopConfig
from alflow.config.semi_supervised import is_semi_supervised
from alflow.data import bulk_writes, store
from alflow.data import labels as lab
from alflow.data.features import FeatureMatrix, spans
from alflow.learning import dask_cluster, pool_scores, scoring
from alflow.services.environment import checkpoints_dir

RECORD = "predictions.npz"


@dataclass(frozen=True)
class Written:
    """What the prediction field holds, row by row of feature cache ``cache`` (code -1: none)."""

    cache: str
    classes: tuple[str, ...]
    codes: np.ndarray
    confidence: np.ndarray


def _in_classes(previous: Written, classes: tuple[str, ...]) -> np.ndarray:
    """The previous codes as indices into ``classes`` (-1 where unwritten or not a class)."""
    index = {c: i for i, c in enumerate(classes)}
    remap = np.asarray([index.get(c, -1) for c in previous.classes] + [-1], dtype=np.int32)
    return remap[previous.codes]  # code -1 picks the trailing -1


def _current(previous: Written | None, cache: str, n: int) -> bool:
    """Whether ``previous`` describes the ``n`` rows of feature cache ``cache``."""
    return previous is not None and previous.cache == cache and len(previous.codes) == n


def changed_rows(
    previous: Written | None, scores: scoring.Scores, cache: str, threshold: float
) -> np.ndarray:
    """Rows whose prediction must be written: a new label, or a confidence moved >= threshold."""
    n = len(scores.codes)
    if not _current(previous, cache, n):
        return np.ones(n, dtype=bool)
    before = _in_classes(previous, scores.classes)
    moved = np.abs(previous.confidence - scores.confidence) >= threshold
    return (before != scores.codes) | moved


def after_write(
    previous: Written | None, scores: scoring.Scores, cache: str, written: np.ndarray
) -> Written:
    """The record once the ``written`` rows hold their new scores."""
    if not _current(previous, cache, len(scores.codes)):
        return Written(cache, scores.classes, scores.codes.copy(), scores.confidence.copy())
    return Written(
        cache,
        scores.classes,
        np.where(written, scores.codes, _in_classes(previous, scores.classes)),
        np.where(written, scores.confidence, previous.confidence),
    )


def load_record(path: Path) -> Written | None:
    if not path.exists():
        return None
    with np.load(path) as data:
        return Written(
            str(data["cache"]),
            tuple(str(c) for c in data["classes"]),
            data["codes"],
            data["confidence"],
        )


def save_record(path: Path, record: Written) -> None:
    """Replace the record atomically (written only after the database write succeeded)."""
    fd, tmp = tempfile.mkstemp(prefix=".predictions-", suffix=".npz", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        np.savez(
            fh,
            cache=np.asarray(record.cache),
            classes=np.asarray(record.classes, dtype=str),
            codes=record.codes,
            confidence=record.confidence,
        )
    os.replace(tmp, path)


def pool_scores_of(
    ws, config: LoopConfig, scorer: scoring.Scorer, checkpoint: str | None = None
) -> scoring.Scores:
    """Every row's scores; with the sha256 of the learner's ``checkpoint``, every class's
    probability too, to be kept for the next round's query (:mod:`alflow.learning.pool_scores`),
    when small enough."""
    fm = ws.features(config)
    keep = (
        checkpoint is not None
        and pool_scores.exact_after_load(config.estimator)
        and pool_scores.worth_keeping(len(fm.X), len(scorer.classes))
    )
    return scorer.score(fm, keep_proba=keep)


def write_back(
    ws,
    config: LoopConfig,
    scores: scoring.Scores,
    round_number: int,
    checkpoint: str | None = None,
) -> int:
    """Bulk-write the predictions among ``scores`` (every row's) that changed; returns their
    count. Kept probabilities are saved with the learner's ``checkpoint`` sha256."""
    fm = ws.features(config)
    dataset = ws.dataset(config)
    field = naming.prediction_field(config.name)
    path = checkpoints_dir(config.name) / RECORD
    previous = load_record(path) if store.has_fields(dataset, [field]) else None
    mask = changed_rows(previous, scores, fm.path.name, config.scoring.write_back_threshold)
    held = held_rows(previous, fm.path.name, len(mask))
    rows = np.flatnonzero(mask)
    what = f"writing predictions of {config.name!r} round {round_number}"  # those that changed
    with reporting.step(what, len(rows)) as report:  # last_modified_at stays: see bulk_writes
        for start, stop in spans(len(rows), config.scoring.chunk_size):
            part = rows[start:stop]
            bulk_writes.write_predictions(
                dataset,
                field,
                [str(i) for i in fm.ids[part]],
                scores.classes,
                scores.codes[part],
                scores.confidence[part],
                round_number,
                existing=held[part],
                on_chunk=report.advance,
            )
    save_record(path, after_write(previous, scores, fm.path.name, mask))
    if scores.proba is not None:  # kept only when asked for, with the checkpoint
        classes = list(scores.classes)
        pool_scores.save(config.name, round_number, checkpoint, fm.path.name, classes, scores.proba)
    return len(rows)


def held_rows(previous: Written | None, cache: str, n: int) -> np.ndarray:
    """Rows whose prediction field holds a prediction, by the record (see :func:`changed_rows`)."""
    if not _current(previous, cache, n):
        return np.zeros(n, dtype=bool)
    return previous.codes >= 0


RowScorer = Callable[[FeatureMatrix, np.ndarray], scoring.Scores]


def evaluate(ws, config: LoopConfig, n_labels: int, score: RowScorer) -> dict[str, Any]:
    """Held-out accuracy and macro-F1 against ground truth, plus the labelled count.

    The held-out ids and their ground truth come from one projected query on the split field
    (no ordered select); ``score`` gives their rows' scores in cache order (a
    :meth:`Scorer.score <alflow.learning.scoring.Scorer.score>`, or rows taken from a pass already
    made).
    """
    metrics: dict[str, Any] = {"labelled": n_labels}
    if not config.ground_truth_field or not (config.eval_fraction or config.eval_tag):
        return metrics
    dataset = ws.dataset(config)
    ids, truth = store.values_where(
        dataset, {naming.split_field(config.name): lab.EVAL}, f"{config.ground_truth_field}.label"
    )
    keep = [i for i, t in enumerate(truth) if t is not None]
    if not keep:
        return metrics
    fm = ws.features(config)
    rows = fm.rows([ids[i] for i in keep])
    order = np.argsort(rows, kind="stable")  # read the memory-mapped matrix front to back
    scores = score(fm, rows[order])
    y = np.asarray([truth[i] for i in keep], dtype=object)[order]
    predicted = scores.labels()
    metrics.update(
        accuracy=float(accuracy_score(y, predicted)),
        macro_f1=float(f1_score(y, predicted, average="macro", zero_division=0)),
        n_eval=len(keep),
    )
    return metrics


@contextmanager
def session(config: LoopConfig, state, step_workers: int | None = None) -> Iterator[scoring.Scorer]:
    """A scorer of ``state``'s learner where the step and the loop's configuration say (see
    :mod:`alflow.learning.dask_cluster`): on Dask, one cluster and one copy of the learner per
    worker."""
    target = dask_cluster.resolve(config.scoring, step_workers=step_workers)
    with dask_cluster.client_for(target) as client:
        yield scoring.Scorer(state.learner, state.classes, config.scoring.chunk_size, client)


def score_round(
    ws, config: LoopConfig, state, round_number: int, checkpoint: str | None = None
) -> dict[str, Any]:
    """Evaluate ``state``'s learner and write back its changed predictions, from one scoring
    pass over every row (a supervised learner's held-out rows included), keeping the pool's
    probabilities for the next query when ``checkpoint`` (its sha256)."""
    with session(config, state, ws.dask_workers) as scorer:
        scores = pool_scores_of(ws, config, scorer, checkpoint)
        score: RowScorer = lambda _, rows: scores.take(rows)  # noqa: E731
        if is_semi_supervised(config.estimator):
            # a neighbour graph breaks distance ties by the rows it is asked about at once (on
            # raw pixels ties are common): its held-out rows are scored on their own, as
            # `alflow simulate` scores them, so both give the same learning curve
            score = scorer.score
        metrics = evaluate(ws, config, state.n_labels, score)
    write_back(ws, config, scores, round_number, checkpoint)
    return metrics
