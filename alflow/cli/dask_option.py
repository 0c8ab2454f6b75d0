"""``--dask-workers``: the option of every command whose steps score the pool."""

from __future__ import annotations

from typing import Annotated

import typer

DaskWorkers = Annotated[
    int | None,
    typer.Option(
        "--dask-workers",
        min=1,
        help="Score the pool on a local Dask cluster of K worker processes, for this command "
        "only (the step's dask_workers option; ALFLOW_DASK_ADDRESS names an existing cluster)",
    ),
]
