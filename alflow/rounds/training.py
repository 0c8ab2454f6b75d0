"""The learner of a round: load it, fit or teach it, checkpoint, evaluate, write predictions back.

Each function does one of these so a scoring path (chunked, or on a cluster) can replace one
without touching the others; :func:`advance_learner` is the sequence a taught round records.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alflow.config.loop import LoopConfig
from alflow.errors import LedgerError
from alflow.learning import learners, pool_scores, predictions
from alflow.learning.semi_supervised import cached_pool, is_semi_supervised
from alflow.loop.workspace import Workspace
from alflow.rounds.records import base_round, eval_ids
from alflow.services.environment import checkpoints_dir
from alflow.state import versions
from alflow.strategies import COLD_START_STRATEGIES


def load_learner(ws: Workspace, loop: str, before: int) -> learners.LearnerState | None:
    """The learner to continue from, or None for a cold-start loop that has none yet (or a
    loop scored by a team's own model, which alflow never fits)."""
    if ws.config(loop).scorer.kind == "model_predictions":
        return None
    try:
        ckpt = base_round(ws, loop, before)["checkpoint"]
    except LedgerError:
        if ws.config(loop).strategy.name in COLD_START_STRATEGIES:
            return None
        raise
    return learners.load_checkpoint(ckpt["path"], ckpt["sha256"], ckpt.get("versions"))


def checkpoint(state: learners.LearnerState, loop: str, round_number: int) -> dict[str, Any]:
    """Save the round's learner; the ledger entry records the versions that wrote it."""
    path = checkpoints_dir(loop) / f"round-{round_number:03d}.joblib"
    sha256 = learners.save_checkpoint(state, path)
    return {"path": str(path), "sha256": sha256, "versions": versions.environment()}


def evaluate(ws: Workspace, config: LoopConfig, state: learners.LearnerState) -> dict[str, Any]:
    """Held-out accuracy and macro-F1 against ground truth, plus the labelled count."""
    with predictions.session(config, state, ws.dask_workers) as scorer:
        return predictions.evaluate(ws, config, state.n_labels, scorer.score)


def write_back_predictions(
    ws: Workspace, config: LoopConfig, state: learners.LearnerState, round_number: int
) -> int:
    """Write back the learner's predictions that changed (see :mod:`alflow.learning.predictions`);
    returns how many were written."""
    with predictions.session(config, state, ws.dask_workers) as scorer:
        scores = predictions.pool_scores_of(ws, config, scorer)
    return predictions.write_back(ws, config, scores, round_number)


def fit_if_possible(
    ws: Workspace, config: LoopConfig, known: dict[str, str], round_number: int
) -> learners.LearnerState | None:
    """A learner fitted on every known label; None while fewer than two classes are known.

    Only a cold-start loop gets here without two classes (creation refuses the others).
    """
    if len(set(known.values())) < 2:
        return None
    fm = ws.features(config)
    ids = [str(i) for i in fm.ids if i in known]  # dataset order: reproducible fits
    X = fm.take(ids)
    y = np.asarray([known[i] for i in ids], dtype=str)
    pool = None
    if is_semi_supervised(config.estimator):  # every sample but the held-out ones, by id
        pool = cached_pool(fm.path, eval_ids(ws.dataset(config), config.name))
    return learners.fit_learner(
        config.estimator,
        config.strategy,
        X,
        y,
        ids,
        config.random_state,
        round_number=round_number,
        unlabelled=pool,
    )


def advance_learner(
    ws: Workspace,
    config: LoopConfig,
    state: learners.LearnerState | None,
    known: dict[str, str],
    ids: list[str],
    round_number: int,
) -> dict[str, Any]:
    """Teach ``ids`` (or, with no learner yet, fit on every known label), then checkpoint,
    evaluate and write predictions; returns the round's ``checkpoint`` and ``metrics``."""
    if state is None:  # cold start: the first fit, once two classes are known
        state = fit_if_possible(ws, config, known, round_number)
    elif ids := [*ids, *untaught(state, known, ids)]:
        X = ws.features(config).take(ids)
        learners.teach(state, X, np.asarray([known[i] for i in ids], dtype=str), ids)
    if state is None:
        return {"checkpoint": None, "metrics": {"labelled": len(known)}}
    return finish_learner(ws, config, state, round_number)


def finish_learner(
    ws: Workspace, config: LoopConfig, state: learners.LearnerState, round_number: int
) -> dict[str, Any]:
    """Make ``state`` round ``round_number``'s learner: checkpoint it, evaluate it and predict
    every sample with it; returns the round's ``checkpoint`` and ``metrics``."""
    state.round_number = round_number
    saved = checkpoint(state, config.name, round_number)
    metrics = predictions.score_round(ws, config, state, round_number, saved["sha256"])
    return {"checkpoint": saved, "metrics": metrics}


def kept_pool_proba(
    ws: Workspace, loop: str, before: int, state: learners.LearnerState | None, cache: str
) -> np.ndarray | None:
    """The probabilities that ``state`` (the learner round ``before`` continues from) gave every
    row of feature cache ``cache`` at its write-back, if kept (see
    :mod:`alflow.learning.pool_scores`)."""
    if state is None:
        return None
    sha256 = base_round(ws, loop, before)["checkpoint"]["sha256"]
    return pool_scores.load(loop, state.round_number, sha256, cache, state.classes)


def untaught(state: learners.LearnerState, known: dict[str, str], ids: list[str]) -> list[str]:
    """Known labels the learner has not been taught and ``ids`` do not teach, in dataset order.

    These are the ingested labels of a round that was failed or cancelled after its ingest:
    they are kept, and the next teach takes them.
    """
    seen = set(state.training_ids) | set(ids)
    return [sid for sid in known if sid not in seen]
