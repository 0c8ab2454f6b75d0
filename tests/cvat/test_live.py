"""The backend against a real CVAT server; runs only when ALFLOW_CVAT_URL is set.

Credentials come from the same variables the backend reads (ALFLOW_CVAT_TOKEN, or
ALFLOW_CVAT_USERNAME and ALFLOW_CVAT_PASSWORD). The test deletes the task it creates; the project
``alflow-alflow-live-test`` stays for the next run.
"""

from __future__ import annotations

import os

import pytest

from alflow.backends.base import Progress
from alflow.backends.cvat import CvatBackend
from alflow.config.backends import CvatBackendConfig

from .fakes import Refs

pytestmark = [
    pytest.mark.cvat_live,
    pytest.mark.skipif(not os.environ.get("ALFLOW_CVAT_URL"), reason="ALFLOW_CVAT_URL is not set"),
]


def test_round_trip_on_a_real_server(make_batch):
    backend = CvatBackend(CvatBackendConfig(segment_size=2, poll_seconds=1.0))
    batch = make_batch(
        ["zeta.png", "alpha.png", "mid.png"], ["cat", "dog", None], loop="alflow-live-test"
    )
    ref = backend.export(batch, Refs())
    try:
        assert ref["frames"] == ["s0", "s1", "s2"]
        assert backend.progress(ref) == Progress(0, 2)
        collected = backend.collect(ref, partial=True)
        assert collected.pending == ("s0", "s1", "s2")
        assert backend.export(batch, Refs(), ref=ref)["task_id"] == ref["task_id"]
    finally:
        backend.cancel(ref)


def test_a_detection_round_pre_fills_rectangles_on_a_real_server(tmp_path):
    from PIL import Image

    from alflow.backends.base import DETECTION, Batch, BatchItem, BoxGuess

    items = []
    for i, boxes in enumerate([(BoxGuess((0.1, 0.2, 0.3, 0.4), "cat", 0.9),), None]):
        path = tmp_path / f"box{i}.png"
        Image.new("RGB", (40, 20), (60 * i, 80, 160)).save(path)
        items.append(BatchItem(f"s{i}", str(path), boxes=boxes, size=(40, 20)))
    batch = Batch("alflow-live-test", 1, tuple(items), ("cat", "dog"), task=DETECTION)
    backend = CvatBackend(CvatBackendConfig(segment_size=2, poll_seconds=1.0))
    ref = backend.export(batch, Refs())
    try:
        assert ref["prefilled"] and ref["sizes"] == [[40, 20], [40, 20]]
        assert backend.collect(ref, partial=True).pending == ("s0", "s1")
        assert backend.export(batch, Refs(), ref=ref)["task_id"] == ref["task_id"]
    finally:
        backend.cancel(ref)
