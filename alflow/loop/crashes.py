"""Which Prefect runs a dead step left unfinished, and why they crashed: pure logic on run records.

A step that dies (SIGKILL, a lost worker) leaves its flow run, the round runs it started
(``<loop>-round-NNN``, tagged ``loop:<name>`` and ``round:<n>``) and the task runs it was in
shown as running by Prefect for good. Whatever next takes or frees the loop's lock knows the dead
holder from the lock (its owner is the step's flow run id); it reads the runs below that run and
the loop's tagged runs into :class:`Run` records, and these functions choose the ones to mark
Crashed, write the one-line reason, and say which rounds each crashed round run worked on, so a
resumed round's report links them. :mod:`alflow.loop.prefect_crashes` does the reading and writing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alflow.config import naming
from alflow.state.ledger import format_time

# Prefect state types of a run whose process is still meant to be working on it
UNFINISHED = frozenset({"PENDING", "RUNNING", "CANCELLING"})
FLOW, TASK = "flow", "task"


@dataclass(frozen=True)
class Run:
    """One Prefect run as these functions need it.

    ``parent`` is the flow run a run belongs to: a subflow run's parent flow run, a task run's
    flow run (None for a top-level flow run). ``state`` is Prefect's state type (``RUNNING``).
    """

    id: str
    name: str
    kind: str
    state: str
    parent: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED


def flow_run_id(owner: str) -> str | None:
    """The lock owner as a flow run id; None for a command's lock (``alflow rollback (...)``)."""
    try:
        return str(uuid.UUID(owner))
    except ValueError:
        return None


def dead_runs(loop: str, root: str, runs: Iterable[Run], spare: Iterable[str] = ()) -> list[Run]:
    """The runs to mark Crashed, task runs first, then flow runs from the deepest up.

    Flow runs: the dead step's run ``root``, every flow run below it, and every run tagged as
    one of ``loop``'s round runs, when unfinished. Task runs: the unfinished ones of those flow
    runs (finished or not, so tasks left running under a run marked earlier are caught too).
    Runs in ``spare`` (the run doing the marking) and runs below them are never chosen.
    """
    runs = list(runs)
    flows = {r.id: r for r in runs if r.kind == FLOW}
    above = {i: _ancestors(i, flows) for i in flows}
    spared = set(spare)
    tag = naming.loop_run_tag(loop)
    owners = {
        i
        for i, r in flows.items()
        if (i == root or root in above[i] or tag in r.tags) and not spared & {i, *above[i]}
    }
    if root not in spared:
        owners.add(root)
    tasks = [r for r in runs if r.kind == TASK and r.unfinished and r.parent in owners]
    chosen = [flows[i] for i in owners if i in flows and flows[i].unfinished]
    chosen.sort(key=lambda r: (-len(above[r.id]), r.name, r.id))
    return sorted(tasks, key=lambda r: (r.name, r.id)) + chosen


def _ancestors(run_id: str, flows: dict[str, Run]) -> list[str]:
    """The flow runs above ``run_id``, nearest first (as far as ``flows`` knows them)."""
    chain: list[str] = []
    parent = flows[run_id].parent
    while parent is not None and parent not in chain and parent != run_id:
        chain.append(parent)
        parent = flows[parent].parent if parent in flows else None
    return chain


def round_of(loop: str, run: Run) -> int | None:
    """The round a flow run of ``loop`` worked on: its ``round:<n>`` tag, else its name."""
    if run.kind != FLOW:
        return None
    if naming.loop_run_tag(loop) in run.tags:
        for tag in run.tags:
            found = re.fullmatch(r"round:(\d+)", tag)
            if found:
                return int(found.group(1))
    found = re.fullmatch(rf"{re.escape(loop)}-round-(\d{{3,}})", run.name)
    return int(found.group(1)) if found else None


def crashed_rounds(loop: str, marked: Iterable[Run]) -> dict[int, list[Run]]:
    """The crashed round runs by the round they worked on."""
    out: dict[int, list[Run]] = {}
    for run in marked:
        number = round_of(loop, run)
        if number is not None:
            out.setdefault(number, []).append(run)
    return out


def reason(loop: str, lock: dict[str, Any], alive: bool | None, by: str) -> str:
    """Why the dead holder's runs crashed, in one line, with who found out (``by``).

    ``alive`` is what :func:`alflow.state.locks.holder_alive` says of the holder: False (its
    process is gone), None (another host: only its lease ran out) or True (freed by force).
    """
    where = f"pid {lock['pid']} on host {lock['host']}" if lock.get("pid") else "its process"
    if alive is False:
        what = f"the step holding loop {loop!r} died ({where})"
    elif alive is None:
        what = (
            f"the step holding loop {loop!r} ({where}) stopped renewing its lock, which "
            f"expired at {format_time(lock.get('until'))}"
        )
    else:
        what = f"the lock of the step holding loop {loop!r} ({where}) was freed by force"
    return f"{what}; {by}; the loop goes on from its ledger, nothing it finished is lost"


def flow_run_url(base_url: str | None, run_id: str) -> str | None:
    """The Prefect UI page of a flow run, from the UI's (or the API's) address."""
    if not base_url:
        return None
    return f"{base_url.removesuffix('/').removesuffix('/api')}/runs/flow-run/{run_id}"


def ledger_note(run: Run, why: str, url: str | None) -> dict[str, Any]:
    """What a round's record keeps of a crashed run of it (its report links it)."""
    return {"id": run.id, "name": run.name, "why": why, "url": url}
