"""The scale benchmark at smoke size, run as a user runs it: two rounds that really happen (one
batch queried and taught), every step timed, and figures consistent with one another.

Timings are not compared with any bound (the machine may be shared); they are checked to be
there, positive and summed as the benchmark says.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the smoke size (round_scale.py --smoke)
SAMPLES, DIM, BATCH, INITIAL = 2_000, 16, 20, 50
STEPS = [
    "register loop (split + labels)",
    "features cold (FiftyOne + cache)",
    "features warm (cache)",
    "round 0 fit + eval + predictions",
    "query",
    "export (oracle)",
    "ingest",
    "teach + eval + predictions",
]
ROUND = "round (query + teach)"
SCORING = [
    "scoring pass (in process)",
    "scoring pass (Dask, 1 worker)",
    "scoring pass (Dask, 2 workers)",
]


def run_smoke(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "round_scale.py"),
            "--smoke",
            "--json",
            str(out),
            *extra,
        ],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def check_rounds(result: dict) -> None:
    """Round 0 learned from the initial labels; round 1 queried one batch and learned it too."""
    initial, taught = result["rounds"]
    assert (initial["round"], initial["state"], initial["queried"]) == (0, "taught", 0)
    assert initial["labelled"] == INITIAL
    assert (taught["round"], taught["state"], taught["queried"]) == (1, "taught", BATCH)
    assert taught["labelled"] == INITIAL + BATCH
    for outcome in (initial, taught):
        # ten Gaussian classes, well apart: a model that learned anything is far above chance
        assert 0.5 < outcome["accuracy"] <= 1.0 and 0.0 < outcome["macro_f1"] <= 1.0


def check_figures(result: dict, steps: list[str]) -> None:
    """Every step timed, with a peak RSS and a load average, and the round their sum."""
    seconds = result["seconds"]
    assert list(seconds) == steps
    assert all(seconds[step] > 0 for step in steps if step != ROUND)
    assert seconds[ROUND] == round(seconds["query"] + seconds["teach + eval + predictions"], 3)
    assert set(result["step_peak_rss_mb"]) == set(result["load_average"]) == set(steps)
    peaks = [p for p in result["step_peak_rss_mb"].values() if p is not None]
    assert peaks, "no step's peak RSS was read"
    assert all(0 < p <= result["peak_rss_mb"] for p in peaks)
    assert all(load >= 0 for load in result["load_average"].values())
    one_time = result["one_time"]["seconds"]
    assert list(one_time) == [
        "build dataset (once per size, reused)",
        f"seed {INITIAL} labels (once)",
    ]
    assert all(s >= 0 for s in one_time.values())  # built here, or reused: next to nothing


def test_round_scale_smoke_runs_two_rounds_and_times_every_step(tmp_path):
    out = tmp_path / "scale.json"
    run = run_smoke(out)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert (result["samples"], result["dim"], result["batch"], result["initial"]) == (
        SAMPLES,
        DIM,
        BATCH,
        INITIAL,
    )
    assert result["estimator"] == "lr" and result["estimator_config"]["kind"] == (
        "logistic_regression"
    )
    assert result["strategy"] == "typiclust_margin" and result["dask_workers"] == 0
    assert result["cpus"] == os.cpu_count()
    check_rounds(result)
    check_figures(result, [*STEPS, ROUND])
    assert f"round scale: {SAMPLES} samples x {DIM} dims" in run.stdout
    printed = [line for line in run.stdout.splitlines() if " load " in line]
    assert len(printed) == 2 + len(STEPS) + 1  # the one-time steps, the round's, the round
    assert f"wrote {out}" in run.stdout


def test_round_scale_smoke_on_dask_times_the_scoring_passes(tmp_path):
    out = tmp_path / "scale.json"
    run = run_smoke(out, "--dask-workers", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["dask_workers"] == 2
    check_rounds(result)  # scored on the cluster, the round queries and learns one batch too
    check_figures(result, [*STEPS, ROUND, *SCORING])
    assert "dask workers 2" in run.stdout
