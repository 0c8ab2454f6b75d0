"""The alflow plugin installed in the session's FiftyOne plugins directory, as a user would.

The helpers that run its operators are in ``tests/app/operators.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def plugin_dir(state_home) -> Path:
    """$FIFTYONE_PLUGINS_DIR with the repository's plugin linked in (what 'alflow app' does)."""
    from alflow.app.launch import install_plugin

    target = Path(os.environ["FIFTYONE_PLUGINS_DIR"])
    install_plugin(target)
    return target
