"""Where a loop stands, as one record: what `alflow status` prints and the App's status panel shows.

Both read the same :func:`loop_status`, so the command line and the App can never disagree.
Reading status never writes: the live annotation progress is asked of the backend directly
(``backend.progress`` has no side effects), not through the round's ``progress`` step, which
records a ``waiting`` state. Someone waits on the answer, so the backend is asked once, with a
short timeout (:data:`LIVE_TIMEOUT_SECONDS`) and no retries: a CVAT server that is down makes
status say so within seconds, with the progress stored at the last step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alflow.config.loop import LoopConfig
from alflow.errors import (
    AlflowError,
    AnnotationTaskGone,
    BackendUnreachable,
    CredentialsRefused,
)
from alflow.loop import reports
from alflow.loop.workspace import Workspace
from alflow.state import locks
from alflow.state.ledger import (
    ACTIVE,
    DONE,
    EXPORTED,
    IN_FLIGHT,
    INGESTED,
    PAUSED,
    WAITING,
    format_time,
)

LIVE_TIMEOUT_SECONDS = 5.0
UNITS = {"cvat": "annotation jobs", "label_studio": "Label Studio tasks"}  # what progress counts
SERVERS = {"cvat": "CVAT", "label_studio": "Label Studio"}  # who answered, in a sentence
# what the server answered when it gave no progress, by the kind of error it was read as
ANSWERS = (
    (AnnotationTaskGone, "task_deleted"),
    (CredentialsRefused, "credentials_refused"),
    (BackendUnreachable, "unreachable"),
)


@dataclass(frozen=True)
class LoopStatus:
    """A loop's state at one moment, from the ledger plus (optionally) the live backend."""

    loop: str
    dataset: str
    status: str
    done_reason: str | None
    backend: str
    round: int | None = None
    state: str | None = None
    done: int | None = None
    total: int | None = None
    progress_error: str | None = None
    # what the backend's server answered instead of progress: "task_deleted",
    # "credentials_refused", "unreachable", or "error" (another refusal or failure)
    progress_answer: str | None = None
    live: bool = False  # done/total come from the backend now, not from the last step
    lock: dict[str, Any] | None = None
    labelled: int | None = None
    curve: list[dict[str, Any]] = field(default_factory=list)
    # alflow's own Prefect server, the one process meant to outlive commands: "URL (pid N)"
    prefect_server: str | None = None
    database_server: str | None = None  # alflow's own MongoDB, the other one: "URI (pid N)"
    command_servers: str | None = None  # warm processes of flow commands: "pid N, pid M"
    # a round of a loop scored by its own model, waiting for the model's new predictions
    predictions_field: str | None = None


def loop_status(ws: Workspace, loop: str, live: bool = True) -> LoopStatus:
    """The loop's status; with ``live`` the backend is asked how far annotation is."""
    doc = ws.ledger.loop(loop)
    rounds = ws.ledger.rounds(loop)
    curve = reports.curve_rows(rounds)
    base = {
        "loop": loop,
        "dataset": doc["config"]["dataset"],
        "status": doc["status"],
        "done_reason": doc.get("done_reason"),
        "backend": doc["config"].get("backend", {}).get("kind", "oracle"),
        "lock": locks.live_lock(doc.get("lock")),
        "labelled": curve[-1]["labelled"] if curve else None,
        "curve": curve,
        "prefect_server": _managed_server(),
        "database_server": _managed_database(),
        "command_servers": _command_servers(),
    }
    current = next((d for d in reversed(rounds) if d["state"] in IN_FLIGHT), None)
    if current is None:
        return LoopStatus(**base)
    progress: dict[str, Any] = {}
    if current["state"] in (EXPORTED, WAITING):
        progress = _progress(ws, loop, current) if live else dict(current.get("progress") or {})
    return LoopStatus(
        **base,
        round=current["round"],
        state=current["state"],
        done=progress.get("done"),
        total=progress.get("total"),
        progress_error=progress.get("error"),
        progress_answer=progress.get("answer"),
        live=bool(progress.get("live")),
        predictions_field=_awaited_predictions(doc["config"], current),
    )


def _awaited_predictions(config: dict[str, Any], current: dict[str, Any]) -> str | None:
    """The predictions field an ingested round waits to see rewritten, if it waits."""
    retrain = current.get("retrain") or {}
    if current["state"] != INGESTED or not retrain.get("waiting_since") or retrain.get("ready"):
        return None
    return (config.get("scorer") or {}).get("field")


def quick_read(config: LoopConfig) -> LoopConfig:
    """The loop's configuration for a read someone waits on: one try, a short timeout."""
    if config.backend.kind not in ("cvat", "label_studio"):
        return config
    backend = config.backend.model_copy(
        update={"retries": 0, "timeout_seconds": LIVE_TIMEOUT_SECONDS}
    )
    return config.model_copy(update={"backend": backend})


def _progress(ws: Workspace, loop: str, current: dict[str, Any]) -> dict[str, Any]:
    """Live progress from the backend; if it does not answer, the stored one and why."""
    ref = (current.get("backend") or {}).get("ref")
    stored = dict(current.get("progress") or {})
    if ref is None:
        return stored
    try:
        prog = ws.backend(quick_read(ws.config(loop))).progress(ref)
    except AlflowError as exc:
        answer = next((name for kind, name in ANSWERS if isinstance(exc, kind)), "error")
        return {
            "done": stored.get("done"),
            "total": stored.get("total"),
            "error": str(exc),
            "answer": answer,
        }
    return {"done": prog.done, "total": prog.total, "live": True}


def waiting_for(st: LoopStatus) -> str:
    """One sentence: what the loop waits for and what moves it on."""
    if st.round is None:
        if st.lock:
            return f"a step is working on it: {locks.describe_holder(st.lock)}"
        if st.status == ACTIVE:
            return f"no round in flight: 'alflow step {st.loop}' queries the next batch"
        if st.status == PAUSED:
            return f"paused: 'alflow loop resume {st.loop}' lets it step again"
        if st.status == DONE:
            return f"done: 'alflow loop stop-rules {st.loop} --max-rounds N' raises its limits"
        return f"loop is {st.status}"
    head = f"round {st.round} is {st.state!r}"
    unit = UNITS.get(st.backend, "samples")
    if st.progress_error:
        return f"{head}; {_no_progress(st)}"
    if st.backend == "app" and st.state in (EXPORTED, WAITING):
        return (
            f"{head}: under review in the FiftyOne App; when the review is done run "
            f"'alflow review finish {st.loop}' (or the App's update operator), then "
            f"'alflow step {st.loop}'"
        )
    if st.predictions_field:
        return (
            f"{head}: waiting for new predictions in {st.predictions_field!r}; once the model "
            f"rewrote them (or after 'alflow predictions ready {st.loop}'), 'alflow step "
            f"{st.loop}' continues it"
        )
    if st.total is not None:
        return f"{head}: {st.done}/{st.total} {unit} finished"
    return f"{head}: 'alflow step {st.loop}' continues it"


def _no_progress(st: LoopStatus) -> str:
    """Why there is no live progress, as what the server answered (or that it did not)."""
    server = SERVERS.get(st.backend, f"the {st.backend} backend")
    stored = (
        f"; at the last step {st.done}/{st.total} {UNITS.get(st.backend, 'samples')} were finished"
        if st.total is not None
        else ""
    )
    if st.progress_answer == "task_deleted":
        return f"{server} answered that the round's task is deleted ({st.progress_error})"
    if st.progress_answer == "credentials_refused":
        return f"{server} refused the credentials ({st.progress_error}){stored}"
    if st.progress_answer == "unreachable":
        return f"could not reach {server} to read its progress now ({st.progress_error}){stored}"
    return f"{server} answered with an error to the progress read ({st.progress_error}){stored}"


def _managed_server() -> str | None:
    from alflow.services import prefect_server

    record = prefect_server.running()
    return f"{record.url} (pid {record.pid})" if record else None


def _managed_database() -> str | None:
    from alflow.services import database_server

    record = database_server.running()
    return f"{database_server.uri(record)} (pid {record.pid})" if record else None


def _command_servers() -> str | None:
    from alflow.services import command_servers

    pids = [f"pid {record['pid']}" for record in command_servers.running()]
    return ", ".join(pids) or None


def describe(st: LoopStatus) -> list[str]:
    """The status as the lines `alflow status` prints."""
    lines = [
        f"loop {st.loop!r} on dataset {st.dataset!r}: {st.status}"
        + (f" ({st.done_reason})" if st.done_reason else ""),
        waiting_for(st),
    ]
    if st.labelled is not None:
        last = st.curve[-1]
        acc = last.get("accuracy")
        lines.append(
            f"labelled: {st.labelled} (round {last['round']})"
            + (f", held-out accuracy {acc:.3f}" if acc is not None else "")
        )
    if st.lock:
        lines.append(
            f"locked by {locks.describe_holder(st.lock)}, lease until "
            f"{format_time(st.lock['until'])} ('alflow unlock {st.loop}' frees a dead one's)"
        )
    if st.prefect_server:
        lines.append(
            f"alflow's Prefect server runs on {st.prefect_server}; 'alflow server --stop' stops it"
        )
    if st.database_server:
        lines.append(
            f"alflow's database runs on {st.database_server}; 'alflow database --stop' stops it"
        )
    if st.command_servers:
        lines.append(
            f"alflow's command server keeps flow commands warm ({st.command_servers}); "
            "'alflow server --stop' stops it"
        )
    return lines
