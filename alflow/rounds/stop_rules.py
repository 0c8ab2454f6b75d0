"""Stop rules: when a loop is done (label budget, round count, plateau of accuracy or, for a
detection loop, of mAP)."""

from __future__ import annotations

import logging
from typing import Any

from alflow.config.loop import LoopConfig
from alflow.loop.workspace import Workspace
from alflow.state.ledger import ACTIVE, DONE, TAUGHT

log = logging.getLogger(__name__)


def stop_reason(config: LoopConfig, taught: list[dict[str, Any]]) -> str | None:
    """Why the loop is done after these taught rounds, or None to go on."""
    rules = config.stop
    if not taught:
        return None
    last = taught[-1]
    n_labels = last.get("metrics", {}).get("labelled", 0)
    if rules.label_budget is not None and n_labels >= rules.label_budget:
        return f"label budget reached ({n_labels} >= {rules.label_budget})"
    rounds_done = sum(1 for d in taught if d["round"] > 0 and not d.get("kind"))
    if rules.max_rounds is not None and rounds_done >= rules.max_rounds:
        return f"maximum rounds reached ({rounds_done})"
    if rules.plateau_rounds:
        metric = "mAP" if config.task == "detection" else "accuracy"
        accs = [d.get("metrics", {}).get(metric) for d in taught]
        accs = [a for a in accs if a is not None]
        if len(accs) > rules.plateau_rounds:
            gain = accs[-1] - max(accs[: -rules.plateau_rounds])
            if gain < rules.plateau_delta:
                return (
                    f"{metric} plateau: gained {gain:+.4f} over the last "
                    f"{rules.plateau_rounds} rounds (< {rules.plateau_delta})"
                )
    return None


def update_stop_rules(ws: Workspace, loop: str, **changes: Any) -> dict[str, Any]:
    """Change a loop's stop rules; a done loop whose new rules no longer stop it is active."""
    config = ws.config(loop)
    stop = config.stop.model_copy(update={k: v for k, v in changes.items() if v is not None})
    config = LoopConfig.model_validate({**config.model_dump(), "stop": stop.model_dump()})
    ws.check_backend(config)
    ws.ledger.update_loop(loop, config=config.model_dump(mode="json"))
    doc = ws.ledger.loop(loop)
    taught = [d for d in ws.ledger.rounds(loop) if d["state"] == TAUGHT]
    reason = stop_reason(config, taught)
    if doc["status"] == DONE and reason is None:
        ws.ledger.update_loop(loop, status=ACTIVE, done_reason=None)
    elif reason is not None:
        ws.ledger.update_loop(loop, status=DONE, done_reason=reason)
    return {"stop": stop.model_dump(), "status": ws.ledger.loop(loop)["status"], "reason": reason}


def apply_stop_rules(ws: Workspace, config: LoopConfig) -> None:
    taught = [d for d in ws.ledger.rounds(config.name) if d["state"] == TAUGHT]
    reason = stop_reason(config, taught)
    if reason:
        log.info("loop %r is done: %s", config.name, reason)
        ws.ledger.update_loop(config.name, status=DONE, done_reason=reason)
