"""The label-efficiency benchmark's smoke mode, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.curves import check_well_formed

ROOT = Path(__file__).resolve().parents[2]


def _benchmark(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "label_efficiency.py"), *args],
        capture_output=True,
        text=True,
        timeout=900,  # a busy 2-core machine: the smoke run alone took 210 s at load 11
        cwd=ROOT,
        check=False,
    )


def test_benchmark_smoke_mode_writes_results_and_plot(tmp_path):
    completed = _benchmark("--smoke", "--out", str(tmp_path))
    assert completed.returncode == 0, completed.stderr
    data = json.loads((tmp_path / "label_efficiency_smoke.json").read_text())
    assert (tmp_path / "label_efficiency_smoke.png").stat().st_size > 0
    strategies = set(data["summary"]["report"])
    assert len(strategies) == 2 and data["default_strategy"] in strategies
    assert {r["estimator"] for r in data["runs"]} == {"rf", "lr", "ls"}
    assert data["best_on_tuning_seeds"][0] in {"rf", "lr", "ls"}
    for run in data["runs"]:
        check_well_formed(run, data["setup"]["budget"], data["setup"]["batch"])
    assert {r["seed"] for r in data["runs"]} == set(data["tuning_seeds"]) | set(
        data["report_seeds"]
    )
    assert "labels to 95%" in completed.stdout
    (tmp_path / "label_efficiency_smoke.png").unlink()
    replotted = _benchmark("--smoke", "--replot", "--out", str(tmp_path))
    assert replotted.returncode == 0, replotted.stderr
    assert (tmp_path / "label_efficiency_smoke.png").stat().st_size > 0
    assert completed.stdout.startswith(replotted.stdout)
