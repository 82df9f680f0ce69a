"""Grid and randomized searches that train a whole grid at once.

``GridSearchCV`` and ``RandomizedSearchCV`` are scikit-learn's, with one more
parameter, ``fuse``: sknets estimators whose candidates differ only in values
that can be stacked (learning rate, penalty, loss, seed, fold, ...) train
together as one stacked network (``sknets.training.fused``). Everything else
(other estimators, pipelines, fit parameters) is fitted as scikit-learn fits
it, in the same search.
"""

from ._search import GridSearchCV, RandomizedSearchCV, fit_on_folds

__all__ = ["GridSearchCV", "RandomizedSearchCV", "fit_on_folds"]
