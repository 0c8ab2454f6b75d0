"""Where alflow keeps its state, and the environment its services start with.

Everything alflow and the services it starts write lives under one state directory:

* ``ALFLOW_HOME`` (default: ``.alflow/`` in the project checkout, else in the working directory)
  * ``mongo/``        FiftyOne's bundled MongoDB (``FIFTYONE_DATABASE_DIR``): datasets + ledger
  * ``prefect/``      ``PREFECT_HOME``: Prefect's settings and its SQLite database of runs
  * ``checkpoints/``  one learner checkpoint per loop and round
  * ``cache/``        feature matrices as float32 ``.npy`` files
  * ``data/``         the demo images
  * ``fiftyone/``     FiftyOne's zoo and plugin directories, so nothing lands in ``~``

Each variable is only set when the user has not set it already, so any of them can be pointed
elsewhere (e.g. ``FIFTYONE_DATABASE_URI`` for an existing MongoDB). This runs when ``alflow`` is
imported, before FiftyOne or Prefect are, because both read their settings at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

# the checkout this module runs from (alflow/services/environment.py), when it is one
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def state_path() -> Path:
    """Where the state directory is: ``ALFLOW_HOME``, else ``.alflow/`` in the project checkout
    (an installed alflow: in the working directory)."""
    configured = os.environ.get("ALFLOW_HOME")
    if configured:
        return Path(configured).resolve()
    root = _PROJECT_ROOT if (_PROJECT_ROOT / "pyproject.toml").exists() else Path.cwd()
    return (root / ".alflow").resolve()


def state_dir() -> Path:
    """The state directory (:func:`state_path`), created on first use."""
    path = state_path()
    path.mkdir(parents=True, exist_ok=True)
    return path


def service_environment(home: Path) -> dict[str, str]:
    """The environment defaults for FiftyOne, MongoDB, Prefect and matplotlib under ``home``."""
    return {
        "FIFTYONE_DATABASE_DIR": str(home / "mongo"),
        # the ubuntu2204 mongod wheel runs on Debian 12 but fails FiftyOne's platform check
        "FIFTYONE_DATABASE_VALIDATION": "false",
        "FIFTYONE_DO_NOT_TRACK": "true",
        "FIFTYONE_DATASET_ZOO_DIR": str(home / "fiftyone" / "zoo" / "datasets"),
        "FIFTYONE_MODEL_ZOO_DIR": str(home / "fiftyone" / "zoo" / "models"),
        "FIFTYONE_PLUGINS_DIR": str(home / "fiftyone" / "plugins"),
        "FIFTYONE_DEFAULT_DATASET_DIR": str(home / "fiftyone" / "datasets"),
        "PREFECT_HOME": str(home / "prefect"),
        # Prefect's own temporary server (ALFLOW_PREFECT_SERVER=ephemeral) gives up after 20 s
        # by default: too short to create a fresh database on a loaded machine
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "600",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
        "MPLCONFIGDIR": str(home / "matplotlib"),
    }


def configure_environment() -> Path:
    """Set every service default that the user has not set; return the state directory."""
    home = state_dir()
    for key, value in service_environment(home).items():
        os.environ.setdefault(key, value)
    return home


# variables that, when set, decide where state lives (besides those of service_environment)
STATE_OVERRIDES = (
    "FIFTYONE_DATABASE_URI",
    "FIFTYONE_DATABASE_NAME",
    "PREFECT_API_URL",
    "ALFLOW_PREFECT_SERVER",
    "ALFLOW_DATABASE",
    "ALFLOW_MANAGED_DATABASE_URI",  # FIFTYONE_DATABASE_URI is alflow's own (re-checked on use)
)


def state_environment() -> dict[str, str]:
    """Every variable that decides where this process's state lives, with its value: the
    state directory, the service defaults, and the overrides the user set (a MongoDB URI, a
    Prefect API URL). A worker started with exactly these sees the same state."""
    home = configure_environment()
    env = {"ALFLOW_HOME": str(home)}
    env.update({key: os.environ[key] for key in service_environment(home)})
    env.update({key: os.environ[key] for key in STATE_OVERRIDES if os.environ.get(key)})
    return env


def checkpoints_dir(loop: str) -> Path:
    """Directory of a loop's learner checkpoints."""
    path = state_dir() / "checkpoints" / loop
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Directory of cached feature matrices."""
    path = state_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path
