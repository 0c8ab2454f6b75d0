"""Test isolation: every test session gets its own state directory, mongod and Prefect home.

The environment is set at import time, before anything imports ``alflow``, FiftyOne or Prefect,
because all three read it when they are first imported. Nothing touches the developer's
``.alflow/`` or home directory.

Tiers: ``tests/unit`` needs no database, no Prefect server and no subprocess (its conftest
enforces it), so a session that collects only unit tests starts no mongod: FiftyOne is pointed
at a reserved loopback port where nothing listens. Any other test in the session makes it
start the private mongod on that port once collection is done.

``slow`` marks one thing: a test that starts a long-lived process of its own and waits on it (a
Prefect server and its workers, the FiftyOne App's server, alflow's managed Prefect or database
server, a whole benchmark, a step run killed with SIGKILL), 30 s or more each on 2 cores. It is
given here, from :data:`SLOW`, and nowhere else; ``make test-fast`` leaves those tests out.

Fixture modules shared between folders are registered in :data:`pytest_plugins`; a test asks
for their fixtures by name and never imports a conftest or another test module.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="alflow-tests-"))
# removed at exit, after the mongod on it stopped (atexit runs last-registered first): each
# session's database directory is about 300 MB, and left behind they fill a developer's disk
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
for _var in (
    "FIFTYONE_DATABASE_URI",
    "FIFTYONE_DATABASE_NAME",
    "PREFECT_API_URL",
    "PREFECT_PROFILES_PATH",
):
    os.environ.pop(_var, None)
os.environ["ALFLOW_HOME"] = str(_HOME)
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
# every command in its own process, as the tests expect of them (imports and all); the warm
# command server has tests of its own (tests/integration/test_command_server.py)
os.environ["ALFLOW_COMMAND_SERVER"] = "off"
# joblib would otherwise run `cat /proc/cpuinfo` in a subprocess to count physical cores
os.environ.setdefault("LOKY_MAX_CPU_COUNT", str(os.cpu_count() or 1))

from alflow.services.environment import service_environment  # noqa: E402
from tests.mongo import free_port, start_mongod, stop_mongod  # noqa: E402

os.environ.update(service_environment(_HOME))
_MONGO_PORT = free_port()
os.environ["FIFTYONE_DATABASE_URI"] = f"mongodb://127.0.0.1:{_MONGO_PORT}"
os.environ["FIFTYONE_DATABASE_NAME"] = "alflow-tests"
_UNIT = Path(__file__).parent / "unit"
_MONGOD = []

import pytest  # noqa: E402

# helpers that assert, outside test modules: rewritten so their failures show the values
pytest.register_assert_rewrite("tests.app.operators", "tests.curves", "tests.cvat_stand_in")

pytest_plugins = ["tests.cvat_stand_in.fixtures", "tests.detection.fixtures"]

# Node id prefixes (a folder, a file, or a test with all its parameters) of the slow tests.
SLOW = (
    # a Prefect server and process workers of its own; alflow's managed Prefect server; the
    # round-scale and label-efficiency benchmarks as subprocesses (alflow's database server)
    "tests/e2e/test_prefect_server.py",
    "tests/e2e/test_own_model_server.py",
    "tests/e2e/test_managed_server.py",
    "tests/e2e/test_round_scale_smoke.py",
    "tests/e2e/test_benchmark_smoke.py",
    "tests/e2e/test_detection_benchmark_smoke.py",
    # the FiftyOne App's server as a subprocess
    "tests/app/test_app_server.py",
    "tests/integration/test_database_server.py::test_the_app_and_its_executor_use_alflows_database",
    # a step run in a subprocess, killed with SIGKILL, then resumed
    "tests/crash/test_sigkill_flow.py",
    "tests/crash/test_sigkill_runs.py",
    # process trees of `alflow` commands and the servers they start, killed and signalled
    "tests/integration/test_no_orphans.py::test_the_foreground_server_stops_with_its_children_on_a_signal",
    "tests/integration/test_no_orphans.py::test_a_killed_command_leaves_no_temporary_server_behind",
    "tests/integration/test_no_orphans.py::test_a_killed_command_leaves_only_the_managed_server_which_status_shows",
    "tests/integration/test_embedded_service.py",
    # whole rounds through the real flows and a real Label Studio server
    "tests/label_studio/test_rounds.py",
)


def is_slow(nodeid: str) -> bool:
    """Whether :data:`SLOW` names this test, its file or its folder."""
    return any(
        nodeid == prefix or nodeid.startswith((f"{prefix}/", f"{prefix}::", f"{prefix}["))
        for prefix in SLOW
    )


def pytest_collection_modifyitems(config, items) -> None:
    """Mark the tests :data:`SLOW` names ``slow``; refuse a ``slow`` mark given anywhere else."""
    stray = []
    for item in items:
        if is_slow(item.nodeid):
            item.add_marker(pytest.mark.slow)
        elif item.get_closest_marker("slow") is not None:
            stray.append(item.nodeid)
    if stray:
        raise pytest.UsageError(
            "'slow' is given in tests/conftest.py (SLOW) and only there: add these tests to it if "
            "they start long-lived processes of their own, or drop their mark: " + ", ".join(stray)
        )


def start_database() -> None:
    """Start the session's mongod on the reserved port (once)."""
    if not _MONGOD:
        process, _ = start_mongod(_HOME / "mongod", port=_MONGO_PORT)
        _MONGOD.append(process)
        atexit.register(stop_mongod, process)


def pytest_collection_finish(session) -> None:
    if any(_UNIT not in Path(item.path).parents for item in session.items):
        start_database()


@pytest.fixture(scope="session")
def state_home() -> Path:
    """The session's isolated ALFLOW_HOME."""
    return _HOME


@pytest.fixture(scope="session")
def fo_db():
    """FiftyOne's bundled MongoDB, started in the session's state directory."""
    from alflow.data import store

    database = store.db()
    yield database


@pytest.fixture(scope="session")
def prefect_server():
    """One Prefect test server for the whole session (it costs ~11 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def digits(fo_db):
    """The real digits dataset (1797 PNGs) in the session database."""
    from alflow.demo import data as demo_data

    dataset = demo_data.build_digits(directory=_HOME / "data" / "digits")
    demo_data.seed_one_per_class(dataset)
    return dataset


def pytest_sessionfinish(session, exitstatus):
    from alflow.services import command_servers, prefect_server

    # a command that started alflow's own Prefect server (or a command server) in this
    # session's home: never leave it running after the session
    command_servers.stop_all()
    prefect_server.stop()
    shutil.rmtree(_HOME / "checkpoints", ignore_errors=True)


# test folders whose files share a costly session service: under `--dist loadfile` all their
# files go to one xdist worker, so the service starts once (tests/label_studio: a real Label
# Studio server, about 15 s to start and 300 MB of memory)
SHARED_SERVICE_DIRS = ("tests/label_studio/",)


def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class _Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for folder in SHARED_SERVICE_DIRS:
                if nodeid.startswith(folder):
                    return folder
            return super()._split_scope(nodeid)

    return _Scheduling(config, log)
