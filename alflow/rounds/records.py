"""What the steps read of a loop: its labels, its held-out split, and its round records."""

from __future__ import annotations

from typing import Any

from alflow import labels as lab
from alflow import naming, store
from alflow.errors import LedgerError
from alflow.ledger import TAUGHT, TERMINAL
from alflow.workspace import Workspace


def labelled(dataset, loop: str, include_excluded: bool = False) -> dict[str, str]:
    """The labels the loop learns from; ``include_excluded`` adds rolled-back human labels.

    Excluded labels are not learned from, but their samples never return to the pool: a human
    label is never overwritten by a later query.
    """
    field = naming.label_field(loop)
    if not store.has_fields(dataset, [field]):
        return {}
    view = dataset.exists(field)
    ids = view.values("id")
    names = view.values(f"{field}.label")
    excluded = view.values(f"{field}.excluded")
    return {
        i: str(n)
        for i, n, x in zip(ids, names, excluded, strict=True)
        if n and (include_excluded or not x)
    }


def eval_ids(dataset, loop: str) -> list[str]:
    field = naming.split_field(loop)
    return dataset.match({field: lab.EVAL}).values("id")


def base_round(ws: Workspace, loop: str, before: int) -> dict[str, Any]:
    """The latest taught round before ``before``: its learner is the one to continue from."""
    for doc in reversed(ws.ledger.rounds(loop)):
        if doc["round"] < before and doc["state"] == TAUGHT and doc.get("checkpoint"):
            return doc
    raise LedgerError(
        f"loop {loop!r} has no taught round with a learner before round {before}; "
        "run the create-loop step first"
    )


def queued_ids(ws: Workspace, loop: str, except_round: int | None = None) -> set[str]:
    """Samples out for annotation in rounds still in flight."""
    out: set[str] = set()
    for doc in ws.ledger.rounds(loop):
        if doc["state"] not in TERMINAL and doc["round"] != except_round:
            out.update(doc.get("queried_ids", []))
    return out


def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    """A small, JSON-able view of a round record for task results and tables."""
    metrics = doc.get("metrics", {})
    history = doc.get("history", [])
    seconds = None
    if len(history) >= 2:
        seconds = (history[-1]["at"] - history[0]["at"]).total_seconds()
    return {
        "loop": doc["loop"],
        "round": doc["round"],
        "state": doc["state"],
        "queried": len(doc.get("queried_ids", [])),
        "labelled": metrics.get("labelled"),
        "accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "changed": doc.get("ingest", {}).get("changed"),
        "seconds": seconds,
    }
