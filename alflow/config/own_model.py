"""Typed configuration of who scores a loop's pool: alflow's own learners, or a team's model
whose predictions FiftyOne holds (:class:`ModelPredictionsConfig`), with the team's own
retraining job run after each ingest."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# the strategies that need only the model's class probabilities (or its confidences) and the
# image features: no refit, no committee, no labelled set of alflow's learner
MODEL_PREDICTION_STRATEGIES = frozenset(
    {"least_confident", "margin", "entropy", "diverse_margin", "random"}
)
# of those, the ones a confidence alone can drive (least confident: 1 - confidence)
CONFIDENCE_ONLY_STRATEGIES = frozenset({"least_confident", "random"})
# a detection loop's per-box measures that a box's confidence alone drives (1 - confidence)
CONFIDENCE_ONLY_MEASURES = frozenset({"least_confident", "one_minus_confidence"})
ENTRY_POINT_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlflowScorerConfig(_Model):
    """alflow's own learners: the loop's estimator, fitted and taught by alflow every round."""

    kind: Literal["alflow"] = "alflow"


class DeploymentRetrain(_Model):
    """Retrain by a run of a Prefect deployment of the team's own training flow."""

    kind: Literal["deployment"] = "deployment"
    name: str = Field(
        ...,
        pattern=r"^[^/]+/[^/]+$",
        description="The deployment as '<flow name>/<deployment name>'; it is started with the "
        "parameters dataset, label_field, round_number and predictions_field",
    )
    timeout_seconds: float = Field(
        3600.0, gt=0, description="How long a round waits for the run to finish"
    )


class EntryPointRetrain(_Model):
    """Retrain by calling a Python function in the round's own flow run."""

    kind: Literal["entry_point"] = "entry_point"
    target: str = Field(
        ...,
        pattern=ENTRY_POINT_PATTERN,
        description="'module:function', called with dataset, label_field, round_number and "
        "predictions_field as keyword arguments",
    )


class NoRetrain(_Model):
    """No job of alflow's: the loop waits until the predictions field is rewritten (or
    'alflow predictions ready LOOP')."""

    kind: Literal["none"] = "none"


RetrainConfig = Annotated[
    DeploymentRetrain | EntryPointRetrain | NoRetrain, Field(discriminator="kind")
]


class ModelPredictionsConfig(_Model):
    """A team's own model scores the pool from the predictions it writes to FiftyOne."""

    kind: Literal["model_predictions"] = "model_predictions"
    field: str = Field(
        ...,
        min_length=1,
        description="The field the model writes its predictions to: Classification for a "
        "classification loop, Detections for a detection loop",
    )
    classes: list[str] = Field(
        ...,
        min_length=2,
        description="The model's classes, in the order of its logits (or its boxes' probabilities)",
    )
    logits: str | None = Field(
        "logits",
        description="The attribute of each prediction holding its logits (softmaxed into class "
        "probabilities); None for a model that writes only confidences (classification)",
    )
    probabilities: str | None = Field(
        None,
        description="The attribute of each predicted box holding one probability per class, in "
        "the order of classes; None for a detector that writes only confidences (detection)",
    )
    retrain: RetrainConfig = Field(
        default_factory=NoRetrain,
        description="Who retrains the model after a round's labels are ingested",
    )


ScorerConfig = Annotated[AlflowScorerConfig | ModelPredictionsConfig, Field(discriminator="kind")]


def scorer_problem(
    scorer: AlflowScorerConfig | ModelPredictionsConfig,
    strategy: str,
    task: str,
    measure: str | None = None,
) -> str | None:
    """Why ``strategy`` (a detection loop: its per-box ``measure``) cannot run with ``scorer``
    on a ``task`` loop (one line), or None."""
    if not isinstance(scorer, ModelPredictionsConfig):
        return None
    if task == "detection":
        return None if strategy == "random" else _detection_problem(scorer, measure)
    if scorer.probabilities is not None:
        return (
            "scorer.probabilities names a per-box attribute of a detection loop's Detections; "
            "a classification loop's class probabilities come from scorer.logits: unset it"
        )
    if strategy not in MODEL_PREDICTION_STRATEGIES:
        return (
            f"strategy {strategy!r} needs alflow's own learner (a refit, a committee or its "
            "labelled set); scorer 'model_predictions' takes "
            f"{', '.join(sorted(MODEL_PREDICTION_STRATEGIES))}"
        )
    if scorer.logits is None and strategy not in CONFIDENCE_ONLY_STRATEGIES:
        return (
            f"strategy {strategy!r} needs class probabilities, and scorer.logits is None (only "
            "confidences): name the logits attribute, or choose least_confident"
        )
    return None


def _detection_problem(scorer: ModelPredictionsConfig, measure: str | None) -> str | None:
    """A detection loop's strategies are checked with its detection settings; what the team's
    boxes must carry for the per-box measure is checked here."""
    if scorer.probabilities is None and measure not in CONFIDENCE_ONLY_MEASURES:
        return (
            f"detection.measure {measure!r} needs per-box class probabilities, and "
            "scorer.probabilities is None (only confidences): name the boxes' probabilities "
            "attribute, or choose measure least_confident or one_minus_confidence"
        )
    return None
