"""Typed configuration of a detection loop: where boxes come from, how their uncertainties
become an image's score, and how a batch is counted."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TaskKind = Literal["classification", "detection"]
BoxMeasure = Literal["least_confident", "margin", "entropy", "one_minus_confidence"]
Aggregation = Literal["sum", "mean", "max", "top_k_mean"]
BatchUnit = Literal["images", "boxes"]
BACKGROUND = "background"  # the class of a proposal that covers no object


class ProposalConfig(BaseModel):
    """Where a detection loop's candidate boxes come from."""

    model_config = ConfigDict(extra="forbid")
    field: str = Field(
        ...,
        min_length=1,
        description="A Detections field whose boxes are the proposals (a detector's or a "
        "zero-shot model's boxes, or a classical proposer's written beforehand)",
    )


class BoxFeatureConfig(BaseModel):
    """What a box's classifier sees: an embedding stored on each proposal, or its crop."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["attribute", "crop"] = Field(
        "crop",
        description="attribute: a per-box vector stored on each proposal (e.g. FiftyOne patch "
        "embeddings); crop: the box's pixels, grey, resized to crop_size x crop_size",
    )
    attribute: str | None = Field(
        None, description="The proposals' attribute holding the vector (kind 'attribute')"
    )
    crop_size: int = Field(8, ge=2, le=64, description="Side of the resized crop (kind 'crop')")

    @model_validator(mode="after")
    def _attribute_named(self) -> BoxFeatureConfig:
        if self.kind == "attribute" and not self.attribute:
            raise ValueError(
                "box features of kind 'attribute' need the proposals' attribute name: set "
                "attribute, or use kind 'crop'"
            )
        return self


class DetectionConfig(BaseModel):
    """How a detection loop scores images from the boxes it predicts."""

    model_config = ConfigDict(extra="forbid")
    proposals: ProposalConfig | None = Field(
        None,
        description="Where the candidate boxes come from (alflow's box learner; a loop scored "
        "by a team's own detector reads its boxes from scorer.field instead)",
    )
    box_features: BoxFeatureConfig = Field(
        default_factory=BoxFeatureConfig, description="What each box's classifier sees"
    )
    measure: BoxMeasure = Field(
        "margin",
        description="Per-box uncertainty; one_minus_confidence where a box has no class "
        "probabilities",
    )
    aggregation: Aggregation = Field(
        "sum", description="How an image's box uncertainties become its score"
    )
    top_k: int = Field(3, ge=1, le=100, description="Boxes averaged by top_k_mean")
    nms_iou: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Boxes of one predicted class overlapping more than this are one object: "
        "only the most confident counts (class-wise non-maximum suppression)",
    )
    match_iou: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="A proposal overlapping a labelled box by at least this takes its class; "
        "else it is background. Also how a corrected box is matched to its pre-filled one",
    )
    class_balance: bool = Field(
        False, description="Down-weight boxes of predicted classes that are frequent in the pool"
    )
    batch_unit: BatchUnit = Field(
        "images",
        description="Count batch_size in images, or in expected boxes (predicted objects)",
    )
    min_score: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="A predicted object is kept when its class's probability reaches this",
    )
