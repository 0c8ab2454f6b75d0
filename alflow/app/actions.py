"""What the App's operators do, in terms of alflow's flows and ledger (no FiftyOne UI code).

The operators in ``plugins/alflow`` only translate between the App and these functions, so the
App, the CLI and the schedule advance one loop through the same flows and the same ledger: an
App restart, a second App or ``alflow step`` all continue where the ledger says the loop is.

Where a flow runs is decided by :func:`execution_target`: as a run of alflow's deployment when
a Prefect API is configured, the deployment exists there and a worker polls its work pool;
otherwise in the App's own process. The result records where and why; the App shows it only to
a user whose own Prefect API was expected to run the deployments (:mod:`alflow.app.runs`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from typing import Any

from alflow.app.forms import DatasetChoices
from alflow.app.runs import execution_target
from alflow.app.runs import run as _run
from alflow.config import naming
from alflow.config.loop import LoopConfig
from alflow.errors import AlflowError, LedgerError
from alflow.loop.workspace import Workspace, open_workspace
from alflow.state.ledger import EXPORTED, IN_FLIGHT, QUERIED, WAITING

CREATE_DEPLOYMENT = "alflow-create-loop/create-loop"
STEP_DEPLOYMENT = "alflow-step/step"
NUMBERS = ("FloatField", "IntField")


def check_environment() -> None:
    """Refuse to run when the App's FiftyOne database is not the one alflow's CLI would use.

    FiftyOne reads its database settings when it is first imported; if the App was started
    before ``alflow`` set its defaults, the two would silently keep separate ledgers.
    """
    import fiftyone as fo

    in_use = fo.config.database_uri or fo.config.database_dir
    expected = os.environ.get("FIFTYONE_DATABASE_URI") or os.environ.get("FIFTYONE_DATABASE_DIR")
    if expected and in_use != expected:
        raise AlflowError(
            f"this FiftyOne App uses the database {in_use}, alflow's CLI uses {expected}: "
            "start the App through alflow's App launcher, or set FIFTYONE_DATABASE_DIR (or "
            "FIFTYONE_DATABASE_URI) to the same database before starting FiftyOne"
        )


def dataset_choices(dataset, ws: Workspace | None = None) -> DatasetChoices:
    """The fields and tags of ``dataset`` a loop can use, and the loops already on it."""
    import fiftyone as fo

    schema = dataset.get_field_schema()
    owned = naming.FIELD_PREFIX
    features = [
        name for name, fld in schema.items() if _numeric(fld) and not name.startswith(owned)
    ]
    counts = dataset.count_sample_tags()
    # not the round tags (al:<loop>:round-NNN) of rounds shown before the round field existed
    tags = [t for t in sorted(counts, key=lambda t: (-counts[t], t)) if not t.startswith("al:")]
    choices = DatasetChoices(
        dataset.name,
        sorted(features),
        _label_fields(schema, fo.Classification),
        tags,
        loops_of(dataset.name, ws),
        detection_fields=_label_fields(schema, fo.Detections),
    )
    truth = choices.ground_truth()
    seeds = [f for f in choices.classification_fields if f != truth]
    seed = next((f for f in seeds if len(dataset.distinct(f"{f}.label")) >= 2), None)
    return replace(choices, seed=seed)


def _label_fields(schema, label_type) -> list[str]:
    """The dataset's own fields holding labels of ``label_type`` (not alflow's)."""
    return sorted(
        name
        for name, fld in schema.items()
        if getattr(fld, "document_type", None) is label_type
        and not name.startswith(naming.FIELD_PREFIX)
    )


def _numeric(fld) -> bool:
    """Vector, array, float or int fields, and lists of numbers (not tags or strings)."""
    kind = type(fld).__name__
    if kind == "ListField":
        return type(getattr(fld, "field", None)).__name__ in NUMBERS
    return kind in ("VectorField", "ArrayField", *NUMBERS)


def loops_of(dataset_name: str, ws: Workspace | None = None) -> list[str]:
    """Loops on a dataset, newest first (the App preselects the first)."""
    ws = ws or open_workspace()
    docs = [d for d in ws.ledger.loops() if d["config"]["dataset"] == dataset_name]
    return [d["_id"] for d in sorted(docs, key=lambda d: d["created_at"], reverse=True)]


def in_flight(loop: str, ws: Workspace | None = None) -> dict[str, Any] | None:
    """The loop's round in flight, if any."""
    return (ws or open_workspace()).ledger.latest_round(loop, IN_FLIGHT)


# ------------------------------------------------------------------------------ the operations
def create(config: LoopConfig) -> dict[str, Any]:
    """Create the loop and fit round 0 (the create-loop flow)."""
    from flows.loop import create_loop_flow

    ws = open_workspace()
    if ws.ledger.loop_exists(config.name):
        raise LedgerError(
            f"a loop named {config.name!r} already exists: choose another name in the form"
        )
    target = execution_target(CREATE_DEPLOYMENT)
    params = {"config": config.model_dump(mode="json") if target.mode == "deployment" else config}
    ran = _run(target, create_loop_flow, params)
    return {**ran, "round_0": _summary(ws, config.name, 0)}


def query(loop: str, batch_size: int | None = None) -> dict[str, Any]:
    """Query and export the next round, or show the one already under review."""
    from alflow.config.loop import StepOptions
    from flows.loop import step_flow

    ws = open_workspace()
    current = in_flight(loop, ws)
    if current is not None and current["state"] in (QUERIED, EXPORTED, WAITING):
        return {
            **_shown(ws, loop, current["round"]),
            "ran": None,
            "run_url": None,
            "already_in_flight": True,
        }
    options = StepOptions(batch_size=batch_size)
    target = execution_target(STEP_DEPLOYMENT)
    opts = options.model_dump(mode="json") if target.mode == "deployment" else options
    ran = _run(target, step_flow, {"loop": loop, "options": opts})
    number = ws.ledger.loop(loop)["last_round"]
    return {
        **_shown(ws, loop, number),
        "ran": ran["ran"],
        "run_url": ran["run_url"],
        "deployment_run": ran["deployment_run"],
        "deployments_expected": ran["deployments_expected"],
        "already_in_flight": False,
    }


def update(loop: str, when_unfinished: str = "wait") -> dict[str, Any]:
    """Finish the round under review (or take finished CVAT jobs), teach, write predictions."""
    from alflow import rounds
    from alflow.config.loop import StepOptions
    from flows.loop import step_flow

    ws = open_workspace()
    current = in_flight(loop, ws)
    if current is None:
        raise LedgerError(
            f"loop {loop!r} has no round to update: query a batch first (Active Learning: "
            "query learner)"
        )
    backend = (current.get("backend") or {}).get("kind")
    if backend == "app" and when_unfinished == "wait" and current["state"] in (EXPORTED, WAITING):
        rounds.finish_review(ws, loop, current["round"], by="app")
    options = StepOptions(when_unfinished=when_unfinished, open_next=False)
    target = execution_target(STEP_DEPLOYMENT)
    opts = options.model_dump(mode="json") if target.mode == "deployment" else options
    ran = _run(target, step_flow, {"loop": loop, "options": opts})
    return {
        **ran,
        "result": None,
        "round": _summary(ws, loop, current["round"]),
        **_loop_state(ws, loop),
    }


def fail(loop: str, reason: str | None = None) -> dict[str, Any]:
    """Mark the round in flight failed (as ``alflow round fail``): its batch returns to the pool,
    ingested labels are kept; the loop's lock is held meanwhile."""
    from alflow.loop import prefect_crashes, recovery
    from alflow.state import locks

    ws = open_workspace()
    current = in_flight(loop, ws)
    if current is None:
        raise LedgerError(f"loop {loop!r} has no round in flight to fail")
    owner = locks.command_owner("app round fail")
    with locks.holding(ws.ledger, loop, owner) as replaced:
        if replaced:
            by = f"{owner} in the FiftyOne App took the loop over"
            prefect_crashes.mark_dead_step(ws.ledger, loop, replaced, by)
        recovery.end_round(ws, loop, current["round"], "failed", reason or "failed in the App")
    return {
        "ran": None,
        "run_url": None,
        "round": _summary(ws, loop, current["round"]),
        **_loop_state(ws, loop),
    }


def _loop_state(ws: Workspace, loop: str) -> dict[str, Any]:
    doc = ws.ledger.loop(loop)
    return {"loop_status": doc["status"], "done_reason": doc.get("done_reason")}


def _summary(ws: Workspace, loop: str, number: int) -> dict[str, Any]:
    from alflow.rounds import summarize

    return summarize(ws.ledger.round(loop, number))


def _shown(ws: Workspace, loop: str, number: int) -> dict[str, Any]:
    """What the App shows of a queried round: its batch in query order and where it went."""
    from alflow.loop.reports import annotation_place, task_url

    doc = ws.ledger.round(loop, number)
    ref = (doc.get("backend") or {}).get("ref") or {}
    return {
        "round": _summary(ws, loop, number),
        "sample_ids": list(doc.get("queried_ids", [])),
        "view": naming.round_name(loop, number) if ref.get("view") else None,
        "task_url": task_url(ref),
        "annotated_in": annotation_place(ref),
        "task": ws.config(loop).task,
    }


def status(loop: str) -> dict[str, Any]:
    """The loop's status, from the same core function as ``alflow status``."""
    from alflow.loop.status import describe, loop_status

    st = loop_status(open_workspace(), loop)
    # JSON-safe (the lock's times), since the App sends results to the browser as JSON
    return json.loads(json.dumps({"lines": describe(st), **asdict(st)}, default=str))


def chosen_loop(dataset_name: str, params: dict[str, Any]) -> str:
    """The loop an operator acts on: the one picked in its form, else the dataset's first."""
    if params.get("loop"):
        return params["loop"]
    loops = loops_of(dataset_name)
    if not loops:
        raise LedgerError(
            f"dataset {dataset_name!r} has no active-learning loop: run 'Active Learning: "
            "create learner' first"
        )
    return loops[0]


def loop_exists(name: str) -> bool:
    """Whether any dataset has a loop of this name (loop names are unique across datasets)."""
    return open_workspace().ledger.loop_exists(name)


def initial_field_problem(dataset, field: str | None) -> str | None:
    """Why a Classification field cannot seed a loop (fewer than two classes), or None."""
    from alflow.app.messages import too_few_classes

    if not field:
        return None
    found = dataset.distinct(f"{field}.label")
    return None if len(found) >= 2 else too_few_classes(field, len(found))
