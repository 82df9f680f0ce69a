"""scikit-learn's searches, with the fits of a grid trained together."""

import copy
import time
import traceback
from collections import defaultdict
from inspect import signature
from itertools import product

import numpy as np
import torch
from sklearn import model_selection as _sk
from sklearn.base import _fit_context, clone, is_classifier
from sklearn.metrics._scorer import _MultimetricScorer
from sklearn.model_selection._validation import (
    _fit_and_score,
    _insert_error_scores,
    _score,
    _warn_or_raise_about_fit_failures,
)
from sklearn.utils import indexable
from sklearn.utils.metaestimators import _safe_split
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _check_method_params, _num_samples

from .._base import BaseTorchClassifier, _fork_devices, resolve_device
from .._docs import DocLinkMixin
from ..training import fit_threads, flush_denormal, intra_op_threads
from ..training.fused import STACKABLE_PARAMS, fusion_key, train_together
from ..training.spec import freeze

__all__ = ["GridSearchCV", "RandomizedSearchCV", "fit_on_folds"]


def _params_key(estimator):
    # Fits can share a stack only when every parameter that cannot be
    # stacked is equal (and the estimator class).
    params = estimator.get_params(deep=False)
    return (type(estimator).__qualname__,
            repr(sorted((k, freeze(v)) for k, v in params.items()
                        if k not in STACKABLE_PARAMS)))


def fusable(estimator, fit_params=None):
    """Whether a fit of ``estimator`` can join a fused group.

    Parameters
    ----------
    estimator : object
        The estimator about to be fitted.
    fit_params : dict or None, default=None
        Parameters routed to its ``fit``.

    Returns
    -------
    fusable : bool
        True for an sknets estimator fitted without fit parameters other
        than ``sample_weight`` and without per-epoch output; a ``Pipeline``
        or any other estimator is fitted on its own.
    """
    return (isinstance(estimator, BaseTorchClassifier)
            and set(fit_params or ()) <= {"sample_weight"}
            and not estimator.verbose)


def _rng_state(device):
    cuda = device.startswith("cuda")
    return (torch.get_rng_state(),
            torch.cuda.get_rng_state(_fork_devices(device)[0]) if cuda else None)


def _set_rng_state(device, state):
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], _fork_devices(device)[0])


def _plan(estimator, X, y, rows, device, X_placed, validation_data, sample_weight,
          continued=False):
    # The plan, and torch's RNG state after it: a fit trained on its own
    # continues from it (dropout), as its separate fit would.
    with torch.random.fork_rng(devices=_fork_devices(device)):
        plan = estimator._plan_fit(X, y, device=device, rows=rows,
                                   X_placed=X_placed, sample_weight=sample_weight,
                                   validation_data=validation_data,
                                   continued=continued)
        return plan, _rng_state(device)


def fit_on_folds(estimators, X, y, rows, validation_data=None, sample_weight=None):
    """Fit sknets estimators on subsets of the rows of one dataset, fused.

    Each estimator is fitted as ``estimator.fit(X[r], y[r],
    sample_weight=sample_weight[r])`` would fit it,
    for its rows ``r``; fits whose parameters differ only in
    ``STACKABLE_PARAMS`` (and that give equal network, solver, batch size and
    device) train together as one stacked network. X is validated and placed
    on the device once; each fit gathers its rows by index.

    Parameters
    ----------
    estimators : list of BaseTorchClassifier
        Estimators of one class whose parameters outside ``STACKABLE_PARAMS``
        are equal: all unfitted, or all fitted with ``warm_start=True``, whose
        fits then continue their nets as a warm-start ``fit`` does (a
        successive-halving rung's survivors).
    X : array-like of shape (n_samples, ...)
        The whole dataset.
    y : array-like of shape (n_samples,)
        Its labels.
    rows : list of array-like of int
        The rows each estimator trains on.
    validation_data : tuple or None, default=None
        A fixed validation set for every fit, as ``fit`` takes it.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Weights of the rows of X; each fit takes those of its rows.

    Returns
    -------
    results : list of (estimator or None, exception or None, float)
        For each estimator: itself, fitted, or the exception its fit raised;
        and its fit time in seconds (its share of the stacked epochs).

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, once the fits in progress have stopped: no fit is
        returned as finished when it was not.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.model_selection import fit_on_folds
    >>> X, y = np.random.RandomState(0).rand(60, 4), np.arange(60) % 3
    >>> clfs = [MLPClassifierTorch((8,), learning_rate_init=lr, max_iter=3,
    ...                            random_state=0) for lr in (1e-3, 1e-2)]
    >>> results = fit_on_folds(clfs, X, y, [np.arange(40), np.arange(20, 60)])
    >>> [(error, clf.n_iter_) for clf, error, _ in results]
    [(None, 3), (None, 3)]
    """
    if len({_params_key(e) for e in estimators}) > 1:
        raise ValueError("fit_on_folds needs estimators whose parameters differ "
                         f"only in {sorted(STACKABLE_PARAMS)}.")
    first = estimators[0]
    continued = {"net_" in vars(e) and e.warm_start for e in estimators}
    if len(continued) > 1:
        raise ValueError("fit_on_folds needs estimators that are all unfitted or "
                         "all fitted with warm_start=True.")
    continued = continued.pop()
    results = [[est, None, 0.0] for est in estimators]
    tic = time.perf_counter()
    before = set(vars(first))
    try:
        X_arr, y_arr = first._validate_Xy(X, y, reset=not continued)
        sample_weight = first._validate_sample_weight(sample_weight, X_arr)
        device = resolve_device(first.device)
    except Exception as exc:  # every fit fails as the first one's would
        return [(None, exc, time.perf_counter() - tic) for _ in estimators]
    validated = {k: v for k, v in vars(first).items() if k not in before}
    if validation_data is not None:
        # Converted once: each fit's own check then finds float32 rows that it
        # does not copy. Bad validation data is left to that check's message.
        try:
            X_val, *rest = validation_data
            validation_data = (first._validate_X(X_val, reset=False), *rest)
        except (TypeError, ValueError):
            pass
    X_placed = first._place(X_arr, device)
    plans, rng_states = {}, {}
    for i, (est, r) in enumerate(zip(estimators, rows, strict=True)):
        tic = time.perf_counter()
        try:
            est._validate_params()
            vars(est).update(copy.deepcopy(validated))
            r = np.asarray(r)
            if sample_weight is not None:
                # Each fit's own check, on its rows' weights (all zero, ...).
                est._validate_sample_weight(sample_weight[r], r)
            plans[i], rng_states[i] = _plan(est, X_arr, y_arr, r, device,
                                            X_placed, validation_data,
                                            sample_weight, continued)
        except Exception as exc:
            results[i][1] = exc
        results[i][2] += time.perf_counter() - tic
    groups = defaultdict(list)
    for i, plan in plans.items():
        key = fusion_key(plan.net.spec_)
        groups[i if key is None else key].append(i)
    specs = [plan.net.spec_ for plan in plans.values()]
    with flush_denormal(), intra_op_threads(fit_threads(first.n_threads, specs)):
        for members in groups.values():
            tic = time.perf_counter()
            try:
                if len(members) == 1:
                    plan = plans[members[0]]
                    with torch.random.fork_rng(devices=_fork_devices(device)):
                        _set_rng_state(device, rng_states[members[0]])
                        plan.net.partial_fit(plan.train, None, epochs=plan.epochs,
                                             valid_data=plan.valid)
                    if plan.net.interrupted_:
                        raise KeyboardInterrupt
                else:
                    train_together([plans[i] for i in members],
                                   streams=[rng_states[i][0] for i in members])
            except Exception as exc:
                for i in members:
                    results[i][1] = exc
                    results[i][2] += (time.perf_counter() - tic) / len(members)
                continue
            share = (time.perf_counter() - tic) / len(members)
            for i in members:
                tic = time.perf_counter()
                plan = plans[i]
                try:
                    estimators[i]._finish_fit(plan.net, plan.n_epochs_before,
                                              incremental=False)
                except Exception as exc:
                    results[i][1] = exc
                results[i][2] += share + time.perf_counter() - tic
    return [(None if error else est, error, seconds)
            for est, error, seconds in results]


def _error_scores(scorer, error_score, return_train_score):
    if isinstance(scorer, _MultimetricScorer):
        test = {name: error_score for name in scorer._scorers}
    else:
        test = error_score
    return test, (copy.copy(test) if return_train_score else None)


def _fit_unit(estimators, X, y, tasks, scorer, fit_params, score_params,
              return_train_score, error_score):
    # One dispatch unit of a fused search: estimators of one parameter group,
    # fitted together, then scored as scikit-learn's _fit_and_score scores.
    fitted = fit_on_folds(estimators, X, y, [train for train, _ in tasks],
                          sample_weight=(fit_params or {}).get("sample_weight"))
    out = [None] * len(tasks)
    # The fits of one fold share its test rows: sliced once, fold by fold
    # (never two folds' copies at once).
    by_fold = defaultdict(list)
    for j, (_, test) in enumerate(tasks):
        by_fold[id(test)].append(j)
    for members in by_fold.values():
        train, test = tasks[members[0]]
        X_test, y_test = _safe_split(estimators[0], X, y, test, train)
        for j in members:
            out[j] = _score_fit(*fitted[j], X, y, *tasks[j], X_test, y_test,
                                estimators[0], scorer, score_params,
                                return_train_score, error_score)
        del X_test, y_test
    return out


def _score_fit(est, error, fit_time, X, y, train, test, X_test, y_test, template,
               scorer, score_params, return_train_score, error_score):
    # One fit's entry of the results, as scikit-learn's _fit_and_score makes it.
    result = {}
    if error is not None:
        if error_score == "raise":
            raise error
        test_scores, train_scores = _error_scores(scorer, error_score,
                                                  return_train_score)
        result["fit_error"] = "".join(traceback.format_exception(error))
        score_time = 0.0
    else:
        result["fit_error"] = None
        tic = time.time()
        test_scores = _score(est, X_test, y_test, scorer,
                             _check_method_params(X, score_params, test),
                             error_score)
        score_time = time.time() - tic
        if return_train_score:
            X_train, y_train = _safe_split(template, X, y, train)
            train_scores = _score(est, X_train, y_train, scorer,
                                  _check_method_params(X, score_params, train),
                                  error_score)
    result["test_scores"] = test_scores
    if return_train_score:
        result["train_scores"] = train_scores
    result["n_test_samples"] = _num_samples(X_test)
    result["fit_time"] = fit_time
    result["score_time"] = score_time
    return result


def fit_cost(estimator, n_features):
    """A fit's relative cost: its weights times its epochs, to share work out.

    Parameters
    ----------
    estimator : object
        The estimator about to be fitted.
    n_features : int
        Columns of the data it is fitted on.

    Returns
    -------
    cost : float
        Proportional to the multiply-adds of its training (the output layer
        left out): fits of one grid compare by it.
    """
    params = estimator.get_params(deep=False)
    hidden = params.get("hidden_layer_sizes", ())
    hidden = [hidden] if isinstance(hidden, int) else list(hidden or ())
    sizes = [max(int(n_features), 1), *hidden]
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)) or sizes[0]
    epochs = params.get("max_iter", 1)
    return float(weights) * (epochs if isinstance(epochs, int) and epochs > 0 else 1)


def _makespan(costs, n_jobs):
    # The longest worker's load when units go, largest first, to the worker
    # that is free first (as joblib hands them out).
    loads = [0.0] * n_jobs
    for cost in sorted(costs, reverse=True):
        loads[loads.index(min(loads))] += cost
    return max(loads)


def _units(groups, n_jobs, cost=lambda item: 1.0):
    # Dispatch units: one per parameter group. With several workers, the
    # costliest group is cut, where the cut evens the workers' loads best,
    # until no worker carries more than 10% over an even share: as few cuts
    # as that takes, since a smaller stack is a little less efficient (an
    # idle worker wastes all of its time). Units go out costliest first.
    units = [list(group) for group in groups.values()]

    def unit_cost(unit):
        return sum(cost(item) for item in unit)

    while n_jobs > 1 and units:
        costs = [unit_cost(unit) for unit in units]
        if _makespan(costs, n_jobs) <= 1.1 * sum(costs) / n_jobs:
            break
        splittable = [u for u in units if len(u) > 1]
        if not splittable:
            break
        largest = max(splittable, key=unit_cost)
        rest = [unit_cost(u) for u in units if u is not largest]
        cut = min(range(1, len(largest)), key=lambda k: (
            _makespan([*rest, unit_cost(largest[:k]), unit_cost(largest[k:])],
                      n_jobs), abs(len(largest) - 2 * k)))
        units.remove(largest)
        units += [largest[:cut], largest[cut:]]
    return sorted(units, key=unit_cost, reverse=True)


class _FusedSearchMixin(DocLinkMixin):
    # Replaces scikit-learn's fit when fuse=True; the candidates, results,
    # ranking and refit stay scikit-learn's own.

    def fit(self, X, y=None, **params):
        """Run fit with all sets of parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training vectors.
        y : array-like of shape (n_samples,), default=None
            Targets.
        **params : dict of str -> object
            Parameters passed to the estimator's ``fit``, the scorer and the
            CV splitter, as scikit-learn routes them. A fit that receives
            fit parameters is not fused.

        Returns
        -------
        self : object
            Instance of fitted estimator.
        """
        if not self.fuse:
            return super().fit(X, y, **params)
        return self._fit_fused(X, y, **params)

    @_fit_context(prefer_skip_nested_validation=False)
    def _fit_fused(self, X, y=None, **params):
        scorers, refit_metric = self._get_scorers()
        X, y = indexable(X, y)
        params = _check_method_params(X, params=params)
        routed = self._get_routed_params_for_fit(params)
        self._checked_cv_orig = _sk.check_cv(
            self.cv, y, classifier=is_classifier(self.estimator))
        if hasattr(self, "_check_input_parameters"):
            self._check_input_parameters(X=X, y=y, split_params=routed.splitter.split)
        self.n_splits_ = self._checked_cv_orig.get_n_splits(
            X, y, **routed.splitter.split)
        base_estimator = clone(self.estimator)
        all_params, all_out, all_more = [], [], defaultdict(list)
        results = {}

        def evaluate_candidates(candidate_params, cv=None, more_results=None,
                                callback_ctx=None):
            nonlocal results
            cv = cv or self._checked_cv_orig
            candidate_params = list(candidate_params)
            splits = list(cv.split(X, y, **routed.splitter.split))
            if len(splits) != self.n_splits_:
                raise ValueError(
                    "cv.split and cv.get_n_splits return inconsistent results. "
                    f"Expected {self.n_splits_} splits, got {len(splits)}")
            if self.verbose > 0:
                print(f"Fitting {self.n_splits_} folds for each of "
                      f"{len(candidate_params)} candidates, totalling "
                      f"{len(candidate_params) * self.n_splits_} fits")
            out = self._evaluate(base_estimator, X, y, candidate_params, splits,
                                 scorers, routed)
            if len(out) < 1:
                raise ValueError("No fits were performed. Was the CV iterator "
                                 "empty? Were there no candidates?")
            _warn_or_raise_about_fit_failures(out, self.error_score)
            if callable(self.scoring):
                _insert_error_scores(out, self.error_score)
            all_params.extend(candidate_params)
            all_out.extend(out)
            for key, value in (more_results or {}).items():
                all_more[key].extend(value)
            results = self._format_results(all_params, self.n_splits_, all_out,
                                           all_more)
            return results

        root_ctx = None
        if "callback_ctx" in signature(self._run_search).parameters:
            # scikit-learn >= 1.9 hands its searches a callback context.
            root_ctx = self._init_callback_context(
                max_subtasks=1 + (self.refit is not False)
            ).call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=None)
            self._run_search(evaluate_candidates, callback_ctx=root_ctx)
        else:
            self._run_search(evaluate_candidates)
        first_test_score = all_out[0]["test_scores"]
        self.multimetric_ = isinstance(first_test_score, dict)
        if callable(self.scoring) and self.multimetric_:
            self._check_refit_for_multimetric(first_test_score)
            refit_metric = self.refit
        if self.refit or not self.multimetric_:
            self.best_index_ = self._select_best_index(self.refit, refit_metric,
                                                       results)
            if not callable(self.refit):
                self.best_score_ = results[f"mean_test_{refit_metric}"][
                    self.best_index_]
            self.best_params_ = results["params"][self.best_index_]
        if self.refit:
            self.best_estimator_ = clone(base_estimator).set_params(
                **clone(self.best_params_, safe=False))
            tic = time.time()
            if y is not None:
                self.best_estimator_.fit(X, y, **routed.estimator.fit)
            else:
                self.best_estimator_.fit(X, **routed.estimator.fit)
            self.refit_time_ = time.time() - tic
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_
        self.scorer_ = (scorers._scorers if isinstance(scorers, _MultimetricScorer)
                        else scorers)
        self.cv_results_ = results
        if root_ctx is not None:
            root_ctx.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=None)
        return self

    def _evaluate(self, base_estimator, X, y, candidate_params, splits, scorers,
                  routed):
        fit_params = routed.estimator.fit
        score_params = routed.scorer.score
        tasks = list(product(enumerate(candidate_params), enumerate(splits)))
        groups, ordinary = defaultdict(list), []
        for t, ((_, parameters), (_, _)) in enumerate(tasks):
            estimator = clone(base_estimator).set_params(
                **clone(parameters, safe=False))
            if fusable(estimator, fit_params):
                groups[_params_key(estimator)].append((t, estimator))
            else:
                ordinary.append(t)
        n_jobs = self.n_jobs or 1
        if n_jobs < 0:
            from joblib import effective_n_jobs
            n_jobs = effective_n_jobs(n_jobs)
        n_features = X.shape[1] if getattr(X, "ndim", 0) == 2 else 1
        units = _units(groups, n_jobs,
                       cost=lambda item: fit_cost(item[1], n_features))
        jobs = [delayed(_fit_unit)(
            [est for _, est in unit], X, y, [tasks[t][1][1] for t, _ in unit],
            scorers, fit_params, score_params, self.return_train_score,
            self.error_score)
            for unit in units]
        jobs += [delayed(_fit_and_score)(
            clone(base_estimator), X, y, train=tasks[t][1][1][0],
            test=tasks[t][1][1][1], parameters=tasks[t][0][1],
            split_progress=(tasks[t][1][0], len(splits)),
            candidate_progress=(tasks[t][0][0], len(candidate_params)),
            scorer=scorers, fit_params=fit_params, score_params=score_params,
            return_train_score=self.return_train_score,
            return_n_test_samples=True, return_times=True,
            return_parameters=False, error_score=self.error_score,
            verbose=self.verbose) for t in ordinary]
        answers = Parallel(n_jobs=self.n_jobs, pre_dispatch=self.pre_dispatch)(jobs)
        out = [None] * len(tasks)
        for unit, unit_out in zip(units, answers[:len(units)], strict=True):
            for (t, _), result in zip(unit, unit_out, strict=True):
                out[t] = result
        for t, result in zip(ordinary, answers[len(units):], strict=True):
            out[t] = result
        return out


_FUSE_DOC = """
    fuse : bool, default=True
        Train the fits of sknets estimators that differ only in stackable
        parameters (learning rate, penalty, loss, seed, fold, ...; see
        ``sknets.training.fused.STACKABLE_PARAMS``) together, as one stacked
        network. Results are equivalent to separate fits, not bit-identical.
        False runs scikit-learn's search unchanged.
"""


class GridSearchCV(_FusedSearchMixin, _sk.GridSearchCV):
    __doc__ = (
        "Exhaustive search over a parameter grid, training the grid at once.\n\n"
        "scikit-learn's :class:`~sklearn.model_selection.GridSearchCV` with "
        "``fuse``:\nsee its documentation for every other parameter and "
        "attribute.\n\n"
        "Parameters\n----------\n"
        "estimator, param_grid, scoring, n_jobs, refit, cv, verbose, "
        "pre_dispatch, error_score, return_train_score\n"
        "    As for scikit-learn's GridSearchCV. ``n_jobs`` workers get "
        "whole fused groups.\n" + _FUSE_DOC + """
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.model_selection import GridSearchCV
    >>> X, y = load_digits(return_X_y=True)
    >>> search = GridSearchCV(MLPClassifierTorch(max_iter=5, random_state=0),
    ...                       {"learning_rate_init": [1e-3, 1e-2]}, cv=3)
    >>> search.fit(X / 16, y).best_params_
    {'learning_rate_init': 0.01}
    """)

    _parameter_constraints: dict = {**_sk.GridSearchCV._parameter_constraints,
                                    "fuse": ["boolean"]}

    def __init__(self, estimator, param_grid, *, scoring=None, n_jobs=None,
                 refit=True, cv=None, verbose=0, pre_dispatch="2*n_jobs",
                 error_score=np.nan, return_train_score=False, fuse=True):
        super().__init__(estimator, param_grid, scoring=scoring, n_jobs=n_jobs,
                         refit=refit, cv=cv, verbose=verbose,
                         pre_dispatch=pre_dispatch, error_score=error_score,
                         return_train_score=return_train_score)
        self.fuse = fuse


class RandomizedSearchCV(_FusedSearchMixin, _sk.RandomizedSearchCV):
    __doc__ = (
        "Randomized search over parameters, training the sampled candidates "
        "at once.\n\n"
        "scikit-learn's :class:`~sklearn.model_selection.RandomizedSearchCV` "
        "with ``fuse``:\nsee its documentation for every other parameter and "
        "attribute.\n\n"
        "Parameters\n----------\n"
        "estimator, param_distributions, n_iter, scoring, n_jobs, refit, cv, "
        "verbose, pre_dispatch, random_state, error_score, return_train_score\n"
        "    As for scikit-learn's RandomizedSearchCV.\n" + _FUSE_DOC + """
    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import load_digits
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.model_selection import RandomizedSearchCV
    >>> X, y = load_digits(return_X_y=True)
    >>> search = RandomizedSearchCV(
    ...     MLPClassifierTorch(max_iter=5, random_state=0),
    ...     {"learning_rate_init": loguniform(1e-4, 1e-1)}, n_iter=4, cv=3,
    ...     random_state=0).fit(X / 16, y)
    >>> len(search.cv_results_["params"])
    4
    """)

    _parameter_constraints: dict = {
        **_sk.RandomizedSearchCV._parameter_constraints, "fuse": ["boolean"]}

    def __init__(self, estimator, param_distributions, *, n_iter=10, scoring=None,
                 n_jobs=None, refit=True, cv=None, verbose=0,
                 pre_dispatch="2*n_jobs", random_state=None, error_score=np.nan,
                 return_train_score=False, fuse=True):
        super().__init__(estimator, param_distributions, n_iter=n_iter,
                         scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv,
                         verbose=verbose, pre_dispatch=pre_dispatch,
                         random_state=random_state, error_score=error_score,
                         return_train_score=return_train_score)
        self.fuse = fuse
