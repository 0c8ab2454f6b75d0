"""One exception family for alflow.

Every error a user can cause derives from :class:`AlflowError` and says three things: what is
wrong, where (loop, round, field, sample ids), and how to fix it. Library exceptions are caught at
the boundary where alflow can name the cause and are re-raised as one of these, chained.
"""

from __future__ import annotations

from collections.abc import Iterable


class AlflowError(Exception):
    """Base class of every error alflow raises on purpose."""


class ConfigError(AlflowError):
    """A loop, estimator, strategy or backend configuration is invalid."""


class DatasetError(AlflowError):
    """The FiftyOne dataset, a field, or a sample does not hold what the loop needs."""


class LabelError(AlflowError):
    """Labels are missing, ambiguous or name an unknown class."""


class FeatureError(AlflowError):
    """Feature values are missing, non-finite or of inconsistent length."""


class PoolExhaustedError(AlflowError):
    """Fewer unlabelled samples are left than a query asked for."""


class LedgerError(AlflowError):
    """The round ledger does not allow the requested step (unknown loop, wrong state, busy)."""


class RoundInFlightError(LedgerError):
    """Another run is working on this loop's current round."""


class BackendError(AlflowError):
    """The annotation backend refused a request or lost a batch."""


class BackendUnreachable(BackendError):
    """The annotation server did not answer (down, a wrong address, a timeout)."""


class CredentialsRefused(BackendError):
    """The annotation server answered, and refused the credentials."""


class AnnotationTaskGone(BackendError):
    """The annotation server answered that a round's task no longer exists."""


class ClusterError(AlflowError):
    """The Dask cluster that scores the pool is unreachable or misconfigured."""


class RetrainError(AlflowError):
    """A team's own retraining job (a deployment run, an entry point) failed or did not finish."""


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """``n`` and the noun in the right number: ``1 sample``, ``2 samples``, ``0 samples``."""
    return f"{n} {noun if n == 1 else (plural_form or noun + 's')}"


def preview_ids(ids: Iterable[object], limit: int = 5) -> str:
    """Render up to ``limit`` ids for an error message, saying how many were left out."""
    ids = [str(i) for i in ids]
    shown = ", ".join(ids[:limit])
    more = len(ids) - limit
    return f"{shown} (and {more} more)" if more > 0 else shown
