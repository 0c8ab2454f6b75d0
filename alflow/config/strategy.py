"""The configuration of a loop's strategy, apart from the sampling code (and scikit-learn), so a
loop's configuration validates without importing them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alflow.config.strategy_names import COMMITTEE_STRATEGIES, DEFAULT_STRATEGY, StrategyName

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
