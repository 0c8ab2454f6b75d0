"""Retraining entry points for the own-model tests (importable by name, as a loop calls them)."""

from __future__ import annotations

CALLS: list[dict] = []


def record_only(**params) -> None:
    """Retrains nothing and rewrites nothing: the next query finds the predictions stale."""
    CALLS.append(params)


def out_of_memory(**params) -> None:
    """A training job that fails."""
    CALLS.append(params)
    raise RuntimeError("CUDA out of memory")
