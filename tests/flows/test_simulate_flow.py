"""The in-process simulation and the same loop through the real Prefect flows agree."""

import pytest

from alflow.demo.simulation import simulate
from flows.simulate import simulate_flow

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.mark.parametrize("estimator", ["rf", "lr", "ls", "lsr", "st"])
def test_one_seed_through_the_flows_gives_the_same_curve(fo_db, estimator):
    in_process = simulate(None, estimator, seed=4, budget=40, batch=10)
    through_flows = simulate_flow(estimator, seed=4, budget=40, batch=10)
    assert [n for n, _ in through_flows["learning_curve"]] == [10, 20, 30, 40]
    flat = [v for point in through_flows["learning_curve"] for v in point]
    expected = [v for point in in_process["learning_curve"] for v in point]
    assert flat == pytest.approx(expected)
    assert through_flows["labels_to_90"] == in_process["labels_to_90"]
