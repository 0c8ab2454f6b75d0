"""Prefect flows: each reads like the round itself and only wires tasks."""

import alflow  # noqa: F401  (configures FiftyOne/Prefect state before Prefect is imported)
