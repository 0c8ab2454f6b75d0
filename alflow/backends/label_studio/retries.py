"""The one retry layer for Label Studio calls: connection errors and 5xx answers, backed off.

label-studio-sdk retries 408, 409, 429 and 5xx answers twice by itself; every call alflow makes
passes ``request_options={"max_retries": 0}`` (:data:`ONCE`) so retries do not multiply. 4xx
answers are never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from alflow.config.loop import LabelStudioBackendConfig

log = logging.getLogger(__name__)
T = TypeVar("T")
ONCE: dict[str, Any] = {"max_retries": 0}  # the SDK's request_options: no retries of its own


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure."""

    retries: int = 4
    backoff: float = 1.0
    max_backoff: float = 30.0

    @classmethod
    def from_config(cls, config: LabelStudioBackendConfig) -> RetryPolicy:
        return cls(config.retries, config.backoff_seconds, config.backoff_max_seconds)

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): exponential, capped."""
        return min(self.backoff * 2 ** (retry - 1), self.max_backoff)


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
    """Call ``func``, retrying transient failures with exponential backoff.

    Each retried unit must be safe to repeat (see the ``LabelStudioSession`` methods): a read,
    an idempotent write, or a write that first looks for its own earlier effect.
    """
    attempt = 1
    while True:
        try:
            return func()
        except Exception as exc:
            if not is_transient(exc) or attempt >= policy.attempts:
                raise
            delay = policy.delay(attempt)
            log.warning(
                "Label Studio: %s failed (%s); retry %d of %d in %.2g s",
                what, describe(exc), attempt, policy.retries, delay,
            )  # fmt: skip
            sleep(delay)
            attempt += 1


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
