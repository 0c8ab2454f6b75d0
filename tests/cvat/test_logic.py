"""The CVAT backend's pure logic: frame mapping, job progress, tag resolution, retries, config."""

from __future__ import annotations

import pytest
import urllib3
from cvat_sdk.api_client.exceptions import ApiException, NotFoundException, ServiceException

from alflow.backends.base import Answer, Batch, BatchItem, Progress, Unresolved
from alflow.backends.cvat.credentials import clean_url, parse_secret, resolve_connection
from alflow.backends.cvat.mapping import (
    JobSpan,
    Tag,
    frame_map,
    job_finished,
    progress_of,
    resolve_tags,
    staged_name,
)
from alflow.backends.cvat.references import check_batch
from alflow.backends.cvat.retries import RetryPolicy, call_with_retries, is_transient
from alflow.config.backends import CvatBackendConfig
from alflow.errors import BackendError

# ------------------------------------------------------------------------- frame mapping


def test_staged_names_are_unique_and_sort_in_batch_order():
    paths = ["/a/zeta.png", "/b/img.png", "/c/img.png", "/alpha.png"]
    names = [staged_name(i, p) for i, p in enumerate(paths)]
    assert names == ["000000_zeta.png", "000001_img.png", "000002_img.png", "000003_alpha.png"]
    assert sorted(names) == names


def test_frame_map_follows_the_task_order_not_the_upload_order():
    staged = {"000000_zeta.png": "z", "000001_alpha.png": "a"}
    assert frame_map(["000001_alpha.png", "000000_zeta.png"], staged) == ["a", "z"]


@pytest.mark.parametrize(
    "frames",
    [["000000_zeta.png"], ["000000_zeta.png", "other.png"], ["000000_zeta.png"] * 2],
)
def test_frame_map_refuses_frames_that_are_not_the_upload(frames):
    with pytest.raises(BackendError, match="does not match the batch"):
        frame_map(frames, {"000000_zeta.png": "z", "000001_alpha.png": "a"})


# -------------------------------------------------------------------------------- progress


@pytest.mark.parametrize(
    ("state", "stage", "accept", "finished"),
    [
        ("completed", "annotation", False, True),
        ("in progress", "acceptance", False, False),
        ("in progress", "acceptance", True, True),
        ("new", "validation", True, False),
        ("rejected", "annotation", True, False),
    ],
)
def test_job_finished(state, stage, accept, finished):
    assert job_finished(state, stage, accept) is finished


def test_progress_counts_finished_jobs():
    jobs = [JobSpan(1, 0, 1, True), JobSpan(2, 2, 3, False)]
    assert progress_of(jobs) == Progress(done=1, total=2)
    assert not progress_of([]).finished


# ----------------------------------------------------------------------------- resolution
REF = {
    "task_id": 7,
    "frames": ["a", "b", "c", "d"],
    "predicted": ["cat", "cat", "dog", None],
    "classes": ["cat", "dog"],
}
DONE = [JobSpan(10, 0, 3, True)]


def test_one_tag_is_an_answer_with_provenance():
    collected = resolve_tags(REF, DONE, [Tag(0, "cat", 1), Tag(1, "dog", 2, "manual")])
    first, second = collected.answers
    assert first == Answer("a", "cat", first.provenance)
    assert first.provenance["changed"] is False
    assert second.provenance == {
        "source": "cvat",
        "cvat_task_id": 7,
        "cvat_job_id": 10,
        "cvat_frame": 1,
        "cvat_tag_source": "manual",
        "predicted": "cat",
        "changed": True,
    }


def test_no_tag_or_several_tags_are_unresolved():
    tags = [Tag(0, "cat", 1), Tag(1, "cat", 1), Tag(1, "dog", 2), Tag(3, "dog", 2)]
    collected = resolve_tags(REF, DONE, tags)
    assert [a.sample_id for a in collected.answers] == ["a", "d"]
    reasons = {u.sample_id: u.reason for u in collected.unresolved}
    assert set(reasons) == {"b", "c"}
    assert "2 tags (cat, dog)" in reasons["b"] and "frame 1" in reasons["b"]
    assert "no tag" in reasons["c"]


def test_unfinished_jobs_are_pending_whatever_their_tags():
    jobs = [JobSpan(10, 0, 1, True), JobSpan(11, 2, 3, False)]
    collected = resolve_tags(REF, jobs, [Tag(0, "cat", 1), Tag(2, "dog", 2)])
    assert [a.sample_id for a in collected.answers] == ["a"]
    assert collected.pending == ("c", "d")
    assert [u.sample_id for u in collected.unresolved] == ["b"]


def test_unknown_label_is_an_error_naming_label_frame_sample_and_fix():
    with pytest.raises(BackendError) as caught:
        resolve_tags(REF, DONE, [Tag(2, "bird", 3)])
    message = str(caught.value)
    assert "'bird'" in message and "frame 2" in message and "sample c" in message
    assert "unknown_labels='new_class'" in message


def test_unknown_label_is_accepted_as_a_new_class():
    collected = resolve_tags(REF, DONE, [Tag(2, "bird", 3)], unknown_labels="new_class")
    assert collected.answers == (Answer("c", "bird", collected.answers[0].provenance),)


def test_tag_with_an_unknown_label_id_is_unresolved():
    collected = resolve_tags(REF, DONE, [Tag(0, None, 99)])
    first = collected.unresolved[0]
    assert first == Unresolved("a", first.reason) and "label id 99" in first.reason


def test_frames_outside_every_job_are_unresolved_not_dropped():
    collected = resolve_tags(REF, [JobSpan(10, 0, 2, True)], [Tag(0, "cat", 1)])
    assert "d" in {u.sample_id for u in collected.unresolved}


def test_tag_beyond_the_reference_frames_is_an_error():
    with pytest.raises(BackendError, match="frame 9"):
        resolve_tags(REF, DONE, [Tag(9, "cat", 1)])


# ---------------------------------------------------------------------------------- batch


def test_check_batch_refuses_missing_files_before_anything_else(tmp_path):
    batch = Batch("pets", 1, (BatchItem("s0", str(tmp_path / "gone.png")),), ("cat",))
    with pytest.raises(BackendError, match="1 image files do not exist"):
        check_batch(batch)


@pytest.mark.parametrize(
    ("items", "classes", "message"),
    [((), ("cat",), "empty"), ((BatchItem("s0", "x"),), (), "no classes")],
)
def test_check_batch_refuses_empty_batches(items, classes, message):
    with pytest.raises(BackendError, match=message):
        check_batch(Batch("pets", 1, items, classes))


def test_check_batch_refuses_repeated_sample_ids(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"x")
    items = (BatchItem("s0", str(path)), BatchItem("s0", str(path)))
    with pytest.raises(BackendError, match="appear twice"):
        check_batch(Batch("pets", 1, items, ("cat",)))


# -------------------------------------------------------------------------------- retries


class Flaky:
    """Fails with the given exceptions in turn, then returns 'ok'."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def test_retries_transient_failures_with_exponential_backoff():
    sleeps: list[float] = []
    flaky = Flaky(ServiceException(status=503), urllib3.exceptions.ProtocolError("reset"))
    policy = RetryPolicy(retries=3, backoff=0.5, max_backoff=10)
    assert call_with_retries("x", flaky, policy, sleeps.append) == "ok"
    assert flaky.calls == 3 and sleeps == [0.5, 1.0]


def test_gives_up_after_the_configured_retries():
    sleeps: list[float] = []
    flaky = Flaky(*(ServiceException(status=502) for _ in range(5)))
    with pytest.raises(ServiceException):
        call_with_retries(
            "x", flaky, RetryPolicy(retries=2, backoff=1, max_backoff=1.5), sleeps.append
        )
    assert flaky.calls == 3 and sleeps == [1, 1.5]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_client_errors_are_not_retried(status):
    flaky = Flaky(NotFoundException(status=404) if status == 404 else ApiException(status=status))
    with pytest.raises(ApiException):
        call_with_retries("x", flaky, RetryPolicy(retries=5), lambda s: None)
    assert flaky.calls == 1


def test_transient_errors():
    assert is_transient(ConnectionRefusedError())
    assert is_transient(urllib3.exceptions.MaxRetryError(None, "/", ConnectionRefusedError()))
    assert is_transient(ServiceException(status=500))
    assert not is_transient(ApiException(status=400))
    assert not is_transient(ApiException(status=0))  # an SSL failure: retrying will not help
    assert not is_transient(ValueError())


# ------------------------------------------------------------------------- connection config


def test_clean_url_defaults_to_https_like_cvat_sdk():
    assert clean_url(" cvat.example.org/ ") == "https://cvat.example.org"
    assert clean_url("http://localhost:8080") == "http://localhost:8080"


@pytest.mark.parametrize("url", ["https://admin:hunter2@cvat.example.org", "ftp://cvat"])
def test_clean_url_refuses_credentials_and_other_schemes(url):
    with pytest.raises(BackendError) as caught:
        clean_url(url)
    assert "hunter2" not in str(caught.value)


def test_credentials_from_the_environment():
    config = CvatBackendConfig(url="http://cvat:8080")
    conn = resolve_connection(config, {"ALFLOW_CVAT_TOKEN": "tok-secret"})
    assert conn.token == "tok-secret" and conn.url == "http://cvat:8080"
    assert "tok-secret" not in repr(conn)
    env = {"ALFLOW_CVAT_USERNAME": "ann", "ALFLOW_CVAT_PASSWORD": "pw-secret"}
    conn = resolve_connection(config, env)
    assert (conn.username, conn.password) == ("ann", "pw-secret")
    assert "pw-secret" not in repr(conn)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "no CVAT credentials"),
        ({"ALFLOW_CVAT_USERNAME": "ann"}, "ALFLOW_CVAT_PASSWORD is not set"),
        ({"ALFLOW_CVAT_PASSWORD": "pw"}, "ALFLOW_CVAT_USERNAME is not set"),
    ],
)
def test_missing_credentials_say_what_to_set(environ, message):
    with pytest.raises(BackendError, match=message):
        resolve_connection(CvatBackendConfig(url="http://cvat"), environ)


def test_missing_url_says_what_to_set():
    with pytest.raises(BackendError, match="ALFLOW_CVAT_URL"):
        resolve_connection(CvatBackendConfig(), {"ALFLOW_CVAT_TOKEN": "t"})


def test_secret_block_is_loaded_only_when_configured():
    loaded: list[str] = []

    def loader(name: str) -> dict:
        loaded.append(name)
        return {"username": "ann", "password": "pw-secret"}

    env = {"ALFLOW_CVAT_URL": "http://cvat", "ALFLOW_CVAT_TOKEN": "t"}
    assert resolve_connection(CvatBackendConfig(), env, loader).token == "t"
    assert loaded == []
    conn = resolve_connection(CvatBackendConfig(credentials_block="cvat-creds"), env, loader)
    assert (conn.username, conn.password, loaded) == ("ann", "pw-secret", ["cvat-creds"])
    env["ALFLOW_CVAT_SECRET_BLOCK"] = "from-env"
    resolve_connection(CvatBackendConfig(), env, loader)
    assert loaded[-1] == "from-env"


def test_secret_block_that_cannot_be_loaded():
    def loader(name: str) -> dict:
        raise ValueError(f"Unable to find block document named {name}")

    config = CvatBackendConfig(url="http://cvat", credentials_block="nope")
    with pytest.raises(BackendError, match="cannot load the Prefect Secret block 'nope'"):
        resolve_connection(config, {}, loader)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("tok", {"token": "tok"}),
        ('{"token": "tok"}', {"token": "tok"}),
        ({"username": "u", "password": "p"}, {"username": "u", "password": "p"}),
    ],
)
def test_parse_secret(value, expected):
    assert parse_secret(value, "b") == expected


@pytest.mark.parametrize("value", [{}, {"username": "u"}, "", '{"broken'])
def test_parse_secret_refuses_values_without_credentials(value):
    with pytest.raises(BackendError, match="Prefect Secret block 'b'"):
        parse_secret(value, "b")
