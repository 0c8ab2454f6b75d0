"""Which CVAT failures are retried and how they read: connection errors and 5xx answers
(the backed-off loop itself is :mod:`alflow.backends.retries`).

cvat-sdk's own urllib3 retries are switched off (see :func:`.client.open_client`) so retries do
not multiply. 4xx answers are never retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from alflow.backends.retries import RetryPolicy
from alflow.backends.retries import call_with_retries as retry_loop

T = TypeVar("T")


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a cvat-sdk API error (None for other errors)."""
    from cvat_sdk.api_client.exceptions import ApiException

    return exc.status if isinstance(exc, ApiException) else None


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the connection failed or the server answered 5xx. Never a 4xx."""
    import urllib3

    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError):
        return True
    status = http_status(exc)
    return status is not None and 500 <= status <= 599


def call_with_retries(
    what: str, func: Callable[[], T], policy: RetryPolicy, sleep: Callable[[float], None]
) -> T:
    """Call ``func``, retrying its transient failures (:func:`is_transient`); each retried
    unit is safe to repeat (see the session's methods)."""
    return retry_loop(
        what, func, policy, sleep, service="CVAT", is_transient=is_transient, describe=describe
    )


def describe(exc: BaseException) -> str:
    """A one-line cause for messages: the HTTP status or the connection error, never headers."""
    status = http_status(exc)
    if status:
        return f"HTTP {status} {getattr(exc, 'reason', '') or ''}".strip()
    reason = getattr(exc, "reason", None) or exc  # urllib3 MaxRetryError wraps the real cause
    return f"{type(reason).__name__}: {reason}"


__all__ = ["RetryPolicy", "call_with_retries", "describe", "http_status", "is_transient"]
