"""The Label Studio backend's pure rooms: config, task JSON, completion, tokens and messages.

No server here (these tests do not ask for the ``label_studio`` fixture, so they are not
marked ``label_studio``).
"""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from label_studio_sdk.core.api_error import ApiError

from alflow.backends.base import BatchItem, Progress
from alflow.backends.label_studio import credentials, mapping
from alflow.backends.label_studio.credentials import Connection, resolve_connection
from alflow.backends.label_studio.errors import translate
from alflow.backends.label_studio.mapping import Annotation, TaskState
from alflow.backends.label_studio.retries import RetryPolicy, call_with_retries
from alflow.config.backends import LabelStudioBackendConfig
from alflow.errors import BackendError

PAT = jwt.encode({"token_type": "refresh", "exp": int(time.time()) + 3600}, "k" * 32)


def ann(id_: int, *choices: str, cancelled: bool = False, by: int = 7) -> Annotation:
    return Annotation(id_, cancelled, choices, by, f"2026-01-0{id_}T00:00:00Z")


REF = {
    "loop": "pets",
    "round": 2,
    "project_id": 5,
    "export_id": "e1",
    "classes": ["cat", "dog"],
    "sample_ids": ["a", "b", "c", "d", "e"],
    "task_ids": [11, 12, 13, 14, 15],
    "predicted": {"a": "cat", "b": "cat", "c": "dog", "d": None, "e": "cat"},
}


# ----------------------------------------------------------------------------- config
def test_label_config_offers_one_single_choice_per_class_and_keeps_additions():
    config = mapping.label_config(["cat", 'say "hi" & <bye>'])
    assert mapping.choices_of(config) == ["cat", 'say "hi" & <bye>']
    assert 'choice="single"' in config and 'value="$image"' in config
    assert mapping.with_classes(config, ["cat"]) is None
    edited = config.replace("<View>", '<View><Header value="Pick the animal"/>')
    grown = mapping.with_classes(edited, ["owl", "cat"])
    assert mapping.choices_of(grown) == ["cat", 'say "hi" & <bye>', "owl"]
    assert "Pick the animal" in grown


@pytest.mark.parametrize(
    ("config", "says"),
    [("<View><Image", "not XML"), ('<View><Choices name="other"/></View>', "no <Choices")],
)
def test_a_broken_config_says_where_to_fix_it(config, says):
    with pytest.raises(BackendError, match=says) as caught:
        mapping.choices_of(config, "alflow-pets")
    assert "Labeling Interface" in str(caught.value)


def test_local_files_urls_are_relative_to_the_document_root_and_quoted(tmp_path):
    image = tmp_path / "media" / "a b#1.png"
    assert mapping.local_files_url(str(image), str(tmp_path)) == (
        "/data/local-files/?d=media/a%20b%231.png"
    )
    assert mapping.local_files_url(str(image), None) is None
    assert mapping.local_files_url("/elsewhere/x.png", str(tmp_path)) is None
    assert mapping.storage_path([str(image), str(tmp_path / "media" / "z" / "y.png")]) == str(
        (tmp_path / "media").resolve()
    )


def test_task_json_carries_the_ids_and_the_scored_guess():
    ref = {"loop": "pets", "round": 3, "export_id": "e9"}
    task = mapping.task_json(BatchItem("s1", "/x.png", "dog", 0.25), "/data/u.png", ref)
    assert task["data"] == {
        "image": "/data/u.png",
        "alflow_sample_id": "s1",
        "alflow_loop": "pets",
        "alflow_round": 3,
        "alflow_export": "e9",
    }
    (prediction,) = task["predictions"]
    assert prediction["score"] == 0.25 and prediction["result"] == mapping.choice_result("dog")
    assert "predictions" not in mapping.task_json(BatchItem("s2", "/y.png"), "/u", ref)


# ----------------------------------------------------------------------------- completion
def test_annotations_are_read_from_the_alflow_control_only():
    data = {
        "id": 3,
        "was_cancelled": False,
        "completed_by": 4,
        "updated_at": "t",
        "result": [
            *mapping.choice_result("dog"),
            {"from_name": "comment", "type": "textarea", "value": {"text": ["meh"]}},
        ],
    }
    assert Annotation.from_api(data) == Annotation(3, False, ("dog",), 4, "t")


def test_completion_and_resolution_follow_label_studio():
    tasks = {
        11: TaskState(11, (ann(1, "cat"),)),  # submitted, the guess
        12: TaskState(12, (ann(2, cancelled=True), ann(3, "dog"))),  # skipped, then submitted
        13: TaskState(13, (ann(4, cancelled=True, by=8),)),  # skipped only
        14: TaskState(14),  # open (a draft is no annotation)
    }  # 15: deleted
    assert mapping.progress_of(REF, tasks) == Progress(4, 5)
    assert mapping.open_tasks(REF, tasks) == [14]
    got = mapping.resolve_tasks(REF, tasks)
    assert [(a.sample_id, a.label, a.provenance["changed"]) for a in got.answers] == [
        ("a", "cat", False),
        ("b", "dog", True),
    ]
    assert got.answers[1].provenance["label_studio_annotation_id"] == 3
    reasons = {u.sample_id: u.reason for u in got.unresolved}
    assert reasons == {
        "c": "Label Studio task 13 was skipped (by user 8)",
        "e": "Label Studio task 15 was deleted",
    }
    assert got.pending == ("d",)


def test_unknown_choices_follow_the_loop_rule():
    tasks = {tid: TaskState(tid, (ann(1, "owl"),)) for tid in REF["task_ids"]}
    with pytest.raises(BackendError, match=r"task 11 \(sample a\) is labelled 'owl'"):
        mapping.resolve_tasks(REF, tasks)
    got = mapping.resolve_tasks(REF, tasks, unknown_labels="new_class")
    assert {a.label for a in got.answers} == {"owl"}


# ----------------------------------------------------------------------------- tokens
def test_token_kinds_follow_the_sdk_rule():
    assert credentials.token_kind(PAT) == credentials.PAT
    assert credentials.token_kind("a" * 40) == credentials.LEGACY


def test_connection_from_block_else_environment_never_in_repr():
    config = LabelStudioBackendConfig(url="http://ls:8080/")
    conn = resolve_connection(config, {credentials.ENV_TOKEN: " tok-1 "})
    assert (conn.url, conn.token, conn.source) == (
        "http://ls:8080",
        "tok-1",
        "ALFLOW_LABEL_STUDIO_TOKEN",
    )
    assert "tok-1" not in repr(conn)
    block = config.model_copy(update={"credentials_block": "ls"})
    assert resolve_connection(block, {}, lambda name: '{"token": "tok-2"}').token == "tok-2"
    with pytest.raises(BackendError, match="no Label Studio token"):
        resolve_connection(config, {})
    with pytest.raises(BackendError, match="no Label Studio URL"):
        resolve_connection(LabelStudioBackendConfig(), {credentials.ENV_TOKEN: "t"})
    with pytest.raises(BackendError, match="'http://' or 'https://'"):
        resolve_connection(LabelStudioBackendConfig(url="ls:8080"), {credentials.ENV_TOKEN: "t"})


def test_credentials_in_the_url_are_refused_by_the_configuration():
    with pytest.raises(ValueError, match="ALFLOW_LABEL_STUDIO_TOKEN"):
        LabelStudioBackendConfig(url="http://me:secret@ls:8080")


def test_credentials_in_the_environments_url_are_refused_naming_the_variable():
    environ = {credentials.ENV_URL: "http://me:secret@ls:8080", credentials.ENV_TOKEN: "t"}
    with pytest.raises(BackendError) as refused:
        resolve_connection(LabelStudioBackendConfig(), environ)
    message = str(refused.value)
    assert f"URL in {credentials.ENV_URL} contains a user name or password" in message
    assert "secret" not in message


def refusal(detail: str) -> ApiError:
    return ApiError(status_code=401, body={"detail": detail})


def test_refusals_name_the_token_kind_and_the_fix():
    policy = RetryPolicy(retries=0)
    legacy = Connection("http://ls", "ALFLOW_LABEL_STUDIO_TOKEN", "a" * 40)
    off = "Authentication token no longer valid: legacy token authentication has been disabled"
    message = str(translate(refusal(off), legacy, policy))
    assert "refused the legacy token" in message and "create a personal access token" in message
    pat = Connection("http://ls", "ALFLOW_LABEL_STUDIO_TOKEN", PAT)
    message = str(translate(refusal("Token is invalid"), pat, policy))
    assert "refused the personal access token" in message and "revoked or expired" in message
    assert PAT not in message and "a" * 40 not in str(translate(refusal("x"), legacy, policy))


# ----------------------------------------------------------------------------- retries
def test_transient_failures_are_retried_with_backoff_and_4xx_never():
    waits: list[float] = []
    answers = iter([httpx.ConnectError("refused"), ApiError(status_code=503, body={}), "ok"])

    def flaky():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    policy = RetryPolicy(retries=3, backoff=0.5, max_backoff=0.8)
    assert call_with_retries("reading", flaky, policy, waits.append) == "ok"
    assert waits == [0.5, 0.8]

    def refused():
        raise ApiError(status_code=404, body={"detail": "Not found"})

    with pytest.raises(ApiError):
        call_with_retries("reading", refused, policy, waits.append)
    assert waits == [0.5, 0.8]
