"""What a simulated loop's result must hold: the keys of ``alflow.demo.simulation.simulate``'s
dictionary and the shape of its learning curve (for the simulation tests and the benchmark's
smoke run)."""

from __future__ import annotations

import numpy as np

KEYS = {
    "strategy",
    "estimator",
    "seed",
    "budget",
    "batch",
    "learning_curve",
    "labels_to_90",
    "labels_to_95",
}


def check_well_formed(result: dict, budget: int, batch: int) -> None:
    """Assert ``result`` is one simulated loop of ``budget`` labels in batches of ``batch``."""
    assert set(result) == KEYS
    counts = [count for count, _ in result["learning_curve"]]
    assert counts[0] == 10, "one initial label per digit class"
    assert counts[-1] == budget
    assert all(0 < step <= batch for step in np.diff(counts))
    assert all(0.0 <= accuracy <= 1.0 for _, accuracy in result["learning_curve"])
    for key, threshold in (("labels_to_90", 0.90), ("labels_to_95", 0.95)):
        reached = [c for c, a in result["learning_curve"] if a >= threshold]
        assert result[key] == (reached[0] if reached else budget + batch)
