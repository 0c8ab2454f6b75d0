"""CVAT failures as alflow errors: one line naming the server, the cause and the fix."""

from __future__ import annotations

from alflow.backends.base import Reference
from alflow.backends.cvat.credentials import Connection
from alflow.backends.cvat.retries import RetryPolicy, describe, http_status
from alflow.errors import AnnotationTaskGone, BackendError, BackendUnreachable, CredentialsRefused


class CvatTaskDeleted(AnnotationTaskGone):
    """The round's CVAT task no longer exists (deleted in CVAT, or the server was reset)."""


def reexport_hint(ref: Reference) -> str:
    """How to give a round whose task is gone a new one."""
    if "loop" in ref and "round" in ref:
        return f"re-export the round: alflow reexport {ref['loop']} {ref['round']}"
    return "re-export the round: alflow reexport <loop> <round>"


def translate(exc: BaseException, conn: Connection, policy: RetryPolicy) -> BackendError:
    """A BackendError naming the URL, the cause and the fix; never the credentials."""
    from cvat_sdk.core.exceptions import BackgroundRequestException
    from urllib3.exceptions import HTTPError

    status = http_status(exc)
    tries = f"after {policy.attempts} attempts" if policy.attempts > 1 else "(no retries)"
    if status == 401:
        return CredentialsRefused(
            f"CVAT at {conn.url} did not accept the credentials from {conn.source} (HTTP 401): "
            "the access token may be wrong or expired"
        )
    if status is not None and 500 <= status <= 599:
        return BackendError(
            f"CVAT at {conn.url} kept failing {tries} ({describe(exc)}): the server is down or "
            "overloaded; try again later"
        )
    if isinstance(exc, HTTPError | ConnectionError):
        return BackendUnreachable(
            f"cannot reach CVAT at {conn.url} {tries} ({describe(exc)}): check the URL (scheme "
            "'https://' or 'http://', host and port) and that the server is running"
        )
    if isinstance(exc, OSError):
        return BackendError(f"cannot stage the batch images for upload: {exc}")
    if isinstance(exc, BackgroundRequestException):
        return BackendError(
            f"CVAT at {conn.url} could not process the uploaded images: {exc}; cancel the "
            "round's task and re-export the round with force_new=True"
        )
    if status == 0:  # cvat-sdk's code for a TLS failure
        return BackendError(
            f"cannot talk to CVAT at {conn.url} ({getattr(exc, 'reason', exc)}): if the server "
            "speaks plain HTTP write 'http://' explicitly, otherwise check its certificate"
        )
    if status is not None:
        return BackendError(f"CVAT at {conn.url} refused a request ({describe(exc)}): {_body(exc)}")
    return BackendError(f"CVAT at {conn.url}: {type(exc).__name__}: {exc}")


def _body(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return (body or "no details").strip()[:300]
