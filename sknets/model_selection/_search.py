"""scikit-learn's searches, with the fits of a grid trained together."""

import copy
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from inspect import signature
from typing import Any

import numpy as np
import torch
from joblib import effective_n_jobs
from sklearn import model_selection as _sk
from sklearn.base import clone
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils import _safe_indexing
from sklearn.utils.parallel import Parallel, delayed
from typing_extensions import Self

from .._base import BaseTorchClassifier, _fork_devices, resolve_device
from .._callbacks import propagates_callbacks
from .._docs import DocLinkMixin
from .._typing import ArrayLike
from ..training import fit_threads, flush_denormal, intra_op_threads
from ..training.fused import fusion_key, train_together
from ..training.params import STACKABLE_PARAMS
from ..training.spec import freeze
from ._sklearn_fit import FOLLOWS, fit_and_score, search_fit

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


def _numpy_rows(rows, n_samples):
    # Each fit's rows as numpy takes them (negative indices count from the
    # end, boolean masks select), or the IndexError numpy gives for them.
    out = []
    for r in rows:
        try:
            out.append(np.arange(n_samples)[np.asarray(r)])
        except IndexError as exc:
            out.append(IndexError(f"The rows of a fit are not rows of X: {exc}."))
    return out


def _fit_separately(estimators, X, y, rows, validation_data, sample_weight):
    # Each estimator fitted on its own rows, as fit(X[r], y[r]) fits it.
    results = []
    for est, r in zip(estimators, rows, strict=True):
        tic = time.perf_counter()
        try:
            kwargs = {}
            if sample_weight is not None:
                kwargs["sample_weight"] = _safe_indexing(sample_weight, r)
            if validation_data is not None:
                kwargs["validation_data"] = validation_data
            est.fit(_safe_indexing(X, r), _safe_indexing(y, r), **kwargs)
            results.append((est, None, time.perf_counter() - tic))
        except Exception as exc:
            results.append((None, exc, time.perf_counter() - tic))
    return results


def fit_on_folds(estimators: Sequence[Any], X: ArrayLike, y: ArrayLike,
                 rows: Sequence[ArrayLike], validation_data: tuple | None = None,
                 sample_weight: ArrayLike | None = None) -> list:
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
    kinds = {"net_" in vars(e) and e.warm_start for e in estimators}
    if len(kinds) > 1:
        raise ValueError("fit_on_folds needs estimators that are all unfitted or "
                         "all fitted with warm_start=True.")
    continued = kinds.pop()
    results = [[est, None, 0.0] for est in estimators]
    tic = time.perf_counter()
    state = dict(vars(first))
    before = set(state)
    try:
        X_arr, y_arr = first._validate_Xy(X, y, reset=not continued)
        sample_weight = first._validate_sample_weight(sample_weight, X_arr)
        device = resolve_device(first.device)
    except Exception:
        # Something in the data is refused (a NaN, a negative weight, ...):
        # each fit then validates its own rows, so that it fails only where
        # its rows hold what is refused, as its separate fit would.
        vars(first).clear()
        vars(first).update(state)
        return _fit_separately(estimators, X, y, rows, validation_data,
                               sample_weight)
    try:
        rows = _numpy_rows(rows, X_arr.shape[0])
    except IndexError as exc:
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
            if isinstance(r, Exception):
                raise r
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


def _fit_unit(calls):
    # One dispatch unit: scikit-learn's _fit_and_score calls of one parameter
    # group. Their fits are trained together (fit_on_folds); then each call
    # runs scikit-learn's own _fit_and_score on its fitted estimator, whose
    # fit hands that fit back (or raises its error), so that scoring, error
    # scores, callbacks and the result's keys are scikit-learn's. fit_time
    # is the fit's share of the stacked training.
    first = calls[0]
    sample_weight = (first["fit_params"] or {}).get("sample_weight")
    fitted = fit_on_folds([call["estimator"] for call in calls], first["X"],
                          first["y"], [call["train"] for call in calls],
                          sample_weight=sample_weight)
    out = []
    for call, (_, error, seconds) in zip(calls, fitted, strict=True):
        estimator = call["estimator"]
        estimator.fit = _Fitted(estimator, error)
        try:
            result = fit_and_score()(**call)
        finally:
            del estimator.fit
        result["fit_time"] = seconds
        out.append(result)
    return out


class _Fitted:
    # Stands in for an estimator's fit whose training is already done.

    def __init__(self, estimator, error):
        self.estimator, self.error = estimator, error

    def __call__(self, *args, **kwargs):
        if self.error is not None:
            raise self.error
        return self.estimator


def _fusable_call(func, args, kwargs):
    # The bound arguments of a _fit_and_score call whose fit can be fused
    # (its parameters already set on its estimator), or None.
    if getattr(func, "function", func) is not fit_and_score():
        return None
    try:
        call = signature(fit_and_score()).bind(*args, **kwargs).arguments
    except TypeError:
        return None
    estimator = call.get("estimator")
    if not isinstance(estimator, BaseTorchClassifier) or call.get("return_estimator"):
        return None
    # Callbacks that reach the fit (its own, or the search's propagated ones)
    # see its epochs only when it trains as scikit-learn calls it.
    if getattr(estimator, "_skl_callbacks", None) or propagates_callbacks(
            call.get("callback_ctx")):
        return None
    try:
        estimator.set_params(**clone(call.get("parameters") or {}, safe=False))
    except Exception:  # left to scikit-learn's call, which raises it
        return None
    if not fusable(estimator, call.get("fit_params")):
        return None
    return call


class _FusingParallel(Parallel):
    # scikit-learn's Parallel, given one search dispatch's _fit_and_score
    # calls: those of sknets estimators that can stack are grouped by
    # _params_key into units trained together (cut across workers by
    # _units); every other call runs as given.

    def __call__(self, iterable):
        tasks = list(iterable)
        groups = defaultdict(list)
        for t, (func, args, kwargs) in enumerate(tasks):
            call = _fusable_call(func, args, kwargs)
            if call is not None:
                key = (id(call["X"]), id(call["y"]), _params_key(call["estimator"]))
                groups[key].append((t, call))
        if not groups:
            return super().__call__(tasks)
        n_jobs = effective_n_jobs(self.n_jobs)
        first = next(iter(groups.values()))[0][1]["X"]
        n_features = first.shape[1] if getattr(first, "ndim", 0) == 2 else 1
        units = _units(groups, n_jobs, cost=lambda item: fit_cost(
            item[1]["estimator"], n_features))
        fused = {t for unit in units for t, _ in unit}
        ordinary = [t for t in range(len(tasks)) if t not in fused]
        jobs = [delayed(_fit_unit)([call for _, call in unit]) for unit in units]
        answers = super().__call__(jobs + [tasks[t] for t in ordinary])
        out = [None] * len(tasks)
        for unit, results in zip(units, answers[:len(units)], strict=True):
            for (t, _), result in zip(unit, results, strict=True):
                out[t] = result
        for t, result in zip(ordinary, answers[len(units):], strict=True):
            out[t] = result
        return out


def _fit_is_wrapped(search):
    """Whether another library wraps the scikit-learn fit this search inherits.

    ``mlflow.sklearn.autolog()`` replaces ``GridSearchCV.fit`` with a
    function that logs the search: the search then runs through it, unfused,
    so that what it logs is this search's.
    """
    inherited = super(_FusedSearchMixin, search).fit
    return getattr(inherited, "__func__", None) is not BaseSearchCV.fit


class _FusedSearchMixin(DocLinkMixin):
    # scikit-learn's fit, whose fits of one parameter group train together
    # when fuse=True (_sklearn_fit.search_fit); everything else is
    # scikit-learn's own.

    fuse: bool

    def fit(self, X: ArrayLike, y: ArrayLike | None = None, **params: Any) -> Self:
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
            fit parameters other than ``sample_weight`` is not fused.

        Returns
        -------
        self : object
            Instance of fitted estimator.
        """
        if self.fuse is True and not _fit_is_wrapped(self):
            fit = search_fit(_FusingParallel)
            if fit is not None:
                return fit(self, X, y, **params)
            warnings.warn(
                f"This scikit-learn's search fit does not dispatch its fits as "
                f"scikit-learn {FOLLOWS} does, so they are not fused: they run "
                "one by one, with scikit-learn's own code.", UserWarning,
                stacklevel=2)
        # The search class's scikit-learn fit, next in its method order.
        return super().fit(X, y, **params)  # type: ignore[misc]


_FUSE_DOC = """
    fuse : bool, default=True
        Train the fits of sknets estimators that differ only in stackable
        parameters (learning rate, penalty, loss, seed, fold, ...; see
        ``sknets.training.params.STACKABLE_PARAMS``) together, as one stacked
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

    def __init__(self, estimator: Any, param_grid: dict | list[dict], *,
                 scoring: Any = None, n_jobs: int | None = None,
                 refit: bool | str | Callable = True, cv: Any = None, verbose: int = 0,
                 pre_dispatch: int | str = "2*n_jobs", error_score: Any = np.nan,
                 return_train_score: bool = False, fuse: bool = True) -> None:
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

    def __init__(self, estimator: Any, param_distributions: dict | list[dict], *,
                 n_iter: int = 10, scoring: Any = None, n_jobs: int | None = None,
                 refit: bool | str | Callable = True, cv: Any = None, verbose: int = 0,
                 pre_dispatch: int | str = "2*n_jobs",
                 random_state: int | np.random.RandomState | None = None,
                 error_score: Any = np.nan, return_train_score: bool = False,
                 fuse: bool = True) -> None:
        super().__init__(estimator, param_distributions, n_iter=n_iter,
                         scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv,
                         verbose=verbose, pre_dispatch=pre_dispatch,
                         random_state=random_state, error_score=error_score,
                         return_train_score=return_train_score)
        self.fuse = fuse
