"""The alflow plugin's operators run in process, through FiftyOne's executor, like the App."""

from __future__ import annotations

import asyncio

URI = "@alflow/active-learning"


def form_params(name: str) -> dict:
    """The create form as a user fills it for the digits data (LR, margin, App review)."""
    return {
        "name": name,
        "features": {"fields": ["pixels"], "standardize": True},
        "initial_labels": {"kind": "field", "field": "seed_labels"},
        "ground_truth_field": "ground_truth",
        "estimator": {"kind": "logistic_regression", "max_iter": 300},
        "strategy": {"name": "margin"},
        "batch_size": 10,
        "eval_fraction": 0.2,
        "backend": {"kind": "app"},
    }


def execute(operator: str, dataset, **params):
    """Run an operator through FiftyOne's executor; returns the ExecutionResult."""
    from fiftyone.operators.executor import execute_operator

    return execute_operator(f"{URI}/{operator}", ctx={"dataset": dataset, "params": params})


def resolve_input(operator: str, dataset, **params):
    """The operator's resolved input form (a types.Property) for these answers."""
    from fiftyone.operators.executor import resolve_type
    from fiftyone.operators.registry import OperatorRegistry

    request = {"dataset_name": dataset.name, "params": params, "view": dataset.view()._serialize()}
    prop = asyncio.run(resolve_type(OperatorRegistry(), f"{URI}/{operator}", request))
    assert not hasattr(prop, "error") or prop.error is None, getattr(prop, "error", None)
    return prop


def errors_of(prop) -> dict[str, str]:
    """The blocking problems a form shows, by name."""
    return {
        name: p.error_message
        for name, p in prop.type.properties.items()
        if getattr(p, "invalid", False)
    }
