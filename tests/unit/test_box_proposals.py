"""The classical proposer, crop features and the detection demo's canvases: pure, no database."""

from __future__ import annotations

import numpy as np
import pytest

from alflow.boxes import crops, proposals
from alflow.boxes.geometry import as_boxes, iou_matrix
from alflow.demo import detection_data


def test_each_bright_region_is_one_component_box():
    image = np.zeros((20, 30))
    image[2:6, 3:8] = 200  # 4 rows x 5 columns
    image[10:18, 20:22] = 200
    found = proposals.component_boxes(image, threshold=100)
    # each grown by the one-pixel dilation that joins a digit's strokes
    assert sorted(found.tolist()) == [[2, 1, 7, 6], [19, 9, 4, 10]]


def test_jittered_variants_stay_near_their_box_and_follow_the_seed():
    box = np.array([[10.0, 10.0, 20.0, 20.0]])
    a = proposals.jittered(box, 3, np.random.default_rng(1))
    b = proposals.jittered(box, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 4) and (np.abs(a - box) <= 0.15 * 20 + 1e-9).all()


def test_proposals_are_relative_boxes_inside_the_image():
    image = np.zeros((40, 40))
    image[0:10, 30:40] = 255  # touches the edge: jitter must not push a box outside
    boxes = proposals.propose(image, 100, jitter=4, rng=np.random.default_rng(0))
    assert len(boxes) == 5
    as_boxes(boxes, "proposals")  # raises if any box leaves the image


def test_crop_features_see_the_boxs_pixels_and_its_size():
    pixels = np.zeros((16, 16), dtype=np.uint8)
    pixels[0:8, 0:8] = 255
    rows = crops.crop_features(pixels, np.array([[0, 0, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]]), size=4)
    assert rows.shape == (2, 18)
    assert rows[0, :16] == pytest.approx(np.ones(16)) and rows[1, :16] == pytest.approx(0)
    assert rows[0, -2:] == pytest.approx([0.5, 0.5])


def test_demo_canvases_follow_their_seed_and_their_proposals_find_the_digits():
    first, again = detection_data.canvases(30, 3), detection_data.canvases(30, 3)
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(first, again, strict=True))
    counts = [len(c.labels) for c in first]
    assert min(counts) >= 1 and max(counts) <= 4
    found = [(iou_matrix(c.boxes, c.proposals).max(axis=1) >= 0.5) for c in first]
    assert np.concatenate(found).mean() > 0.9  # the proposer's recall at IoU 0.5
    for c in first:
        as_boxes(c.boxes, "ground truth")
