"""CVAT rounds end to end: real flows, the real FiftyOne database, the CVAT stand-in.

Each loop runs on the digits dataset with the ``cvat`` backend pointed at the stand-in, 8 samples
a round in two jobs of 4 frames. Between steps a person
(:class:`~tests.cvat_stand_in.annotator.Annotator`) works in CVAT through cvat-sdk, as they would
in the CVAT UI: corrects tags, adds a label, completes jobs, deletes a task. The stand-in's memory
is read only to assert.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterName,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler

import tasks
from alflow import rounds
from alflow.backends.cvat import CvatTaskDeleted
from alflow.config import naming
from alflow.config.backends import CvatBackendConfig
from alflow.config.loop import StepOptions
from alflow.errors import BackendError
from alflow.learning import learners
from alflow.loop.workspace import open_workspace
from flows.advance import advance_flow
from flows.loop import step_flow
from flows.round import round_flow

pytestmark = pytest.mark.usefixtures("prefect_server")


# ----------------------------------------------------------------------------- helpers
def ledger_round(loop: str, number: int) -> dict[str, Any]:
    return open_workspace().ledger.round(loop, number)


def ref_of(loop: str, number: int) -> dict[str, Any]:
    return ledger_round(loop, number)["backend"]["ref"]


def states(doc: dict[str, Any]) -> list[str]:
    return [entry["state"] for entry in doc["history"]]


def labels(dataset, loop: str, ids: list[str]) -> dict[str, Any]:
    """The loop's label (a Classification, or None) of each id."""
    values = dataset.select(ids, ordered=True).values(naming.label_field(loop))
    return dict(zip(ids, values, strict=True))


def predictions(dataset, loop: str, ids: list[str]) -> dict[str, str]:
    values = dataset.select(ids, ordered=True).values(f"{naming.prediction_field(loop)}.label")
    return dict(zip(ids, values, strict=True))


def n_labelled(dataset, loop: str) -> int:
    return len(dataset.exists(naming.label_field(loop)))


def back_in_pool(dataset, loop: str, ids: list[str], *, except_round: int | None = None) -> bool:
    """Unlabelled, in the pool split and out for annotation in no round in flight."""
    split = dataset.select(ids, ordered=True).values(naming.split_field(loop))
    queued = rounds.queued_ids(open_workspace(), loop, except_round=except_round)
    return (
        all(v is None for v in labels(dataset, loop, ids).values())
        and set(split) == {"pool"}
        and not set(ids) & queued
    )


def other_digit(label: str) -> str:
    return str((int(label) + 1) % 10)


def tasks_named(server, name: str) -> list[int]:
    return sorted(t.id for t in server.state.tasks.values() if t.name == name)


def to_waiting(loop: str) -> int:
    """Open, query and export a round through the task bodies; it then waits for people."""
    number = tasks.open_round.fn(loop)
    tasks.query_batch.fn(loop, number)
    tasks.export_batch.fn(loop, number)
    assert not tasks.check_progress.fn(loop, number)["finished"]
    assert ledger_round(loop, number)["state"] == "waiting"
    return number


def finish(loop: str, number: int, partial: bool = False) -> dict[str, Any]:
    """Ingest and teach a round through the task bodies; returns the ingest report."""
    tasks.check_progress.fn(loop, number)
    report = tasks.ingest_labels.fn(loop, number, partial)
    assert tasks.teach_learner.fn(loop, number)["state"] == "taught"
    return report


# ----------------------------------------------------------------------------- 1. two rounds
def check_exported(server, digits, loop: str, number: int) -> dict[str, Any]:
    """The round waits in CVAT: task, jobs and frame map in the ledger, tags = the guesses."""
    doc = ledger_round(loop, number)
    assert doc["state"] == "waiting" and doc["backend"]["kind"] == "cvat"
    ref = doc["backend"]["ref"]
    (task_id,) = tasks_named(server, f"{loop}-round-{number:03d}")
    task = server.state.task(task_id)
    assert ref["task_id"] == task_id and ref["task_name"] == f"{loop}-round-{number:03d}"
    assert server.state.project(task.project_id).name == f"alflow-{loop}" == ref["project_name"]
    assert task.segment_size == 4 and ref["job_ids"] == server.jobs(task_id)
    assert [(j["start_frame"], j["stop_frame"]) for j in ref["jobs"]] == [(0, 3), (4, 7)]
    assert sorted(ref["frames"]) == sorted(doc["queried_ids"]) and len(ref["frames"]) == 8
    # the frame map holds: frame i shows the image of sample frames[i]
    paths = digits.select(ref["frames"], ordered=True).values("filepath")
    shown = [name.split("_", 1)[1] for name in server.frame_names(task_id)]
    assert shown == [Path(p).name for p in paths]
    # pre-filled with one tag per frame: the guess of the learner the round started from,
    # which is also the prediction that learner wrote to the dataset
    guesses = predictions(digits, loop, ref["frames"])
    assert server.tags(task_id) == [(i, guesses[sid]) for i, sid in enumerate(ref["frames"])]
    assert ref["predicted"] == [guesses[sid] for sid in ref["frames"]]
    return ref


def annotate(server, annotator, digits, loop: str, number: int, change: list[int]):
    """The annotator corrects the tags of frames ``change`` and completes every job.

    Returns the reference, the expected ``{sample id: label}`` (the tags as CVAT holds them
    afterwards) and the ids of the changed samples.
    """
    ref = check_exported(server, digits, loop, number)
    fixes = {frame: other_digit(ref["predicted"][frame]) for frame in change}
    annotator.retag(ref["task_id"], fixes)
    assert annotator.complete(ref["task_id"]) == ref["job_ids"]
    final = annotator.tags(ref["task_id"])
    expected = {sid: final[i][0] for i, sid in enumerate(ref["frames"])}
    assert [expected[ref["frames"][f]] for f in change] == list(fixes.values())
    return ref, expected, {ref["frames"][f] for f in change}


def check_taught(digits, loop: str, number: int, ref, expected, changed, labelled_before: int):
    doc = ledger_round(loop, number)
    assert states(doc) == ["queried", "exported", "waiting", "ingested", "taught"]
    assert doc["ingest"]["changed"] == len(changed)
    assert sorted(doc["ingest"]["answered"]) == sorted(expected)
    assert doc["ingest"]["unresolved"] == [] and doc["ingest"]["pending"] == []
    got = labels(digits, loop, list(expected))
    assert {sid: c.label for sid, c in got.items()} == expected
    job_of = {sid: ref["job_ids"][i // 4] for i, sid in enumerate(ref["frames"])}
    for sid, c in got.items():
        assert (c.source, c.round, c.cvat_task_id, c.cvat_job_id) == (
            "cvat",
            number,
            ref["task_id"],
            job_of[sid],
        )
        assert c.changed is (sid in changed) and c.labelled_at and c.excluded is False
    assert n_labelled(digits, loop) == doc["metrics"]["labelled"] == labelled_before + 8
    ckpt = doc["checkpoint"]
    taught = learners.load_checkpoint(ckpt["path"], ckpt["sha256"])
    assert Path(ckpt["path"]).name == f"round-{number:03d}.joblib"
    assert set(expected) <= set(taught.training_ids)
    assert len(taught.training_ids) == len(set(taught.training_ids)) == labelled_before + 8
    # two flow runs of the round: the step that exported it and the step that taught it
    assert [r["name"] for r in doc["flow_runs"]] == [naming.round_name(loop, number)] * 2


def test_two_rounds_end_to_end(cvat_server, annotator, digits, cvat_loop):
    loop = cvat_loop().name
    truth_before = digits.values("ground_truth.label")

    first = step_flow(loop)
    assert (first["round"], first["state"]) == (1, "waiting")
    assert n_labelled(digits, loop) == 10  # nothing is learned while people work
    ref1, expected1, changed1 = annotate(cvat_server, annotator, digits, loop, 1, [1, 6])

    second = step_flow(loop)  # ingests and teaches round 1, queries and exports round 2
    assert (second["round"], second["state"]) == (2, "waiting")
    check_taught(digits, loop, 1, ref1, expected1, changed1, labelled_before=10)
    # round 2 starts from round 1's learner: its guesses are the predictions round 1 wrote
    ref2, expected2, changed2 = annotate(cvat_server, annotator, digits, loop, 2, [5])
    assert ledger_round(loop, 2)["base_round"] == 1
    assert not set(ref2["frames"]) & set(ref1["frames"])
    assert ref2["project_id"] == ref1["project_id"]  # one project per loop

    third = step_flow(loop)
    assert (third["round"], third["state"]) == (3, "waiting")
    check_taught(digits, loop, 2, ref2, expected2, changed2, labelled_before=18)
    assert {s: c.round for s, c in labels(digits, loop, list(expected1)).items()} == dict.fromkeys(
        expected1, 1
    )  # round 2 left round 1's labels alone
    assert digits.values("ground_truth.label") == truth_before


# ----------------------------------------------------------------------------- 2. re-export
def test_export_again_reuses_the_task(cvat_server, digits, cvat_loop):
    loop = cvat_loop(flow=False, retries=0).name
    # the upload fails: the task exists in CVAT and its id is in the ledger, the round does not
    # move on from "queried"
    cvat_server.fail_next(1, 503, method="POST", path=r"^/api/tasks/\d+/data/?$")
    with pytest.raises(BackendError, match=r"uploading 8 images .* failed once; last: HTTP 503"):
        step_flow(loop)
    doc = ledger_round(loop, 1)
    assert doc["state"] == "queried" and "frames" not in doc["backend"]["ref"]
    (first_task,) = tasks_named(cvat_server, naming.round_name(loop, 1))
    assert doc["backend"]["ref"]["task_id"] == first_task
    assert doc["backend"]["ref"]["upload_started"] is True

    # the next step resumes the round; the task whose upload started is never uploaded into
    # again (CVAT keeps stray files): a new task of the same name replaces it
    assert step_flow(loop)["state"] == "waiting"
    check_exported(cvat_server, digits, loop, 1)
    ref = ref_of(loop, 1)
    (task_id,) = tasks_named(cvat_server, naming.round_name(loop, 1))
    assert ref["task_id"] == task_id != first_task

    # exporting again, as a task body or by re-running the round flow, changes nothing
    assert tasks.export_batch.fn(loop, 1) == {"kind": "cvat", "ref": ref}
    assert round_flow(loop, 1)["state"] == "waiting"
    assert tasks_named(cvat_server, naming.round_name(loop, 1)) == [task_id]
    assert cvat_server.count("POST", r"^/api/tasks/?$") == 2
    assert ref_of(loop, 1) == ref and len(cvat_server.tags(task_id)) == 8


# ----------------------------------------------------------------------------- 3. re-ingest
def test_ingest_and_teach_again_change_nothing(cvat_server, annotator, digits, cvat_loop):
    loop = cvat_loop(flow=False).name
    number = to_waiting(loop)
    ref = ref_of(loop, number)
    annotator.retag(ref["task_id"], {0: other_digit(ref["predicted"][0])})
    annotator.complete(ref["task_id"])
    first = finish(loop, number)
    assert first["changed"] == 1

    ws = open_workspace()
    before = ws.ledger.round(loop, number)
    taught = learners.load_checkpoint(before["checkpoint"]["path"])
    labels_before = labels(digits, loop, ref["frames"])
    # a person changes a tag after the round was taught: it must not come in a second time
    annotator.retag(ref["task_id"], {3: other_digit(ref["predicted"][3])})

    assert tasks.ingest_labels.fn(loop, number) == first
    assert tasks.teach_learner.fn(loop, number)["labelled"] == 18
    assert round_flow(loop, number)["state"] == "taught"

    after = ws.ledger.round(loop, number)
    assert {k: v for k, v in after.items() if k != "flow_runs"} == {
        k: v for k, v in before.items() if k != "flow_runs"
    }
    again = learners.load_checkpoint(after["checkpoint"]["path"], before["checkpoint"]["sha256"])
    assert again.training_ids == taught.training_ids and len(again.training_ids) == 18
    assert labels(digits, loop, ref["frames"]) == labels_before  # labelled_at included
    assert len(ws.ledger.rounds(loop)) == 2


# ----------------------------------------------------------------------------- 4. unfinished
def test_unfinished_jobs_wait_or_are_accepted_in_part(cvat_server, annotator, digits, cvat_loop):
    loop = cvat_loop(flow=False).name
    to_waiting(loop)
    ref = ref_of(loop, 1)
    finished, open_ = ref["frames"][:4], ref["frames"][4:]
    assert annotator.complete(ref["task_id"], jobs=[0]) == ref["job_ids"][:1]
    annotator.retag(ref["task_id"], {5: other_digit(ref["predicted"][5])})  # work in progress

    waiting = step_flow(loop)  # default: wait for every job
    assert (waiting["round"], waiting["state"]) == (1, "waiting")
    doc = ledger_round(loop, 1)
    assert doc["progress"]["done"] == 1 and doc["progress"]["total"] == 2
    assert n_labelled(digits, loop) == 10 and "ingest" not in doc

    # what a step with accept_partial does to the round in flight (see the xfail test below)
    partial = round_flow(loop, 1, StepOptions(when_unfinished="accept_partial"))
    assert (partial["round"], partial["state"]) == (1, "taught")
    doc = ledger_round(loop, 1)
    assert doc["metrics"]["labelled"] == 14
    assert doc["ingest"]["answered"] == finished and doc["ingest"]["pending"] == open_
    got = labels(digits, loop, finished)
    assert {c.cvat_job_id for c in got.values()} == {ref["job_ids"][0]}
    assert [c.label for c in got.values()] == ref["predicted"][:4]
    # the unfinished job's samples are not labelled, not taught, and free to be queried again
    assert back_in_pool(digits, loop, open_)
    taught = learners.load_checkpoint(doc["checkpoint"]["path"])
    assert not set(open_) & set(taught.training_ids)
    assert n_labelled(digits, loop) == 14


def test_accept_partial_applies_only_to_the_round_in_flight(annotator, cvat_loop):
    loop = cvat_loop(flow=False).name
    to_waiting(loop)
    annotator.complete(ref_of(loop, 1)["task_id"], jobs=[0])
    summary = step_flow(loop, StepOptions(when_unfinished="accept_partial"))
    assert ledger_round(loop, 1)["state"] == "taught"
    assert (summary["round"], summary["state"]) == (2, "waiting")


# ----------------------------------------------------------------------------- 5. cancel
def test_cancel_deletes_the_task_and_returns_the_batch(cvat_server, digits, cvat_loop):
    loop = cvat_loop(flow=False).name
    to_waiting(loop)
    doc = ledger_round(loop, 1)
    task_id, batch = doc["backend"]["ref"]["task_id"], doc["queried_ids"]

    cancelled = step_flow(loop, StepOptions(when_unfinished="cancel"))
    assert (cancelled["round"], cancelled["state"]) == (1, "cancelled")
    assert states(ledger_round(loop, 1))[-1] == "cancelled"
    assert task_id not in cvat_server.state.tasks
    assert tasks_named(cvat_server, naming.round_name(loop, 1)) == []
    assert back_in_pool(digits, loop, batch)

    # round numbers are not reused; the same learner picks the very same samples again
    assert to_waiting(loop) == 2
    assert sorted(ledger_round(loop, 2)["queried_ids"]) == sorted(batch)
    assert len(tasks_named(cvat_server, naming.round_name(loop, 2))) == 1


# ----------------------------------------------------------------------------- 6. unknown label
def test_unknown_label_stops_the_step_until_fixed(cvat_server, annotator, digits, cvat_loop):
    loop = cvat_loop(flow=False).name
    to_waiting(loop)
    ref = ref_of(loop, 1)
    annotator.add_label(ref["project_id"], "smudge")
    annotator.retag(ref["task_id"], {2: "smudge"})
    annotator.complete(ref["task_id"])

    with pytest.raises(BackendError) as caught:
        step_flow(loop)
    message = str(caught.value)
    sample = ref["frames"][2]
    assert "'smudge'" in message and "frame 2" in message and f"sample {sample}" in message
    assert "unknown_labels='new_class'" in message
    assert ledger_round(loop, 1)["state"] == "waiting" and n_labelled(digits, loop) == 10

    # the fix the message names: change the tag in CVAT; the next step goes through
    annotator.retag(ref["task_id"], {2: "0"})
    finish(loop, 1)
    assert labels(digits, loop, [sample])[sample].label == "0"


def test_unknown_label_becomes_a_new_class(cvat_server, annotator, digits, cvat_loop):
    loop = cvat_loop(flow=False, unknown_labels="new_class").name
    number = to_waiting(loop)
    ref = ref_of(loop, number)
    annotator.add_label(ref["project_id"], "smudge")
    annotator.retag(ref["task_id"], {2: "smudge"})
    annotator.complete(ref["task_id"])

    report = finish(loop, number)
    assert report["new_classes"] == ["smudge"] and report["changed"] == 1
    ws = open_workspace()
    assert ws.ledger.loop(loop)["classes"] == sorted([*map(str, range(10)), "smudge"])
    sample = ref["frames"][2]
    got = labels(digits, loop, [sample])[sample]
    assert (got.label, got.changed, got.source) == ("smudge", True, "cvat")
    doc = ws.ledger.round(loop, number)
    taught = learners.load_checkpoint(doc["checkpoint"]["path"])
    assert "smudge" in taught.classes and sample in taught.training_ids
    # the next round offers the new class to annotators
    nxt = to_waiting(loop)
    assert "smudge" in ref_of(loop, nxt)["classes"]


# ----------------------------------------------------------------------------- 7. unresolved
def test_frames_without_or_with_two_tags_go_back_to_the_pool(
    cvat_server, annotator, digits, cvat_loop
):
    loop = cvat_loop(flow=False).name
    number = to_waiting(loop)
    ref = ref_of(loop, number)
    annotator.untag(ref["task_id"], 0)
    annotator.add_tag(ref["task_id"], 5, other_digit(ref["predicted"][5]))
    annotator.complete(ref["task_id"])
    assert 0 not in annotator.tags(ref["task_id"]) and len(annotator.tags(ref["task_id"])[5]) == 2

    report = finish(loop, number)
    reasons = {u["sample_id"]: u["reason"] for u in report["unresolved"]}
    lost = [ref["frames"][0], ref["frames"][5]]
    assert sorted(reasons) == sorted(lost)
    assert "no tag" in reasons[lost[0]] and "2 tags" in reasons[lost[1]]
    assert sorted(report["answered"]) == sorted(set(ref["frames"]) - set(lost))
    assert back_in_pool(digits, loop, lost)
    doc = ledger_round(loop, number)
    assert doc["ingest"]["unresolved"] == report["unresolved"]
    assert doc["metrics"]["labelled"] == n_labelled(digits, loop) == 16
    assert not set(lost) & set(learners.load_checkpoint(doc["checkpoint"]["path"]).training_ids)


# ----------------------------------------------------------------------------- 8. deleted task
def test_deleted_task_is_a_clear_error_and_reexport_recovers(
    cvat_server, annotator, digits, cvat_loop
):
    loop = cvat_loop(flow=False).name
    to_waiting(loop)
    old = ref_of(loop, 1)
    annotator.delete_task(old["task_id"])

    with pytest.raises(CvatTaskDeleted, match=rf"was deleted.*alflow reexport {loop} 1 "):
        step_flow(loop)
    assert ledger_round(loop, 1)["state"] == "waiting"
    # the scheduled advance reports it for this loop instead of failing for every loop
    why = advance_flow([loop])[loop]
    assert why.startswith("round 1 cannot be checked") and f"alflow reexport {loop} 1" in why

    new = tasks.export_batch.fn(loop, 1, force_new=True)["ref"]
    assert new["task_id"] != old["task_id"] and ref_of(loop, 1) == new
    assert tasks_named(cvat_server, naming.round_name(loop, 1)) == [new["task_id"]]
    assert sorted(new["frames"]) == sorted(old["frames"])
    check_exported(cvat_server, digits, loop, 1)  # pre-filled again

    annotator.complete(new["task_id"])
    assert step_flow(loop)["round"] == 2  # the failed step released the loop's lock
    doc = ledger_round(loop, 1)
    assert doc["state"] == "taught" and sorted(doc["ingest"]["answered"]) == sorted(new["frames"])
    got = labels(digits, loop, new["frames"])
    assert {c.cvat_task_id for c in got.values()} == {new["task_id"]}


# ----------------------------------------------------------------------------- 9. secrets
def flow_runs_of(loop: str) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=loop))
        )


def prefect_logs(run_ids: list[Any]) -> list[str]:
    for handler in logging.getLogger("prefect.flow_runs").handlers:
        if isinstance(handler, APILogHandler):
            handler.flush()
    out: list[str] = []
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_logs(
                LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids)),
                limit=200,
                offset=len(out),
            )
            out += [log.message for log in page]
            if len(page) < 200:
                return out


def artifacts_of(loop: str) -> list[str]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=loop))
        )
    return [json.dumps(a.data, default=str) + str(a.description) for a in found]


@pytest.mark.parametrize("login", ["password", "token"])
def test_credentials_never_reach_logs_ledger_or_flow_runs(
    login, cvat_server, annotator, digits, cvat_loop, monkeypatch, caplog
):
    monkeypatch.setenv("ALFLOW_CVAT_URL", cvat_server.url)
    if login == "token":
        monkeypatch.delenv("ALFLOW_CVAT_USERNAME")
        monkeypatch.delenv("ALFLOW_CVAT_PASSWORD")
        monkeypatch.setenv("ALFLOW_CVAT_TOKEN", cvat_server.token)
        secret = cvat_server.token
    else:
        secret = cvat_server.password
    for name in ("alflow", "tasks", "flows", "cvat_sdk", "urllib3", "prefect"):
        # prefect: the run loggers then also ship DEBUG records to the Prefect API
        caplog.set_level(logging.DEBUG, logger=name)

    loop = cvat_loop(url=None).name  # the URL from ALFLOW_CVAT_URL
    step_flow(loop)  # logs in, exports round 1
    rounds_run = [1]
    if login == "password":  # also progress, collect, and the next round's export
        annotator.complete(ref_of(loop, 1)["task_id"])
        assert step_flow(loop)["round"] == 2
        rounds_run.append(2)

    runs = flow_runs_of(loop)
    names = {run.name for run in runs}
    assert {f"{loop}-create", f"{loop}-step"} | {
        naming.round_name(loop, n) for n in rounds_run
    } <= names
    shipped = prefect_logs([run.id for run in runs])
    assert any("8 samples queried" in line for line in shipped)  # the capture works
    local = caplog.text + "".join(str(r.args) + (r.exc_text or "") for r in caplog.records)
    assert "CVAT" in local  # the backend's own log lines were captured too
    ws = open_workspace()
    stored = json.dumps([ws.ledger.loop(loop), *ws.ledger.rounds(loop)], default=str)
    parameters = json.dumps([run.parameters for run in runs], default=str)
    for where, text in {
        "local logs": local,
        "Prefect logs": "\n".join(shipped),
        "ledger": stored,
        "flow run parameters": parameters,
        "artifacts": "".join(artifacts_of(loop)),
    }.items():
        assert secret not in text, f"the CVAT {login} appears in the {where}"


# ----------------------------------------------------------------------------- docs
def test_the_cvat_page_settings_are_the_backend_defaults():
    page = Path(__file__).resolve().parents[2] / "docs" / "backends" / "cvat.md"
    (block,) = re.findall(r"```json\n(.*?)```", page.read_text(), flags=re.S)
    documented = json.loads(block)
    config = CvatBackendConfig.model_validate(documented)
    assert config == CvatBackendConfig(url=documented["url"])  # every other value: the default
    assert set(documented) == set(CvatBackendConfig.model_fields)  # and none is left out
