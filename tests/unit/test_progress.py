"""Progress reports: a bar on a terminal, throttled plain lines elsewhere, silence when asked."""

from __future__ import annotations

import io

import pytest

from alflow import progress
from alflow.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def plain(clock: Clock, stream: io.StringIO, total: int = 100, unit: str = "samples"):
    return progress.PlainReport("loading", total, unit, stream, delay=2, interval=10, clock=clock)


@pytest.mark.parametrize(
    ("env", "stream", "mode"),
    [
        ({}, Terminal(), "bar"),
        ({}, io.StringIO(), "plain"),
        ({"ALFLOW_PROGRESS": "auto"}, io.StringIO(), "plain"),
        ({"ALFLOW_PROGRESS": "PLAIN"}, Terminal(), "plain"),
        ({"ALFLOW_PROGRESS": "bar"}, io.StringIO(), "bar"),
        ({"ALFLOW_PROGRESS": "off"}, Terminal(), "off"),
    ],
)
def test_mode_is_a_bar_only_on_a_terminal_unless_chosen(env, stream, mode):
    assert progress.choose_mode(stream, env) == mode


def test_unknown_mode_says_which_are_valid():
    with pytest.raises(ConfigError, match=r"ALFLOW_PROGRESS='fancy'.*auto, bar, plain, off"):
        progress.choose_mode(io.StringIO(), {"ALFLOW_PROGRESS": "fancy"})


def test_a_quick_step_prints_nothing():
    clock, out = Clock(), io.StringIO()
    report = plain(clock, out)
    clock.now += 1.5
    report.advance(100)
    report.close()
    assert out.getvalue() == ""


def test_a_long_step_prints_after_the_delay_then_throttled_then_done():
    clock, out = Clock(), io.StringIO()
    report = plain(clock, out, total=1000)
    clock.now += 1
    report.advance(100)  # before the delay: quiet
    clock.now += 2
    report.advance(150)  # first line
    for _ in range(5):
        clock.now += 1
        report.advance(50)  # within the interval: quiet
    clock.now += 6
    report.advance(100)  # 11 s after the first line
    clock.now += 1
    report.advance(400)
    report.close()
    assert out.getvalue().splitlines() == [
        "loading: 250 samples of 1,000 samples (25%)",
        "loading: 600 samples of 1,000 samples (60%)",
        "loading: done, 1,000 samples in 15.0 s",
    ]


def test_a_failed_long_step_says_where_it_stopped():
    clock, out = Clock(), io.StringIO()
    report = plain(clock, out, total=4 << 20, unit="B")
    clock.now += 3
    report.advance(1 << 20)
    report.close(failed=True)
    assert out.getvalue().splitlines()[-1] == (
        "loading: stopped after 1.0 MiB of 4.0 MiB (25%) (3.0 s)"
    )


def test_step_context_reports_failure_and_reraises(monkeypatch):
    monkeypatch.setenv("ALFLOW_PROGRESS", "plain")
    out = io.StringIO()
    with (
        pytest.raises(RuntimeError, match="disk full"),
        progress.step("writing", 10, stream=out, delay=0) as report,
    ):
        report.advance(3)
        raise RuntimeError("disk full")
    assert out.getvalue().splitlines() == [
        "writing: 3 samples of 10 samples (30%)",
        "writing: stopped after 3 samples of 10 samples (30%) (0.0 s)",
    ]


def test_bar_mode_draws_a_tqdm_bar(monkeypatch):
    monkeypatch.delenv("ALFLOW_PROGRESS", raising=False)
    out = Terminal()
    with progress.step("loading features", 200, stream=out, delay=0) as report:
        assert isinstance(report, progress.BarReport)
        report.advance(100)
        report.advance(100)
        assert report.bar.n == 200
    text = out.getvalue()
    assert text.startswith("\rloading features:") and "0/200" in text


def test_off_mode_is_silent(monkeypatch):
    monkeypatch.setenv("ALFLOW_PROGRESS", "off")
    out = Terminal()
    with progress.step("loading", 10, stream=out, delay=0) as report:
        report.advance(10)
    assert out.getvalue() == ""


def test_counted_advances_once_each_item_is_consumed():
    clock, out = Clock(), io.StringIO()
    report = plain(clock, out, total=5)
    seen = []
    for chunk in progress.counted([[1, 2], [3], [4, 5]], report, len):
        seen.append((len(chunk), report.done))
        clock.now += 5
    assert seen == [(2, 0), (1, 2), (2, 3)] and report.done == 5


def test_outside_a_prefect_run_lines_go_to_the_stream(monkeypatch):
    monkeypatch.setenv("ALFLOW_PROGRESS", "plain")
    assert progress.run_logger() is None
    out = io.StringIO()
    with progress.step("reading", 4, stream=out, delay=0) as report:
        report.advance(4)
    assert out.getvalue().startswith("reading: done, 4 samples in ")
