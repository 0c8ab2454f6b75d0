"""Processes starting together make their first database connection one at a time."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from alflow.services import fiftyone_database


def _start(lock: Path, log: Path) -> None:
    def fake_service_start():
        with open(log, "a") as fh:
            fh.write(f"in {time.monotonic()}\n")
        time.sleep(0.3)  # as long as a mongod takes to come up, or longer
        with open(log, "a") as fh:
            fh.write(f"out {time.monotonic()}\n")

    fiftyone_database.serialised(lock, fake_service_start)


def test_three_processes_start_the_service_one_after_another(tmp_path):
    lock, log = tmp_path / "db" / fiftyone_database.LOCK_NAME, tmp_path / "log"
    fork = multiprocessing.get_context("fork")
    processes = [fork.Process(target=_start, args=(lock, log)) for _ in range(3)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=30)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events == ["in", "out"] * 3  # never two inside at once
