"""The one retry layer for CVAT calls: connection errors and 5xx answers, backed off.

cvat-sdk's own urllib3 retries are switched off (see :func:`.client.open_client`) so retries do
not multiply. 4xx answers are never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from alflow.config.loop import CvatBackendConfig

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure."""

    retries: int = 4
    backoff: float = 1.0
    max_backoff: float = 30.0

    @classmethod
    def from_config(cls, config: CvatBackendConfig) -> RetryPolicy:
        return cls(config.retries, config.backoff_seconds, config.backoff_max_seconds)

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): exponential, capped."""
        return min(self.backoff * 2 ** (retry - 1), self.max_backoff)


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
    """Call ``func``, retrying transient failures with exponential backoff; the one retry layer.

    Each retried unit must be safe to repeat (see the ``CvatSession`` methods): a read, an
    idempotent write, or a write that first looks for its own earlier effect.
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
                "CVAT: %s failed (%s); retry %d of %d in %.2g s",
                what, describe(exc), attempt, policy.retries, delay,
            )  # fmt: skip
            sleep(delay)
            attempt += 1


def describe(exc: BaseException) -> str:
    """A one-line cause for messages: the HTTP status or the connection error, never headers."""
    status = http_status(exc)
    if status:
        return f"HTTP {status} {getattr(exc, 'reason', '') or ''}".strip()
    reason = getattr(exc, "reason", None) or exc  # urllib3 MaxRetryError wraps the real cause
    return f"{type(reason).__name__}: {reason}"
