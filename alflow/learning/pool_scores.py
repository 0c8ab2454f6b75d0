"""The latest learner's class probabilities for every cached row, kept for the next query.

A round scores the whole pool twice with the same learner: once when it writes back the
predictions of the learner it just taught, and again when the next round's query asks that
learner how uncertain it is about every pool sample. At 100k x 512 with a forest each pass is
about 3 s, a quarter of a round. The write-back therefore keeps the probabilities (float64,
rows of the feature cache x classes) beside the checkpoints, keyed by the checkpoint's sha256,
the feature cache and the classes, and the query uses them when all three match: the same learner
on the same rows gives the same numbers, so the picks do not change. Anything else (a rollback
to an older round, a rebuilt cache, a probability matrix too large to keep) falls back to
scoring the pool. Semi-supervised learners are not kept: their checkpoint holds no unlabelled
rows and is rebuilt from the feature cache when it loads, and with raw pixels (integer
distances, many ties in the neighbour graph) the rebuilt learner's probabilities differ from
those of the learner that was checkpointed, so the query would not see what it sees today.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path

import numpy as np

from alflow.services.environment import checkpoints_dir

PREFIX = "pool-proba-"
# probabilities kept at most (float64, as the learner gives them, so that a query's measures are
# bit for bit those of a fresh pass: 256 MB), e.g. a million samples x 32 classes
MAX_VALUES = 2**25


def exact_after_load(estimator) -> bool:
    """Whether a checkpoint of a learner with this estimator predicts exactly as it did."""
    from alflow.learning.semi_supervised import is_semi_supervised

    return not is_semi_supervised(estimator)


def worth_keeping(n_rows: int, n_classes: int) -> bool:
    return n_rows * n_classes <= MAX_VALUES


def _path(loop: str, round_number: int) -> Path:
    return checkpoints_dir(loop) / f"{PREFIX}{round_number:03d}.npz"


def save(
    loop: str, round_number: int, sha256: str, cache: str, classes: list[str], proba: np.ndarray
) -> None:
    """Keep ``proba`` for the round's learner, replacing any earlier round's (atomically)."""
    target = _path(loop, round_number)
    fd, tmp = tempfile.mkstemp(prefix=".pool-proba-", suffix=".npz", dir=target.parent)
    with os.fdopen(fd, "wb") as fh:
        np.savez(
            fh,
            sha256=np.asarray(sha256),
            cache=np.asarray(cache),
            classes=np.asarray(classes, dtype=str),
            proba=np.asarray(proba),
        )
    os.replace(tmp, target)
    for older in target.parent.glob(f"{PREFIX}*.npz"):
        if older != target:
            with suppress(FileNotFoundError):
                older.unlink()


def load(
    loop: str, round_number: int, sha256: str, cache: str, classes: list[str]
) -> np.ndarray | None:
    """The kept probabilities of round ``round_number``'s learner, if they are for exactly this
    checkpoint, feature cache and classes; None otherwise."""
    path = _path(loop, round_number)
    try:
        with np.load(path) as data:
            if (
                str(data["sha256"]) != sha256
                or str(data["cache"]) != cache
                or [str(c) for c in data["classes"]] != [str(c) for c in classes]
            ):
                return None
            return data["proba"]
    except (OSError, KeyError, ValueError):
        return None
