"""Progress reports for the long steps of a round: feature load, prediction write-back, upload.

On a terminal a step shows a ``tqdm`` bar. Anywhere else (a Prefect worker, CI, a pipe) it
writes plain lines: one when the step has run for ``delay`` seconds, one at most every
``interval`` seconds after that, and one when it ends. Inside a Prefect flow or task run the
lines go to the run's logger (so they reach the run's logs in the UI), elsewhere to stderr.
Steps that end within ``delay`` print nothing, so a small demo round stays quiet while a
million-sample write-back shows where it is.

``ALFLOW_PROGRESS`` chooses explicitly: ``auto`` (default), ``bar``, ``plain`` or ``off``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TextIO, TypeVar

from alflow.errors import ConfigError

T = TypeVar("T")
Mode = Literal["bar", "plain", "off"]
MODES = ("auto", "bar", "plain", "off")
DELAY = 2.0
INTERVAL = 10.0


def choose_mode(stream: TextIO, environ: dict[str, str] | os._Environ = os.environ) -> Mode:
    """The reporting mode for ``stream``: ``ALFLOW_PROGRESS``, else a bar only on a terminal."""
    wanted = environ.get("ALFLOW_PROGRESS", "auto").strip().lower() or "auto"
    if wanted not in MODES:
        raise ConfigError(
            f"ALFLOW_PROGRESS={wanted!r} is not a progress mode; use one of {', '.join(MODES)}"
        )
    if wanted != "auto":
        return wanted  # type: ignore[return-value]
    isatty = getattr(stream, "isatty", None)
    return "bar" if callable(isatty) and isatty() else "plain"


def _amount(n: float, unit: str) -> str:
    if unit == "B":
        for scale, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if n >= scale:
                return f"{n / scale:.1f} {name}"
        return f"{int(n)} B"
    return f"{int(n):,} {unit}"


class PlainReport:
    """Line-by-line progress of one step, throttled so a log stays readable."""

    def __init__(
        self,
        description: str,
        total: int,
        unit: str,
        stream: TextIO,
        delay: float = DELAY,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        emit: Callable[[str], None] | None = None,
    ) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.stream, self.delay, self.interval, self.clock = stream, delay, interval, clock
        self.emit = emit or (lambda text: print(text, file=self.stream, flush=True))
        self.done = 0
        self.started = clock()
        self.last_line: float | None = None

    def _line(self, text: str) -> None:
        self.emit(f"{self.description}: {text}")
        self.last_line = self.clock()

    def _status(self) -> str:
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        return f"{_amount(self.done, self.unit)} of {_amount(self.total, self.unit)}{share}"

    def advance(self, n: float = 1) -> None:
        self.done += n
        now = self.clock()
        due = (
            now - self.started >= self.delay
            if self.last_line is None
            else now - self.last_line >= self.interval
        )
        if due and self.done < self.total:
            self._line(self._status())

    def close(self, failed: bool = False) -> None:
        elapsed = self.clock() - self.started
        if self.last_line is None and elapsed < self.delay:
            return
        if failed:
            self._line(f"stopped after {self._status()} ({elapsed:.1f} s)")
        else:
            self._line(f"done, {_amount(self.done, self.unit)} in {elapsed:.1f} s")


class BarReport:
    """A tqdm bar on a terminal (shown after ``delay`` seconds, like the plain lines)."""

    def __init__(
        self, description: str, total: int, unit: str, stream: TextIO, delay: float = DELAY
    ) -> None:
        from tqdm.auto import tqdm

        scaled = unit == "B"
        self.bar = tqdm(
            total=total,
            desc=description,
            unit=unit,
            unit_scale=scaled,
            unit_divisor=1024 if scaled else 1000,
            file=stream,
            delay=delay,
            leave=False,
            dynamic_ncols=True,
        )

    def advance(self, n: float = 1) -> None:
        self.bar.update(n)

    def close(self, failed: bool = False) -> None:
        self.bar.close()


class SilentReport:
    def advance(self, n: float = 1) -> None:
        pass

    def close(self, failed: bool = False) -> None:
        pass


Report = PlainReport | BarReport | SilentReport


def run_logger() -> Any:
    """The current Prefect flow or task run's logger; None outside a run.

    Prefect is only asked when it is already imported: a process that never imported it cannot
    be inside a run, and importing it costs a second.
    """
    if "prefect.context" not in sys.modules:
        return None
    from prefect.context import FlowRunContext, TaskRunContext

    if TaskRunContext.get() is None and FlowRunContext.get() is None:
        return None
    from prefect.logging import get_run_logger

    return get_run_logger()


def start(
    description: str,
    total: int,
    unit: str = "samples",
    *,
    stream: TextIO | None = None,
    delay: float | None = None,
    interval: float | None = None,
) -> Report:
    """A report for one step of ``total`` units; call ``advance`` and finally ``close``.

    ``delay`` and ``interval`` default to the module's ``DELAY`` and ``INTERVAL`` at call time.
    """
    stream = sys.stderr if stream is None else stream
    delay = DELAY if delay is None else delay
    interval = INTERVAL if interval is None else interval
    mode = choose_mode(stream)
    if mode == "bar":
        return BarReport(description, total, unit, stream, delay)
    if mode == "plain":
        logger = run_logger() if stream is sys.stderr else None
        emit = logger.info if logger is not None else None
        return PlainReport(description, total, unit, stream, delay, interval, emit=emit)
    return SilentReport()


def counted(items: Iterable[T], report: Report, size: Callable[[T], float]) -> Iterator[T]:
    """Pass ``items`` through, advancing ``report`` by ``size(item)`` once each is consumed."""
    for item in items:
        yield item
        report.advance(size(item))


@contextmanager
def step(description: str, total: int, unit: str = "samples", **options) -> Iterator[Report]:
    """``start`` as a context manager: the closing line says whether the step failed."""
    report = start(description, total, unit, **options)
    try:
        yield report
    except BaseException:
        report.close(failed=True)
        raise
    report.close()
