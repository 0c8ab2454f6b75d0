"""The strategies by name and the bound strategy a learner holds (their configuration is in
:mod:`alflow.config.strategy`, which imports no sampling code)."""

from __future__ import annotations

import functools

from alflow.config.strategy import STRATEGY_PARAMS, StrategyConfig, strategy_options
from alflow.errors import ConfigError
from alflow.strategies import sampling
from alflow.strategies.sampling import Strategy

__all__ = [
    "STRATEGIES",
    "STRATEGY_PARAMS",
    "StrategyConfig",
    "bind_strategy",
    "get_strategy",
    "strategy_options",
]

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
# Learners checkpoint their bound strategy, and pickle records a function by module and name:
# recording the public path keeps checkpoints loadable whichever room holds the code, and
# every checkpoint names its strategy by exactly this path. (Here, not in the
# package's __init__, which imports this module only when a strategy is asked for.)
for _public in STRATEGIES.values():
    _public.__module__ = "alflow.strategies"
del _public


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
