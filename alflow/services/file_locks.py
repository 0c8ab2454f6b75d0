"""An advisory file lock held for a block: what keeps processes that start together in order.

The lasting servers' start locks (:mod:`alflow.services.processes`,
:mod:`alflow.cli.command_server`), the embedded database service's
(:mod:`alflow.services.fiftyone_database`) and the feature cache's build and swap locks
(:mod:`alflow.data.features`) are all this one ``flock``: the kernel drops it when its holder dies,
so a killed process never leaves a lock behind.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def held(path: Path, shared: bool = False) -> Iterator[None]:
    """Hold the lock on ``path`` (created if need be), exclusive unless ``shared``; waits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
