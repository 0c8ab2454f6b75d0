"""``--dask-workers``: the option of every command whose steps score the pool."""

from __future__ import annotations

import os
from typing import Annotated

import typer

DaskWorkers = Annotated[
    int | None,
    typer.Option(
        "--dask-workers",
        min=1,
        help="Score the pool on a local Dask cluster of K worker processes "
        "(sets ALFLOW_DASK_WORKERS; ALFLOW_DASK_ADDRESS names an existing cluster instead)",
    ),
]


def use_dask(workers: int | None) -> None:
    """Hand ``--dask-workers`` to the scoring steps this command runs (see
    :mod:`alflow.learning.dask_cluster`)."""
    if workers is not None:
        from alflow.learning import dask_cluster

        os.environ[dask_cluster.WORKERS_ENV] = str(workers)
