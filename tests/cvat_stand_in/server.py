"""A loopback HTTP server answering the REST calls cvat-sdk 2.80's high-level API makes.

Run by the tests in place of a real CVAT: :class:`CvatStandIn` starts a standard-library
``ThreadingHTTPServer`` on ``127.0.0.1`` (port 0: the OS picks a free one) in a daemon thread.
Tests can make it misbehave the ways a real server does: :meth:`CvatStandIn.fail_next` answers the
next requests with a 5xx (or any status), :meth:`CvatStandIn.stop` takes it down so connections
are refused, and :attr:`CvatStandIn.state` exposes its memory for arrange/assert steps.

Every reply is shaped like the recorded replies of a real CVAT 2.73 server, so cvat-sdk's model
validation passes on them; what is *not* implemented answers 501 so a test never mistakes a gap
for behaviour.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import serialize as ser
from .state import CvatState, Invalid, NotFound, StandInError, User

log = logging.getLogger(__name__)

SERVER_VERSION = "2.73.0"


@dataclass(frozen=True)
class Logged:
    """One request the server answered (for counting attempts in tests)."""

    method: str
    path: str
    query: str
    status: int
    organization: str | None = None  # the X-Organization header (organizations are not modelled)


@dataclass
class _Failure:
    remaining: int
    status: int
    method: str | None
    path: re.Pattern[str] | None
    after: bool
    header: str | None = None

    def matches(self, method: str, path: str, headers: Any = None) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.path is None or bool(self.path.search(path)))
            and (self.header is None or (headers is not None and self.header in headers))
        )


class _Reply(Exception):
    """Raised by a route to answer with ``status`` and a JSON ``body`` (None: no body)."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


Route = Callable[["_Call"], Any]


@dataclass
class _Call:
    """What a route handler sees of a request."""

    server: CvatStandIn
    method: str
    path: str
    query: dict[str, str]
    headers: Any
    body: bytes
    args: tuple[str, ...]
    user: User | None

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except json.JSONDecodeError:
            raise _Reply(400, {"detail": "JSON parse error"}) from None

    def int_query(self, name: str) -> int | None:
        value = self.query.get(name)
        return int(value) if value not in (None, "") else None

    @property
    def base(self) -> str:
        return self.server.url


class CvatStandIn:
    """An in-memory CVAT on loopback.

    Args:
        username: the admin account's name.
        password: the admin account's password.
        version: the version ``/api/server/about`` reports (a real 2.73 server by default, so
            cvat-sdk 2.80 logs its version-mismatch warning exactly as against the real one).
    """

    def __init__(
        self,
        username: str = "admin",
        password: str = "stand-in-password",
        version: str = SERVER_VERSION,
    ) -> None:
        self.username = username
        self.password = password
        self.version = version
        self.token = "pat-" + secrets.token_hex(12)  # a personal access token of the admin
        self.state = CvatState(username, password)
        self.log: list[Logged] = []
        self._sessions: dict[str, int] = {}
        # CVAT: personal access tokens go as "Bearer <token>", the legacy login key as
        # "Token <key>"; each scheme accepts only its own kind
        self._access_tokens: dict[str, int] = {self.token: self.state.admin.id}
        self._legacy_tokens: dict[str, int] = {}
        self._failures: list[_Failure] = []
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # ---------------------------------------------------------------------------- control
    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the CVAT stand-in is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> CvatStandIn:
        """Listen on 127.0.0.1 (a free port the first time, the same port after a stop)."""
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"stand_in": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port or 0), handler)
        self._httpd.daemon_threads = True
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},  # so stop() returns at once
            name="cvat-stand-in",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: every later connection is refused, like a server that is down."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> CvatStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        method: str | None = None,
        path: str | None = None,
        after: bool = False,
        header: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` instead of serving them.

        Args:
            n: how many requests fail.
            status: the HTTP status they get (5xx to test retries, 4xx to test refusals).
            method: only requests with this method count (default: all).
            path: only requests whose path matches this regular expression count (default: all).
            after: serve the request first, then answer ``status``: the work is done but its
                answer is lost (a proxy timing out, a worker dying after the commit).
            header: only requests carrying this header count (e.g. ``Upload-Multiple``).
        """
        with self._lock:
            pattern = re.compile(path) if path else None
            self._failures.append(
                _Failure(n, status, method and method.upper(), pattern, after, header)
            )

    def fail_data_processing(self, message: str = "stand-in: data processing failed") -> None:
        """Make the next task-data request end in status 'failed' with ``message``."""
        with self._lock:
            self.state.processing_errors.append(message)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many requests matching ``method`` and the regular expression ``path`` arrived."""
        pattern = re.compile(path) if path else None
        with self._lock:
            return sum(
                1
                for entry in self.log
                if (method is None or entry.method == method.upper())
                and (pattern is None or pattern.search(entry.path))
            )

    # -------------------------------------------------------------- arrange/assert helpers
    def add_user(self, username: str, password: str = "") -> int:
        """Create a user (e.g. an annotator to assign jobs to); returns its id."""
        with self._lock:
            return self.state.add_user(username, password).id

    def label_id(self, project_id: int, name: str) -> int:
        with self._lock:
            for label in self.state.project_labels(project_id):
                if label.name == name:
                    return label.id
        raise KeyError(f"project {project_id} has no label {name!r}")

    def add_label(self, project_id: int, name: str) -> int:
        """Add a label to a project, as a CVAT user would in the UI; returns its id."""
        with self._lock:
            self.state.apply_label_specs([{"name": name}], project_id=project_id)
        return self.label_id(project_id, name)

    def frame_names(self, task_id: int) -> list[str]:
        with self._lock:
            return [frame.name for frame in self.state.task(task_id).frames or []]

    def tags(self, task_id: int) -> list[tuple[int, str]]:
        """(frame, label name) of every tag of a task, sorted by frame."""
        with self._lock:
            names = {label.id: label.name for label in self.state.task_labels(task_id)}
            return sorted(
                (tag["frame"], names[tag["label_id"]])
                for tag in self.state.task(task_id).annotations["tags"]
            )

    def set_tags(self, task_id: int, frame: int, labels: list[str]) -> None:
        """Replace the tags of one frame with ``labels`` (an annotator's work); [] removes all."""
        with self._lock:
            task = self.state.task(task_id)
            ids = {label.name: label.id for label in self.state.task_labels(task_id)}
            kept = [tag for tag in task.annotations["tags"] if tag["frame"] != frame]
            new = [
                {
                    "id": self.state.next_id("annotation"),
                    "label_id": ids[name],
                    "frame": frame,
                    "group": 0,
                    "source": "manual",
                    "attributes": [],
                }
                for name in labels
            ]
            task.annotations["tags"] = kept + new
            task.version += 1

    def jobs(self, task_id: int) -> list[int]:
        """Job ids of a task, ordered by start frame."""
        with self._lock:
            return [
                j.id for j in sorted(self.state.task_jobs(task_id), key=lambda j: j.start_frame)
            ]

    def finish_job(
        self, job_id: int, *, state: str | None = "completed", stage: str | None = None
    ) -> None:
        """Set a job's state and/or stage (``state=None``: a stage change alone, which resets
        the state to 'new' as in CVAT)."""
        with self._lock:
            spec = ({"state": state} if state else {}) | ({"stage": stage} if stage else {})
            self.state.update_job(job_id, spec)

    def add_ground_truth_job(self, task_id: int) -> int:
        with self._lock:
            return self.state.add_ground_truth_job(task_id).id

    def delete_task(self, task_id: int) -> None:
        with self._lock:
            self.state.delete_task(task_id)

    # ------------------------------------------------------------------------- dispatching
    def _take_failure(self, method: str, path: str, headers: Any = None) -> _Failure | None:
        for failure in self._failures:
            if failure.remaining > 0 and failure.matches(method, path, headers):
                failure.remaining -= 1
                return failure
        return None

    def _authenticated(self, headers: Any) -> User | None:
        auth = headers.get("Authorization") or ""
        scheme, _, credential = auth.partition(" ")
        tokens = {"Bearer": self._access_tokens, "Token": self._legacy_tokens}.get(scheme, {})
        if credential in tokens:
            return self.state.users[tokens[credential]]
        cookies = dict(
            part.strip().split("=", 1)
            for part in (headers.get("Cookie") or "").split(";")
            if "=" in part
        )
        user_id = self._sessions.get(cookies.get("sessionid", ""))
        return self.state.users.get(user_id) if user_id is not None else None

    def _dispatch(self, method: str, target: str, headers: Any, body: bytes) -> _Reply:
        parts = urlsplit(target)
        path, query = parts.path, {k: v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        with self._lock:
            failure = self._take_failure(method, path, headers)
            if failure is None or failure.after:
                reply = self._serve(method, path, query, headers, body)
            if failure is not None:
                reply = _Reply(failure.status, {"detail": f"stand-in: injected {failure.status}"})
            self.log.append(
                Logged(method, path, parts.query, reply.status, headers.get("X-Organization"))
            )
        return reply

    def _serve(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> _Reply:
        for route_method, pattern, public, func in _ROUTES:
            match = pattern.fullmatch(path)
            if route_method != method or match is None:
                continue
            user = self._authenticated(headers)
            if user is None and not public:
                return _Reply(401, {"detail": "Authentication credentials were not provided."})
            call = _Call(self, method, path, query, headers, body, match.groups(), user)
            try:
                result = func(call)
            except _Reply as reply:
                return reply
            except StandInError as exc:
                return _Reply(exc.status, exc.body)
            return result if isinstance(result, _Reply) else _Reply(200, result)
        if any(pattern.fullmatch(path) for _, pattern, _, _ in _ROUTES):
            return _Reply(405, {"detail": f'Method "{method}" not allowed.'})
        return _Reply(501, {"detail": f"the CVAT stand-in does not implement {method} {path}"})

    def _login(self, user: User) -> dict[str, str]:
        session, csrf = secrets.token_hex(16), secrets.token_hex(16)
        self._sessions[session] = user.id
        key = secrets.token_hex(20)
        self._legacy_tokens[key] = user.id
        return {"key": key, "session": session, "csrf": csrf}


class _Handler(BaseHTTPRequestHandler):
    """Reads a request, lets the stand-in answer it, writes the JSON reply (HTTP/1.0: one
    request per connection, so a stopped server cannot keep serving on a pooled connection)."""

    stand_in: CvatStandIn
    server_version = "CvatStandIn/" + SERVER_VERSION

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.stand_in._dispatch(self.command, self.path, self.headers, body)
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            if name == "Set-Cookie":
                for cookie in value.split("\n"):
                    self.send_header("Set-Cookie", cookie)
            else:
                self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("cvat stand-in: " + format, *args)


# ================================================================================ routes
_ROUTES: list[tuple[str, re.Pattern[str], bool, Route]] = []


def route(method: str, pattern: str, *, public: bool = False) -> Callable[[Route], Route]:
    def register(func: Route) -> Route:
        _ROUTES.append((method, re.compile(pattern + "/?"), public, func))
        return func

    return register


def _paged(call: _Call, results: list[Any]) -> dict[str, Any]:
    body = ser.page(call.base, call.path, call.query, results)
    if not body["results"] and call.int_query("page") not in (None, 1):
        raise _Reply(404, {"detail": "Invalid page."})
    return body


# -------------------------------------------------------------------------- server, auth
@route("GET", r"/api/server/about", public=True)
def _about(call: _Call) -> dict[str, Any]:
    return {
        "name": "Computer Vision Annotation Tool",
        "description": "CVAT stand-in for alflow's tests",
        "version": call.server.version,
        "logo_url": f"{call.base}/static/logo.svg",
        "subtitle": "Open Data Annotation Platform",
    }


@route("POST", r"/api/auth/login", public=True)
def _login(call: _Call) -> _Reply:
    data = call.json()
    user = call.server.state.authenticate(data.get("username") or "", data.get("password") or "")
    if user is None:
        raise _Reply(400, {"non_field_errors": ["Unable to log in with provided credentials."]})
    issued = call.server._login(user)
    cookies = "\n".join(
        [
            f"csrftoken={issued['csrf']}; Path=/; SameSite=Lax",
            f"sessionid={issued['session']}; HttpOnly; Path=/; SameSite=Lax",
        ]
    )
    return _Reply(200, {"key": issued["key"]}, {"Set-Cookie": cookies})


@route("POST", r"/api/auth/logout")
def _logout(call: _Call) -> dict[str, Any]:
    return {"detail": "Successfully logged out."}


@route("GET", r"/api/users/self")
def _users_self(call: _Call) -> dict[str, Any]:
    return ser.full_user(call.base, call.user)


@route("GET", r"/api/users")
def _users(call: _Call) -> dict[str, Any]:
    users = sorted(call.server.state.users.values(), key=lambda u: u.id)
    if "username" in call.query:
        users = [u for u in users if u.username == call.query["username"]]
    if call.query.get("search"):
        users = [u for u in users if call.query["search"].lower() in u.username.lower()]
    return _paged(call, [ser.full_user(call.base, u) for u in users])


@route("GET", r"/api/users/(\d+)")
def _user(call: _Call) -> dict[str, Any]:
    return ser.full_user(call.base, call.server.state.user(int(call.args[0])))


# ------------------------------------------------------------------------------ projects
@route("POST", r"/api/projects")
def _create_project(call: _Call) -> _Reply:
    state = call.server.state
    project = state.create_project(call.json(), call.user)
    return _Reply(201, ser.project(call.base, state, project))


@route("GET", r"/api/projects")
def _projects(call: _Call) -> dict[str, Any]:
    state = call.server.state
    projects = sorted(state.projects.values(), key=lambda p: -p.id)
    if "name" in call.query:
        projects = [p for p in projects if p.name == call.query["name"]]
    return _paged(call, [ser.project(call.base, state, p) for p in projects])


@route("GET", r"/api/projects/(\d+)")
def _project(call: _Call) -> dict[str, Any]:
    state = call.server.state
    return ser.project(call.base, state, state.project(int(call.args[0])))


@route("PATCH", r"/api/projects/(\d+)")
def _patch_project(call: _Call) -> dict[str, Any]:
    state = call.server.state
    return ser.project(call.base, state, state.update_project(int(call.args[0]), call.json()))


@route("DELETE", r"/api/projects/(\d+)")
def _delete_project(call: _Call) -> _Reply:
    call.server.state.delete_project(int(call.args[0]))
    return _Reply(204)


# -------------------------------------------------------------------------------- labels
@route("GET", r"/api/labels")
def _labels(call: _Call) -> dict[str, Any]:
    state = call.server.state
    if (project_id := call.int_query("project_id")) is not None:
        state.project(project_id)
        labels = state.project_labels(project_id)
    elif (task_id := call.int_query("task_id")) is not None:
        labels = state.task_labels(task_id)
    elif (job_id := call.int_query("job_id")) is not None:
        labels = state.task_labels(state.job(job_id).task_id)
    else:
        labels = list(state.labels.values())
    labels = sorted(labels, key=lambda lb: lb.id)
    return _paged(call, [ser.label(lb) for lb in labels])


# --------------------------------------------------------------------------------- tasks
@route("POST", r"/api/tasks")
def _create_task(call: _Call) -> _Reply:
    state = call.server.state
    return _Reply(201, ser.task(call.base, state, state.create_task(call.json(), call.user)))


@route("GET", r"/api/tasks")
def _tasks(call: _Call) -> dict[str, Any]:
    state = call.server.state
    tasks = sorted(state.tasks.values(), key=lambda t: -t.id)
    if "name" in call.query:
        tasks = [t for t in tasks if t.name == call.query["name"]]
    if (project_id := call.int_query("project_id")) is not None:
        tasks = [t for t in tasks if t.project_id == project_id]
    return _paged(call, [ser.task(call.base, state, t) for t in tasks])


@route("GET", r"/api/tasks/(\d+)")
def _task(call: _Call) -> dict[str, Any]:
    state = call.server.state
    return ser.task(call.base, state, state.task(int(call.args[0])))


@route("DELETE", r"/api/tasks/(\d+)")
def _delete_task(call: _Call) -> _Reply:
    call.server.state.delete_task(int(call.args[0]))
    return _Reply(204)


@route("POST", r"/api/tasks/(\d+)/data")
def _task_data(call: _Call) -> _Reply:
    """The three-step upload cvat-sdk's DataUploader makes: start, files, finish."""
    state, task_id = call.server.state, int(call.args[0])
    if "Upload-Start" in call.headers:
        state.start_upload(task_id)
        return _Reply(202)
    if "Upload-Multiple" in call.headers:
        state.receive_files(task_id, _multipart_files(call))
        return _Reply(200)
    if "Upload-Finish" in call.headers:
        request = state.finish_upload(task_id, call.json(), call.user)
        return _Reply(202, {"rq_id": request.id})
    raise _Reply(501, {"detail": "the stand-in only implements the Upload-* data protocol"})


def _multipart_files(call: _Call) -> list[tuple[str, bytes]]:
    content_type = call.headers.get("Content-Type") or ""
    if not content_type.startswith("multipart/form-data"):
        raise Invalid("client_files", "expected multipart/form-data")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + call.body
    )
    files = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        if name.startswith("client_files["):
            files.append((part.get_filename() or name, part.get_payload(decode=True)))
    return files


@route("GET", r"/api/tasks/(\d+)/data/meta")
def _task_meta(call: _Call) -> dict[str, Any]:
    return ser.data_meta(call.server.state.task(int(call.args[0])))


@route("GET", r"/api/requests/([^/]+)")
def _request(call: _Call) -> dict[str, Any]:
    state = call.server.state
    request = state.poll_request(unquote(call.args[0]))
    return ser.request(state, request, request.status)


@route("GET", r"/api/tasks/(\d+)/annotations")
def _task_annotations(call: _Call) -> dict[str, Any]:
    return call.server.state.annotations(int(call.args[0]))


@route("PUT", r"/api/tasks/(\d+)/annotations")
def _put_task_annotations(call: _Call) -> dict[str, Any]:
    return call.server.state.put_annotations(int(call.args[0]), call.json())


@route("PATCH", r"/api/tasks/(\d+)/annotations")
def _patch_task_annotations(call: _Call) -> dict[str, Any]:
    state = call.server.state
    return state.patch_annotations(int(call.args[0]), call.query.get("action", ""), call.json())


@route("DELETE", r"/api/tasks/(\d+)/annotations")
def _delete_task_annotations(call: _Call) -> _Reply:
    call.server.state.put_annotations(int(call.args[0]), {})
    return _Reply(204)


# ---------------------------------------------------------------------------------- jobs
@route("GET", r"/api/jobs")
def _jobs(call: _Call) -> dict[str, Any]:
    state = call.server.state
    jobs = sorted(state.jobs.values(), key=lambda j: -j.id)  # newest first, as CVAT lists them
    if (task_id := call.int_query("task_id")) is not None:
        jobs = [j for j in jobs if j.task_id == task_id]
    if (project_id := call.int_query("project_id")) is not None:
        jobs = [j for j in jobs if state.task(j.task_id).project_id == project_id]
    for name in ("state", "stage"):
        if call.query.get(name):
            jobs = [j for j in jobs if getattr(j, name) == call.query[name]]
    return _paged(call, [ser.job(call.base, state, j) for j in jobs])


@route("GET", r"/api/jobs/(\d+)")
def _job(call: _Call) -> dict[str, Any]:
    state = call.server.state
    return ser.job(call.base, state, state.job(int(call.args[0])))


@route("PATCH", r"/api/jobs/(\d+)")
def _patch_job(call: _Call) -> dict[str, Any]:
    state = call.server.state
    return ser.job(call.base, state, state.update_job(int(call.args[0]), call.json()))


@route("GET", r"/api/jobs/(\d+)/data/meta")
def _job_meta(call: _Call) -> dict[str, Any]:
    state = call.server.state
    job = state.job(int(call.args[0]))
    return ser.data_meta(state.task(job.task_id), frames_of=job)


@route("GET", r"/api/jobs/(\d+)/annotations")
def _job_annotations(call: _Call) -> dict[str, Any]:
    state = call.server.state
    job = state.job(int(call.args[0]))
    return state.annotations(job.task_id, job)


@route("PUT", r"/api/jobs/(\d+)/annotations")
def _put_job_annotations(call: _Call) -> dict[str, Any]:
    state = call.server.state
    job = state.job(int(call.args[0]))
    return state.put_annotations(job.task_id, call.json(), job)


@route("PATCH", r"/api/jobs/(\d+)/annotations")
def _patch_job_annotations(call: _Call) -> dict[str, Any]:
    state = call.server.state
    job = state.job(int(call.args[0]))
    return state.patch_annotations(job.task_id, call.query.get("action", ""), call.json(), job)


__all__ = ["SERVER_VERSION", "CvatStandIn", "Logged", "NotFound"]
