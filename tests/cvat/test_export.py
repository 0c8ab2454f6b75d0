"""Export against the CVAT stand-in: project, task, frame map, pre-fill, jobs, re-export."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import pytest

from alflow.backends.cvat import CvatTaskDeleted
from alflow.errors import BackendError

from .fakes import Refs


def test_export_creates_project_task_jobs_and_prefills(cvat_server, backend, make_batch, refs):
    batch = make_batch(["a.png", "b.png", "c.png"], predicted=["cat", "dog", None])
    ref = backend.export(batch, refs)

    (project,) = cvat_server.state.projects.values()
    assert project.name == "alflow-pets"
    assert [lb.name for lb in cvat_server.state.project_labels(project.id)] == ["cat", "dog"]
    task = cvat_server.state.task(ref["task_id"])
    assert (task.name, task.project_id, task.size) == ("pets-round-001", project.id, 3)
    assert cvat_server.tags(task.id) == [(0, "cat"), (1, "dog")]  # no tag for 'no guess'
    assert ref["frames"] == ["s0", "s1", "s2"]
    assert ref["predicted"] == ["cat", "dog", None]
    assert ref["jobs"] == [
        {"id": ref["job_ids"][0], "start_frame": 0, "stop_frame": 1},
        {"id": ref["job_ids"][1], "start_frame": 2, "stop_frame": 2},
    ]
    assert ref["prefilled"] is True and ref["url"] == cvat_server.url
    assert json.loads(json.dumps(ref)) == ref and refs.last == ref


def test_task_id_is_saved_before_the_upload(cvat_server, backend, make_batch):
    seen = []

    def save_ref(ref):
        seen.append((dict(ref), cvat_server.state.task(ref["task_id"]).size))

    backend.export(make_batch(["a.png"]), save_ref)
    first, size_then = seen[0]
    assert first["task_id"] and "frames" not in first and size_then == 0


def test_frame_map_survives_name_order_and_colliding_base_names(cvat_server, backend, make_batch):
    files = ["zeta.png", "x/img.png", "alpha.png", "y/img.png", "mid.png"]
    ref = backend.export(make_batch(files), Refs())
    assert ref["frames"] == ["s0", "s1", "s2", "s3", "s4"]
    names = cvat_server.frame_names(ref["task_id"])
    assert names[1].endswith("_img.png") and names[3].endswith("_img.png")
    assert len(set(names)) == 5  # both img.png are in the task


def test_frame_map_is_read_back_from_the_task(cvat_server, backend, make_batch, monkeypatch):
    """Even if CVAT ordered frames differently from the upload, frames map by name."""
    from tests.cvat_stand_in import state

    monkeypatch.setattr(state, "order_frames", lambda names, *a, **k: sorted(names, reverse=True))
    ref = backend.export(make_batch(["a.png", "b.png", "c.png"], ["cat", "dog", "dog"]), Refs())
    assert ref["frames"] == ["s2", "s1", "s0"]
    assert ref["predicted"] == ["dog", "dog", "cat"]
    assert cvat_server.tags(ref["task_id"]) == [(0, "dog"), (1, "dog"), (2, "cat")]


def test_reexport_with_the_reference_reuses_the_task(cvat_server, backend, make_batch, refs):
    batch = make_batch(["a.png", "b.png"])
    ref = backend.export(batch, refs)
    cvat_server.set_tags(ref["task_id"], 0, ["dog"])  # an annotator started
    again = backend.export(batch, refs, ref=ref)
    assert again == ref
    assert len(cvat_server.state.tasks) == 1
    assert cvat_server.tags(ref["task_id"]) == [(0, "dog"), (1, "cat")]  # work kept


def test_reexport_completes_an_interrupted_export(cvat_server, backend, make_batch):
    batch = make_batch(["b.png", "a.png", "c.png"], ["dog", "cat", "cat"])

    class Crash(Exception):
        pass

    saved: list[dict] = []

    def dies_after_upload(ref):
        saved.append(dict(ref))
        if "frames" in ref:
            raise Crash

    with pytest.raises(Crash):
        backend.export(batch, dies_after_upload)
    first = saved[0]  # what the ledger holds: the task id only
    ref = backend.export(batch, Refs(), ref=first)
    assert len(cvat_server.state.tasks) == 1
    assert ref["frames"] == ["s0", "s1", "s2"] and ref["prefilled"]
    assert cvat_server.tags(ref["task_id"]) == [(0, "dog"), (1, "cat"), (2, "cat")]


def test_reexport_of_a_deleted_task_says_so_and_force_new_recovers(
    cvat_server, backend, make_batch, caplog
):
    batch = make_batch(["a.png"])
    ref = backend.export(batch, Refs())
    cvat_server.delete_task(ref["task_id"])
    with pytest.raises(CvatTaskDeleted) as caught:
        backend.export(batch, Refs(), ref=ref)
    message = str(caught.value)
    assert "was deleted" in message
    assert f"alflow reexport {batch.loop} {batch.round_number}" in message
    assert isinstance(caught.value, BackendError)

    with caplog.at_level(logging.INFO, logger="alflow"):
        fresh = backend.export(batch, Refs(), ref=ref, force_new=True)
    assert fresh["task_id"] != ref["task_id"]
    assert f"task {ref['task_id']} of its earlier export was deleted" in caplog.text
    assert "left as it is" not in caplog.text
    assert cvat_server.state.task(fresh["task_id"]).size == 1


def test_reference_to_a_batch_that_does_not_match_is_refused(backend, make_batch):
    ref = backend.export(make_batch(["a.png", "b.png"]), Refs())
    with pytest.raises(BackendError, match="different batch"):
        backend.export(make_batch(["a.png"]), Refs(), ref=ref)


def test_rounds_share_the_project_and_new_classes_join_it(cvat_server, backend, make_batch):
    backend.export(make_batch(["a.png"]), Refs())
    batch = make_batch(["b.png"], classes=("cat", "dog", "bird"), round_number=2)
    ref = backend.export(batch, Refs())
    assert len(cvat_server.state.projects) == 1
    labels = [lb.name for lb in cvat_server.state.project_labels(ref["project_id"])]
    assert labels == ["cat", "dog", "bird"]
    assert cvat_server.state.task(ref["task_id"]).name == "pets-round-002"


def test_jobs_are_assigned(cvat_server, make_backend, make_batch):
    alice = cvat_server.add_user("alice")
    ref = make_backend(assignee="alice").export(make_batch(["a.png", "b.png", "c.png"]), Refs())
    assert {cvat_server.state.job(j).assignee_id for j in ref["job_ids"]} == {alice}


def test_unknown_assignee_fails_before_a_task_exists(cvat_server, make_backend, make_batch):
    with pytest.raises(BackendError, match="no user 'nobody'.*numeric id instead"):
        make_backend(assignee="nobody").export(make_batch(["a.png"]), Refs())
    assert cvat_server.state.tasks == {}


def test_a_numeric_assignee_is_a_user_id_and_needs_no_lookup(cvat_server, make_backend, make_batch):
    """CVAT lists other users only to administrators: an id works for any account."""
    bob = cvat_server.add_user("bob")
    before = cvat_server.count("GET", "^/api/users$")
    ref = make_backend(assignee=str(bob)).export(make_batch(["a.png", "b.png"]), Refs())
    assert {cvat_server.state.job(j).assignee_id for j in ref["job_ids"]} == {bob}
    assert cvat_server.count("GET", "^/api/users$") == before


def test_missing_image_fails_before_cvat_is_touched(cvat_server, backend, make_batch, tmp_path):
    batch = make_batch(["a.png"])
    (tmp_path / "images" / "a.png").unlink()
    with pytest.raises(BackendError, match="do not exist"):
        backend.export(batch, Refs())
    assert cvat_server.log == []


def test_failed_data_processing_is_retried_in_a_new_task(cvat_server, backend, make_batch, refs):
    cvat_server.fail_data_processing("no space left on device")
    ref = backend.export(make_batch(["a.png", "b.png"]), refs)
    first = refs.saved[0]["task_id"]
    assert ref["task_id"] != first and list(cvat_server.state.tasks) == [ref["task_id"]]
    assert cvat_server.state.task(ref["task_id"]).name == "pets-round-001"
    assert ref["frames"] == ["s0", "s1"] and ref["upload_started"] is True
    assert refs.last == ref


def test_processing_failing_every_time_is_a_backend_error_with_the_cause(
    cvat_server, make_backend, make_batch, refs
):
    for _ in range(3):
        cvat_server.fail_data_processing("no space left on device")
    with pytest.raises(BackendError) as caught:
        make_backend(retries=2).export(make_batch(["a.png"]), refs)
    message = str(caught.value)
    assert "failed 3 times" in message and "no space left on device" in message
    assert "run the step again" in message
    assert len(cvat_server.state.tasks) == 1  # the replaced tasks were deleted
    assert refs.last["task_id"] in cvat_server.state.tasks  # the round knows its task


def test_sdk_cache_lives_in_the_state_directory(backend, make_batch, state_home, monkeypatch):
    import cvat_sdk

    configs = []

    class Recording(cvat_sdk.Client):
        def __init__(self, *args, config=None, **kwargs):
            configs.append(config)
            super().__init__(*args, config=config, **kwargs)

    monkeypatch.setattr(cvat_sdk, "Client", Recording)
    backend.export(make_batch(["a.png"]), Refs())
    assert configs and all(c.cache_dir == state_home / "cvat-cache" for c in configs)


def test_reexport_assigns_jobs_an_interrupted_export_did_not(cvat_server, make_backend, make_batch):
    alice = cvat_server.add_user("alice")
    backend = make_backend(assignee="alice")
    batch = make_batch(["a.png", "b.png", "c.png"])
    saved: list[dict] = []

    def dies_once_frames_are_known(ref):
        saved.append(dict(ref))
        if "frames" in ref:
            raise KeyboardInterrupt  # the process is killed before the jobs are recorded

    with pytest.raises(KeyboardInterrupt):
        backend.export(batch, dies_once_frames_are_known)
    assert all(
        cvat_server.state.job(j).assignee_id is None for j in cvat_server.jobs(saved[0]["task_id"])
    )
    ref = backend.export(batch, Refs(), ref=saved[-1])
    assert {cvat_server.state.job(j).assignee_id for j in ref["job_ids"]} == {alice}


def test_upload_reports_progress_in_bytes(backend, make_batch, monkeypatch, capsys):
    from alflow import progress

    monkeypatch.setenv("ALFLOW_PROGRESS", "plain")
    monkeypatch.setattr(progress, "DELAY", 0.0)
    ref = backend.export(make_batch(["a.png", "b.png", "c.png"]), Refs())
    lines = [
        line
        for line in capsys.readouterr().err.splitlines()
        if line.startswith(f"uploading 3 images to CVAT task {ref['task_id']}: ")
    ]
    assert lines and re.fullmatch(r".*: done, [\d.]+ (B|KiB|MiB) in [\d.]+ s", lines[-1])


def test_upload_progress_adapter_speaks_cvat_sdks_reporter_protocol(monkeypatch, capsys):
    from cvat_sdk.core.progress import ProgressReporter

    from alflow import progress
    from alflow.backends.cvat.client import sdk_progress

    monkeypatch.setenv("ALFLOW_PROGRESS", "plain")
    monkeypatch.setattr(progress, "DELAY", 0.0)
    reporter = sdk_progress("uploading")
    assert isinstance(reporter, ProgressReporter)
    with reporter.task(total=2048, desc="Uploading data", unit="B", unit_scale=True):
        reporter.advance(1024)
        reporter.report_status(2048)
    assert capsys.readouterr().err.splitlines() == [
        "uploading: 1.0 KiB of 2.0 KiB (50%)",
        "uploading: done, 2.0 KiB in 0.0 s",
    ]


def test_class_names_longer_than_cvat_labels_are_refused_before_anything_is_created(
    cvat_server, backend, make_batch
):
    long_name = "c" * 65
    batch = make_batch(["a.png"], predicted=[None])
    batch = dataclasses.replace(batch, classes=("cat", long_name))
    with pytest.raises(BackendError, match=r"at most 64 characters, but 1 classes are longer"):
        backend.export(batch, Refs())
    assert not cvat_server.state.projects and not cvat_server.state.tasks


def test_files_without_an_image_extension_are_refused_before_cvat_is_touched(
    cvat_server, backend, make_batch, tmp_path
):
    batch = make_batch(["a.png", "b.png"])
    odd = tmp_path / "scan.dat"
    odd.write_bytes(Path(batch.items[1].filepath).read_bytes())
    items = (batch.items[0], dataclasses.replace(batch.items[1], filepath=str(odd)))
    with pytest.raises(
        BackendError, match=r"1 samples' files have no image extension .*\(samples s1\)"
    ):
        backend.export(dataclasses.replace(batch, items=items), Refs())
    assert cvat_server.count() == 0


def test_an_organization_puts_every_request_in_its_context(cvat_server, make_backend, make_batch):
    """CVAT scopes projects, tasks and lookups by the X-Organization header cvat-sdk sends."""
    backend = make_backend(organization="vision-team")
    ref = backend.export(make_batch(["a.png", "b.png"]), Refs())
    backend.progress(ref)
    # cvat-sdk scopes the sub-lists of an object (its jobs, labels) by the object's own
    # organization (an org/org_id query instead of the header); everything else carries it
    scoped = [e for e in cvat_server.log if "org=" in e.query or "org_id=" in e.query]
    contextual = [e for e in cvat_server.log if e not in scoped]
    assert contextual and {e.organization for e in contextual} == {"vision-team"}
    assert any(e.method == "POST" and e.path == "/api/projects" for e in contextual)


def test_without_an_organization_no_context_is_sent(cvat_server, backend, make_batch):
    backend.export(make_batch(["a.png"]), Refs())
    assert {e.organization for e in cvat_server.log} == {None}
