"""Prefect flows: each reads like the round itself and only wires tasks."""

from alflow.services import configured  # noqa: F401  (before Prefect and FiftyOne)
