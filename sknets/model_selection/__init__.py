"""Grid and randomized searches that train a whole grid at once, and the
comparison of a search's candidates with their uncertainty.

``GridSearchCV`` and ``RandomizedSearchCV`` are scikit-learn's, with one more
parameter, ``fuse``: sknets estimators whose candidates differ only in values
that can be stacked (learning rate, penalty, loss, seed, fold, ...) train
together as one stacked network (``sknets.training.fused``). Everything else
(other estimators, pipelines, fit parameters) is fitted as scikit-learn fits
it, in the same search.

``compare_candidates`` reads any fitted search (sknets' or scikit-learn's)
and says which candidates and which parameter values the data can tell
apart: corrected resampled t-intervals and tests, Bonferroni-adjusted.
"""

from ._comparison import (
    CandidateComparison,
    bonferroni_adjust,
    bootstrap_interval,
    compare_candidates,
    corrected_ttest,
    wilson_interval,
)
from ._search import GridSearchCV, RandomizedSearchCV, fit_on_folds

__all__ = [
    "CandidateComparison",
    "GridSearchCV",
    "RandomizedSearchCV",
    "bonferroni_adjust",
    "bootstrap_interval",
    "compare_candidates",
    "corrected_ttest",
    "fit_on_folds",
    "wilson_interval",
]
