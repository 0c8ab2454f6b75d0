"""The Label Studio backend against the real server: export, completion, failures, tokens.

Every test here shares the session's server (see conftest.py) and gets a loop (so a project)
of its own. A person works through :class:`~tests.label_studio.annotator.Annotator`; the
server is read with the administrator's token only to assert.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path

import jwt
import pytest

from alflow.backends.base import Progress
from alflow.backends.label_studio import LabelStudioTasksDeleted
from alflow.errors import BackendError

from .conftest import Refs


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def tasks_of(server, project_id: int) -> list[dict]:
    with server.admin() as http:
        page = http.get("/api/tasks", params={"project": project_id, "fields": "all"}).json()
    return sorted(page["tasks"], key=lambda t: t["id"])


# ----------------------------------------------------------------------------- export
def test_export_makes_a_project_per_loop_and_a_task_per_image(
    label_studio, annotator, make_backend, make_batch
):
    backend = make_backend()
    batch = make_batch(4, predicted=["cat", "dog", None, "cat"])
    refs = Refs()
    ref = backend.export(batch, refs)
    assert "task_ids" not in refs.saved[0] and refs.saved[0]["export_id"] == ref["export_id"]
    assert ref["project_title"] == f"alflow-{batch.loop}" and ref["sample_ids"] == batch.sample_ids
    assert ref["images"] == {"served": 4, "uploaded": 0}
    tasks = tasks_of(label_studio, ref["project_id"])
    assert [t["id"] for t in tasks] == ref["task_ids"]
    for task, item in zip(tasks, batch.items, strict=True):
        assert task["data"]["alflow_sample_id"] == item.sample_id
        assert task["data"]["image"].startswith("/data/local-files/?d=ls-media/")
        # the learner's guess as a scored prediction; no guess, no prediction
        guesses = [p["result"][0]["value"]["choices"] for p in task["predictions"]]
        assert guesses == ([[item.predicted]] if item.predicted else [])
        if item.predicted:
            assert task["predictions"][0]["score"] == pytest.approx(item.confidence)
        assert annotator.image(task["id"]).content == Path(item.filepath).read_bytes()
    with label_studio.admin() as http:
        project = http.get(f"/api/projects/{ref['project_id']}/").json()
    assert '<Choice value="cat"' in project["label_config"] and project["show_collab_predictions"]

    # exporting again changes nothing; the next round goes to the same project, with a new class
    assert backend.export(batch, Refs(), ref=ref) == ref
    nxt = make_batch(2, classes=("cat", "dog", "owl"), loop=batch.loop, round_number=2)
    ref2 = backend.export(nxt, Refs())
    assert ref2["project_id"] == ref["project_id"] and ref2["export_id"] != ref["export_id"]
    assert len(tasks_of(label_studio, ref["project_id"])) == 6
    with label_studio.admin() as http:
        config = http.get(f"/api/projects/{ref['project_id']}/").json()["label_config"]
    assert '<Choice value="owl"' in config


def test_images_outside_the_served_root_are_uploaded(
    label_studio, annotator, make_backend, make_batch
):
    batch = make_batch(2)
    ref = make_backend(local_files_root=None).export(batch, Refs())
    assert ref["images"] == {"served": 0, "uploaded": 2}
    for task_id, item in zip(ref["task_ids"], batch.items, strict=True):
        assert annotator.task(task_id)["data"]["image"].startswith("/data/upload/")
        assert annotator.image(task_id).content == Path(item.filepath).read_bytes()


def test_an_interrupted_export_finds_its_tasks_instead_of_importing_twice(
    label_studio, make_backend, make_batch
):
    backend, batch, refs = make_backend(), make_batch(3), Refs()
    done = backend.export(batch, refs)
    # the run died after the import, before the task ids reached the ledger
    again = backend.export(batch, Refs(), ref=refs.saved[0])
    assert again["task_ids"] == done["task_ids"]
    assert len(tasks_of(label_studio, done["project_id"])) == 3


# ----------------------------------------------------------------------------- completion
def test_done_means_submitted_skips_return_to_the_pool_drafts_wait(
    annotator, make_backend, make_batch
):
    backend = make_backend()
    ref = backend.export(make_batch(5), Refs())
    t = ref["task_ids"]
    annotator.submit(t[0], "cat")  # the guess, kept
    annotator.submit(t[1], "dog")  # the guess, changed
    annotator.skip(t[2])
    annotator.draft(t[3], "dog")  # work in progress is not an annotation
    assert backend.progress(ref) == Progress(3, 5)

    with pytest.raises(BackendError) as caught:
        backend.collect(ref)
    assert "2 of 5 Label Studio tasks" in str(caught.value) and "partial=True" in str(caught.value)
    got = backend.collect(ref, partial=True)
    assert [a.sample_id for a in got.answers] == ["s0", "s1"]
    kept, changed = got.answers
    assert (kept.label, kept.provenance["changed"]) == ("cat", False)
    assert (changed.label, changed.provenance["changed"]) == ("dog", True)
    assert kept.provenance["label_studio_annotator"] == annotator.id
    assert kept.provenance["label_studio_annotated_at"]
    assert kept.provenance["label_studio_task_id"] == t[0]
    assert [(u.sample_id, "skipped" in u.reason) for u in got.unresolved] == [("s2", True)]
    assert got.pending == ("s3", "s4")

    annotator.submit(t[3], "dog")
    annotator.submit(t[4], "cat")
    assert backend.progress(ref).finished
    assert [a.sample_id for a in backend.collect(ref).answers] == ["s0", "s1", "s3", "s4"]


def test_ambiguous_and_deleted_tasks_are_unresolved(
    annotator, second_annotator, make_backend, make_batch
):
    backend = make_backend()
    ref = backend.export(make_batch(4), Refs())
    t = ref["task_ids"]
    annotator.submit(t[0], "cat", "dog")  # two choices in one annotation
    annotator.submit(t[1], "cat")
    second_annotator.submit(t[1], "dog")  # two people disagree
    annotator.submit(t[2], "dog")
    second_annotator.submit(t[2], "dog")  # two people agree
    annotator.delete_task(t[3])
    assert backend.progress(ref) == Progress(4, 4)  # a deleted task holds nothing up
    got = backend.collect(ref)
    reasons = {u.sample_id: u.reason for u in got.unresolved}
    assert "2 choices (cat, dog)" in reasons["s0"] and "disagree (cat, dog)" in reasons["s1"]
    assert f"task {t[3]} was deleted" in reasons["s3"]
    (agreed,) = got.answers
    assert (agreed.sample_id, agreed.label, agreed.provenance["label_studio_annotations"]) == (
        "s2",
        "dog",
        2,
    )


def test_unknown_choice_stops_collect_unless_new_classes_are_welcome(
    annotator, make_backend, make_batch
):
    ref = make_backend().export(make_batch(1), Refs())
    annotator.add_choice(ref["project_id"], "smudge")
    annotation = annotator.submit(ref["task_ids"][0], "smudge")
    with pytest.raises(BackendError, match=r"labelled 'smudge'.*unknown_labels='new_class'"):
        make_backend().collect(ref)
    (answer,) = make_backend(unknown_labels="new_class").collect(ref).answers
    assert answer.label == "smudge" and answer.provenance["changed"]
    annotator.change(annotation, "dog")  # the fix the message names
    assert make_backend().collect(ref).answers[0].label == "dog"


# ----------------------------------------------------------------------------- cancel, deleted
def test_cancel_deletes_the_round_tasks_and_never_a_reused_id(
    label_studio, make_backend, make_batch
):
    backend, batch = make_backend(), make_batch(2)
    ref = backend.export(batch, Refs())
    backend.cancel(ref)
    assert tasks_of(label_studio, ref["project_id"]) == []
    backend.cancel(ref)  # again: nothing left, fine
    # SQLite hands the freed ids to the next tasks: the old reference must not adopt them
    nxt = backend.export(make_batch(2, loop=batch.loop, round_number=2), Refs())
    assert nxt["task_ids"] == ref["task_ids"]
    with pytest.raises(LabelStudioTasksDeleted, match=rf"alflow reexport {batch.loop} 1"):
        backend.progress(ref)
    backend.cancel(ref)
    assert len(tasks_of(label_studio, ref["project_id"])) == 2  # round 2's tasks stay


def test_deleted_project_is_a_clear_error_and_force_new_recovers(
    annotator, make_backend, make_batch
):
    backend, batch = make_backend(), make_batch(2)
    ref = backend.export(batch, Refs())
    annotator.delete_project(ref["project_id"])
    for call in (backend.progress, backend.collect):
        with pytest.raises(LabelStudioTasksDeleted, match=r"project \d+ .* was deleted"):
            call(ref)
    with pytest.raises(LabelStudioTasksDeleted):
        backend.export(batch, Refs(), ref=ref)
    backend.cancel(ref)  # a project already gone is fine
    new = backend.export(batch, Refs(), ref=ref, force_new=True)
    assert new["project_id"] != ref["project_id"] and backend.progress(new) == Progress(0, 2)


# ----------------------------------------------------------------------------- tokens
def test_legacy_token_and_personal_access_token_both_work(label_studio, make_backend, make_batch):
    ref = make_backend().export(make_batch(1), Refs())  # the PAT (the default here)
    legacy = {"ALFLOW_LABEL_STUDIO_URL": label_studio.url}
    legacy["ALFLOW_LABEL_STUDIO_TOKEN"] = label_studio.legacy_token
    assert make_backend(environ=legacy).progress(ref) == Progress(0, 1)
    loader_calls = []

    def loader(name: str) -> dict:
        loader_calls.append(name)
        return {"token": label_studio.pat}

    from alflow.backends.label_studio import LabelStudioBackend
    from alflow.config.backends import LabelStudioBackendConfig

    config = LabelStudioBackendConfig(url=label_studio.url, credentials_block="ls-token")
    assert LabelStudioBackend(config, environ={}, secret_loader=loader).progress(ref).total == 1
    assert loader_calls == ["ls-token"]


def test_legacy_tokens_switched_off_say_to_use_a_personal_access_token(label_studio, make_backend):
    env = {"ALFLOW_LABEL_STUDIO_URL": label_studio.url}
    env["ALFLOW_LABEL_STUDIO_TOKEN"] = label_studio.legacy_token
    label_studio.set_legacy_tokens(False)
    try:
        with pytest.raises(BackendError) as caught:
            make_backend(environ=env).progress({"task_ids": [1]})
    finally:
        label_studio.set_legacy_tokens(True)
    message = str(caught.value)
    assert "refused the legacy token from ALFLOW_LABEL_STUDIO_TOKEN (HTTP 401" in message
    assert "create a personal access token" in message
    assert label_studio.legacy_token not in full_text(caught.value)


@pytest.mark.parametrize("kind", ["legacy", "pat", "expired pat"])
def test_a_wrong_token_is_one_clear_line_without_retries(kind, label_studio, make_backend, sleeps):
    token = {
        "legacy": "0123456789abcdef0123456789abcdef01234567",
        "pat": label_studio.pat[:-6]
        + ("AAAAAA" if label_studio.pat[-6:] != "AAAAAA" else "BBBBBB"),
        "expired pat": jwt.encode(
            {"token_type": "refresh", "exp": int(time.time()) - 60, "user_id": "1"}, "k" * 32
        ),
    }[kind]
    env = {"ALFLOW_LABEL_STUDIO_URL": label_studio.url, "ALFLOW_LABEL_STUDIO_TOKEN": token}
    with pytest.raises(BackendError) as caught:
        make_backend(environ=env).progress({"task_ids": [1]})
    message = str(caught.value)
    named = "legacy token" if kind == "legacy" else "personal access token"
    assert f"refused the {named} from ALFLOW_LABEL_STUDIO_TOKEN (HTTP 401" in message
    assert "\n" not in message and token not in full_text(caught.value) and sleeps.calls == []


def test_server_down_is_retried_then_a_clear_failure(make_backend, sleeps):
    from tests.label_studio.server import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {"ALFLOW_LABEL_STUDIO_URL": url, "ALFLOW_LABEL_STUDIO_TOKEN": "x" * 40}
    with pytest.raises(BackendError) as caught:
        make_backend(environ=env, retries=3).progress({"task_ids": [1], "url": url})
    message = str(caught.value)
    assert f"cannot reach Label Studio at {url} after 4 attempts" in message
    assert "that the server is running" in message
    assert sleeps.calls == [0.01, 0.02, 0.04]


def test_tokens_never_reach_logs_errors_or_references(
    label_studio, annotator, make_backend, make_batch, caplog
):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and the SDK included
    refs = Refs()
    backend = make_backend()
    ref = backend.export(make_batch(2), refs)
    annotator.submit(ref["task_ids"][0], "dog")
    backend.collect(ref, partial=True)
    backend.cancel(ref)
    texts = [caplog.text, repr(refs.saved), repr(backend.connection())]
    for secret in (label_studio.pat, label_studio.legacy_token):
        assert not [text for text in texts if secret in text]
