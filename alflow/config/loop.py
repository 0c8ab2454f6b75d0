"""Typed configuration of a loop (one pydantic model, stored with the loop and versioned) and of
a step of it (:class:`StepOptions`, given per run and never stored).

The models double as Prefect parameter schemas, so every field carries a description and
constraints that the Prefect UI renders as a form.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alflow.config.backends import (
    BackendConfig,
    OracleBackendConfig,
)
from alflow.config.detection import DetectionConfig, TaskKind
from alflow.config.estimators import EstimatorConfig, LogisticRegressionConfig
from alflow.config.naming import LOOP_NAME_MAX, LOOP_NAME_PATTERN, validate_loop_name
from alflow.config.own_model import (
    AlflowScorerConfig,
    ModelPredictionsConfig,
    ScorerConfig,
    scorer_problem,
)
from alflow.config.strategy import StrategyConfig
from alflow.config.strategy_names import COLD_START_STRATEGIES
from alflow.errors import ConfigError
from alflow.state.versions import CONFIG_VERSION

SCHEMA_VERSION = CONFIG_VERSION  # stored with every loop; alflow.state.versions upgrades older ones


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeatureConfig(_Model):
    """Numeric sample fields concatenated, in this order, into one feature vector."""

    fields: list[str] = Field(..., min_length=1, description="Vector or float fields, in order")
    standardize: bool = Field(False, description="Scale each feature to zero mean, unit variance")


class FieldLabels(_Model):
    """Initial labels read from a Classification field (copied into the loop's label field)."""

    kind: Literal["field"] = "field"
    field: str = Field(..., description="Classification field holding the initial labels")


class TagLabels(_Model):
    """Initial labels read from sample tags; only tags naming one of ``classes`` count."""

    kind: Literal["tags"] = "tags"
    classes: list[str] = Field(..., min_length=2, description="Tags that name classes")


LabelSource = Annotated[FieldLabels | TagLabels, Field(discriminator="kind")]


class StopRules(_Model):
    """When a loop is done; checked after every taught round."""

    label_budget: int | None = Field(None, ge=1, description="Stop at this many labels")
    max_rounds: int | None = Field(None, ge=1, description="Stop after this many rounds")
    plateau_rounds: int | None = Field(
        None, ge=2, description="Stop when accuracy gained < plateau_delta over this many rounds"
    )
    plateau_delta: float = Field(
        0.002, ge=0, description="Smallest gain in held-out accuracy that is not a plateau"
    )


class ScoringConfig(_Model):
    """How a round scores the pool (predictions and evaluation) and writes predictions back."""

    chunk_size: int = Field(
        50_000, ge=1, description="Rows scored at once: bounds memory, whatever the pool size"
    )
    write_back_threshold: float = Field(
        0.005,
        ge=0.0,
        le=1.0,
        description="A prediction is written back when its label changed or its confidence "
        "moved by at least this much since it was last written (0: every change; with a "
        "forest, 0.1 writes a few percent of the predictions a round instead of most)",
    )
    dask_address: str | None = Field(
        None,
        description="Score on this existing Dask cluster (e.g. tcp://scheduler:8786); "
        "ALFLOW_DASK_ADDRESS overrides it",
    )
    dask_workers: int | None = Field(
        None,
        ge=1,
        description="Score on a local Dask cluster of this many single-threaded worker "
        "processes; ALFLOW_DASK_WORKERS and a step's dask_workers override it",
    )


class LoopConfig(_Model):
    """Everything that defines an active-learning loop on one FiftyOne dataset."""

    schema_version: Literal[1] = Field(
        SCHEMA_VERSION,
        description="Version of this configuration's schema; alflow upgrades older stored ones",
    )
    name: str = Field(
        ...,
        pattern=LOOP_NAME_PATTERN,
        max_length=LOOP_NAME_MAX,
        description="Lowercase letters, digits and dashes; prefixes every field the loop writes",
    )
    dataset: str = Field(..., min_length=1, description="FiftyOne dataset name")
    task: TaskKind = Field(
        "classification",
        description="classification: one class per sample (Classification fields); detection: "
        "boxes with classes (Detections fields)",
    )
    detection: DetectionConfig | None = Field(
        None,
        description="How a detection loop proposes, classifies and scores boxes (task "
        "'detection' only)",
    )
    features: FeatureConfig = Field(
        ...,
        description="The sample fields the learner reads (a detection loop: the image-level "
        "feature its batches are spread over and its pool is read from)",
    )
    initial_labels: LabelSource | None = Field(
        None, description="Where the first labels come from; None only with a cold-start strategy"
    )
    ground_truth_field: str | None = Field(
        None,
        description="Read only by evaluation and the simulated annotator, never learned from",
    )
    estimator: EstimatorConfig = Field(
        default_factory=LogisticRegressionConfig,
        description="The model the learner fits, with its hyperparameters",
    )
    strategy: StrategyConfig = Field(
        default_factory=StrategyConfig, description="How each round picks its batch"
    )
    scorer: ScorerConfig = Field(
        default_factory=AlflowScorerConfig,
        description="Where the pool's probabilities come from and who refits: alflow's "
        "learners, or a team's own model through its predictions field",
    )
    batch_size: int = Field(20, ge=1, description="Samples queried per round")
    eval_fraction: float = Field(
        0.2, ge=0.0, lt=0.9, description="Share of samples held out for evaluation, never queried"
    )
    eval_tag: str | None = Field(
        None,
        description="Hold out the samples with this tag (a predefined test split) instead of "
        "drawing eval_fraction at random",
    )
    backend: BackendConfig = Field(
        default_factory=OracleBackendConfig, description="Who answers a round's batch"
    )
    stop: StopRules = Field(default_factory=StopRules, description="When the loop is done")
    random_state: int = Field(0, ge=0, description="Seeds the split, estimator and strategy")
    scoring: ScoringConfig = Field(
        default_factory=ScoringConfig,
        description="How rounds score the pool and write predictions back",
    )

    @field_validator("name", mode="before")
    @classmethod
    def _name_rule(cls, value: str) -> str:
        try:
            return validate_loop_name(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _scorer(self) -> LoopConfig:
        if self.task == "detection" and self.detection is None:
            return self  # the detection settings' own check says what is missing
        measure = self.detection.measure if self.detection else None
        problem = scorer_problem(self.scorer, self.strategy.name, self.task, measure)
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _task(self) -> LoopConfig:
        if self.task == "classification" and self.detection is not None:
            raise ValueError("detection settings are for task 'detection': set task or drop them")
        if self.task != "detection":
            return self
        if self.detection is None:
            raise ValueError(
                "a detection loop needs detection settings: at least detection.proposals.field "
                "(a Detections field of candidate boxes)"
            )
        if self.detection.proposals is None and isinstance(self.scorer, AlflowScorerConfig):
            raise ValueError(
                "a detection loop scored by alflow's box learner needs detection.proposals.field "
                "(a Detections field of candidate boxes), or scorer 'model_predictions' naming "
                "the team's Detections field"
            )
        if isinstance(self.initial_labels, TagLabels):
            raise ValueError(
                "a detection loop's initial labels are boxes: use initial_labels of kind "
                "'field' naming a Detections field, not class tags"
            )
        if self.backend.kind == "label_studio":
            raise ValueError(
                "Label Studio rounds are classification only: use backend 'cvat', 'app' or "
                "'oracle' for a detection loop"
            )
        name, measure = self.strategy.name, self.detection.measure
        if name not in DETECTION_STRATEGIES:
            raise ValueError(
                f"strategy {name!r} is not one for boxes; a detection loop takes "
                f"{', '.join(sorted(DETECTION_STRATEGIES))} (the per-box measure is "
                "detection.measure)"
            )
        if name in ("least_confident", "margin", "entropy") and name != measure:
            raise ValueError(
                f"strategy {name!r} and detection.measure {measure!r} disagree: set one to "
                "the other (diverse_margin spreads detection.measure's picks over the features)"
            )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> LoopConfig:
        own_model = isinstance(self.scorer, ModelPredictionsConfig)
        cold = self.strategy.name in COLD_START_STRATEGIES or own_model
        if self.initial_labels is None and not cold:
            cold_start = ", ".join(sorted(COLD_START_STRATEGIES)) or "none available yet"
            raise ValueError(
                f"loop {self.name!r} has no initial labels and strategy {self.strategy.name!r} "
                "needs a fitted model: set initial_labels (a Classification field or class tags) "
                f"or choose a cold-start strategy ({cold_start})"
            )
        if self.backend.kind == "oracle" and not self.ground_truth_field:
            raise ValueError(
                "the simulated annotator (backend 'oracle') answers from ground_truth_field: set it"
            )
        if (self.eval_fraction > 0 or self.eval_tag) and not self.ground_truth_field:
            raise ValueError(
                "a held-out split (eval_fraction > 0 or eval_tag) needs ground_truth_field to "
                "score it; set ground_truth_field, or eval_fraction=0 and no eval_tag"
            )
        return self


# The strategies a detection loop takes: random images, or box uncertainty (by
# detection.measure), spread over the image feature's k-means clusters for diverse_margin.
DETECTION_STRATEGIES = frozenset(
    {"random", "least_confident", "margin", "entropy", "diverse_margin"}
)


def parse_loop_config(data: dict) -> LoopConfig:
    """Validate a loop configuration, turning pydantic's report into one ConfigError."""
    from pydantic import ValidationError

    try:
        return LoopConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'loop'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid loop configuration: {problems}") from None


class StepOptions(_Model):
    """What to do with the loop's current round when it runs."""

    when_unfinished: Literal["wait", "accept_partial", "cancel"] = Field(
        "wait",
        description=(
            "If annotation is not finished: wait for all jobs (default), accept the jobs "
            "finished so far, or cancel the outstanding batch (its samples return to the pool)"
        ),
    )
    batch_size: int | None = Field(
        None, ge=1, description="Override the loop's batch size for a newly queried round"
    )
    dask_workers: int | None = Field(
        None,
        ge=1,
        description=(
            "Score this step's pool on a local Dask cluster of this many worker processes "
            "(the CLI's --dask-workers); wins over ALFLOW_DASK_WORKERS and the loop's "
            "scoring.dask_workers, for this step only"
        ),
    )
    open_next: bool = Field(
        True,
        description=(
            "After finishing the round in flight, query and export the next one at once (so "
            "annotators always have work); off, the step stops once the round is taught"
        ),
    )
