"""The alflow plugin installed in the session's FiftyOne plugins directory, as a user would."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "alflow"
URI = "@alflow/active-learning"


@pytest.fixture(scope="session")
def plugin_dir(state_home) -> Path:
    """$FIFTYONE_PLUGINS_DIR with the repository's plugin linked in (what 'alflow app' does)."""
    from alflow.app.launch import install_plugin

    target = Path(os.environ["FIFTYONE_PLUGINS_DIR"])
    install_plugin(target)
    return target


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
