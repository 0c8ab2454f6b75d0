"""Progress, collect and cancel against the CVAT stand-in, with annotators simulated on it."""

from __future__ import annotations

import pytest

from alflow.backends.base import Progress
from alflow.backends.cvat import CvatTaskDeleted
from alflow.errors import BackendError

from .fakes import Refs

FILES = ["a.png", "b.png", "c.png", "d.png"]  # segment size 2: jobs (0, 1) and (2, 3)
GUESSES = ["cat", "dog", "cat", "dog"]


@pytest.fixture
def exported(backend, make_batch):
    """A four-image round in CVAT, pre-filled with the guesses; returns its reference."""
    return backend.export(make_batch(FILES, GUESSES), Refs())


def _first_job(cvat_server, ref):
    return cvat_server.jobs(ref["task_id"])[0]


def test_progress_counts_completed_jobs(cvat_server, backend, exported):
    assert backend.progress(exported) == Progress(done=0, total=2)
    cvat_server.finish_job(_first_job(cvat_server, exported))
    assert backend.progress(exported) == Progress(done=1, total=2)


def test_stage_acceptance_counts_by_default_and_can_be_turned_off(
    cvat_server, make_backend, exported
):
    for job in cvat_server.jobs(exported["task_id"]):
        cvat_server.finish_job(job, state="in progress", stage="acceptance")
    assert make_backend().progress(exported).finished
    assert make_backend(accept_stage_acceptance=False).progress(exported) == Progress(0, 2)


def test_a_stage_change_resets_the_state_as_in_cvat_and_validation_waits(
    cvat_server, backend, exported
):
    first, second = cvat_server.jobs(exported["task_id"])
    cvat_server.finish_job(first)
    cvat_server.finish_job(second)
    assert backend.progress(exported) == Progress(2, 2)
    cvat_server.finish_job(first, state=None, stage="validation")  # a reviewer takes it
    assert cvat_server.state.job(first).state == "new"
    assert backend.progress(exported) == Progress(1, 2)
    cvat_server.finish_job(first, state=None, stage="acceptance")  # and accepts it
    assert cvat_server.state.job(first).state == "new"
    assert backend.progress(exported) == Progress(2, 2)


def test_ground_truth_jobs_neither_gate_nor_answer_a_round(cvat_server, backend, exported):
    jobs = cvat_server.jobs(exported["task_id"])
    gt = cvat_server.add_ground_truth_job(exported["task_id"])
    assert backend.progress(exported) == Progress(0, 2)
    for job in jobs:
        cvat_server.finish_job(job)
    assert backend.progress(exported) == Progress(2, 2)  # the open ground-truth job is ignored
    collected = backend.collect(exported)
    assert [(a.sample_id, a.label) for a in collected.answers] == list(
        zip(["s0", "s1", "s2", "s3"], GUESSES, strict=True)
    )
    assert {a.provenance["cvat_job_id"] for a in collected.answers} == set(jobs)
    assert gt not in jobs and collected.unresolved == ()


def test_collect_reads_answers_from_finished_jobs(cvat_server, backend, exported):
    cvat_server.set_tags(exported["task_id"], 1, ["cat"])  # the annotator corrects frame 1
    for job in cvat_server.jobs(exported["task_id"]):
        cvat_server.finish_job(job)
    collected = backend.collect(exported)
    assert [(a.sample_id, a.label) for a in collected.answers] == [
        ("s0", "cat"),
        ("s1", "cat"),
        ("s2", "cat"),
        ("s3", "dog"),
    ]
    changed = {a.sample_id: a.provenance["changed"] for a in collected.answers}
    assert changed == {"s0": False, "s1": True, "s2": False, "s3": False}
    first = collected.answers[0].provenance
    assert first["source"] == "cvat" and first["cvat_task_id"] == exported["task_id"]
    assert first["cvat_job_id"] == exported["job_ids"][0]
    assert (collected.unresolved, collected.pending) == ((), ())


def test_collect_refuses_open_jobs_unless_partial(cvat_server, backend, exported):
    job = _first_job(cvat_server, exported)
    cvat_server.finish_job(job)
    with pytest.raises(BackendError, match=r"1 of 2 CVAT jobs .* are not finished"):
        backend.collect(exported)
    collected = backend.collect(exported, partial=True)
    assert [a.sample_id for a in collected.answers] == ["s0", "s1"]
    assert collected.pending == ("s2", "s3")


def test_unfinished_jobs_are_ignored_even_when_tagged(cvat_server, backend, exported):
    cvat_server.set_tags(exported["task_id"], 3, ["cat"])  # work in progress in job 2
    cvat_server.finish_job(_first_job(cvat_server, exported))
    collected = backend.collect(exported, partial=True)
    assert "s3" not in {a.sample_id for a in collected.answers}
    assert "s3" in collected.pending


def test_frames_without_tag_or_with_two_tags_are_unresolved(cvat_server, backend, exported):
    cvat_server.set_tags(exported["task_id"], 0, [])
    cvat_server.set_tags(exported["task_id"], 1, ["cat", "dog"])
    cvat_server.finish_job(_first_job(cvat_server, exported))
    collected = backend.collect(exported, partial=True)
    reasons = {u.sample_id: u.reason for u in collected.unresolved}
    assert set(reasons) == {"s0", "s1"} and collected.answers == ()
    assert "no tag" in reasons["s0"] and "2 tags" in reasons["s1"]


def test_label_added_in_cvat_is_an_error_by_default(cvat_server, backend, exported):
    cvat_server.add_label(exported["project_id"], "bird")
    cvat_server.set_tags(exported["task_id"], 1, ["bird"])
    cvat_server.finish_job(_first_job(cvat_server, exported))
    with pytest.raises(BackendError) as caught:
        backend.collect(exported, partial=True)
    message = str(caught.value)
    assert "'bird'" in message and "frame 1" in message and "sample s1" in message
    assert "unknown_labels='new_class'" in message


def test_label_added_in_cvat_is_a_new_class_when_allowed(cvat_server, make_backend, exported):
    cvat_server.add_label(exported["project_id"], "bird")
    cvat_server.set_tags(exported["task_id"], 1, ["bird"])
    cvat_server.finish_job(_first_job(cvat_server, exported))
    collected = make_backend(unknown_labels="new_class").collect(exported, partial=True)
    assert ("s1", "bird") in [(a.sample_id, a.label) for a in collected.answers]


def test_collect_and_progress_of_a_deleted_task(cvat_server, backend, exported):
    cvat_server.delete_task(exported["task_id"])
    for call in (backend.progress, backend.collect):
        with pytest.raises(CvatTaskDeleted, match="was deleted"):
            call(exported)


def test_collect_needs_a_finished_export(backend):
    with pytest.raises(BackendError, match="export did not finish"):
        backend.collect({"task_id": 1})


def test_server_switch_is_refused(make_backend, env, exported):
    other = make_backend(environ={**env, "ALFLOW_CVAT_URL": "http://127.0.0.1:9"})
    with pytest.raises(BackendError, match="was exported to CVAT at"):
        other.progress(exported)


def test_cancel_deletes_the_task_and_is_idempotent(cvat_server, backend, exported):
    backend.cancel(exported)
    assert exported["task_id"] not in cvat_server.state.tasks
    backend.cancel(exported)  # already gone: fine
    backend.cancel({})  # nothing was exported: fine
