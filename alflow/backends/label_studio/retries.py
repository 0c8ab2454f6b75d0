"""Which Label Studio failures are retried and how they read: connection errors and 5xx answers
(the backed-off loop itself is :mod:`alflow.backends.retries`).

label-studio-sdk retries 408, 409, 429 and 5xx answers twice by itself; every call alflow makes
passes ``request_options={"max_retries": 0}`` (:data:`ONCE`) so retries do not multiply. 4xx
answers are never retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from alflow.backends.retries import RetryPolicy
from alflow.backends.retries import call_with_retries as retry_loop

T = TypeVar("T")
ONCE: dict[str, Any] = {"max_retries": 0}  # the SDK's request_options: no retries of its own


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a label-studio-sdk API error (None for other errors)."""
    from label_studio_sdk.core.api_error import ApiError

    return exc.status_code if isinstance(exc, ApiError) else None


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the connection failed or the server answered 5xx. Never a 4xx."""
    import httpx

    if isinstance(exc, httpx.TransportError):
        return True
    status = http_status(exc)
    return status is not None and 500 <= status <= 599


def call_with_retries(
    what: str, func: Callable[[], T], policy: RetryPolicy, sleep: Callable[[float], None]
) -> T:
    """Call ``func``, retrying its transient failures (:func:`is_transient`); each retried
    unit is safe to repeat (see the session's methods)."""
    return retry_loop(
        what,
        func,
        policy,
        sleep,
        service="Label Studio",
        is_transient=is_transient,
        describe=describe,
    )


def describe(exc: BaseException) -> str:
    """A one-line cause for messages: the HTTP status and detail, or the connection error."""
    status = http_status(exc)
    if status is not None:
        detail = api_detail(exc)
        return f"HTTP {status}" + (f": {detail}" if detail else "")
    return f"{type(exc).__name__}: {exc}"


def api_detail(exc: BaseException) -> str:
    """Label Studio's ``detail`` (or the body) of an API error, cut to one short line."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        body = body.get("detail") or body.get("validation_errors") or body
    text = " ".join(str(body or "").split())
    return text[:300]


__all__ = ["RetryPolicy", "call_with_retries", "describe", "http_status", "is_transient"]
