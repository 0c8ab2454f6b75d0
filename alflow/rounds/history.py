"""History edits: roll a loop back to an earlier round's learner, or re-include the labels a
rollback excluded. Both record a new taught round; no label is deleted, no round number reused.

A detection loop's box learner is refitted from every image in training after the edit (its
rounds refit from scratch too, with the loop's ``random_state``), so a rollback refits on the
labels round ``to_round`` learned from, and its checkpoint is only checked to exist."""

from __future__ import annotations

import logging
from typing import Any

from alflow.config import naming
from alflow.data import store
from alflow.errors import LedgerError
from alflow.learning import learners
from alflow.loop.workspace import Workspace
from alflow.rounds import detection
from alflow.rounds.records import labelled, summarize
from alflow.rounds.training import advance_learner, finish_learner, load_learner
from alflow.state.ledger import ACTIVE, TAUGHT

log = logging.getLogger(__name__)


def _require_idle(ws: Workspace, loop: str, action: str) -> None:
    current = ws.ledger.in_flight(loop)
    if current is not None:
        raise LedgerError(
            f"loop {loop!r} has round {current['round']} in flight ({current['state']}); finish "
            f"it ('alflow step {loop}') or end it ('alflow round cancel {loop} "
            f"{current['round']}', or 'alflow round fail ...') before you {action}"
        )


def _set_excluded(dataset, loop: str, ids: list[str], excluded: bool) -> None:
    store.set_excluded(dataset, naming.label_field(loop), ids, excluded)


def _label_rounds(dataset, loop: str) -> list[tuple[str, int, bool]]:
    field = naming.label_field(loop)
    view = dataset.exists(field)
    rounds_ = view.values(f"{field}.round")
    excluded = view.values(f"{field}.excluded")
    return [
        (i, int(r or 0), bool(x))
        for i, r, x in zip(view.values("id"), rounds_, excluded, strict=True)
    ]


def _require_own_learner(ws: Workspace, loop: str, what: str) -> None:
    """History edits restore or refit alflow's learner; a team's own model has no checkpoint."""
    if ws.config(loop).scorer.kind == "model_predictions":
        raise LedgerError(
            f"cannot {what} in loop {loop!r}: it is scored by your own model, whose versions "
            "alflow does not keep; restore your model and its predictions, then step the loop"
        )


def rollback(ws: Workspace, loop: str, to_round: int) -> dict[str, Any]:
    """Start a new round from round ``to_round``'s learner; later labels leave training.

    No label is deleted and no round number is reused: the labels of later rounds are marked
    ``excluded`` (still visible; :func:`reinclude` brings them back) and a new round, recorded
    with ``kind: rollback``, carries round ``to_round``'s learner forward.
    """
    finish_pending_edit(ws, loop)
    _require_idle(ws, loop, "roll back")
    _require_own_learner(ws, loop, "roll back")
    target = ws.ledger.round(loop, to_round)
    if target["state"] != TAUGHT or not target.get("checkpoint"):
        raise LedgerError(
            f"loop {loop!r} round {to_round} is {target['state']!r} without a learner; roll back "
            "to a taught round ('alflow history' lists them)"
        )
    config = ws.config(loop)
    dataset = ws.dataset(config)
    later = [i for i, r, x in _label_rounds(dataset, loop) if r > to_round and not x]
    ckpt = target["checkpoint"]
    learners.load_checkpoint(ckpt["path"], ckpt["sha256"], ckpt.get("versions"))
    pending = {"kind": "rollback", "to_round": to_round, "ids": later}
    number = ws.ledger.allocate_round(loop, pending=pending)
    _complete_rollback(ws, loop, {**pending, "round": number})
    return {**summarize(ws.ledger.round(loop, number)), "excluded": len(later)}


def _complete_rollback(ws: Workspace, loop: str, edit: dict[str, Any]) -> None:
    """Do (or redo, after a crash) the rollback ``edit``; every part is idempotent."""
    number, to_round, later = edit["round"], edit["to_round"], edit["ids"]
    config = ws.config(loop)
    dataset = ws.dataset(config)
    _set_excluded(dataset, loop, later, True)
    if config.task == "detection":
        fields = detection.advance(ws, config, number)
    else:
        target = ws.ledger.round(loop, to_round)["checkpoint"]
        state = learners.load_checkpoint(target["path"], target["sha256"], target.get("versions"))
        fields = finish_learner(ws, config, state, number)
    ws.ledger.insert_round(
        loop,
        number,
        TAUGHT,
        kind="rollback",
        rolled_back_to=to_round,
        excluded_ids=later,
        queried_ids=[],
        **fields,
    )
    ws.ledger.update_loop(loop, status=ACTIVE, done_reason=None)
    ws.ledger.clear_pending_edit(loop, number)


def finish_pending_edit(ws: Workspace, loop: str) -> int | None:
    """Complete a rollback or re-include that was interrupted; returns its round, if any.

    The edit's round number and everything it changes were stored with the number, so an
    interrupted edit is redone the same way: it either did not happen (nothing was allocated)
    or it completes here, before anything else reads the loop's labels or learner.
    """
    edit = ws.ledger.loop(loop).get("pending_edit")
    if not edit:
        return None
    log.warning(
        "loop %r: completing the interrupted %s (round %d)", loop, edit["kind"], edit["round"]
    )
    if ws.ledger.get_round(loop, edit["round"]) is None:
        complete = _complete_rollback if edit["kind"] == "rollback" else _complete_reinclude
        complete(ws, loop, edit)
    ws.ledger.clear_pending_edit(loop, edit["round"])
    return int(edit["round"])


def reinclude(ws: Workspace, loop: str, from_rounds: list[int]) -> dict[str, Any]:
    """Bring excluded labels of ``from_rounds`` back into training, as a new taught round."""
    finish_pending_edit(ws, loop)
    _require_idle(ws, loop, "re-include labels")
    _require_own_learner(ws, loop, "re-include labels")
    config = ws.config(loop)
    dataset = ws.dataset(config)
    wanted = set(from_rounds)
    ids = [i for i, r, x in _label_rounds(dataset, loop) if x and r in wanted]
    if not ids:
        raise LedgerError(
            f"loop {loop!r} has no excluded labels from rounds {sorted(wanted)}; "
            "'alflow history' shows which rounds a rollback excluded"
        )
    pending = {"kind": "reinclude", "ids": ids}
    number = ws.ledger.allocate_round(loop, pending=pending)
    _complete_reinclude(ws, loop, {**pending, "round": number})
    return summarize(ws.ledger.round(loop, number))


def _complete_reinclude(ws: Workspace, loop: str, edit: dict[str, Any]) -> None:
    """Do (or redo, after a crash) the re-include ``edit``; every part is idempotent."""
    number, ids = edit["round"], edit["ids"]
    config = ws.config(loop)
    dataset = ws.dataset(config)
    _set_excluded(dataset, loop, ids, False)
    if config.task == "detection":
        fields = detection.advance(ws, config, number)
    else:
        known = labelled(dataset, loop)
        state = load_learner(ws, loop, number)
        fields = advance_learner(ws, config, state, known, ids, number)
    ws.ledger.insert_round(
        loop, number, TAUGHT, kind="reinclude", reincluded_ids=ids, queried_ids=[], **fields
    )
    ws.ledger.clear_pending_edit(loop, number)
