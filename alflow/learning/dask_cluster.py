"""Where a round scores the pool: in this process, on a local Dask cluster, or on an existing one.

Scoring (``predict_proba`` over the pool and the held-out split) is the one step whose cost
grows with the whole dataset, and it splits cleanly by rows, so it is the step alflow hands to
Dask (:mod:`alflow.learning.scoring`). Everything else (fits, queries, the ledger) stays in the
task.

The target is chosen in one place, :func:`resolve`: an existing scheduler by address
(``ALFLOW_DASK_ADDRESS``, else the loop's ``scoring.dask_address``) wins over a local cluster of
K single-threaded worker processes (``ALFLOW_DASK_WORKERS``, which the CLI's ``--dask-workers``
sets, else ``scoring.dask_workers``); with neither, scoring runs in the task's own process.
A ``dask.distributed`` client is opened inside the task that scores (:func:`client_for`), so
Prefect's task runner and result storage never see the cluster.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alflow.errors import ClusterError

if TYPE_CHECKING:  # workers import this module's callers: keep their imports light
    from alflow.config.loop import ScoringConfig

log = logging.getLogger(__name__)

ADDRESS_ENV = "ALFLOW_DASK_ADDRESS"
WORKERS_ENV = "ALFLOW_DASK_WORKERS"
WORKERS_TIMEOUT = 600.0  # seconds for a local cluster's workers to register, on a loaded machine
CONNECT_TIMEOUT = "5s"


@dataclass(frozen=True)
class Target:
    """A Dask scheduler's address, or a local cluster's worker count; neither: this process."""

    address: str | None = None
    workers: int | None = None

    @property
    def in_process(self) -> bool:
        return self.address is None and self.workers is None


def resolve(
    config: ScoringConfig,
    environ: Mapping[str, str] = os.environ,
    step_workers: int | None = None,
) -> Target:
    """The scoring target: a step's own worker count (``StepOptions.dask_workers``) first,
    then the environment, then the loop's configuration.

    Raises:
        ClusterError: ``ALFLOW_DASK_WORKERS`` is not a positive whole number.
    """
    if step_workers is not None:
        return Target(workers=step_workers)
    address = environ.get(ADDRESS_ENV) or config.dask_address
    if address:
        return Target(address=address)
    raw = environ.get(WORKERS_ENV)
    if raw:
        try:
            workers = int(raw)
        except ValueError:
            workers = 0
        if workers < 1:
            raise ClusterError(
                f"{WORKERS_ENV}={raw!r} is not a worker count; set it to a whole number >= 1, "
                "or unset it to score in the task's own process"
            )
        return Target(workers=workers)
    return Target(workers=config.dask_workers)


@contextmanager
def client_for(target: Target) -> Iterator[object | None]:
    """A ``distributed.Client`` on ``target`` for the block (None: score in this process).

    A local cluster lives only for the block: its workers are processes with one thread each
    (scikit-learn holds the GIL for much of ``predict_proba``), and no process outlives it.

    Raises:
        ClusterError: the scheduler at the address cannot be reached.
    """
    if target.in_process:
        yield None
        return
    from distributed import Client, LocalCluster

    if target.address is not None:
        try:
            client = Client(target.address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {target.address} ({exc}); start it, fix "
                f"{ADDRESS_ENV} or the loop's scoring.dask_address, or unset both to score in "
                "the task's own process"
            ) from None
        with client:
            yield client
        return
    log.info("starting a local Dask cluster of %d worker processes", target.workers)
    with warnings.catch_warnings():
        # the scheduler's health endpoint moves to a free port when 8787 is taken: say nothing
        warnings.filterwarnings("ignore", "Port .* is already in use", UserWarning)
        cluster = LocalCluster(
            n_workers=target.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.WARNING,
        )
    with cluster, Client(cluster) as client:
        # the workers are processes still starting: scattering the learner before one has
        # registered fails ("No valid workers found"), so the block starts once all have
        try:
            client.wait_for_workers(target.workers, timeout=WORKERS_TIMEOUT)
        except TimeoutError:
            raise ClusterError(
                f"the local Dask cluster's {target.workers} workers did not start within "
                f"{WORKERS_TIMEOUT:.0f} s; lower --dask-workers, or score in the task's own "
                "process (no --dask-workers)"
            ) from None
        yield client


def worker_count(client) -> int:
    """How many worker threads the client's cluster offers (at least one)."""
    return max(1, sum(client.nthreads().values()))


def workers_see(client, path: str) -> bool:
    """Whether every worker can open ``path`` (a shared filesystem), checked once per session."""
    seen = client.run(os.path.exists, path)
    return bool(seen) and all(seen.values())
