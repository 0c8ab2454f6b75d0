"""Crash injection for the core steps: a fatal error at a chosen call, then the next step.

:func:`kill_at` makes one call of a function raise :class:`Killed` (a ``BaseException``, so
nothing in alflow catches it as an error, like a SIGKILL that no handler sees), either before
the call does its work or right after. A scenario is a list of actions on a loop; the killed
run is compared with an uninterrupted one by :func:`snapshot`, which keeps everything but
timestamps and run ids: rounds, batches and their order, states, labels with provenance,
predictions and the label set of every checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tasks
from alflow import rounds
from alflow.config import naming
from alflow.learning import learners
from alflow.loop.workspace import open_workspace
from alflow.state.ledger import IN_FLIGHT


class Killed(BaseException):
    """The injected fatal error."""


def kill_at(monkeypatch, owner: Any, name: str, when: str = "after", match=None) -> list[str]:
    """Make the first matching call of ``owner.name`` die ``before`` or ``after`` its work.

    Returns a list that gets one entry when the kill fired.
    """
    original = getattr(owner, name)
    fired: list[str] = []

    def wrapper(*args, **kwargs):
        if fired or (match is not None and not match(*args, **kwargs)):
            return original(*args, **kwargs)
        fired.append(name)
        if when == "before":
            raise Killed(f"before {name}")
        original(*args, **kwargs)
        raise Killed(f"after {name}")

    monkeypatch.setattr(owner, name, wrapper)
    return fired


def create(config) -> None:
    tasks.register_loop.fn(config)
    tasks.load_features.fn(config.name)
    tasks.fit_initial_learner.fn(config.name)


def run_round(loop: str) -> None:
    n = tasks.open_round.fn(loop)
    for step in (tasks.query_batch, tasks.export_batch, tasks.ingest_labels, tasks.teach_learner):
        step.fn(loop, n)


def rollback(loop: str, to_round: int) -> None:
    rounds.rollback(open_workspace(), loop, to_round)


def unfinished(loop: str) -> bool:
    """Whether a round is in flight or a number was allocated without a record."""
    ledger = open_workspace().ledger
    latest = ledger.latest_round(loop)
    return ledger.in_flight(loop) is not None or ledger.loop(loop)["last_round"] > latest["round"]


def play(config, actions: list[tuple[str, Any]], kill: Callable[[], list[str]] | None = None):
    """Run ``actions``; ``kill`` arms the injection before the action marked ``"kill"``.

    After the kill the next step is what a user would run: the create again, or a step that
    finishes what is unfinished (an interrupted rollback is completed by the next step's
    ``open_round``).
    """
    fired: list[str] = []
    for action, arg in actions:
        if arg == "kill":
            fired = kill() if kill is not None else []
            arg = None
        try:
            _do(config, action, arg)
        except Killed:
            _recover(config, action)
    return fired


def _do(config, action: str, arg: Any) -> None:
    if action == "create":
        create(config)
    elif action == "round":
        run_round(config.name)
    elif action == "rollback":
        rollback(config.name, arg if arg is not None else 1)


def _recover(config, action: str) -> None:
    if action == "create":
        create(config)
    elif action == "round" and unfinished(config.name):
        run_round(config.name)
    elif action == "rollback":  # what the next step's open_round does first
        rounds.finish_pending_edit(open_workspace(), config.name)


def snapshot(loop: str) -> dict[str, Any]:
    """The loop's state without timestamps and run ids."""
    ws = open_workspace()
    dataset = ws.dataset(ws.config(loop))
    docs = ws.ledger.rounds(loop)
    rows = []
    for d in docs:
        ckpt = d.get("checkpoint")
        rows.append(
            {
                "round": d["round"],
                "state": d["state"],
                "states": [h["state"] for h in d["history"]],
                "kind": d.get("kind"),
                "queried_ids": d.get("queried_ids"),
                "scores": d.get("scores"),
                "base_round": d.get("base_round"),
                "rolled_back_to": d.get("rolled_back_to"),
                "excluded_ids": d.get("excluded_ids"),
                "answered": (d.get("ingest") or {}).get("answered"),
                "metrics": d.get("metrics"),
                "trained": learners.load_checkpoint(ckpt["path"]).training_ids if ckpt else None,
            }
        )
    label, prediction = naming.label_field(loop), naming.prediction_field(loop)
    if ws.config(loop).task == "detection":
        labels, predictions = _box_snapshot(dataset, label, prediction)
    else:
        parts = ("label", "round", "source", "excluded", "changed")
        ids, *values = dataset.exists(label).values(["id", *(f"{label}.{p}" for p in parts)])
        labels = dict(zip(ids, zip(*values, strict=True), strict=True))
        ids, *values = dataset.exists(prediction).values(
            ["id", *(f"{prediction}.{p}" for p in ("label", "confidence", "round"))]
        )
        predictions = {
            i: (name, round(conf, 6), number)
            for i, name, conf, number in zip(ids, *values, strict=True)
        }
    loop_doc = ws.ledger.loop(loop)
    return {
        "rounds": rows,
        "labels": labels,
        "predictions": predictions,
        "last_round": loop_doc["last_round"],
        "status": loop_doc["status"],
        "pending_edit": loop_doc.get("pending_edit"),
        "lock": loop_doc.get("lock"),
        "in_flight": [d["round"] for d in docs if d["state"] in IN_FLIGHT],
    }


def _box_snapshot(dataset, label: str, prediction: str) -> tuple[dict, dict]:
    """A detection loop's labels and predictions: each image's boxes with what made them."""
    box_parts = ("label", "bounding_box", "change", "predicted", "round", "source")
    ids, *values = dataset.exists(label).values(
        ["id", f"{label}.round", f"{label}.source", f"{label}.excluded"]
        + [f"{label}.detections.{p}" for p in box_parts]
    )
    labels = {
        i: (number, source, excluded, list(zip(*box_values, strict=True)))
        for i, number, source, excluded, *box_values in zip(ids, *values, strict=True)
    }
    ids, *values = dataset.exists(prediction).values(
        ["id", f"{prediction}.round"]
        + [f"{prediction}.detections.{p}" for p in ("label", "bounding_box", "confidence")]
    )
    predictions = {
        i: (number, [(n, box, round(c, 6)) for n, box, c in zip(*rest, strict=True)])
        for i, number, *rest in zip(ids, *values, strict=True)
    }
    return labels, predictions
