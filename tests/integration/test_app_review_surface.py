"""The in-App review surface's round field on a real FiftyOne dataset: a round's batch carries
its number in ``al_<slug>_round`` (never a tag), a cancelled round clears only its own number,
and the round tags of rounds shown before the field existed are still removed."""

from __future__ import annotations

import fiftyone as fo
import pytest
from PIL import Image

from alflow.backends.app_review.backend import AppReviewBackend
from alflow.backends.app_review.surface import DatasetReviewSurface, clear_loop
from alflow.backends.base import Batch, BatchItem
from alflow.config import naming
from tests.helpers import unique_name

CLASSES = ("3", "5")


@pytest.fixture
def surface(fo_db, tmp_path):
    """A four-image dataset named like its loop, and that loop's review backend."""
    name = unique_name("rounds")
    dataset = fo.Dataset(name)
    paths = [tmp_path / f"r{i}.png" for i in range(4)]
    for path in paths:
        Image.new("RGB", (8, 8)).save(path)
    ids = dataset.add_samples([fo.Sample(filepath=str(p)) for p in paths])
    backend = AppReviewBackend(DatasetReviewSurface(lambda: dataset, name))
    yield dataset, backend, ids, paths
    dataset.delete()


def _export(backend, name, number, ids, paths):
    items = tuple(BatchItem(sid, str(paths[0]), "3", 0.5) for sid in ids)
    return backend.export(Batch(name, number, items, CLASSES), lambda _: None)


def test_a_shown_round_numbers_its_batch_in_the_round_field_and_tags_nothing(surface):
    dataset, backend, ids, paths = surface
    ref = _export(backend, dataset.name, 3, ids[:2], paths)
    field = naming.round_field(dataset.name)
    assert ref["round_field"] == field and "tag" not in ref
    dataset.reload()
    assert dataset.values(field) == [3, 3, None, None]
    assert isinstance(dataset.get_field(field), fo.IntField)
    assert dataset.count_sample_tags() == {}
    # the saved view is the ledger's batch in query order, whatever the field says
    dataset.set_values(field, [None] * len(dataset))
    assert dataset.load_saved_view(ref["view"]).values("id") == ids[:2]


def test_cancelling_clears_its_own_round_number_only(surface):
    dataset, backend, ids, paths = surface
    first = _export(backend, dataset.name, 1, ids[:3], paths)
    _export(backend, dataset.name, 2, ids[2:], paths)  # ids[2] is shown again, in round 2
    backend.cancel(first)
    dataset.reload()
    assert dataset.values(naming.round_field(dataset.name)) == [None, None, 2, 2]
    assert not dataset.has_saved_view(first["view"])


def test_round_tags_of_rounds_shown_before_the_round_field_are_still_removed(surface):
    dataset, backend, ids, paths = surface
    legacy = f"{naming.round_tag_prefix(dataset.name)}round-001"
    ref = _export(backend, dataset.name, 1, ids[:2], paths)
    dataset.select(ids[:2]).tag_samples([legacy, "5"])  # "5": a reviewer's class tag
    backend.cancel({**ref, "tag": legacy})  # an old round's reference names its tag
    assert dataset.count_sample_tags() == {"5": 2}
    dataset.select(ids[2:]).tag_samples(f"{naming.round_tag_prefix(dataset.name)}round-002")
    dropped = clear_loop(dataset, dataset.name)
    assert dropped["tags"] == [f"{naming.round_tag_prefix(dataset.name)}round-002"]
    assert dataset.count_sample_tags() == {"5": 2}  # a tag a person added stays
