"""Boxes matched by overlap: which class a proposal learns from the labelled boxes, and what
an annotator did to each pre-filled box.

Both greedy by overlap, largest first, one-to-one: ties break by the lower index, so a result
never depends on the order of equal overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alflow.boxes.geometry import iou_matrix
from alflow.config.detection import BACKGROUND

KEPT, MOVED, RELABELLED, ADDED, DELETED = "kept", "moved", "relabelled", "added", "deleted"
SAME_PLACE_IOU = 0.95  # a corrected box overlapping its pre-fill this much was not moved


def _greedy_pairs(overlap: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """One-to-one pairs ``(row, column)`` of overlap >= ``threshold``, largest overlap first."""
    if overlap.size == 0:
        return []
    rows, cols = np.nonzero(overlap >= threshold)
    order = np.lexsort((cols, rows, -overlap[rows, cols]))
    used_r, used_c, pairs = set(), set(), []
    for i in order:
        r, c = int(rows[i]), int(cols[i])
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            pairs.append((r, c))
    return pairs


def proposal_labels(
    proposals: np.ndarray,
    truth_boxes: np.ndarray,
    truth_labels: list[str],
    iou: float = 0.5,
    background: str = BACKGROUND,
) -> np.ndarray:
    """The class each proposal learns: the labelled box it overlaps by at least ``iou`` (its
    best such match), else background.

    Several proposals may learn one labelled box's class: each is a view of the same object,
    and suppression keeps only one of them at prediction time.
    """
    out = np.full(len(proposals), background, dtype=object)
    if not len(proposals) or not len(truth_boxes):
        return out
    overlap = iou_matrix(proposals, truth_boxes)
    best = overlap.argmax(axis=1)
    hit = overlap[np.arange(len(proposals)), best] >= iou
    out[hit] = np.asarray(truth_labels, dtype=object)[best[hit]]
    return out


@dataclass(frozen=True)
class Change:
    """What an annotator did to one box: ``prefill`` and ``corrected`` are indices (or None)."""

    change: str
    prefill: int | None
    corrected: int | None


def changes(
    prefill_boxes: np.ndarray,
    prefill_labels: list[str],
    corrected_boxes: np.ndarray,
    corrected_labels: list[str],
    iou: float = 0.5,
) -> list[Change]:
    """Each corrected box as kept, moved, relabelled or added, then each pre-filled box no
    corrected box matched as deleted.

    A corrected box is matched to the pre-filled box it overlaps most (at least ``iou``); a
    match whose class changed is relabelled (moved or not), one of the same class that overlaps
    less than :data:`SAME_PLACE_IOU` is moved, else kept.
    """
    overlap = iou_matrix(corrected_boxes, prefill_boxes)
    pairs = dict(_greedy_pairs(overlap, iou))
    out = []
    for c in range(len(corrected_boxes)):
        p = pairs.get(c)
        if p is None:
            out.append(Change(ADDED, None, c))
        elif corrected_labels[c] != prefill_labels[p]:
            out.append(Change(RELABELLED, p, c))
        elif overlap[c, p] < SAME_PLACE_IOU:
            out.append(Change(MOVED, p, c))
        else:
            out.append(Change(KEPT, p, c))
    matched = set(pairs.values())
    out += [Change(DELETED, p, None) for p in range(len(prefill_boxes)) if p not in matched]
    return out
