"""Label Studio failures as alflow errors: one line naming the server, the cause and the fix."""

from __future__ import annotations

from alflow.backends.base import Reference
from alflow.backends.label_studio.credentials import LEGACY, PAT, Connection
from alflow.backends.label_studio.retries import RetryPolicy, api_detail, describe, http_status
from alflow.errors import AnnotationTaskGone, BackendError, BackendUnreachable, CredentialsRefused

LEGACY_OFF = "legacy token authentication has been disabled"  # Label Studio's 401 detail


class LabelStudioTasksDeleted(AnnotationTaskGone):
    """The round's Label Studio tasks (or their project) no longer exist."""


def reexport_hint(ref: Reference) -> str:
    """How to give a round whose tasks are gone new ones."""
    if "loop" in ref and "round" in ref:
        return f"re-export the round: alflow reexport {ref['loop']} {ref['round']}"
    return "re-export the round: alflow reexport <loop> <round>"


def refused(conn: Connection, exc: BaseException) -> CredentialsRefused:
    """The token was refused (HTTP 401/403): say which kind it was and what to do."""
    status, detail = http_status(exc), api_detail(exc)
    head = (
        f"Label Studio at {conn.url} refused the {conn.token_kind} from {conn.source} "
        f"(HTTP {status}: {detail or 'no details'})"
    )
    if LEGACY_OFF in detail:
        return CredentialsRefused(
            f"{head}: this organization has legacy tokens switched off (the default since Label "
            "Studio 1.17); create a personal access token under Account & Settings and use it "
            "instead, or switch legacy tokens on in Organization > API Tokens settings"
        )
    if conn.token_kind == PAT:
        return CredentialsRefused(
            f"{head}: the personal access token is wrong, revoked or expired; create a new one "
            "under Account & Settings"
        )
    return CredentialsRefused(
        f"{head}: the {LEGACY} is wrong; copy it again from Account & Settings, or use a "
        "personal access token"
    )


def translate(exc: BaseException, conn: Connection, policy: RetryPolicy) -> BackendError:
    """A BackendError naming the URL, the cause and the fix; never the token."""
    import httpx

    status = http_status(exc)
    tries = f"after {policy.attempts} attempts" if policy.attempts > 1 else "(no retries)"
    if status in (401, 403):
        return refused(conn, exc)
    if status is not None and 500 <= status <= 599:
        return BackendError(
            f"Label Studio at {conn.url} kept failing {tries} ({describe(exc)}): the server is "
            "down or overloaded; try again later"
        )
    if isinstance(exc, httpx.TransportError):
        return BackendUnreachable(
            f"cannot reach Label Studio at {conn.url} {tries} ({describe(exc)}): check the URL "
            "(scheme 'http://' or 'https://', host and port) and that the server is running"
        )
    if status is not None:
        return BackendError(f"Label Studio at {conn.url} refused a request ({describe(exc)})")
    if isinstance(exc, OSError):
        return BackendError(f"cannot read the batch images for upload to Label Studio: {exc}")
    return BackendError(f"Label Studio at {conn.url}: {type(exc).__name__}: {exc}")
