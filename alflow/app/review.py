"""What a round's review holds for the App: the live count of marks, and what the review did.

:func:`live_counts` reads the reviewer's marks on the round in flight with the review's own
rules (:func:`~alflow.backends.app_review.backend.resolve_marks`), without changing anything, so
the update form can say how many samples are marked before anyone commits to an action.
:func:`outcome` reads a taught round's ingest report from the ledger: corrected, accepted,
skipped and unresolved samples, the labels learned and the metric's change. Results are small
JSON-able dicts; :mod:`alflow.app.messages` turns them into sentences.
"""

from __future__ import annotations

from typing import Any

from alflow.config import naming
from alflow.loop.workspace import Workspace, open_workspace
from alflow.state.ledger import IN_FLIGHT

SKIPPED = "(skipped)"  # how the review's rules word a removed review label


def unresolved_view(loop: str, number: int) -> str:
    """The saved view of a round's unresolved and skipped samples."""
    return f"{naming.round_name(loop, number)}-unresolved"


def live_counts(loop: str, ws: Workspace | None = None) -> dict[str, Any] | None:
    """The marks on the in-App review of the round in flight, or None for another backend.

    Returns ``round``, ``total``, ``tagged`` (a class-name tag), ``edited`` (the review label
    changed), ``changed`` (answers that differ from the prediction), ``unresolved`` (conflicting
    marks, with their reasons), ``skipped`` (review label removed) and ``unmarked``.
    """
    from alflow.backends.app_review.backend import resolve_marks
    from alflow.backends.app_review.surface import DatasetReviewSurface

    ws = ws or open_workspace()
    current = ws.ledger.latest_round(loop, IN_FLIGHT)
    ref = ((current or {}).get("backend") or {}).get("ref") or {}
    if ref.get("kind") != "app" or not ref.get("sample_ids"):
        return None
    config = ws.config(loop)
    marks = DatasetReviewSurface(lambda: ws.dataset(config), loop).read(ref["sample_ids"])
    # new_class only so that counting never raises; the update itself applies the loop's policy
    found = resolve_marks(ref, marks, finished=False, unknown_labels="new_class")
    vias = [a.provenance.get("via") for a in found.answers]
    skipped = [u for u in found.unresolved if u.reason.endswith(SKIPPED)]
    return {
        "round": current["round"],
        "total": len(ref["sample_ids"]),
        "tagged": vias.count("tag"),
        "edited": vias.count("review_field"),
        "changed": sum(1 for a in found.answers if a.provenance.get("changed")),
        "unresolved": [u.reason for u in found.unresolved if u not in skipped],
        "skipped": len(skipped),
        "unmarked": len(found.pending),
    }


def outcome(loop: str, number: int, ws: Workspace | None = None) -> dict[str, Any] | None:
    """What the review of round ``number`` did, from its ingest report; None before ingest."""
    ws = ws or open_workspace()
    doc = ws.ledger.get_round(loop, number)
    report = (doc or {}).get("ingest")
    if not report:
        return None
    unresolved = report.get("unresolved", [])
    skipped = [u for u in unresolved if str(u.get("reason", "")).endswith(SKIPPED)]
    others = [u for u in unresolved if u not in skipped]
    answered = len(report.get("answered", []))
    changed = report.get("changed") or 0
    before = ws.ledger.get_round(loop, number - 1) if number > 0 else None
    return {
        "round": number,
        "corrected": changed,
        "accepted": answered - changed,
        "skipped": len(skipped),
        "unresolved": [u.get("reason", "") for u in others],
        "unresolved_ids": [u["sample_id"] for u in unresolved],
        "pending": len(report.get("pending", [])),
        "learned": answered,
        "labelled": (doc.get("metrics") or {}).get("labelled"),
        "accuracy": (doc.get("metrics") or {}).get("accuracy"),
        "accuracy_before": ((before or {}).get("metrics") or {}).get("accuracy"),
        "view": unresolved_view(loop, number) if unresolved else None,
    }


def last_outcome(loop: str, ws: Workspace | None = None) -> dict[str, Any] | None:
    """What the review of the loop's last ingested round did (None before the first)."""
    ws = ws or open_workspace()
    last = ws.ledger.loop(loop).get("last_round") or 0
    for number in range(last, 0, -1):
        found = outcome(loop, number, ws)
        if found is not None:
            return found
    return None


def save_unresolved_view(dataset, found: dict[str, Any] | None) -> None:
    """Save the view of the round's unresolved and skipped samples, for the result's link."""
    if found and found.get("view"):
        view = dataset.select(found["unresolved_ids"], ordered=True)
        dataset.save_view(found["view"], view, overwrite=True)
