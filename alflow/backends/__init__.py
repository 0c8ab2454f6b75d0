"""Annotation backends; :func:`make_backend` is the one place that chooses the implementation."""

from __future__ import annotations

from alflow.backends.base import (
    AnnotationBackend,
    Answer,
    Batch,
    BatchItem,
    Collected,
    Progress,
    Reference,
    Unresolved,
)
from alflow.config.loop import LoopConfig

__all__ = [
    "AnnotationBackend",
    "Answer",
    "Batch",
    "BatchItem",
    "Collected",
    "Progress",
    "Reference",
    "Unresolved",
    "check_settings",
    "make_backend",
    "settings_read_prefect",
]


def settings_read_prefect(config: LoopConfig) -> bool:
    """Whether :func:`check_settings` reads a Prefect Secret block (so it needs Prefect's API)."""
    if config.backend.kind != "cvat":
        return False
    import os

    from alflow.backends.cvat.credentials import reads_block

    return reads_block(config.backend, os.environ) is not None


def check_settings(config: LoopConfig) -> None:
    """Refuse backend settings that no round may start with, whatever source gave them (a CVAT
    URL with credentials in it from ALFLOW_CVAT_URL or a Secret block); reaches no server.

    Raises:
        BackendError: the settings break a rule; the message names the source and the fix.
    """
    if config.backend.kind == "cvat":
        from alflow.backends.cvat import CvatBackend

        CvatBackend(config.backend).check_url()


def make_backend(config: LoopConfig, dataset_opener) -> AnnotationBackend:
    """The annotation backend the loop's configuration names.

    Args:
        config: the loop configuration.
        dataset_opener: zero-argument callable returning the loop's FiftyOne dataset; the
            simulated annotator reads its ground-truth field, the in-App review shows the
            batch on it.
    """
    if config.backend.kind == "oracle":
        from alflow.backends.oracle import OracleBackend

        field = config.ground_truth_field
        if config.task == "detection":
            from alflow.data.detections import read_boxes

            def true_boxes(ids: list[str]) -> dict[str, list | None]:
                return read_boxes(dataset_opener(), field, include_excluded=True, ids=ids)

            return OracleBackend(true_boxes, field, config.detection.match_iou)

        def ground_truth(ids: list[str]) -> dict[str, str | None]:
            # ids and values in one query: a sample deleted meanwhile is simply absent
            found, values = dataset_opener().select(ids).values(["id", f"{field}.label"])
            return dict(zip(found, values, strict=True))

        return OracleBackend(ground_truth, field)
    if config.backend.kind == "app":
        from alflow.backends.app_review.backend import AppReviewBackend
        from alflow.backends.app_review.surface import DatasetReviewSurface

        surface = DatasetReviewSurface(dataset_opener, config.name)
        return AppReviewBackend(surface, config.backend.unknown_labels)
    if config.backend.kind == "cvat":
        from alflow.backends.cvat import CvatBackend

        return CvatBackend(config.backend)
    if config.backend.kind == "label_studio":
        from alflow.backends.label_studio import LabelStudioBackend

        return LabelStudioBackend(config.backend)
    raise TypeError(f"no annotation backend for kind {config.backend.kind!r}")
