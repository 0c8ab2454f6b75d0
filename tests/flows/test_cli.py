"""The `alflow` commands that run flows or edit a loop, through typer's test runner.

A loop is created from a JSON file and stepped with the simulated annotator under the session's
Prefect test server; every command then reads or changes the same ledger.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from alflow import rounds
from alflow.cli import app, main
from alflow.errors import RoundInFlightError
from alflow.loop.workspace import open_workspace
from tests.helpers import loop_config, unique_name

pytestmark = pytest.mark.usefixtures("prefect_server")

runner = CliRunner()


def alflow(*args: str) -> str:
    """Run a command; fail with its output or exception unless it succeeds."""
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def table(output: str) -> list[dict[str, str]]:
    """The rows of the table a command printed, keyed by its header."""
    lines = [line for line in output.splitlines() if line.strip()]
    header = next(i for i, line in enumerate(lines) if line.split()[0] in ("round", "loop"))
    keys = lines[header].split()
    return [dict(zip(keys, line.split(), strict=True)) for line in lines[header + 1 :]]


def create_and_step(path, config) -> str:
    """Create the loop from a JSON file and step it twice, all from the command line."""
    path.write_text(json.dumps(config.model_dump(mode="json")))
    created = table(alflow("loop", "create", str(path)))
    assert [(r["round"], r["state"], r["labelled"]) for r in created] == [("0", "taught", "10")]
    for number, labelled in ((1, "20"), (2, "30")):
        (row,) = table(alflow("step", config.name))
        assert (row["round"], row["state"], row["labelled"]) == (str(number), "taught", labelled)
    return config.name


@pytest.fixture(scope="module")
def stepped(digits, prefect_server, tmp_path_factory):
    """A loop with two taught rounds; the tests using it leave its rounds as they are."""
    return create_and_step(
        tmp_path_factory.mktemp("cli") / "loop.json", loop_config(unique_name("cli"))
    )


@pytest.fixture
def own_loop(digits, tmp_path):
    """A loop with two taught rounds for a test that adds rounds."""
    return create_and_step(tmp_path / "loop.json", loop_config(unique_name("cli")))


def test_status_and_history_read_the_ledger(stepped):
    status = alflow("status", stepped)
    assert f"loop {stepped!r} on dataset 'alflow-digits': active" in status
    assert "no round in flight" in status
    rows = table(alflow("history", stepped))
    ledger = open_workspace().ledger
    assert [(r["round"], r["state"], r["labelled"]) for r in rows] == [
        ("0", "taught", "10"),
        ("1", "taught", "20"),
        ("2", "taught", "30"),
    ]
    assert rows[2]["accuracy"] == f"{ledger.round(stepped, 2)['metrics']['accuracy']:.3f}"


def test_pause_resume_and_list(stepped):
    assert alflow("loop", "pause", stepped).strip() == f"loop {stepped!r} is paused"
    listed = {r["loop"]: r for r in table(alflow("loop", "list"))}
    assert (listed[stepped]["status"], listed[stepped]["rounds"]) == ("paused", "2")
    assert listed[stepped]["dataset"] == "alflow-digits"
    assert f"{stepped!r} on dataset 'alflow-digits': paused" in alflow("status", stepped)
    assert open_workspace().ledger.loop(stepped)["status"] == "paused"
    assert alflow("loop", "resume", stepped).strip() == f"loop {stepped!r} is active"
    assert open_workspace().ledger.loop(stepped)["status"] == "active"


def test_rollback_then_reinclude(own_loop):
    stepped = own_loop
    out = alflow("rollback", stepped, "1")
    assert out.strip() == (
        "round 3 continues from round 1's learner; "
        "10 later labels excluded from training (kept in the dataset)"
    )
    (reincluded,) = table(alflow("reinclude", stepped, "2"))
    assert (reincluded["round"], reincluded["state"], reincluded["labelled"]) == (
        "4",
        "taught",
        "30",
    )
    rows = table(alflow("history", stepped))
    assert [(r["round"], r["labelled"]) for r in rows] == [
        ("0", "10"),
        ("1", "20"),
        ("2", "30"),
        ("3", "20"),
        ("4", "30"),
    ]
    ledger = open_workspace().ledger
    assert ledger.round(stepped, 3)["kind"] == "rollback"
    assert ledger.round(stepped, 4)["kind"] == "reinclude"
    # the loop goes on from the re-included learner with a new round number
    (row,) = table(alflow("step", stepped))
    assert (row["round"], row["state"], row["labelled"]) == ("5", "taught", "40")


def test_a_step_while_another_run_holds_the_loop_is_refused(stepped, monkeypatch, capsys):
    ledger = open_workspace().ledger
    ledger.acquire(stepped, "flow-run-elsewhere", 60)
    result = runner.invoke(app, ["step", stepped])
    assert isinstance(result.exception, RoundInFlightError)
    assert f"loop {stepped!r} is busy: run 'flow-run-elsewhere'" in str(result.exception)

    # the installed entry point turns it into one line and exit code 2
    monkeypatch.setattr(sys, "argv", ["alflow", "step", stepped])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"alflow: error: loop {stepped!r} is busy: run 'flow-run-elsewhere'")
    assert "at most one round is in flight per loop" in last
    assert [d["round"] for d in ledger.rounds(stepped)] == [0, 1, 2]  # nothing was queried

    ledger.release(stepped, "flow-run-elsewhere")
    assert rounds.readiness(open_workspace(), stepped) == (True, "ready")


READS_ONLY_THE_LEDGER = """
import sys
from alflow.cli import app
for args in (["status", sys.argv[1]], ["history", sys.argv[1]], ["loop", "list"]):
    app(args, standalone_mode=False)
print("imported:", sorted(m for m in ("fiftyone", "prefect") if m in sys.modules))
"""


def test_commands_that_read_the_ledger_do_not_import_fiftyone_or_prefect(stepped):
    """`import fiftyone` alone takes about 5 s: status, history and loop list need none of it."""
    out = subprocess.run(
        [sys.executable, "-c", READS_ONLY_THE_LEDGER, stepped],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert f"loop {stepped!r} on dataset 'alflow-digits': active" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "imported: []"
