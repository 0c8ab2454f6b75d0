"""The one retry loop of alflow's annotation backends: transient failures, backed off.

A backend's client library has its own retries switched off, so retries do not multiply; each
backend says which of its failures are transient (a failed connection, a 5xx answer; never a
4xx) and how to describe one in a line, and calls :func:`call_with_retries`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure."""

    retries: int = 4
    backoff: float = 1.0
    max_backoff: float = 30.0

    @classmethod
    def from_config(cls, config: Any) -> RetryPolicy:
        """From a backend configuration's ``retries``, ``backoff_seconds`` and
        ``backoff_max_seconds``."""
        return cls(config.retries, config.backoff_seconds, config.backoff_max_seconds)

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): exponential, capped."""
        return min(self.backoff * 2 ** (retry - 1), self.max_backoff)


def call_with_retries(
    what: str,
    func: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    *,
    service: str,
    is_transient: Callable[[BaseException], bool],
    describe: Callable[[BaseException], str],
) -> T:
    """Call ``func``, retrying the failures ``is_transient`` accepts with exponential backoff.

    Each retried unit must be safe to repeat: a read, an idempotent write, or a write that first
    looks for its own earlier effect (see each backend's session).
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
                "%s: %s failed (%s); retry %d of %d in %.2g s",
                service, what, describe(exc), attempt, policy.retries, delay,
            )  # fmt: skip
            sleep(delay)
            attempt += 1
