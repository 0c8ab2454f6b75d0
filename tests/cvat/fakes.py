"""The CVAT backend tests' fakes: a clock that records waits, a ledger that keeps references."""

from __future__ import annotations


class Sleeps:
    """A fake clock for retries: records each wait instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class Refs:
    """A save_ref that keeps every reference it is given (copies, as the ledger would)."""

    def __init__(self) -> None:
        self.saved: list[dict] = []

    def __call__(self, ref: dict) -> None:
        self.saved.append(dict(ref))

    @property
    def last(self) -> dict:
        return self.saved[-1]
