"""The support-vector classifier alflow builds: scikit-learn's SVC with probabilities, quiet.

Its own module because it subclasses scikit-learn's ``SVC``: :mod:`alflow.config.supervised` (the
configurations) names it by path and imports it only when a model is built.
"""

from __future__ import annotations

import warnings

from sklearn.svm import SVC


class ProbabilitySVC(SVC):
    """``SVC(probability=True)`` that fits without scikit-learn 1.9's deprecation warning.

    scikit-learn 1.9 deprecates ``probability=True`` in favour of
    ``CalibratedClassifierCV(SVC(), ensemble=False)``, whose stratified cross-validation needs
    at least two (by default five) labels of every class; an active-learning loop starts with
    one. libsvm's internal Platt scaling copes, so alflow keeps it (until scikit-learn 1.11,
    which ``pyproject.toml`` excludes) and silences only that one warning.
    """

    def fit(self, X, y, sample_weight=None):
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="The `probability` parameter", category=FutureWarning
            )
            return super().fit(X, y, sample_weight=sample_weight)
