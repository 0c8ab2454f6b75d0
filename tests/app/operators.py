"""The alflow plugin's operators run in process, through FiftyOne's executor, like the App."""

from __future__ import annotations

import asyncio

from alflow.config import naming
from alflow.loop.workspace import open_workspace

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


def detection_params(name: str) -> dict:
    """The create form filled for a detection loop on the digit canvases (App review)."""
    return {
        "name": name,
        "task": "detection",
        "detection": {"proposals": {"field": "proposals"}, "aggregation": "sum"},
        "features": {"fields": ["thumbnail"], "standardize": False},
        "initial_labels": {"kind": "field", "field": "initial_boxes"},
        "ground_truth_field": "ground_truth",
        "estimator": {"kind": "random_forest", "n_estimators": 30},
        "strategy": {"name": "margin"},
        "batch_size": 5,
        "eval_fraction": 0.25,
        "backend": {"kind": "app"},
    }


def execute(operator: str, dataset, **params):
    """Run an operator through FiftyOne's executor; returns the ExecutionResult."""
    from fiftyone.operators.executor import execute_operator

    return execute_operator(f"{URI}/{operator}", ctx={"dataset": dataset, "params": params})


def resolve_input(operator: str, dataset, _target: str = "inputs", _results=None, **params):
    """The operator's resolved input form (a types.Property) for these answers."""
    from fiftyone.operators.executor import resolve_type
    from fiftyone.operators.registry import OperatorRegistry

    request = {"dataset_name": dataset.name, "params": params, "view": dataset.view()._serialize()}
    request |= {"target": _target, "results": _results or {}}
    prop = asyncio.run(resolve_type(OperatorRegistry(), f"{URI}/{operator}", request))
    assert not hasattr(prop, "error") or prop.error is None, getattr(prop, "error", None)
    return prop


def resolve_output(operator: str, dataset, results: dict, **params):
    """The operator's resolved result view (a types.Property) for these results."""
    return resolve_input(operator, dataset, _target="outputs", _results=results, **params)


def defaults_of(obj) -> dict:
    """What the App submits for a form nobody touched: every property's default, nested."""
    from fiftyone.operators import types

    out = {}
    for name, p in obj.properties.items():
        if isinstance(p.type, types.Object):
            out[name] = defaults_of(p.type)
        elif not isinstance(p.type, types.Void) and p.default is not None:
            out[name] = p.default
    return out


def texts_of(obj) -> list[str]:
    """Every label and description a form shows, nested."""
    from fiftyone.operators import types

    found = []
    for p in obj.properties.values():
        for view in (p.view, getattr(p.type, "view", None)):
            found += [getattr(view, key, None) for key in ("label", "description")]
        if isinstance(p.type, types.Object):
            found += texts_of(p.type)
    return [t for t in found if isinstance(t, str)]


def errors_of(prop) -> dict[str, str]:
    """The blocking problems a form shows, by name."""
    return {
        name: p.error_message
        for name, p in prop.type.properties.items()
        if getattr(p, "invalid", False)
    }


def review(dataset, loop: str, number: int) -> dict[str, str]:
    """A reviewer's work on a round: fix 2 by tag, 1 by editing, double-tag 1; returns truth."""
    ws = open_workspace()
    ids = ws.ledger.round(loop, number)["queried_ids"]
    view = dataset.select(ids, ordered=True)
    truth = dict(zip(ids, view.values("ground_truth.label"), strict=True))
    field = naming.review_field(loop)
    predicted = dict(zip(ids, view.values(f"{field}.label"), strict=True))
    wrong = [i for i in ids if predicted[i] != truth[i]]
    right = [i for i in ids if predicted[i] == truth[i]]
    for sid in wrong[2:3]:
        sample = dataset[sid]
        sample[field].label = truth[sid]
        sample.save()
    for sid in wrong[:2]:
        sample = dataset[sid]
        sample.tags.append(truth[sid])
        sample.save()
    double = right[0]
    sample = dataset[double]
    other = "0" if truth[double] != "0" else "1"
    sample.tags.extend([truth[double], other])
    sample.save()
    return {"double": double, "tagged": wrong[:2], "edited": wrong[2:3]}
