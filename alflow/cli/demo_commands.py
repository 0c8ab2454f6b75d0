"""The digits demo: its data, a demo loop run with the simulated annotator, and simulations."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

import alflow
from alflow.cli.output import print_table
from alflow.cli.prefect_setup import ui_url, use_prefect


def data(name: Annotated[str, typer.Option(help="Dataset name")] = "alflow-digits") -> None:
    """Create the digits demo dataset (PNG files + FiftyOne dataset); idempotent."""
    from alflow.demo import data as demo_data

    dataset = demo_data.build_digits(name)
    typer.echo(
        f"dataset {dataset.name!r}: {len(dataset)} samples, images in "
        f"{Path(dataset.first().filepath).parent}"
    )


class Task(StrEnum):
    classification = "classification"
    detection = "detection"


def demo_cmd(
    rounds: Annotated[int, typer.Option(min=1, help="Rounds to run")] = 5,
    batch: Annotated[int, typer.Option(min=1, help="Samples queried per round")] = 20,
    task: Annotated[Task, typer.Option(help="classification or detection")] = Task.classification,
) -> None:
    """Build the digits data, (re)create the demo loop and run it with the simulated annotator."""
    if task is Task.detection:
        detection_demo(rounds, batch)
        return
    api_url = use_prefect()
    from alflow.demo import data as demo_data
    from alflow.demo.configs import DEMO_LOOP, demo_config

    started = time.monotonic()
    typer.echo("building the digits dataset (1797 PNGs) ...")
    dataset = demo_data.build_digits()
    demo_data.seed_one_per_class(dataset)
    typer.echo(f"creating loop {DEMO_LOOP!r} (one initial label per class) ...")
    rows = created_and_stepped(demo_config(batch), rounds)
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


def created_and_stepped(config, rounds: int) -> list[dict]:
    """(Re)create the demo loop, then step it ``rounds`` times; a summary row per round, each
    step's with its wall time."""
    from flows.loop import create_loop_flow, step_flow

    rows = [create_loop_flow(config, replace=True)["round_0"]]
    for _ in range(rounds):
        t = time.monotonic()
        summary = step_flow(config.name)
        summary["seconds"] = time.monotonic() - t
        rows.append(summary)
    typer.echo("")
    return rows


def detection_demo(rounds: int, batch: int) -> None:
    """Digits on canvases as a detection loop through Prefect: box queries answered by the
    ground truth, the box learner refitted each round, mAP by FiftyOne."""
    api_url = use_prefect()
    from alflow.demo import detection_data
    from alflow.demo.configs import DETECTION_LOOP, detection_loop_config

    started = time.monotonic()
    typer.echo("building the detection dataset (600 canvases of 1-4 digits) ...")
    dataset = detection_data.build_detection_dataset()
    detection_data.seed_initial_boxes(dataset, batch)
    typer.echo(f"creating loop {DETECTION_LOOP!r} ({batch} canvases with their boxes) ...")
    rows = created_and_stepped(detection_loop_config(batch), rounds)
    print_table(
        rows,
        [
            ("round", "round", ""),
            ("labelled", "images labelled", ""),
            ("labelled_boxes", "boxes labelled", ""),
            ("mAP", "mAP@[.5:.95]", ".3f"),
            ("mAP50", "mAP@.5", ".3f"),
            ("seconds", "step-seconds", ".1f"),
        ],
    )
    typer.echo(
        f"\ndone in {time.monotonic() - started:.0f} s (mAP: FiftyOne's evaluate_detections)"
    )
    typer.echo(f"See the runs in the Prefect UI:   {ui_url(api_url)}")
    typer.echo(f"See the boxes in FiftyOne:       .venv/bin/alflow app {DETECTION_LOOP}")
    typer.echo(f"Round history:                   .venv/bin/alflow history {DETECTION_LOOP}")


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
