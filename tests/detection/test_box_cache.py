"""The box pool: per-box embeddings as FiftyOne stores them, and the on-disk cache that spares a
step from cropping every image again, refreshed where an image's proposals changed."""

from __future__ import annotations

import numpy as np
import pytest

from alflow.boxes import cache, pool
from alflow.config.detection import DetectionConfig
from alflow.errors import LabelError
from tests.helpers import unique_name

CROPS = DetectionConfig(proposals={"field": "proposals"})


@pytest.fixture
def small_boxes(digit_boxes):
    """30 of the digit canvases, cloned so that a test may edit their proposals."""
    dataset = digit_boxes.limit(30).clone(unique_name("box-cache"))
    yield dataset
    dataset.delete()


@pytest.fixture
def crop_reads(monkeypatch):
    """The sample ids whose image file the pool opened, in order."""
    opened: list[str] = []
    real = pool._grey_pixels

    def counting(path, sid):
        opened.append(sid)
        return real(path, sid)

    monkeypatch.setattr(pool, "_grey_pixels", counting)
    return opened


def assert_same_pool(a, b):
    assert a.ids == b.ids
    np.testing.assert_array_equal(a.sample, b.sample)
    np.testing.assert_allclose(a.boxes, b.boxes)
    np.testing.assert_allclose(a.X, b.X)


def test_a_second_read_comes_from_the_cache_without_opening_an_image(small_boxes, crop_reads):
    ids = small_boxes.values("id")
    first = cache.cached_box_pool(small_boxes, ids, CROPS)
    assert sorted(crop_reads) == sorted(set(crop_reads)) and len(crop_reads) > 20
    crop_reads.clear()
    second = cache.cached_box_pool(small_boxes, ids, CROPS)
    assert crop_reads == []
    assert_same_pool(first, second)
    assert_same_pool(second, pool.read_box_pool(small_boxes, ids, CROPS))


def test_moving_one_proposal_recomputes_only_that_image(small_boxes, crop_reads):
    ids = small_boxes.values("id")
    cache.cached_box_pool(small_boxes, ids, CROPS)
    sample = small_boxes[ids[3]]
    sample.proposals.detections[0].bounding_box = [0.0, 0.0, 0.5, 0.5]
    sample.save()
    crop_reads.clear()
    refreshed = cache.cached_box_pool(small_boxes, ids, CROPS)
    assert crop_reads == [ids[3]]
    assert_same_pool(refreshed, pool.read_box_pool(small_boxes, ids, CROPS))
    row = refreshed.rows_of([3])[0]
    np.testing.assert_allclose(refreshed.boxes[row], [0.0, 0.0, 0.5, 0.5])


def test_labels_written_on_samples_do_not_recompute_their_crops(small_boxes, crop_reads):
    import fiftyone as fo

    ids = small_boxes.values("id")
    cache.cached_box_pool(small_boxes, ids, CROPS)
    sample = small_boxes[ids[0]]
    sample["reviewed"] = fo.Classification(label="seen")
    sample.save()
    crop_reads.clear()
    cache.cached_box_pool(small_boxes, ids, CROPS)
    assert crop_reads == []


def test_the_pool_follows_the_order_and_subset_of_the_ids_asked(small_boxes, crop_reads):
    ids = small_boxes.values("id")
    cache.cached_box_pool(small_boxes, ids, CROPS)
    crop_reads.clear()
    wanted = list(reversed(ids[5:15]))
    got = cache.cached_box_pool(small_boxes, wanted, CROPS)
    assert crop_reads == []
    assert_same_pool(got, pool.read_box_pool(small_boxes, wanted, CROPS))


def test_refresh_reads_every_image_again(small_boxes, crop_reads):
    ids = small_boxes.values("id")
    cache.cached_box_pool(small_boxes, ids, CROPS)
    crop_reads.clear()
    cache.cached_box_pool(small_boxes, ids, CROPS, refresh=True)
    counts = small_boxes.values("proposals.detections")
    with_boxes = [sid for sid, n in zip(ids, counts, strict=True) if n]
    assert sorted(crop_reads) == sorted(with_boxes)


def embedded(dataset, make):
    """``dataset``'s proposals with an ``embedding`` attribute made by ``make(box)``."""
    for sample in dataset.iter_samples(autosave=True):
        for det in sample.proposals.detections:
            det["embedding"] = make(det.bounding_box)
    return DetectionConfig(
        proposals={"field": "proposals"},
        box_features={"kind": "attribute", "attribute": "embedding"},
    )


def test_embeddings_stored_as_fiftyone_arrays_are_decoded(small_boxes):
    config = embedded(small_boxes, lambda b: np.asarray([*b, 1.0], dtype=np.float32))
    got = pool.read_box_pool(small_boxes, small_boxes.values("id"), config)
    assert got.X.shape == (len(got.boxes), 5)
    np.testing.assert_allclose(got.X[:, :4], got.boxes, atol=1e-6)
    np.testing.assert_allclose(got.X[:, 4], 1.0)


def test_embeddings_stored_as_lists_are_read(small_boxes):
    config = embedded(small_boxes, lambda b: [float(v) * 2 for v in b])
    got = cache.cached_box_pool(small_boxes, small_boxes.values("id"), config)
    np.testing.assert_allclose(got.X, 2 * got.boxes, atol=1e-6)


def test_embeddings_of_two_lengths_are_refused_naming_a_sample(small_boxes):
    lengths = iter(range(10**6))
    config = embedded(small_boxes, lambda b: [0.0] * (3 + next(lengths) % 2))
    with pytest.raises(LabelError, match=r"lengths \[3, 4\] \(sample [0-9a-f]{24}\)"):
        pool.read_box_pool(small_boxes, small_boxes.values("id"), config)


def test_nan_embeddings_are_refused_with_their_count(small_boxes):
    config = embedded(small_boxes, lambda b: [float("nan"), 1.0])
    with pytest.raises(LabelError, match=r"proposal\(s\) of field 'proposals' have NaN"):
        pool.read_box_pool(small_boxes, small_boxes.values("id"), config)
