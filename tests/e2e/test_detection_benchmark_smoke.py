"""The detection benchmarks' smoke modes, run as a user runs them: every aggregation and random
measured, and a round's box work timed, each writing its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGGREGATIONS = {"sum", "mean", "max", "top_k_mean"}


def _run(script: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        check=False,
    )


def test_detection_efficiency_smoke_measures_every_aggregation_against_random(tmp_path):
    completed = _run("detection_efficiency.py", tmp_path)
    assert completed.returncode == 0, completed.stderr
    data = json.loads((tmp_path / "detection_efficiency_smoke.json").read_text())
    expected = {"random"} | AGGREGATIONS | {f"{a}+diversity" for a in AGGREGATIONS}
    assert set(data["summary"]["strategies"]) == expected
    budget, initial = data["setup"]["budget"], data["setup"]["initial"]
    for run in data["runs"]:
        images = [row["images"] for row in run["rows"]]
        assert images[0] == initial and images[-1] == budget, run["strategy"]
        assert images == sorted(images) and len(set(images)) == len(images)
        boxes = [row["boxes"] for row in run["rows"]]
        assert boxes == sorted(boxes) and boxes[0] > 0
        assert all(0.0 <= row["mAP"] <= row["mAP50"] <= 1.0 for row in run["rows"])
    for name in expected:
        assert name in completed.stdout


def test_detection_round_scale_smoke_times_each_step_and_picks_a_batch(tmp_path):
    completed = _run("detection_round_scale.py", tmp_path)
    assert completed.returncode == 0, completed.stderr
    data = json.loads((tmp_path / "detection_round_scale_smoke.json").read_text())
    assert data["images"] == 2000 and data["boxes_per_image"] == 5
    assert data["picked"] == 100 and data["peak_rss_mib"] > 0
    steps = data["seconds"]
    assert {"fit box classifier", "score every box (chunked)", "select the batch"} <= set(steps)
    assert data["round_seconds"] >= max(v for k, v in steps.items() if "synthetic" not in k)


def test_detection_real_round_smoke_runs_a_round_through_fiftyone_and_the_box_cache(tmp_path):
    completed = _run("detection_real_round.py", tmp_path)
    assert completed.returncode == 0, completed.stderr
    data = json.loads((tmp_path / "detection_real_round_smoke.json").read_text())
    first, second = data["rounds"]
    assert first["state"] == second["state"] == "taught"
    assert second["queried"] == data["batch"]
    assert second["labelled"] == first["labelled"] + data["batch"] == data["initial"] + 20
    assert second["labelled_boxes"] > first["labelled_boxes"] > 0
    assert 0.0 < second["mAP"] <= second["mAP50"] <= 1.0
    steps = data["seconds"]
    assert {"box pool cold (FiftyOne, all images)", "box pool warm (cache)", "query"} <= set(steps)
    assert steps["round (query + export + ingest + teach)"] >= steps["query"]
    named = ("refit", "predict + write-back", "evaluate_detections")
    parts = [steps[f"teach part: {p}"] for p in named]
    assert 0 < sum(parts) <= steps["teach: refit + write-back + mAP"]
