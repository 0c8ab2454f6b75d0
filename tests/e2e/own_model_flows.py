"""A training flow that fails, deployed by tests/e2e/test_own_model_server.py."""

from __future__ import annotations

from prefect import flow


@flow(name="own-model-failing-training")
def failing_training(
    dataset: str, label_field: str, round_number: int, predictions_field: str
) -> None:
    raise RuntimeError(f"CUDA out of memory in round {round_number}")
