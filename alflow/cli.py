"""The alflow command line: demo data, loops, steps, status, history, simulation, server.

Heavy imports (FiftyOne, Prefect, flows) happen inside commands, so ``alflow --help`` is fast
and each command configures the state directory before anything starts a service.
"""

from __future__ import annotations

import enum
import json
import os
import shlex
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Annotated, Any, get_args

import typer

import alflow
from alflow import console, progress
from alflow.errors import AlflowError, plural
from flows.options import StepOptions

app = typer.Typer(help=__doc__.split("\n")[0], no_args_is_help=True, add_completion=False)
loop_app = typer.Typer(
    help="Create, list, delete, pause and resume loops, and change their stop rules.",
    no_args_is_help=True,
)
app.add_typer(loop_app, name="loop")
review_app = typer.Typer(
    help="The in-App review of a round (backend 'app'): declare it finished.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")
round_app = typer.Typer(help="End a round in flight (fail or cancel).", no_args_is_help=True)
app.add_typer(round_app, name="round")

DEMO_LOOP = "digits-demo"
# the step's choices, offered by the CLI as the deployment's form offers them
WhenUnfinished = enum.StrEnum(
    "WhenUnfinished", list(get_args(StepOptions.model_fields["when_unfinished"].annotation))
)


@app.callback()
def root(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show Prefect's log and the traceback of an error (also: ALFLOW_VERBOSE=1)",
        ),
    ] = False,
) -> None:
    """The alflow command line: demo data, loops, steps, status, history, simulation, server."""
    if verbose:
        console.set_verbose()


def _use_prefect() -> str | None:
    """Before a command imports Prefect: reach the managed server (started on first use, see
    :mod:`alflow.prefect_server`) and keep Prefect's log off the terminal; the API URL."""
    from alflow import prefect_server

    console.quiet_prefect()
    url = prefect_server.connect()
    console.filter_run_failures()
    return url


def _ui_url(api_url: str | None) -> str:
    """The Prefect UI address of an API URL (``.../api`` stripped)."""
    return api_url.removesuffix("/").removesuffix("/api") if api_url else "the Prefect UI"


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> None:
    """Print rows as a fixed-width table; columns are (key, header, format spec)."""
    cells = [[_fmt(r.get(k), spec) for k, _, spec in columns] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h, _) in enumerate(columns)]
    typer.echo("  ".join(h.rjust(w) for (_, h, _), w in zip(columns, widths, strict=True)))
    for row in cells:
        typer.echo("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


ROUND_COLUMNS = [
    ("round", "round", ""),
    ("state", "state", ""),
    ("queried", "queried", ""),
    ("labelled", "labelled", ""),
    ("accuracy", "accuracy", ".3f"),
    ("macro_f1", "macro-F1", ".3f"),
    ("changed", "changed", ""),
    # time from query to taught, waiting for annotators included
    ("seconds", "round-seconds", ".1f"),
]


def demo_config(rounds: int, batch: int):
    from alflow import demo
    from alflow.config import LoopConfig

    return LoopConfig(
        name=DEMO_LOOP,
        dataset=demo.DATASET,
        features={"fields": [demo.FEATURE_FIELD], "standardize": True},
        initial_labels={"kind": "field", "field": demo.SEED_FIELD},
        ground_truth_field=demo.GROUND_TRUTH,
        estimator={"kind": "logistic_regression"},
        batch_size=batch,
        eval_fraction=0.2,
        # no stop rule: the demo runs its rounds, and the loop stays active for the README's
        # next commands ('alflow step digits-demo', the deployments)
        random_state=0,
    )


@app.command()
def data(name: Annotated[str, typer.Option(help="Dataset name")] = "alflow-digits") -> None:
    """Create the digits demo dataset (PNG files + FiftyOne dataset); idempotent."""
    from alflow import demo

    dataset = demo.build_digits(name)
    typer.echo(
        f"dataset {dataset.name!r}: {len(dataset)} samples, images in "
        f"{Path(dataset.first().filepath).parent}"
    )


@app.command("demo")
def demo_cmd(
    rounds: Annotated[int, typer.Option(min=1, help="Rounds to run")] = 5,
    batch: Annotated[int, typer.Option(min=1, help="Samples queried per round")] = 20,
) -> None:
    """Build the digits data, (re)create the demo loop and run it with the simulated annotator."""
    api_url = _use_prefect()
    from alflow import demo

    started = time.monotonic()
    typer.echo("building the digits dataset (1797 PNGs) ...")
    dataset = demo.build_digits()
    demo.seed_one_per_class(dataset)
    from flows.loop import create_loop_flow, step_flow

    typer.echo(f"creating loop {DEMO_LOOP!r} (one initial label per class) ...")
    created = create_loop_flow(demo_config(rounds, batch), replace=True)
    rows = [created["round_0"]]
    for _ in range(rounds):
        t = time.monotonic()
        summary = step_flow(DEMO_LOOP)
        summary["seconds"] = time.monotonic() - t
        rows.append(summary)
    typer.echo("")
    print_table(
        rows,
        [
            ("round", "round", ""),
            ("labelled", "labelled", ""),
            ("accuracy", "held-out acc", ".3f"),
            ("macro_f1", "macro-F1", ".3f"),
            ("changed", "corrected", ""),
            ("seconds", "step-seconds", ".1f"),  # wall time of the step_flow call
        ],
    )
    typer.echo(
        f"\ndone in {time.monotonic() - started:.0f} s. "
        f"State lives in {alflow.settings.state_dir()}"
    )
    typer.echo(f"See the runs in the Prefect UI:   {_ui_url(api_url)}")
    typer.echo(f"See the samples in FiftyOne:     .venv/bin/alflow app {DEMO_LOOP}")
    typer.echo(f"Round history:                   .venv/bin/alflow history {DEMO_LOOP}")


@loop_app.command("create")
def loop_create(
    config_file: Annotated[Path, typer.Argument(help="Loop configuration (JSON)")],
    replace: Annotated[bool, typer.Option(help="Delete a loop of that name first")] = False,
) -> None:
    """Create a loop from a JSON configuration file (see README for the fields)."""
    from alflow.config import parse_loop_config

    try:
        raw = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AlflowError(f"cannot read loop configuration {config_file}: {exc}") from None
    config = parse_loop_config(raw)
    _use_prefect()
    from flows.loop import create_loop_flow

    result = create_loop_flow(config, replace=replace)
    print_table([result["round_0"]], ROUND_COLUMNS)


@loop_app.command("delete")
def loop_delete(name: str) -> None:
    """Delete a loop: its fields, ledger records and checkpoints (the dataset stays)."""
    from alflow import rounds
    from alflow.workspace import open_workspace

    result = rounds.delete_loop(open_workspace(), name)
    typer.echo(
        f"deleted loop {name!r}; fields removed: {', '.join(result['fields_deleted']) or 'none'}"
    )


@loop_app.command("list")
def loop_list() -> None:
    """List loops with their status."""
    from alflow.workspace import open_workspace

    loops = open_workspace(ledger_only=True).ledger.loops()
    rows = [
        {
            "name": d["_id"],
            "dataset": d["config"]["dataset"],
            "status": d["status"],
            "rounds": d["last_round"],
        }
        for d in loops
    ]
    print_table(
        rows,
        [
            ("name", "loop", ""),
            ("dataset", "dataset", ""),
            ("status", "status", ""),
            ("rounds", "rounds", ""),
        ],
    )


@app.command()
def step(
    loop: str,
    when_unfinished: Annotated[
        WhenUnfinished,
        typer.Option(help="If annotation is unfinished: wait, accept the finished jobs, or cancel"),
    ] = WhenUnfinished.wait,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Override batch size")] = None,
) -> None:
    """Run the loop's next step as Prefect flow runs (finish the round in flight, or a new one)."""
    _use_prefect()
    from flows.loop import step_flow
    from flows.options import StepOptions

    options = StepOptions(when_unfinished=when_unfinished.value, batch_size=batch_size)
    print_table([step_flow(loop, options)], ROUND_COLUMNS)


@app.command()
def history(loop: str) -> None:
    """A table of the loop's rounds with their metrics."""
    from alflow import rounds
    from alflow.workspace import open_workspace

    ledger = open_workspace(ledger_only=True).ledger
    ledger.loop(loop)  # an unknown loop is an error, not an empty table
    docs = ledger.rounds(loop)
    print_table([rounds.summarize(d) for d in docs], ROUND_COLUMNS)


@app.command()
def status(loop: str) -> None:
    """Where the loop stands: its status, the round in flight, and what it waits on.

    The annotation progress is asked of the backend now (once, with a short timeout).
    """
    from alflow.status import describe, loop_status
    from alflow.workspace import open_workspace

    for line in describe(loop_status(open_workspace(ledger_only=True), loop)):
        typer.echo(line)


@review_app.command("finish")
def review_finish(
    loop: str,
    round_number: Annotated[
        int | None, typer.Option("--round", help="Round to finish (default: the one in flight)")
    ] = None,
) -> None:
    """Declare a round's review finished: unmarked samples then accept their prediction.

    The next 'alflow step' (or the scheduled advance) ingests and teaches the round.
    """
    from alflow import rounds
    from alflow.workspace import open_workspace

    result = rounds.finish_review(open_workspace(), loop, round_number, by="cli")
    typer.echo(
        f"round {result['round']} of loop {loop!r}: review finished at "
        f"{result['review_finished']['at']}; 'alflow step {loop}' ingests and teaches it"
    )


@app.command()
def features(
    loop: str,
    refresh: Annotated[bool, typer.Option(help="Re-read from FiftyOne even if cached")] = False,
) -> None:
    """Build (or with --refresh rebuild) the loop's cached feature matrix."""
    from alflow.workspace import open_workspace

    ws = open_workspace()
    fm = ws.features(ws.config(loop), refresh=refresh)
    typer.echo(f"{fm.X.shape[0]} samples x {fm.X.shape[1]} features cached in {fm.path}")


@app.command()
def rollback(
    loop: str,
    to_round: Annotated[int, typer.Argument(help="Taught round whose learner to continue from")],
) -> None:
    """Start a new round from round N's learner; later labels are excluded from training.

    No label is deleted and no round number is reused; 'alflow reinclude' undoes the exclusion.
    """
    from alflow import locks, rounds
    from alflow.workspace import open_workspace

    ws = open_workspace()
    with locks.holding(ws.ledger, loop, locks.command_owner("rollback")):
        result = rounds.rollback(ws, loop, to_round)
    typer.echo(
        f"round {result['round']} continues from round {to_round}'s learner; "
        f"{result['excluded']} later labels excluded from training (kept in the dataset)"
    )


@app.command()
def reinclude(
    loop: str,
    rounds_: Annotated[list[int], typer.Argument(metavar="ROUND...", help="Rounds to re-include")],
) -> None:
    """Bring labels that a rollback excluded back into training (as a new taught round)."""
    from alflow import locks, rounds
    from alflow.workspace import open_workspace

    ws = open_workspace()
    with locks.holding(ws.ledger, loop, locks.command_owner("reinclude")):
        print_table([rounds.reinclude(ws, loop, rounds_)], ROUND_COLUMNS)


def _end_round(loop: str, round_number: int, outcome: str, reason: str | None) -> None:
    from alflow import locks, recovery
    from alflow.workspace import open_workspace

    ws = open_workspace()
    with locks.holding(ws.ledger, loop, locks.command_owner(f"round {outcome}")):
        doc = recovery.end_round(ws, loop, round_number, outcome, reason)
    ended = doc.get("ended") or {}
    back, kept = ended.get("returned_to_pool", 0), ended.get("labels_kept", 0)
    typer.echo(
        f"round {round_number} of {loop!r} is {doc['state']}; {plural(back, 'sample')} back in "
        f"the pool, {plural(kept, 'ingested label')} kept (taught at the next teach)"
    )
    for note in doc.get("notes", []):
        typer.echo(f"note: {note['note']}")


@round_app.command("cancel")
def round_cancel(
    loop: str,
    round_number: Annotated[int, typer.Argument(metavar="ROUND")],
    reason: Annotated[str | None, typer.Option(help="Why, for the round's record")] = None,
) -> None:
    """Cancel a round in flight: withdraw its annotation task, return its batch to the pool."""
    _end_round(loop, round_number, "cancelled", reason)


@round_app.command("fail")
def round_fail(
    loop: str,
    round_number: Annotated[int, typer.Argument(metavar="ROUND")],
    reason: Annotated[str | None, typer.Option(help="Why, for the round's record")] = None,
) -> None:
    """Mark a round in flight failed (its annotation task is kept); its batch goes to the pool."""
    _end_round(loop, round_number, "failed", reason)


@app.command()
def unlock(
    loop: str,
    force: Annotated[bool, typer.Option(help="Free it even if its holder may be alive")] = False,
) -> None:
    """Free a loop's lock left by a step that died (refused while the holder lives)."""
    from alflow import locks
    from alflow.workspace import open_workspace

    freed = locks.unlock(open_workspace().ledger, loop, force)
    if freed is None:
        typer.echo(f"loop {loop!r} is not locked")
    else:
        typer.echo(f"freed the lock of loop {loop!r} held by {locks.describe_holder(freed)}")


@app.command()
def reexport(loop: str, round_number: Annotated[int, typer.Argument(metavar="ROUND")]) -> None:
    """Export a round's batch again, e.g. after its CVAT task was deleted."""
    from alflow import rounds
    from alflow.workspace import open_workspace

    result = rounds.export(open_workspace(), loop, round_number, force_new=True)
    ref = result.get("ref", {})
    typer.echo(
        f"round {round_number} re-exported to {result.get('kind')}"
        + (f" task {ref['task_id']}" if ref.get("task_id") else "")
    )


@loop_app.command("stop-rules")
def loop_stop_rules(
    name: str,
    label_budget: Annotated[
        int | None, typer.Option(min=1, help="Stop at this many labels")
    ] = None,
    max_rounds: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many rounds")
    ] = None,
    plateau_rounds: Annotated[
        int | None, typer.Option(min=2, help="Stop when accuracy stalls over this many rounds")
    ] = None,
    plateau_delta: Annotated[
        float | None, typer.Option(min=0, help="Smallest gain that is not a stall")
    ] = None,
) -> None:
    """Change when the loop is done; a done loop whose new rules allow more rounds resumes."""
    from alflow import rounds
    from alflow.workspace import open_workspace

    result = rounds.update_stop_rules(
        open_workspace(),
        name,
        label_budget=label_budget,
        max_rounds=max_rounds,
        plateau_rounds=plateau_rounds,
        plateau_delta=plateau_delta,
    )
    typer.echo(
        f"loop {name!r} is {result['status']}; stop rules: {result['stop']}"
        + (f" ({result['reason']})" if result["reason"] else "")
    )


@loop_app.command("pause")
def loop_pause(name: str) -> None:
    """Pause a loop: the scheduled advance skips it (a running round is not interrupted)."""
    _set_status(name, "paused")


@loop_app.command("resume")
def loop_resume(name: str) -> None:
    """Resume a paused or done loop (raise its stop rules first if it is done)."""
    _set_status(name, "active")


def _set_status(name: str, status: str) -> None:
    from alflow.workspace import open_workspace

    ledger = open_workspace(ledger_only=True).ledger
    ledger.loop(name)
    ledger.update_loop(name, status=status, done_reason=None)
    typer.echo(f"loop {name!r} is {status}")


@app.command()
def simulate(
    estimator: Annotated[
        str,
        typer.Option(
            help="rf | lr | ls (label spreading) | lp (label propagation) | st (self-training, lr)"
        ),
    ] = "rf",
    seed: Annotated[int, typer.Option(help="Seeds split, initial labels, model, queries")] = 0,
    budget: Annotated[int, typer.Option(min=1, help="Total labels, initial ones included")] = 300,
    batch: Annotated[int, typer.Option(min=1, help="Labels per round")] = 10,
    strategy: Annotated[str | None, typer.Option(help="Strategy (default: alflow's)")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the result here")] = None,
) -> None:
    """Simulate a loop on the digits data with the simulated annotator; print the curve."""
    from alflow.simulation import simulate as run

    result = run(strategy, estimator, seed, budget, batch)
    rows = [{"labelled": n, "accuracy": a} for n, a in result["learning_curve"]]
    print_table(rows, [("labelled", "labelled", ""), ("accuracy", "test accuracy", ".3f")])
    typer.echo(
        f"strategy {result['strategy']}, estimator {estimator}, seed {seed}: "
        f"labels to 90%: {result['labels_to_90']}, to 95%: {result['labels_to_95']}"
    )
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=1))
        typer.echo(f"wrote {json_path}")


@app.command()
def deploy(
    pool: Annotated[str, typer.Option(help="Process work pool to create/use")] = "alflow-process",
) -> None:
    """Create the process work pool and deploy deployments/prefect.yaml to the Prefect server.

    The server is PREFECT_API_URL's, else alflow's managed one (started if needed). Then start
    a worker with the same environment: eval "$(alflow env)"; prefect worker start --pool
    alflow-process.
    """
    from alflow import prefect_server

    if prefect_server.temporary_only():
        raise AlflowError(
            "deployments need a Prefect server that outlives this command, but "
            "ALFLOW_PREFECT_SERVER=ephemeral; unset it (alflow then starts its own server) or "
            "set PREFECT_API_URL to your server's API"
        )
    _use_prefect()
    root = Path(__file__).resolve().parents[1]
    prefect = [sys.executable, "-m", "prefect"]
    env = {**os.environ, "PWD": str(root)}
    subprocess.run(
        [*prefect, "work-pool", "create", pool, "--type", "process", "--overwrite"],
        check=True,
        env=env,
        cwd=root,
    )
    code = subprocess.call(
        [*prefect, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"],
        env=env,
        cwd=root,
    )
    raise typer.Exit(code)


@app.command()
def serve() -> None:
    """Serve the create-loop, step, advance (scheduled) and simulate deployments from this
    process (no worker)."""
    _use_prefect()
    from deployments.serve import main as serve_main

    serve_main()


@app.command("app")
def app_cmd(
    loop: Annotated[str | None, typer.Argument(help="Open this loop's dataset")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Open this dataset (default: the loop's, else none)")
    ] = None,
    port: Annotated[int, typer.Option(help="Port the App listens on")] = 5151,
    address: Annotated[str, typer.Option(help="Address the App listens on")] = "127.0.0.1",
    delegated: Annotated[
        bool, typer.Option(help="Run FiftyOne's executor for operations run in the background")
    ] = True,
) -> None:
    """Open the FiftyOne App with alflow's plugin (blocks until you stop it with Ctrl-C).

    The plugin's operators ("Active Learning: ...") create, query, update and show loops on
    the same ledger as this command line.
    """
    from alflow.app.launch import open_app

    if loop and not dataset:
        from alflow.workspace import open_workspace

        dataset = open_workspace().config(loop).dataset
    open_app(dataset, port, address, delegated)


@app.command()
def server(
    port: Annotated[
        int | None,
        typer.Option(
            help="Port to start the server on if none runs yet (default ALFLOW_PREFECT_PORT, "
            "else 4200; if it is taken, any free port)",
        ),
    ] = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop alflow's Prefect server")] = False,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Run it until Ctrl-C or SIGTERM, then stop it")
    ] = False,
) -> None:
    """Show alflow's local Prefect server (UI and API), starting it in the background if needed.

    It is the server every command uses (unless PREFECT_API_URL names another); it keeps
    running after this command, until 'alflow server --stop'.
    """
    from alflow import prefect_server

    if stop:
        stopped = prefect_server.stop()
        typer.echo(
            f"stopped the Prefect server on {stopped.url} (pid {stopped.pid})"
            if stopped
            else "no alflow Prefect server was running"
        )
        return
    if os.environ.get("PREFECT_API_URL"):
        typer.echo(f"PREFECT_API_URL is set: commands use {os.environ['PREFECT_API_URL']}")
        return
    if foreground:
        prefect_server.serve_foreground(port, typer.echo)
        return
    record = prefect_server.ensure_running(port)
    typer.echo(f"Prefect server and UI on {record.url} (API {record.api_url}, pid {record.pid})")
    typer.echo("stop it with: alflow server --stop")


@app.command("env")
def env_cmd() -> None:
    """Print the environment alflow uses, as shell exports (for running prefect directly)."""
    from alflow import prefect_server
    from alflow.settings import state_environment

    env = state_environment()
    if "PREFECT_API_URL" not in env and (record := prefect_server.running()):
        env["PREFECT_API_URL"] = record.api_url  # the managed server, so a worker joins it
    for key, value in env.items():
        typer.echo(f"export {key}={shlex.quote(value)}")


def main() -> None:
    """Entry point: turn alflow's own errors into one clear line and exit code 2."""
    try:
        progress.choose_mode(sys.stderr)  # a mistyped ALFLOW_PROGRESS fails before any work
        app(standalone_mode=False)
    except AlflowError as exc:
        if console.verbose():
            traceback.print_exc()
        typer.echo(f"alflow: error: {exc}", err=True)
        raise SystemExit(2) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        raise SystemExit(130) from None
    except typer.TyperException as exc:
        # usage errors carry their own message (the locked typer bundles its own click, so
        # they are not click.ClickException)
        exc.show()
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
