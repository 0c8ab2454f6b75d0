"""Label sources, the held-out split and the pool: pure functions on ids and values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from alflow.errors import LabelError, preview_ids

POOL, EVAL = "pool", "eval"


def labels_from_field(values: Mapping[str, str | None]) -> dict[str, str]:
    """``{id: label}`` for samples whose Classification label is set."""
    return {sid: str(label) for sid, label in values.items() if label is not None}


def labels_from_tags(tags: Mapping[str, Sequence[str]], classes: Sequence[str]) -> dict[str, str]:
    """``{id: class}`` from sample tags; only tags naming a class count.

    Raises:
        LabelError: when a sample carries two class tags (listing those samples).
    """
    wanted = set(classes)
    labels: dict[str, str] = {}
    conflicts: list[str] = []
    for sid, sample_tags in tags.items():
        hits = sorted(set(sample_tags) & wanted)
        if len(hits) > 1:
            conflicts.append(f"{sid} ({'+'.join(hits)})")
        elif hits:
            labels[sid] = hits[0]
    if conflicts:
        raise LabelError(
            f"{len(conflicts)} samples carry more than one class tag: "
            f"{preview_ids(conflicts, 10)}; "
            "class tags must be mutually exclusive: remove the extra tags"
        )
    return labels


def require_initial_labels(labels: Mapping[str, str], source: str, cold_start: bool) -> None:
    """Initial labels must name at least two classes unless the strategy starts cold."""
    if cold_start and not labels:
        return
    classes = sorted(set(labels.values()))
    if not labels:
        raise LabelError(
            f"no initial labels found in {source}; label at least one sample of two classes there, "
            "or choose a cold-start strategy to start from zero labels"
        )
    if len(classes) < 2:
        raise LabelError(
            f"initial labels in {source} name only {len(classes)} class ({classes[0]!r}) on "
            f"{len(labels)} samples; a classifier needs at least two classes: label a sample of "
            "another class"
        )


def draw_eval_split(
    ids: Sequence[str], fraction: float, random_state: int, exclude: Iterable[str] = ()
) -> set[str]:
    """The held-out evaluation ids: ``fraction`` of all samples, drawn from the non-excluded ones.

    Initially labelled samples are excluded so the loop never evaluates on what it trains on.
    The draw depends only on the ids, ``fraction`` and ``random_state``.
    """
    excluded = set(exclude)
    candidates = sorted(sid for sid in ids if sid not in excluded)
    n_eval = min(round(fraction * len(ids)), len(candidates))
    rng = np.random.default_rng(random_state)
    chosen = rng.choice(len(candidates), size=n_eval, replace=False) if n_eval else []
    return {candidates[i] for i in chosen}


def pool_mask(
    ids: np.ndarray,
    eval_ids: Iterable[str],
    labelled_ids: Iterable[str],
    queued_ids: Iterable[str],
) -> np.ndarray:
    """Boolean mask over ``ids`` of samples a strategy may select.

    A sample is out of the pool when it is held out for evaluation, already labelled for this
    loop, or out for annotation in a round that is still in flight.
    """
    blocked = set(eval_ids) | set(labelled_ids) | set(queued_ids)
    return np.fromiter((sid not in blocked for sid in ids), dtype=bool, count=len(ids))


def provenance(source: str, round_number: int, **extra: Any) -> dict[str, Any]:
    """Attributes stored with every label a loop learns from."""
    return {
        "source": source,
        "round": round_number,
        "labelled_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "excluded": False,
        **extra,
    }
