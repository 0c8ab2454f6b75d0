"""Tasks of the simulation flow: build its dataset and loop configuration, read its curve."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from alflow import demo, simulation
from alflow.config import LoopConfig
from alflow.strategies import DEFAULT_STRATEGY
from alflow.workspace import open_workspace


@task(name="prepare-simulation", cache_policy=NO_CACHE)
def prepare_simulation(estimator: str, seed: int, batch: int, strategy: str | None) -> LoopConfig:
    """Write the simulation's digits split as a dataset; return the loop configuration over it."""
    dataset = demo.build_simulation_dataset(estimator, seed)
    return LoopConfig(
        name=f"sim-{estimator}-s{seed}",
        dataset=dataset.name,
        features={"fields": ["features"], "standardize": False},
        initial_labels={"kind": "field", "field": demo.SEED_FIELD},
        ground_truth_field=demo.GROUND_TRUTH,
        estimator=simulation.estimator_config(estimator),
        strategy={"name": strategy or DEFAULT_STRATEGY},
        batch_size=batch,
        eval_tag="test",
        random_state=seed,
    )


@task(name="simulation-result", cache_policy=NO_CACHE)
def simulation_result(loop: str, budget: int, batch: int) -> dict[str, Any]:
    """The learning curve and labels-to-threshold figures from the loop's ledger."""
    return simulation.flow_result(open_workspace().ledger, loop, budget, batch)
