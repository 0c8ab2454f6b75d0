"""Connecting to CVAT: credentials, retries in one layer, clear failures, no leaked secrets."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import traceback

import pytest

from alflow.backends.base import Progress
from alflow.errors import BackendError

from .fakes import Refs


def _full_text(exc: BaseException) -> str:
    """The exception as a traceback would print it, causes and contexts included."""
    return "".join(traceback.format_exception(exc))


# ---------------------------------------------------------------------------- credentials


def test_bad_password_is_a_clear_error_without_retries(cvat_server, make_backend, env, sleeps):
    backend = make_backend(environ={**env, "ALFLOW_CVAT_PASSWORD": "wrong-pass-123"})
    with pytest.raises(BackendError) as caught:
        backend.progress({"task_id": 1})
    message = str(caught.value)
    assert "refused the credentials" in message and "HTTP 400" in message
    assert cvat_server.url in message and "ALFLOW_CVAT_USERNAME/ALFLOW_CVAT_PASSWORD" in message
    assert "wrong-pass-123" not in _full_text(caught.value)
    assert cvat_server.count("POST", "/api/auth/login") == 1 and sleeps.calls == []


def test_access_token_from_the_environment(cvat_server, make_backend, make_batch):
    backend = make_backend(
        environ={"ALFLOW_CVAT_URL": cvat_server.url, "ALFLOW_CVAT_TOKEN": cvat_server.token}
    )
    ref = backend.export(make_batch(["a.png"]), Refs())
    assert backend.progress(ref) == Progress(0, 1)
    assert cvat_server.count("POST", "/api/auth/login") == 0


def test_bad_access_token_is_a_clear_error(cvat_server, make_backend):
    env = {"ALFLOW_CVAT_URL": cvat_server.url, "ALFLOW_CVAT_TOKEN": "tok-not-valid-999"}
    with pytest.raises(BackendError) as caught:
        make_backend(environ=env).progress({"task_id": 1})
    assert "refused the credentials from ALFLOW_CVAT_TOKEN (HTTP 401)" in str(caught.value)
    assert "tok-not-valid-999" not in _full_text(caught.value)


def test_credentials_from_a_secret_block(cvat_server, make_batch, sleeps):
    from alflow.backends.cvat import CvatBackend
    from alflow.config.backends import CvatBackendConfig

    def loader(name: str) -> dict:
        assert name == "cvat-login"
        return {"username": cvat_server.username, "password": cvat_server.password}

    config = CvatBackendConfig(
        url=cvat_server.url, credentials_block="cvat-login", poll_seconds=0.01
    )
    backend = CvatBackend(config, environ={}, secret_loader=loader, sleep=sleeps)
    assert backend.export(make_batch(["a.png"]), Refs())["task_id"]


def test_secrets_never_reach_logs_errors_or_references(
    cvat_server, make_backend, make_batch, env, caplog
):
    caplog.set_level(logging.DEBUG)  # every logger, urllib3 and cvat-sdk included
    refs = Refs()
    backend = make_backend()
    ref = backend.export(make_batch(["a.png", "b.png"]), refs)
    backend.collect(ref, partial=True)
    errors = []
    for environ in (
        {**env, "ALFLOW_CVAT_PASSWORD": "wrong-" + cvat_server.password},
        {"ALFLOW_CVAT_URL": cvat_server.url, "ALFLOW_CVAT_TOKEN": cvat_server.token + "x"},
    ):
        with pytest.raises(BackendError) as caught:
            make_backend(environ=environ).progress(ref)
        errors.append(_full_text(caught.value))
    cvat_server.stop()
    with pytest.raises(BackendError) as caught:
        backend.progress(ref)
    errors.append(_full_text(caught.value))

    secrets = [cvat_server.password, cvat_server.token]
    texts = [caplog.text, *errors, repr(refs.saved), repr(backend.connection())]
    assert not [s for s in secrets for text in texts if s in text]


# --------------------------------------------------------------------------------- retries


def test_server_down_is_retried_then_a_clear_failure(cvat_server, make_backend, sleeps):
    url = cvat_server.url
    cvat_server.stop()
    with pytest.raises(BackendError) as caught:
        make_backend(retries=3).progress({"task_id": 1, "url": url})
    message = str(caught.value)
    assert f"cannot reach CVAT at {url} after 4 attempts" in message
    assert "'https://'" in message and "running" in message
    assert sleeps.calls == [0.01, 0.02, 0.04]  # exponential backoff between the 4 attempts


def test_5xx_then_success(cvat_server, backend, make_batch, sleeps):
    ref = backend.export(make_batch(["a.png"]), Refs())
    cvat_server.fail_next(2, 503, path="^/api/jobs$")
    before = cvat_server.count("GET", "^/api/jobs$")
    assert backend.progress(ref) == Progress(0, 1)
    assert cvat_server.count("GET", "^/api/jobs$") - before == 3
    assert sleeps.calls == [0.01, 0.02]


def test_cvat_sdk_does_not_retry_behind_our_back(cvat_server, make_backend, sleeps):
    """One retry layer: with retries=0 a 502 is seen exactly once (urllib3's would retry it)."""
    cvat_server.fail_next(10, 502, path="^/api/server/about$")
    with pytest.raises(BackendError, match=r"kept failing \(no retries\) \(HTTP 502"):
        make_backend(retries=0).progress({"task_id": 1})
    assert cvat_server.count("GET", "^/api/server/about$") == 1 and sleeps.calls == []


def test_server_failing_for_good(cvat_server, make_backend, sleeps):
    cvat_server.fail_next(100, 500)
    with pytest.raises(BackendError) as caught:
        make_backend(retries=2).progress({"task_id": 1})
    assert "kept failing after 3 attempts (HTTP 500" in str(caught.value)
    assert "down or overloaded" in str(caught.value)
    assert cvat_server.count() == 3 and len(sleeps.calls) == 2


def test_4xx_is_not_retried(cvat_server, backend, make_batch, sleeps):
    cvat_server.fail_next(1, 403, path="^/api/projects$")
    with pytest.raises(BackendError, match=r"refused a request \(HTTP 403"):
        backend.export(make_batch(["a.png"]), Refs())
    assert cvat_server.count("GET", "^/api/projects$") == 1 and sleeps.calls == []


def test_upload_retried_after_a_5xx(cvat_server, backend, make_batch):
    cvat_server.fail_next(1, 503, method="POST", path=r"/data/$")
    ref = backend.export(make_batch(["b.png", "a.png"]), Refs())
    assert ref["frames"] == ["s0", "s1"] and len(cvat_server.state.tasks) == 1


def test_lost_answer_to_task_creation_does_not_duplicate_the_task(cvat_server, backend, make_batch):
    cvat_server.fail_next(1, 504, method="POST", path="^/api/tasks$", after=True)
    ref = backend.export(make_batch(["a.png"]), Refs())
    assert list(cvat_server.state.tasks) == [ref["task_id"]]


def test_lost_answer_to_the_upload_does_not_upload_twice(cvat_server, backend, make_batch):
    cvat_server.fail_next(1, 502, method="GET", path="^/api/requests/", after=True)
    ref = backend.export(make_batch(["a.png", "b.png"]), Refs())
    assert cvat_server.state.task(ref["task_id"]).size == 2
    assert cvat_server.count("POST", "/data/$") == 3  # start, files, finish: once


# ---------------------------------------------------------------------------- wrong URLs


def test_http_server_addressed_without_scheme(cvat_server, make_backend, env):
    """cvat-sdk (and alflow) assume https:// without a scheme; the error says what to write."""
    bare = cvat_server.url.removeprefix("http://")
    with pytest.raises(BackendError) as caught:
        make_backend(environ={**env, "ALFLOW_CVAT_URL": bare}).progress({"task_id": 1})
    assert f"https://{bare}" in str(caught.value) and "'http://'" in str(caught.value)


def test_version_mismatch_is_shown_once_per_server_and_sdk_version(
    cvat_server, backend, make_backend, make_batch, caplog, tmp_path, monkeypatch
):
    """The note is remembered under ALFLOW_HOME: once for a server and cvat-sdk version pair,
    across backends and across processes, again for another cvat-sdk; `alflow env` lists it."""
    from typer.testing import CliRunner

    from alflow.cli import app

    home = tmp_path / "home"
    monkeypatch.setenv("ALFLOW_HOME", str(home))
    caplog.set_level(logging.WARNING)
    ref = backend.export(make_batch(["a.png"]), Refs())
    backend.progress(ref)
    backend.collect(ref, partial=True)
    make_backend().progress(ref)  # a step opens a backend per task
    notes = [r.getMessage() for r in caplog.records if "runs version 2.73.0" in r.getMessage()]
    assert len(notes) == 1
    assert "not compatible" not in caplog.text  # cvat-sdk's own warning is not triggered

    # another command (a process of its own) on the same state directory: not shown again
    script = (
        "import json, sys\n"
        "from alflow.backends.cvat import CvatBackend\n"
        "from alflow.config.backends import CvatBackendConfig\n"
        "b = CvatBackend(CvatBackendConfig(url=sys.argv[1]), environ=json.loads(sys.argv[2]))\n"
        "print(b.progress(json.loads(sys.argv[3])).total)\n"
    )
    env_vars = {
        "ALFLOW_CVAT_USERNAME": cvat_server.username,
        "ALFLOW_CVAT_PASSWORD": cvat_server.password,
    }
    command = [sys.executable, "-c", script, cvat_server.url, json.dumps(env_vars), json.dumps(ref)]
    process_env = {**os.environ, "ALFLOW_HOME": str(home)}
    again = subprocess.run(command, env=process_env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "1" and "runs version" not in again.stderr
    # the same with a fresh state directory shows it: the subprocess would have logged it
    fresh = {**process_env, "ALFLOW_HOME": str(tmp_path / "other-home")}
    first = subprocess.run(command, env=fresh, capture_output=True, text=True, timeout=120)
    assert "runs version 2.73.0" in first.stderr

    caplog.clear()
    monkeypatch.setattr("cvat_sdk.version.VERSION", "2.99.0")  # cvat-sdk upgraded
    backend.progress(ref)
    assert [r for r in caplog.records if "cvat-sdk 2.99.0 is made for" in r.getMessage()]

    exported = CliRunner().invoke(app, ["env"]).output.splitlines()
    listed = [line for line in exported if line.startswith("# note: CVAT at ")]
    assert len(listed) == 2, exported
    assert all(f"CVAT at {cvat_server.url} runs version 2.73.0" in line for line in listed)
    assert "2.99.0" in listed[1]


def test_files_sent_but_their_answer_lost_never_reach_the_same_task_twice(
    cvat_server, backend, make_batch, refs
):
    """CVAT keeps the files of an unfinished upload and refuses their names again (500): the
    retry goes to a fresh task, the data-less one is deleted."""
    cvat_server.fail_next(
        1, 502, method="POST", path=r"/data/$", header="Upload-Multiple", after=True
    )
    ref = backend.export(make_batch(["a.png", "b.png"]), refs)
    first = refs.saved[0]["task_id"]
    assert ref["task_id"] != first and list(cvat_server.state.tasks) == [ref["task_id"]]
    assert ref["frames"] == ["s0", "s1"] and cvat_server.state.task(ref["task_id"]).size == 2
    assert not [
        e for e in cvat_server.log if e.status == 500 and e.path.endswith("/data/")
    ]  # no second upload into the first task


def test_a_failed_status_poll_while_processing_waits_instead_of_uploading_again(
    cvat_server, backend, make_batch
):
    cvat_server.state.request_polls = 3  # the task has no data for three polls
    cvat_server.fail_next(1, 502, method="GET", path="^/api/requests/")
    ref = backend.export(make_batch(["a.png", "b.png"]), Refs())
    assert list(cvat_server.state.tasks) == [ref["task_id"]]
    assert cvat_server.state.task(ref["task_id"]).size == 2
    assert cvat_server.count("POST", "/data/$") == 3  # start, files, finish: once


def test_a_later_step_waits_for_processing_started_by_a_run_that_died(
    cvat_server, backend, make_batch, monkeypatch
):
    """The earlier run sent everything and died while CVAT processed: no second upload."""
    from alflow.backends.cvat.session import CvatSession

    class Died(Exception):
        pass

    batch = make_batch(["a.png", "b.png"])
    cvat_server.state.request_polls = 2
    saved: list[dict] = []
    settle = CvatSession.settle
    calls = []

    def settle_then_die(self, task):
        calls.append(task.id)
        if len(calls) == 2:  # the wait after the upload: the worker is killed here
            raise Died
        return settle(self, task)

    monkeypatch.setattr(CvatSession, "settle", settle_then_die)
    with pytest.raises(Died):
        backend.export(batch, lambda ref: saved.append(dict(ref)))
    monkeypatch.setattr(CvatSession, "settle", settle)
    assert saved[-1]["upload_started"] is True
    ref = backend.export(batch, Refs(), ref=saved[-1])
    assert ref["task_id"] == saved[0]["task_id"] and ref["frames"] == ["s0", "s1"]
    assert cvat_server.count("POST", "/data/$") == 3


def test_a_task_whose_earlier_upload_never_finished_is_replaced(cvat_server, backend, make_batch):
    """A run died between sending files and Upload-Finish: the task holds stray files only."""
    batch = make_batch(["a.png", "b.png"])
    cvat_server.fail_next(1, 502, method="POST", path=r"/data/$", header="Upload-Finish")
    saved: list[dict] = []

    def record(ref):
        saved.append(dict(ref))

    with pytest.raises(BackendError):
        cvat_server_retries_off(backend).export(batch, record)
    stale = saved[-1]
    assert stale["upload_started"] is True
    ref = backend.export(batch, Refs(), ref=stale)
    assert ref["task_id"] != stale["task_id"] and list(cvat_server.state.tasks) == [ref["task_id"]]
    assert ref["frames"] == ["s0", "s1"]


def cvat_server_retries_off(backend):
    from alflow.backends.cvat import CvatBackend

    config = backend.config.model_copy(update={"retries": 0})
    return CvatBackend(config, environ=backend._environ, sleep=backend._sleep)
