"""The detection demo: digits on canvases in FiftyOne, five rounds of box queries answered by
the ground truth, mAP measured by FiftyOne after each."""

from __future__ import annotations

import os
from typing import Any

from alflow.demo import configs, detection_data
from alflow.demo.detection_simulation import read_pool, simulate_detection


def run(
    rounds: int = 5, batch: int = 20, images: int = 600, random_state: int = 0
) -> list[dict[str, Any]]:
    """Build (or reuse) the detection dataset and run the demo's rounds; one row per round."""
    os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")
    dataset = detection_data.build_detection_dataset(images, random_state=random_state)
    detection = configs.detection_demo_config()
    pool = read_pool(dataset, detection, detection_data.GROUND_TRUTH, detection_data.IMAGE_FEATURES)
    return simulate_detection(
        dataset,
        pool,
        detection,
        configs.detection_demo_estimator(),
        detection_data.GROUND_TRUTH,
        initial=batch,
        batch_size=batch,
        rounds=rounds,
        random_state=random_state,
    )
