"""Marking a dead step's Prefect runs Crashed: the thin Prefect side of :mod:`alflow.loop.crashes`.

:func:`mark_dead_step` is called by whatever takes or frees a lock whose holder died: the next
step (and so the scheduled advance, which runs steps), ``alflow unlock``, and the commands that
hold a loop's lock for an edit. It reads the dead step's flow run, the flow runs below it and the
loop's tagged round runs that are unfinished, and their unfinished task runs; marks the runs
:func:`alflow.loop.crashes.dead_runs` chooses Crashed with the reason; and notes each crashed
round run on its round's record, where the round's report links it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from alflow.config import naming
from alflow.loop import crashes
from alflow.loop.crashes import FLOW, TASK, Run
from alflow.state import locks
from alflow.state.ledger import Ledger

log = logging.getLogger(__name__)


def mark_dead_step(
    ledger: Ledger, loop: str, lock: dict[str, Any], by: str, spare: Iterable[str] = ()
) -> list[Run] | None:
    """Mark Crashed every run the holder of ``lock`` left unfinished; returns the runs marked.

    ``by`` says who found out (it ends up in the reason); ``spare`` names runs never to mark
    (the run doing this). Best effort: a Prefect API that cannot be reached is logged and
    returns None, since the loop itself goes on from its ledger either way.
    """
    root = crashes.flow_run_id(lock["owner"])
    if root is None:  # a command's lock: it started no Prefect run
        return []
    import httpx
    from prefect import get_client

    why = crashes.reason(loop, lock, locks.holder_alive(lock), by)
    try:
        with get_client(sync_client=True) as client:
            chosen = crashes.dead_runs(loop, root, read_runs(client, loop, root), spare)
            for run in chosen:
                set_crashed(client, run, why)
    except httpx.HTTPError as exc:
        log.warning(
            "loop %r: could not mark the dead step's Prefect runs crashed (%s); Prefect "
            "still shows them running, while the loop itself goes on from its ledger",
            loop,
            exc,
        )
        return None
    base = _ui_base()
    for number, runs in crashes.crashed_rounds(loop, chosen).items():
        for run in runs:
            url = crashes.flow_run_url(base, run.id)
            ledger.note_crashed_run(loop, number, crashes.ledger_note(run, why, url))
    for run in chosen:
        log.warning("%s run %r (%s) marked crashed: %s", run.kind, run.name, run.id, why)
    return chosen


def read_runs(client, loop: str, root: str) -> list[Run]:
    """The dead step's run, the flow runs below it, the loop's unfinished tagged round runs,
    and the unfinished task runs of all of them."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.exceptions import ObjectNotFound

    unfinished = sorted(crashes.UNFINISHED)
    flows: dict[str, Run] = {}
    with suppress(ObjectNotFound):  # a run deleted from Prefect may still have children there
        flows[root] = _flow(client.read_flow_run(root), None)
    frontier, seen = [root], {root}
    while frontier:
        parent = frontier.pop()
        below = FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent]))
        for found in client.read_flow_runs(flow_run_filter=below):
            run = _flow(found, parent)
            flows[run.id] = run
            if run.id not in seen:
                seen.add(run.id)
                frontier.append(run.id)
    tagged = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[naming.loop_run_tag(loop)]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=unfinished)),
    )
    for found in client.read_flow_runs(flow_run_filter=tagged):
        flows.setdefault(str(found.id), _flow(found, None))
    task_filter = TaskRunFilter(
        flow_run_id=TaskRunFilterFlowRunId(any_=sorted({root, *flows})),
        state=TaskRunFilterState(type=TaskRunFilterStateType(any_=unfinished)),
    )
    tasks = [
        Run(str(t.id), t.name, TASK, _type(t), str(t.flow_run_id), tuple(t.tags or ()))
        for t in client.read_task_runs(task_run_filter=task_filter)
    ]
    return [*flows.values(), *tasks]


def set_crashed(client, run: Run, why: str) -> None:
    """Force the run into a Crashed state saying ``why``."""
    from uuid import UUID

    from prefect.states import Crashed

    if run.kind == FLOW:
        client.set_flow_run_state(UUID(run.id), Crashed(message=why), force=True)
    else:
        client.set_task_run_state(UUID(run.id), Crashed(message=why), force=True)


def _flow(found, parent: str | None) -> Run:
    return Run(str(found.id), found.name, FLOW, _type(found), parent, tuple(found.tags or ()))


def _type(found) -> str:
    state = found.state
    return str(state.type.value) if state is not None else ""  # never started: not shown running


def _ui_base() -> str | None:
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    return PREFECT_UI_URL.value() or PREFECT_API_URL.value()
