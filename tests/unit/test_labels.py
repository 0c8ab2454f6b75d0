import numpy as np
import pytest

from alflow.data import labels
from alflow.errors import LabelError


def test_tags_only_class_tags_count():
    tags = {"s1": ["cat", "blurry"], "s2": ["reviewed"], "s3": ["dog"]}
    assert labels.labels_from_tags(tags, ["cat", "dog"]) == {"s1": "cat", "s3": "dog"}


def test_two_class_tags_on_a_sample_list_the_samples():
    tags = {"s1": ["cat", "dog"], "s2": ["cat"], "s3": ["dog", "bird", "x"]}
    with pytest.raises(LabelError) as info:
        labels.labels_from_tags(tags, ["cat", "dog", "bird"])
    message = str(info.value)
    assert "2 samples" in message and "s1 (cat+dog)" in message and "s3 (bird+dog)" in message
    assert "s2" not in message


def test_field_labels_skip_unset():
    assert labels.labels_from_field({"a": "x", "b": None}) == {"a": "x"}


def test_no_initial_labels_is_an_error_unless_cold_start():
    with pytest.raises(LabelError, match="no initial labels.*cold-start"):
        labels.require_initial_labels({}, "field 'seed'", cold_start=False)
    labels.require_initial_labels({}, "field 'seed'", cold_start=True)


def test_one_class_is_an_error_naming_the_class():
    with pytest.raises(LabelError, match=r"only 1 class \('cat'\).*two classes"):
        labels.require_initial_labels({"a": "cat", "b": "cat"}, "tags", cold_start=False)


def test_eval_split_is_deterministic_sized_and_excludes_labelled():
    ids = [f"id{i:03d}" for i in range(200)]
    a = labels.draw_eval_split(ids, 0.25, 7, exclude=ids[:10])
    b = labels.draw_eval_split(list(reversed(ids)), 0.25, 7, exclude=ids[:10])
    c = labels.draw_eval_split(ids, 0.25, 8, exclude=ids[:10])
    assert a == b
    assert a != c
    assert len(a) == 50
    assert not a & set(ids[:10])


def test_pool_excludes_eval_labelled_and_queued():
    ids = np.array(["a", "b", "c", "d", "e"], dtype=object)
    mask = labels.pool_mask(ids, ["a"], ["b"], ["c"])
    assert mask.tolist() == [False, False, False, True, True]


def test_provenance_fields():
    prov = labels.provenance("cvat", 3, cvat_task_id=9)
    assert prov["source"] == "cvat" and prov["round"] == 3 and prov["cvat_task_id"] == 9
    assert prov["excluded"] is False and prov["labelled_at"].endswith("+00:00")
