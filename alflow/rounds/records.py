"""What the steps and tasks read of a loop: its labels, its held-out split, its status, and its
round records as small values."""

from __future__ import annotations

from typing import Any

from alflow.config import naming
from alflow.data import labels as lab
from alflow.data import store
from alflow.errors import LedgerError
from alflow.loop.workspace import Workspace
from alflow.state.ledger import ACTIVE, TAUGHT, TERMINAL


def labelled(dataset, loop: str, include_excluded: bool = False) -> dict[str, str]:
    """The labels the loop learns from; ``include_excluded`` adds rolled-back human labels.

    Excluded labels are not learned from, but their samples never return to the pool: a human
    label is never overwritten by a later query.
    """
    field = naming.label_field(loop)
    if not store.has_fields(dataset, [field]):
        return {}
    present = {field: {"$exists": True, "$ne": None}}  # FiftyOne's exists(field)
    ids, (names, excluded) = store.columns_where(
        dataset, present, [f"{field}.label", f"{field}.excluded"]
    )
    return {
        i: str(n)
        for i, n, x in zip(ids, names, excluded, strict=True)
        if n and (include_excluded or not x)
    }


def labelled_ids(dataset, loop: str, include_excluded: bool = False) -> set[str]:
    """The samples the loop's label field labels, whatever the label type (a class, or boxes:
    an image labelled as holding no object counts); ``include_excluded`` as for
    :func:`labelled`."""
    field = naming.label_field(loop)
    if not store.has_fields(dataset, [field]):
        return set()
    present = {field: {"$exists": True, "$ne": None}}
    ids, (excluded,) = store.columns_where(dataset, present, [f"{field}.excluded"])
    return {i for i, x in zip(ids, excluded, strict=True) if include_excluded or not x}


def eval_ids(dataset, loop: str) -> list[str]:
    return store.ids_where(dataset, {naming.split_field(loop): lab.EVAL})


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
        **{key: metrics[key] for key in ("labelled_boxes", "mAP", "mAP50") if key in metrics},
        "changed": doc.get("ingest", {}).get("changed"),
        "seconds": seconds,
    }


def round_state(ws: Workspace, loop: str, round_number: int) -> str | None:
    """The round's state in the ledger (None before it is queried)."""
    doc = ws.ledger.get_round(loop, round_number)
    return None if doc is None else doc["state"]


def round_summary(
    ws: Workspace,
    loop: str,
    round_number: int,
    run_id: str | None = None,
    run_name: str | None = None,
) -> dict[str, Any]:
    """The round as a summary row (state None before it is queried); ``run_id`` is noted as one
    of the flow runs that worked on the round, so its artifacts and logs can be found again."""
    doc = ws.ledger.get_round(loop, round_number)
    if doc is None:
        return {"loop": loop, "round": round_number, "state": None}
    if run_id:
        ws.ledger.note_flow_run(loop, round_number, run_id, run_name)
    return summarize(doc)


def is_active(ws: Workspace, loop: str) -> bool:
    """Whether the loop may open another round (not creating, paused or done)."""
    return ws.ledger.loop(loop)["status"] == ACTIVE


def active_loops(ws: Workspace) -> list[str]:
    """Names of the loops that may open another round."""
    return [doc["_id"] for doc in ws.ledger.loops(status=ACTIVE)]
