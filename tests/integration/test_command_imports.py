"""Commands import only what they need: the CLI and a loop's configuration load without
scikit-learn, FiftyOne, Prefect or modAL (seconds each on a loaded machine), and ``alflow status``
on a URI database reads the ledger without them. Each check is a fresh interpreter, since this
test session has imported everything already."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from alflow.config.loop import LoopConfig
from alflow.state import ledger as L

HEAVY = ("sklearn", "scipy", "fiftyone", "prefect", "modAL")

# runs the code given, then prints which heavy packages the process imported (also on exit)
_REPORT = """
import atexit, json, sys
heavy = {heavy!r}
atexit.register(lambda: print(json.dumps(sorted(m for m in heavy if m in sys.modules))))
{code}
"""


def heavy_imports(code: str, env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """The heavy packages a fresh interpreter running ``code`` imported, and what it printed
    before; the code must succeed."""
    out = subprocess.run(
        [sys.executable, "-c", _REPORT.format(heavy=HEAVY, code=code)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    *printed, report = out.stdout.strip().splitlines()
    return json.loads(report), "\n".join(printed)


def test_the_cli_and_the_configuration_import_no_heavy_package():
    code = "import alflow.cli, alflow.config.loop, alflow.config.estimators, alflow.strategies"
    assert heavy_imports(code)[0] == []


def test_building_an_estimator_imports_scikit_learn_then():
    code = (
        "from alflow.config.estimators import SVCConfig\n"
        "from alflow.learning.build import build_estimator\n"
        "assert type(build_estimator(SVCConfig(), 0)).__name__ == 'ProbabilitySVC'"
    )
    assert "sklearn" in heavy_imports(code)[0]


def _status_code(loop: str) -> str:
    return (
        "import sys\n"
        "from alflow.cli import main\n"
        f"sys.argv = ['alflow', 'status', {loop!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code"
    )


def _loop(fo_db, name: str) -> LoopConfig:
    config = LoopConfig(
        name=name,
        dataset=name,
        features={"fields": ["embedding"]},
        initial_labels={"kind": "field", "field": "seed"},
        ground_truth_field="truth",
    )
    L.Ledger(fo_db).create_loop(config.name, config.model_dump(mode="json"), {})
    return config


def test_status_on_a_uri_database_reads_the_ledger_without_heavy_packages(fo_db):
    config = _loop(fo_db, "imports-status")
    imported, printed = heavy_imports(_status_code(config.name))
    assert config.name in printed
    assert imported == []


def test_status_on_a_running_bundled_database_reads_the_ledger_without_heavy_packages(
    fo_db, state_home
):
    # the session's mongod stands in for FiftyOne's bundled one: found by its --dbpath
    config = _loop(fo_db, "imports-status-bundled")
    env = {k: v for k, v in os.environ.items() if k != "FIFTYONE_DATABASE_URI"}
    env["FIFTYONE_DATABASE_DIR"] = str(state_home / "mongod")
    imported, printed = heavy_imports(_status_code(config.name), env)
    assert config.name in printed
    assert imported == []
