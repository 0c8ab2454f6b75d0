"""The strategies' names and families, which configuration, forms and learners check against."""

from __future__ import annotations

from typing import Literal

StrategyName = Literal[
    "ranked_batch",
    "least_confident",
    "margin",
    "entropy",
    "vote_entropy",
    "consensus_entropy",
    "max_disagreement",
    "diverse_margin",
    "badge",
    "typiclust",
    "typiclust_margin",
    "random",
]
# What each strategy picks, one line each (the configuration reference's table of choices).
STRATEGY_SUMMARIES: dict[str, str] = {
    "ranked_batch": "modAL's ranked batch mode: least-confidence uncertainty traded against "
    "distance to the labelled samples and to the batch so far",
    "least_confident": "the samples whose most probable class has the lowest probability",
    "margin": "the samples with the smallest gap between their two most probable classes",
    "entropy": "the samples whose class probabilities have the highest entropy",
    "vote_entropy": "the samples whose committee votes disagree most (entropy of the votes)",
    "consensus_entropy": "the samples whose committee-averaged probabilities have the highest "
    "entropy",
    "max_disagreement": "the samples where a committee member's probabilities diverge most "
    "from the consensus (Kullback-Leibler)",
    "diverse_margin": "margin uncertainty spread over k-means clusters of the most uncertain "
    "candidates",
    "badge": "BADGE: k-means++ seeding on gradient embeddings (uncertain and diverse at once)",
    "typiclust": "TypiClust: the most typical sample of each k-means cluster no label covers yet",
    "typiclust_margin": "TypiClust coverage while labels are few, then diverse_margin once every "
    "known class has coverage_per_class labels",
    "random": "uniformly random samples: the baseline every strategy must beat",
}
# Chosen by benchmarks/label_efficiency.py on its tuning seeds (see the JSON it writes).
DEFAULT_STRATEGY: StrategyName = "typiclust_margin"

# Need a modAL Committee, which alflow.learning.learners.fit_learner builds for them.
COMMITTEE_STRATEGIES: frozenset[str] = frozenset(
    {"vote_entropy", "consensus_entropy", "max_disagreement"}
)
# Need no model: they work from zero labels.
COLD_START_STRATEGIES: frozenset[str] = frozenset({"typiclust", "typiclust_margin", "random"})
