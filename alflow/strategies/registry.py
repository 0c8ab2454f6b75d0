"""The strategies by name, their configuration, and the bound strategy a learner holds."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alflow.errors import ConfigError
from alflow.strategies import sampling
from alflow.strategies.names import COMMITTEE_STRATEGIES, DEFAULT_STRATEGY, StrategyName
from alflow.strategies.sampling import Strategy

STRATEGIES: dict[str, Strategy] = {
    "ranked_batch": sampling.ranked_batch_sampling,
    "least_confident": sampling.least_confident_sampling,
    "margin": sampling.margin_sampling,
    "entropy": sampling.entropy_sampling,
    "vote_entropy": sampling.vote_entropy_sampling,
    "consensus_entropy": sampling.consensus_entropy_sampling,
    "max_disagreement": sampling.max_disagreement_sampling,
    "diverse_margin": sampling.diverse_margin_sampling,
    "badge": sampling.badge_sampling,
    "typiclust": sampling.typiclust_sampling,
    "typiclust_margin": sampling.typiclust_margin_sampling,
    "random": sampling.random_sampling,
}
# The StrategyConfig fields each strategy takes as keyword arguments.
STRATEGY_PARAMS: dict[str, tuple[str, ...]] = {
    "diverse_margin": ("candidates_per_pick",),
    "typiclust_margin": ("coverage_per_class", "candidates_per_pick"),
}


class StrategyConfig(BaseModel):
    """Which strategy selects each batch, and the few knobs some strategies have."""

    model_config = ConfigDict(extra="forbid")
    name: StrategyName = Field(DEFAULT_STRATEGY, description="Query strategy")
    committee_size: int = Field(
        3,
        ge=2,
        le=50,
        description="Members of the committee (committee strategies only); each refits every round",
    )
    candidates_per_pick: int = Field(
        3,
        ge=1,
        le=100,
        description="diverse_margin: uncertain candidates clustered per sample picked",
    )
    coverage_per_class: int = Field(
        3,
        ge=0,
        le=100,
        description="typiclust_margin: labels per known class gathered by coverage first",
    )

    def params(self) -> dict[str, Any]:
        """Keyword arguments for the chosen strategy (only those it takes)."""
        wanted = STRATEGY_PARAMS.get(self.name, ())
        return {key: getattr(self, key) for key in wanted}


def strategy_options(name: str) -> tuple[str, ...]:
    """The :class:`StrategyConfig` fields that strategy ``name`` uses besides its name.

    Forms (the App's) show only these, so no option is offered that the strategy ignores.
    """
    committee = ("committee_size",) if name in COMMITTEE_STRATEGIES else ()
    return committee + STRATEGY_PARAMS.get(name, ())


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``.

    Raises:
        ConfigError: no strategy has that name (the message lists those that do).
    """
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; choose one of {', '.join(sorted(STRATEGIES))}"
        ) from None


def bind_strategy(config: StrategyConfig) -> Strategy:
    """The configured strategy with its parameters bound, ready to be a ``query_strategy``.

    A ``functools.partial`` of a module-level function, so a learner holding it pickles.
    """
    strategy = get_strategy(config.name)
    params = config.params()
    return functools.partial(strategy, **params) if params else strategy
