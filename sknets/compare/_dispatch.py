"""Dispatch: groups of candidates trained in this process, by joblib or on Dask.

``run_group`` fits and scores one group wherever it is sent; ``execute`` is
the one dispatch of groups (in process, ``n_jobs`` at a time through joblib,
or on a dask.distributed client's workers), calling back as each ends.
"""

import time
import warnings
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
from sklearn.metrics import check_scoring
from tqdm.auto import tqdm

from ..mlp import MLPClassifierTorch
from ..model_selection._search import _params_key, _units, fit_cost, fit_on_folds
from ..training import NoFiniteWeightsError
from ..training.fused import fusion_key
from ..training.progress import epoch_listener, no_epoch_listeners
from ..training.spec import ModuleSpec, TrainingSpec
from ._record import DIVERGED, DONE, INTERRUPTED, Record, candidate_name
from ._study import _n_features, _splits

__all__ = ["execute", "groups", "run_group", "stacks"]


def _status(model):
    if model.interrupted_:
        return INTERRUPTED
    if any(row.get("diverged") for row in model.history_):
        return DIVERGED
    return DONE


@dataclass
class _Outcome:
    """One fit of a candidate (one fold with cv=K)."""

    status: str
    model: object  # None when no weights predict (NoFiniteWeightsError)
    scores: dict | None  # None unless status is 'done'
    fit_time: float
    cpu_time: float = 0.0


def _score(model, error, fit_time, X_val, y_val, scoring, *, validation,
           sample_weight=None):
    """The outcome of one finished fit: its status and, when done, its scores.

    With ``sample_weight`` (of the rows of X_val) every scorer weights its
    score by it.
    """
    if isinstance(error, NoFiniteWeightsError):
        return _Outcome(DIVERGED, None, None, fit_time)
    if error is not None:
        raise error
    status = _status(model)
    # With validation data the monitor has checked the kept weights' outputs
    # on it (a non-finite validation loss is divergence); a fold's model is
    # checked here. Weights that predict NaN are never scored.
    if status == DONE and not validation and not np.isfinite(
            model.predict_proba(X_val)).all():
        status = DIVERGED
    scores = None
    if status == DONE:
        weights = {} if sample_weight is None else {"sample_weight": sample_weight}
        # The weights go to every scorer, whether or not metadata routing is
        # on: the study asks for weighted scores.
        with warnings.catch_warnings(), config_context(
                enable_metadata_routing=False):
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            scores = check_scoring(model, scoring=scoring)(model, X_val, y_val,
                                                           **weights)
    return _Outcome(status, model, scores, fit_time)


_WARM: set[type] = set()  # the estimator types this process has warmed up


def _warm_up(estimator, study, rows=64):
    """One tiny fit per process and estimator type before any fit is timed.

    A process's first fit pays one-time costs (about 1 s on 2 cores: lazy
    imports, the first calls of torch's kernels) that would otherwise count
    in the fit time of whichever candidate a worker trains first.
    """
    if type(estimator) in _WARM:
        return
    _WARM.add(type(estimator))
    model = clone(estimator).set_params(max_iter=1, early_stopping=False,
                                        verbose=False)
    with warnings.catch_warnings(), no_epoch_listeners():
        warnings.simplefilter("ignore")
        try:
            model.fit(study.X[:rows], study.y[:rows])
        except Exception:  # noqa: BLE001 - a warm-up only; the real fits report
            pass


def run_group(estimator, group, study, *, epochs=None, starts=None):
    """Fit and score a group of candidates, trained together where they fuse.

    Runs wherever it is sent (a worker process, a Dask worker on another
    machine); the caller saves what it returns, so workers need no shared
    file system. Each candidate's fits (one per fold with cv=K; one on the
    training part, scored on the validation split, with 'holdout') are the
    members of ``fit_on_folds``: candidates whose parameters differ only in
    stackable values train as one stacked network.

    Parameters
    ----------
    estimator : estimator
        The base estimator.
    group : list of dict
        The candidates' parameters.
    study : Study
        The data and protocol.
    epochs : int or None, default=None
        Epochs of these fits (a successive-halving rung); None means each
        candidate's ``max_iter``.
    starts : dict or None, default=None
        By candidate name, its fitted models (one per fold) to continue for
        ``epochs`` more epochs, as a warm-start ``fit`` continues; None
        starts every fit from scratch.

    Returns
    -------
    results : list of (record, models)
        Per candidate: its record, whose status is 'done', 'diverged' (its
        scores are NaN: it ranks last) or 'interrupted' (never saved), and
        its models, one per fold (None where a fit left no model).
    """
    holdout = study.protocol["cv"] == "holdout"
    splits = _splits(study)
    _warm_up(estimator, study)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if starts is None:
            extra = {} if epochs is None else {"max_iter": epochs}
            members = [clone(estimator).set_params(**params, **extra)
                       for params in group for _ in splits]
        else:
            members = [model.set_params(warm_start=True, max_iter=epochs)
                       for params in group
                       for model in starts[candidate_name(params)]]
        cpu_start = time.process_time()
        fitted = fit_on_folds(
            members, study.X, study.y, [train for _ in group for train, _ in splits],
            validation_data=((study.X_val, study.y_val) if study.sample_weight_val
                             is None else (study.X_val, study.y_val,
                                           study.sample_weight_val))
            if holdout else None,
            sample_weight=study.sample_weight)
        cpu = time.process_time() - cpu_start
        outcomes = []
        w = study.sample_weight
        for k, (model, error, fit_time) in enumerate(fitted):
            test = splits[k % len(splits)][1]
            X_val, y_val, w_val = ((study.X_val, study.y_val, study.sample_weight_val)
                                   if holdout else (study.X[test], study.y[test],
                                                    None if w is None else w[test]))
            outcomes.append(_score(model, error, fit_time, X_val, y_val,
                                   study.scoring, validation=holdout,
                                   sample_weight=w_val))
        # The process's CPU time, shared among the fits by their wall time
        # (fits of one stack share the stack's time equally).
        wall = sum(fit_time for _, _, fit_time in fitted)
        for outcome in outcomes:
            outcome.cpu_time = (cpu * outcome.fit_time / wall if wall > 0
                                else cpu / len(outcomes))
    n = len(splits)
    return [(Record.from_outcomes(params, outcomes[c * n:(c + 1) * n],
                                  study.scoring),
             [outcome.model for outcome in outcomes[c * n:(c + 1) * n]])
            for c, params in enumerate(group)]


def groups(estimator, candidates, n_units=1, n_features=1):
    """The candidates in groups that train together, as ``run_group`` takes them.

    Candidates whose parameters differ only in stackable values
    (``sknets.training.params.STACKABLE_PARAMS``) form one group; with
    ``n_units`` > 1 workers the costliest groups are cut until the work is
    shared out evenly (``fit_cost`` on ``n_features`` columns).
    """
    by_key, cost = {}, {}
    for params in candidates:
        member = clone(estimator).set_params(**params)
        by_key.setdefault(_params_key(member), []).append(params)
        cost[id(params)] = fit_cost(member, n_features)
    return _units(by_key, n_units, cost=lambda params: cost[id(params)])


class _Progress:
    """A tqdm bar over the fits of a run, shown only when asked for.

    In process, the group in training says which epoch it is at and about
    how long it has left (``epoch``, an epoch listener of its fits).
    """

    def __init__(self, total, done, folds, verbose):
        self.folds = folds
        self.bar = tqdm(total=total * folds, initial=done * folds,
                        disable=not verbose, unit="fit",
                        desc="fits" if folds == 1 else
                        f"fits ({folds} folds per candidate)")

    def start(self, group, stacked):
        self.n_fits = len(group) * self.folds
        self.stacked = stacked and self.n_fits > 1
        self.text = (f"training {self.n_fits} fit(s)"
                     + (" together" if self.stacked else ""))
        self.fit, self.last = 0, 0  # the fit in training and its epochs done
        self.fit_start = self.last_time = time.perf_counter()
        self.bar.set_postfix_str(self.text)

    def epoch(self, done, total):
        """An epoch of the group's fit ended: show it with the time left."""
        now = time.perf_counter()
        if done <= self.last:  # the next of fits trained one by one
            self.fit += 1
            self.fit_start = self.last_time
        self.last, self.last_time = done, now
        per_epoch = (now - self.fit_start) / done
        fits_after = 0 if self.stacked else max(self.n_fits - self.fit - 1, 0)
        left = per_epoch * ((total - done) + fits_after * total)
        which = "" if self.stacked or self.n_fits == 1 else (
            f", fit {self.fit + 1}/{self.n_fits}")
        self.bar.set_postfix_str(f"{self.text}{which}: epoch {done}/{total}, "
                                 f"about {_duration(left)} left")

    def done(self):
        self.bar.update(self.folds)

    def close(self):
        self.bar.close()


def _duration(seconds):
    """Seconds as '40 s', '3 min' or '1.5 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def stacks(estimator, params, study):
    """Whether the fits of a candidate with ``params`` train as one stack.

    ``fusion_key``'s rule on the candidate's spec: CNNs, 'lbfgs', float64,
    augmentation, per-epoch output and multi-label targets train apart.

    Parameters
    ----------
    estimator : estimator
        The base estimator.
    params : dict
        The candidate's parameters.
    study : Study

    Returns
    -------
    bool
    """
    model = clone(estimator).set_params(**params)
    kind = "mlp" if isinstance(model, MLPClassifierTorch) else "cnn"
    try:
        spec = TrainingSpec.from_params(
            model.get_params(), module=ModuleSpec.of(kind), n_samples=None,
            device="cpu", seed=0, multilabel=np.ndim(study.y) == 2)
    except ValueError:
        return False
    return fusion_key(spec) is not None


def execute(estimator, todo, study, finished, progress, *, n_jobs=None, client=None,
            epochs=None, starts=None):
    """Fit the candidates ``todo`` in groups, calling ``finished`` on each.

    One group at a time in this process, ``n_jobs`` groups at a time through
    joblib, or all groups at once on a dask.distributed ``client``'s
    workers; ``finished(record, models)`` runs here, in this process, as
    each group ends. ``epochs`` and ``starts`` are ``run_group``'s.
    """
    def options(unit):
        return {"epochs": epochs, "starts": None if starts is None else
                {candidate_name(p): starts[candidate_name(p)] for p in unit}}

    if not todo:
        return
    if client is not None:
        units = groups(estimator, todo, sum(client.nthreads().values()) or 1,
                       _n_features(study))
        # Sent once per call, copied where needed, under a key of its own:
        # the content-hashed key would be the previous call's (a halving
        # rung's), which the scheduler may still be releasing, and the new
        # tasks would then lose their data.
        [data] = client.scatter([study], hash=False)
        futures = [client.submit(run_group, estimator, unit, data, pure=False,
                                 **options(unit)) for unit in units]
        from distributed import as_completed

        for future in as_completed(futures):
            for record, models in future.result():
                finished(record, models)
    elif n_jobs not in (None, 1):
        from joblib import effective_n_jobs

        units = groups(estimator, todo, effective_n_jobs(n_jobs), _n_features(study))
        jobs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(run_group)(estimator, unit, study, **options(unit))
            for unit in units)
        for results in jobs:
            for record, models in results:
                finished(record, models)
    else:
        for unit in groups(estimator, todo):
            progress.start(unit, stacks(estimator, unit[0], study))
            with epoch_listener(progress.epoch):
                results = run_group(estimator, unit, study, **options(unit))
            for record, models in results:
                finished(record, models)
