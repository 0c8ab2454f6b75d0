"""The label-efficiency simulation through the real flows (the benchmark's reference run).

``alflow simulate`` and ``benchmarks/label_efficiency.py`` run the same loop in process for
speed; this flow runs it round by round as Prefect flow runs on a FiftyOne dataset, and a test
checks both give the same learning curve.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from alflow.config.loop import StepOptions
from alflow.demo.simulation import EstimatorName
from alflow.loop.workspace import version_string
from flows.loop import create_loop_flow, step_flow
from tasks.simulation import prepare_simulation, simulation_result


@flow(
    name="alflow-simulate",
    flow_run_name="simulate-{estimator}-seed-{seed}",
    version=version_string(),
)
def simulate_flow(
    estimator: EstimatorName = "rf",
    seed: int = 0,
    budget: int = 300,
    batch: int = 10,
    strategy: str | None = None,
) -> dict[str, Any]:
    """Run the digits simulation with the simulated annotator until ``budget`` labels."""
    config = prepare_simulation(estimator, seed, batch, strategy)
    create_loop_flow(config, replace=True)
    labelled = simulation_result(config.name, budget, batch)["learning_curve"][-1][0]
    while labelled < budget:
        summary = step_flow(config.name, StepOptions(batch_size=min(batch, budget - labelled)))
        labelled = summary["labelled"]
    return simulation_result(config.name, budget, batch)
