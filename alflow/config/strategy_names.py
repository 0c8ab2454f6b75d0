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
# Chosen by benchmarks/label_efficiency.py on its tuning seeds (see the JSON it writes).
DEFAULT_STRATEGY: StrategyName = "typiclust_margin"

# Need a modAL Committee, which alflow.learning.learners.fit_learner builds for them.
COMMITTEE_STRATEGIES: frozenset[str] = frozenset(
    {"vote_entropy", "consensus_entropy", "max_disagreement"}
)
# Need no model: they work from zero labels.
COLD_START_STRATEGIES: frozenset[str] = frozenset({"typiclust", "typiclust_margin", "random"})
