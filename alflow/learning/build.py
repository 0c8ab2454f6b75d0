"""The one factory: a fresh scikit-learn classifier from an estimator's configuration.

The configurations (:mod:`alflow.config.estimators`) validate without scikit-learn; building
one imports it, and a semi-supervised configuration builds alflow's wrapper around it
(:mod:`alflow.learning.semi_supervised`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alflow.config.estimators import EstimatorConfig, is_semi_supervised
from alflow.config.supervised import build_supervised

if TYPE_CHECKING:
    from sklearn.base import ClassifierMixin


def build_estimator(config: EstimatorConfig, random_state: int) -> ClassifierMixin:
    """A fresh, unfitted scikit-learn classifier for ``config``, seeded with ``random_state``.

    Args:
        config: any estimator configuration (also a base estimator of Bagging or AdaBoost).
        random_state: seeds every source of randomness in the estimator, so two calls with the
            same arguments fit identical models on identical data.

    Returns:
        An unfitted classifier with ``predict_proba``; a semi-supervised one is a
        :class:`alflow.learning.semi_supervised.SemiSupervisedClassifier` that needs its pool set
        first.

    Raises:
        TypeError: ``config`` is not one of the configuration classes.
    """
    if is_semi_supervised(config):
        from alflow.learning.semi_supervised import build_semi_supervised

        return build_semi_supervised(config, random_state)
    return build_supervised(config, random_state)
