"""The digits demo: its data, a demo loop run with the simulated annotator, and simulations."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

import alflow
from alflow.cli.output import print_table
from alflow.cli.prefect_setup import ui_url, use_prefect

DEMO_LOOP = "digits-demo"


def demo_config(rounds: int, batch: int):
    from alflow.config.loop import LoopConfig
    from alflow.demo import data as demo_data

    return LoopConfig(
        name=DEMO_LOOP,
        dataset=demo_data.DATASET,
        # the label-efficiency benchmark's best: label spreading on the raw pixels (they share
        # one scale) with diverse_margin, 43 labels to 95 % where RandomForest needs 131
        features={"fields": [demo_data.FEATURE_FIELD], "standardize": False},
        initial_labels={"kind": "field", "field": demo_data.SEED_FIELD},
        ground_truth_field=demo_data.GROUND_TRUTH,
        estimator={"kind": "label_spreading"},
        strategy={"name": "diverse_margin"},
        batch_size=batch,
        eval_fraction=0.2,
        # no stop rule: the demo runs its rounds, and the loop stays active for the README's
        # next commands ('alflow step digits-demo', the deployments)
        random_state=0,
    )


def data(name: Annotated[str, typer.Option(help="Dataset name")] = "alflow-digits") -> None:
    """Create the digits demo dataset (PNG files + FiftyOne dataset); idempotent."""
    from alflow.demo import data as demo_data

    dataset = demo_data.build_digits(name)
    typer.echo(
        f"dataset {dataset.name!r}: {len(dataset)} samples, images in "
        f"{Path(dataset.first().filepath).parent}"
    )


def demo_cmd(
    rounds: Annotated[int, typer.Option(min=1, help="Rounds to run")] = 5,
    batch: Annotated[int, typer.Option(min=1, help="Samples queried per round")] = 20,
) -> None:
    """Build the digits data, (re)create the demo loop and run it with the simulated annotator."""
    api_url = use_prefect()
    from alflow.demo import data as demo_data

    started = time.monotonic()
    typer.echo("building the digits dataset (1797 PNGs) ...")
    dataset = demo_data.build_digits()
    demo_data.seed_one_per_class(dataset)
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
        f"State lives in {alflow.services.environment.state_dir()}"
    )
    typer.echo(f"See the runs in the Prefect UI:   {ui_url(api_url)}")
    typer.echo(f"See the samples in FiftyOne:     .venv/bin/alflow app {DEMO_LOOP}")
    typer.echo(f"Round history:                   .venv/bin/alflow history {DEMO_LOOP}")
    stop = ".venv/bin/alflow server --stop; .venv/bin/alflow database --stop"
    typer.echo(f"Stop the background servers:     {stop}")


def simulate(
    estimator: Annotated[
        str,
        typer.Option(
            help="rf | lr | ls (label spreading) | lp (label propagation) | st (self-training, "
            "lr) | lsr (label spreading on raw pixels)"
        ),
    ] = "rf",
    seed: Annotated[int, typer.Option(help="Seeds split, initial labels, model, queries")] = 0,
    budget: Annotated[int, typer.Option(min=1, help="Total labels, initial ones included")] = 300,
    batch: Annotated[int, typer.Option(min=1, help="Labels per round")] = 10,
    strategy: Annotated[str | None, typer.Option(help="Strategy (default: alflow's)")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the result here")] = None,
) -> None:
    """Simulate a loop on the digits data with the simulated annotator; print the curve."""
    from alflow.demo.simulation import simulate as run

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
