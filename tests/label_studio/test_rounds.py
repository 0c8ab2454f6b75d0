"""Label Studio rounds end to end: real flows, the real FiftyOne database, the real server.

Each loop runs on the digits dataset with the ``label_studio`` backend, 8 samples a round, the
images served in place from the session's state directory. Between steps a person
(:class:`~tests.label_studio.annotator.Annotator`) submits, changes or skips in Label Studio.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import tasks
from alflow import rounds
from alflow.backends.label_studio import LabelStudioTasksDeleted
from alflow.config import naming
from alflow.config.loop import StepOptions
from alflow.learning import learners
from alflow.loop import status
from alflow.loop.workspace import open_workspace
from flows.advance import advance_flow
from flows.loop import step_flow

pytestmark = pytest.mark.usefixtures("prefect_server")


def ledger_round(loop: str, number: int) -> dict[str, Any]:
    return open_workspace().ledger.round(loop, number)


def ref_of(loop: str, number: int) -> dict[str, Any]:
    return ledger_round(loop, number)["backend"]["ref"]


def labels(dataset, loop: str, ids: list[str]) -> dict[str, Any]:
    values = dataset.select(ids, ordered=True).values(naming.label_field(loop))
    return dict(zip(ids, values, strict=True))


def back_in_pool(dataset, loop: str, ids: list[str]) -> bool:
    """Unlabelled, in the pool split and out for annotation in no round in flight."""
    split = dataset.select(ids, ordered=True).values(naming.split_field(loop))
    queued = rounds.queued_ids(open_workspace(), loop)
    return (
        all(v is None for v in labels(dataset, loop, ids).values())
        and set(split) == {"pool"}
        and not set(ids) & queued
    )


def other_digit(label: str) -> str:
    return str((int(label) + 1) % 10)


def annotate(annotator, loop: str, number: int, change: set[int], skip: set[int] = frozenset()):
    """Submit every task of the round: the guess, another digit for ``change``, Skip for
    ``skip``; returns the reference and the expected ``{sample id: label}``."""
    ref = ref_of(loop, number)
    expected = {}
    for i, (sid, tid) in enumerate(zip(ref["sample_ids"], ref["task_ids"], strict=True)):
        if i in skip:
            annotator.skip(tid)
            continue
        label = other_digit(ref["predicted"][sid]) if i in change else ref["predicted"][sid]
        annotator.submit(tid, label)
        expected[sid] = label
    return ref, expected


def check_taught(digits, loop, number, ref, expected, changed, annotator, labelled_before):
    doc = ledger_round(loop, number)
    assert [e["state"] for e in doc["history"]][-2:] == ["ingested", "taught"]
    assert sorted(doc["ingest"]["answered"]) == sorted(expected)
    assert doc["ingest"]["changed"] == len(changed)
    got = labels(digits, loop, list(expected))
    assert {sid: c.label for sid, c in got.items()} == expected
    task_of = dict(zip(ref["sample_ids"], ref["task_ids"], strict=True))
    for sid, c in got.items():
        assert (c.source, c.round, c.label_studio_task_id) == ("label_studio", number, task_of[sid])
        assert c.label_studio_annotator == annotator.id and c.label_studio_annotated_at
        assert c.labelled_at and c.excluded is False
        assert c.changed is (sid in changed)
    taught = learners.load_checkpoint(doc["checkpoint"]["path"])
    assert set(expected) <= set(taught.training_ids)
    assert len(taught.training_ids) == labelled_before + len(expected)


def test_two_rounds_end_to_end(label_studio, annotator, digits, ls_loop):
    loop = ls_loop().name
    first = step_flow(loop)
    assert (first["round"], first["state"]) == (1, "waiting")
    ref1 = ref_of(loop, 1)
    assert ref1["images"] == {"served": 8, "uploaded": 0}
    # the guesses are the predictions the learner wrote to the dataset
    written = digits.select(ref1["sample_ids"], ordered=True).values(
        f"{naming.prediction_field(loop)}.label"
    )
    assert [ref1["predicted"][s] for s in ref1["sample_ids"]] == written
    # `alflow status` asks Label Studio how far the round is
    annotator.submit(ref1["task_ids"][0], ref1["predicted"][ref1["sample_ids"][0]])
    live = status.loop_status(open_workspace(), loop)
    assert (live.done, live.total, live.live) == (1, 8, True)
    assert "1/8 Label Studio tasks finished" in status.waiting_for(live)

    _, expected1 = annotate(annotator, loop, 1, change={1, 6}, skip=set())
    expected1[ref1["sample_ids"][0]] = ref1["predicted"][ref1["sample_ids"][0]]
    second = step_flow(loop)  # ingests and teaches round 1, queries and exports round 2
    assert (second["round"], second["state"]) == (2, "waiting")
    changed1 = {ref1["sample_ids"][1], ref1["sample_ids"][6]}
    check_taught(digits, loop, 1, ref1, expected1, changed1, annotator, labelled_before=10)

    ref2, expected2 = annotate(annotator, loop, 2, change={5}, skip={7})
    assert ref2["project_id"] == ref1["project_id"]  # one project per loop
    assert ledger_round(loop, 2)["base_round"] == 1
    third = step_flow(loop)
    assert (third["round"], third["state"]) == (3, "waiting")
    check_taught(digits, loop, 2, ref2, expected2, {ref2["sample_ids"][5]}, annotator, 18)
    skipped = ref2["sample_ids"][7]
    (unresolved,) = ledger_round(loop, 2)["ingest"]["unresolved"]
    assert unresolved["sample_id"] == skipped and "skipped" in unresolved["reason"]
    # the token is in no stored record
    ws = open_workspace()
    stored = json.dumps([ws.ledger.loop(loop), *ws.ledger.rounds(loop)], default=str)
    assert label_studio.pat not in stored and label_studio.legacy_token not in stored


def test_partial_acceptance_then_cancel(label_studio, annotator, digits, ls_loop):
    loop = ls_loop(flow=False).name
    assert step_flow(loop, StepOptions(open_next=False))["state"] == "waiting"
    ref = ref_of(loop, 1)
    for sid, tid in list(zip(ref["sample_ids"], ref["task_ids"], strict=True))[:5]:
        annotator.submit(tid, ref["predicted"][sid])
    annotator.draft(ref["task_ids"][5], "3")

    waiting = step_flow(loop)  # default: wait for every task
    assert (waiting["round"], waiting["state"]) == (1, "waiting")
    progress = ledger_round(loop, 1)["progress"]
    assert (progress["done"], progress["total"]) == (5, 8)
    partial = step_flow(loop, StepOptions(when_unfinished="accept_partial", open_next=False))
    assert (partial["round"], partial["state"]) == (1, "taught")
    doc = ledger_round(loop, 1)
    assert doc["ingest"]["answered"] == ref["sample_ids"][:5]
    assert doc["ingest"]["pending"] == ref["sample_ids"][5:]
    assert back_in_pool(digits, loop, ref["sample_ids"][5:])

    assert step_flow(loop, StepOptions(open_next=False))["round"] == 2
    ref2 = ref_of(loop, 2)
    cancelled = step_flow(loop, StepOptions(when_unfinished="cancel"))
    assert (cancelled["round"], cancelled["state"]) == (2, "cancelled")
    with label_studio.admin() as http:
        left = http.get("/api/tasks", params={"project": ref2["project_id"]}).json()["tasks"]
    assert [t for t in left if t["data"]["alflow_export"] == ref2["export_id"]] == []
    assert back_in_pool(digits, loop, ref2["sample_ids"])


def test_deleted_project_stops_the_loop_until_reexported(annotator, digits, ls_loop):
    loop = ls_loop(flow=False).name
    step_flow(loop, StepOptions(open_next=False))
    old = ref_of(loop, 1)
    annotator.delete_project(old["project_id"])
    with pytest.raises(LabelStudioTasksDeleted, match=rf"alflow reexport {loop} 1"):
        step_flow(loop)
    why = advance_flow([loop])[loop]
    assert why.startswith("round 1 cannot be checked") and f"alflow reexport {loop} 1" in why

    new = tasks.export_batch.fn(loop, 1, force_new=True)["ref"]
    assert new["project_id"] != old["project_id"] and sorted(new["sample_ids"]) == sorted(
        old["sample_ids"]
    )
    for sid, tid in zip(new["sample_ids"], new["task_ids"], strict=True):
        annotator.submit(tid, new["predicted"][sid])
    assert step_flow(loop, StepOptions(open_next=False))["state"] == "taught"
    got = labels(digits, loop, new["sample_ids"])
    assert {c.label_studio_project_id for c in got.values()} == {new["project_id"]}
