"""The scale benchmark runs at smoke size and writes its figures (numbers are not asserted)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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


def test_round_scale_smoke_writes_every_step(tmp_path):
    out = tmp_path / "scale.json"
    run = run_smoke(out)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["samples"] == 2000
    steps = result["seconds"]
    for step in (
        "register loop (split + labels)",
        "features cold (FiftyOne + cache)",
        "features warm (cache)",
        "round 0 fit + eval + predictions",
        "query",
        "teach + eval + predictions",
    ):
        assert steps[step] >= 0
    assert steps["round (query + teach)"] == round(
        steps["query"] + steps["teach + eval + predictions"], 3
    )
    assert "build dataset (once per size, reused)" in result["one_time"]["seconds"]
    peaks = result["step_peak_rss_mb"]
    assert set(peaks) == set(steps) == set(result["load_average"])
    measured = [p for p in peaks.values() if p is not None]
    assert all(0 < p <= result["peak_rss_mb"] for p in measured)
    assert "round scale: 2000 samples" in run.stdout and " load " in run.stdout


def test_round_scale_smoke_on_dask_times_the_scoring_passes(tmp_path):
    out = tmp_path / "scale.json"
    run = run_smoke(out, "--dask-workers", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["dask_workers"] == 2
    for name in ("in process", "Dask, 1 worker", "Dask, 2 workers"):
        assert result["seconds"][f"scoring pass ({name})"] > 0
