"""Tasks of the simulation flow: build its dataset and loop configuration, read its curve."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from alflow.config.loop import LoopConfig
from alflow.demo import data as demo_data
from alflow.demo import simulation
from alflow.loop.workspace import open_workspace
from alflow.strategies import DEFAULT_STRATEGY


@task(name="prepare-simulation", cache_policy=NO_CACHE)
def prepare_simulation(estimator: str, seed: int, batch: int, strategy: str | None) -> LoopConfig:
    """Write the simulation's digits split as a dataset; return the loop configuration over it."""
    dataset = demo_data.build_simulation_dataset(estimator, seed)
    return LoopConfig(
        name=f"sim-{estimator}-s{seed}",
        dataset=dataset.name,
        features={"fields": ["features"], "standardize": False},
        initial_labels={"kind": "field", "field": demo_data.SEED_FIELD},
        ground_truth_field=demo_data.GROUND_TRUTH,
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
