"""A detection loop's rounds in reports and tables: images and boxes labelled and mAP where a
classification loop shows accuracy."""

from __future__ import annotations

from alflow.cli.output import DETECTION_COLUMNS, ROUND_COLUMNS, columns_for
from alflow.loop import reports


def round_doc(number: int, metrics: dict, ingest: dict | None = None) -> dict:
    return {
        "loop": "boxes",
        "round": number,
        "state": "taught",
        "metrics": metrics,
        "ingest": ingest or {},
        "queried_ids": ["a", "b"],
    }


DETECTION = {"labelled": 30, "labelled_boxes": 71, "mAP": 0.4213, "mAP50": 0.8}
CLASSIFICATION = {"labelled": 30, "accuracy": 0.9, "macro_f1": 0.88}


def test_curve_rows_carry_boxes_and_map_for_a_detection_loop_and_accuracy_otherwise():
    assert reports.curve_rows([round_doc(1, DETECTION)]) == [
        {"round": 1, "labelled": 30, "labelled_boxes": 71, "mAP": 0.4213, "mAP50": 0.8}
    ]
    assert reports.curve_rows([round_doc(1, CLASSIFICATION)]) == [
        {"round": 1, "labelled": 30, "accuracy": 0.9, "macro_f1": 0.88}
    ]


def test_a_detection_rounds_summary_counts_what_the_annotators_did_to_the_boxes():
    ingest = {
        "boxes": {"boxes": 5, "kept": 2, "moved": 1, "relabelled": 1, "added": 1, "deleted": 3}
    }
    text = reports.round_markdown(round_doc(2, DETECTION, ingest))
    assert "| boxes labelled so far | 71 |" in text
    assert "| this round's boxes | 5 (2 kept, 1 moved, 1 relabelled, 1 added, 3 deleted) |" in text
    assert "| held-out mAP@[.5:.95] | 0.421 |" in text and "accuracy" not in text


def test_tables_choose_the_detection_columns_only_for_rows_that_count_boxes():
    assert columns_for([{"round": 1, **DETECTION}]) is DETECTION_COLUMNS
    assert columns_for([{"round": 1, **CLASSIFICATION}]) is ROUND_COLUMNS


def test_the_annotation_link_is_named_for_the_tool_it_opens():
    refs = {
        "label_studio": {"kind": "label_studio", "task_url": "http://ls/projects/3/data"},
        "cvat": {"url": "http://cvat:8080", "task_id": 7},
    }
    shown = {}
    for kind, ref in refs.items():
        doc = {**round_doc(1, CLASSIFICATION), "backend": {"ref": ref}}
        shown[kind] = reports.round_markdown(doc, reports.task_url(ref))
    assert "| Label Studio project | [http://ls/projects/3/data]" in shown["label_studio"]
    assert "CVAT" not in shown["label_studio"]
    assert "| CVAT task | [http://cvat:8080/tasks/7]" in shown["cvat"]
