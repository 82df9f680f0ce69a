"""Successive halving with epochs as the resource: weak candidates stop early.

Every candidate trains for the first rung's epochs and is scored; the best
``1 / factor`` of them continue training (a warm-start ``fit`` of their
models, not a new fit from scratch) to the next rung's epochs, and so on,
until the last rung's survivors have trained ``max_iter`` epochs. The rungs
follow scikit-learn's ``HalvingGridSearchCV`` with ``resource='max_iter'``
and ``min_resources='exhaust'``, with one difference: a survivor continues
its training instead of starting over, so a rung costs only its extra
epochs.

A candidate's record keeps its scores at every rung it reached
(``Record.rungs``). Each rung's models are saved before its record, so an
interrupted run resumes where it stopped: candidates whose record shows the
rung are not trained again, and survivors continue from the saved models of
their last rung.
"""

import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..persistence import save
from ._dispatch import _Progress, execute
from ._folder import load_run_model
from ._record import DONE, INTERRUPTED
from ._runner import Strategy, _grid_keys

__all__ = ["HALVING", "halving_rungs", "run_halving"]


def _floor_log(value, factor):
    # The largest k with factor ** k <= value (value >= 1), in integers.
    k = 0
    while factor ** (k + 1) <= value:
        k += 1
    return k


def halving_rungs(n_candidates: int, max_iter: int,
                  factor: int = 3) -> list[tuple[int, int]]:
    """The rungs of a successive-halving run: epochs and candidates of each.

    Parameters
    ----------
    n_candidates : int
        Candidates of the grid.
    max_iter : int
        Epochs of the last rung (every candidate's ``max_iter``).
    factor : int, default=3
        Each rung keeps ``1 / factor`` of the candidates and trains them
        ``factor`` times as many epochs in all.

    Returns
    -------
    rungs : list of (int, int)
        For each rung, the epochs its candidates have trained in all at its
        end, and how many candidates train in it. There are as many rungs as
        halving the candidates asks for (scikit-learn's ``1 + floor(log_factor
        n_candidates)``), fewer when the first rung would get less than an
        epoch; the last rung reaches ``max_iter``.

    Examples
    --------
    >>> from sknets.compare import halving_rungs
    >>> halving_rungs(12, 3)
    [(1, 12), (3, 4)]
    >>> halving_rungs(27, 90)
    [(3, 27), (10, 9), (30, 3), (90, 1)]
    >>> halving_rungs(27, 4)
    [(1, 27), (4, 9)]
    """
    if factor < 2:
        raise ValueError(f"factor must be an int >= 2, got {factor!r}.")
    n_rungs = 1 + min(_floor_log(n_candidates, factor), _floor_log(max_iter, factor))
    return [(max_iter // factor ** (n_rungs - 1 - i), -(-n_candidates // factor ** i))
            for i in range(n_rungs)]


def _rung_score(record, rung, metric):
    # A candidate's mean score at a rung; diverged candidates and NaN scores
    # rank last (sorted() and max() cannot order a NaN).
    entry = record.rungs[rung]
    if entry.status != DONE:
        return -math.inf
    values = entry.scores[metric]
    mean = sum(values) / len(values)
    return -math.inf if math.isnan(mean) else mean


def survivors(records, names, rung, keep, metric):
    """The ``keep`` best of ``names`` at ``rung`` (diverged ones never).

    Ties keep the grid's order.
    """
    ranked = sorted(names, key=lambda name: -_rung_score(records[name], rung, metric))
    return [name for name in ranked[:keep]
            if records[name].rungs[rung].status == DONE]


def fits_schedule(record, schedule):
    """Whether a record's rungs are the first rungs of ``schedule``.

    A resumed study keeps a candidate's rungs only where each one trained
    the epochs the schedule gives that rung; otherwise (the grid, factor or
    max_iter changed) the candidate trains again from the first rung, so no
    rung compares candidates trained for different epochs and no model
    trains past ``max_iter``.

    Parameters
    ----------
    record : Record
        A candidate's record, with its ``rungs``.
    schedule : list of (int, int)
        ``halving_rungs``' rungs.

    Returns
    -------
    bool

    Examples
    --------
    >>> from sknets.compare._halving import fits_schedule
    >>> from sknets.compare._record import Record, Rung
    >>> record = Record("a", {}, "done", {}, 1.0, [9], [[]],
    ...                 rungs=[Rung(3, "done", {}), Rung(9, "done", {})])
    >>> fits_schedule(record, [(3, 3), (9, 1)]), fits_schedule(record, [(1, 9), (3, 3)])
    (True, False)
    """
    rungs = record.rungs
    return len(rungs) <= len(schedule) and all(
        entry.epochs == epochs
        for entry, (epochs, _) in zip(rungs, schedule, strict=False))


def _settle(model, estimator, epochs):
    # A rung's model says what it is: trained ``epochs`` epochs in all, with
    # the base estimator's warm_start (the last rung's: exactly its params).
    model.set_params(warm_start=estimator.warm_start, max_iter=epochs)
    return model


def run_halving(folder, estimator, plan, study, *, factor=3, n_jobs=None,
                client=None, verbose=True):
    """Run every rung of a successive-halving search, saving as it goes.

    Parameters
    ----------
    folder : RunFolder
    estimator : estimator
        The base estimator; its ``max_iter`` is the last rung's epochs.
    plan : Plan
        The candidates and the records an earlier run left; on return
        ``plan.records`` holds every candidate's record.
    study : Study
    factor : int, default=3
    n_jobs, client, verbose
        As for ``run``.

    Returns
    -------
    rungs : list of dict
        Per rung: its epochs, the candidates that trained in it and those it
        kept for the next one.
    """
    metric = study.refit
    names = plan.names
    params_of = dict(zip(names, plan.candidates, strict=True))
    schedule = halving_rungs(len(names), estimator.max_iter, factor)
    records = {name: record for name, record in plan.records.items()
               if record.rungs is not None}
    stale = sorted(name for name, record in records.items()
                   if not fits_schedule(record, schedule))
    if stale and verbose:
        print(f"{len(stale)} candidate(s) trained to another rung schedule (a "
              "changed grid, factor or max_iter) train again from the first rung.",
              flush=True)
    for name in stale:
        del records[name]
    progress = _Progress(sum(n for _, n in schedule), 0, study.folds, verbose)
    models = {}  # name -> the models of its last rung, in this process
    summary = []
    try:
        entrants = list(names)
        for rung, (epochs, _) in enumerate(schedule):
            before = schedule[rung - 1][0] if rung else 0
            todo = [name for name in entrants
                    if name not in records or records[name].depth <= rung]
            progress.bar.update((len(entrants) - len(todo)) * study.folds)
            starts = None
            if rung:
                starts = {name: models.get(name) or _load(folder, name, rung - 1,
                                                          study.folds)
                          for name in todo}

            def finished(record, fitted, rung=rung, epochs=epochs):
                if record.status == INTERRUPTED:
                    raise KeyboardInterrupt
                name = record.name
                record = record.after_rung(records.get(name) if rung else None,
                                           rung, epochs)
                if record.status == DONE:
                    for fold, model in enumerate(fitted):
                        save(_settle(model, estimator, epochs),
                             folder.rung_model_path(name, rung, fold))
                    models[name] = fitted
                folder.keep(record, fitted[0] if record.status == DONE else None)
                records[name] = record
                progress.done()

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                execute(estimator, [params_of[name] for name in todo], study,
                        finished, progress, n_jobs=n_jobs, client=client,
                        epochs=epochs - before, starts=starts)
            keep = (schedule[rung + 1][1] if rung + 1 < len(schedule) else 0)
            kept = survivors(records, entrants, rung, keep, metric)
            summary.append({"epochs": epochs, "candidates": entrants, "kept": kept})
            for name in set(entrants) - set(kept):
                models.pop(name, None)
            if not kept:
                break
            entrants = kept
    finally:
        progress.close()
    plan.records.update(records)
    return summary


def _load(folder, name, rung, folds):
    return [load_run_model(folder.rung_model_path(name, rung, fold), name)
            for fold in range(folds)]


def rung_table(records, names, metric):
    """The rungs of a finished or interrupted halving run, from its records.

    Parameters
    ----------
    records : dict
        Candidate records by name (with their ``rungs``).
    names : list of str
        Every candidate, in the grid's order.
    metric : str
        The ranking metric.

    Returns
    -------
    rows : list of dict
        Per rung: ``epochs``, ``candidates`` (how many trained in it),
        ``kept`` (how many went on), ``best`` (its best mean score) and
        ``best_name``.
    """
    rows = []
    depth = max((r.depth for r in records.values()), default=0)
    for rung in range(depth):
        present = [n for n in names if n in records
                   and records[n].depth > rung]
        scores = {n: _rung_score(records[n], rung, metric) for n in present}
        best_name = max(present, key=lambda n: scores[n])
        rows.append({
            "epochs": records[present[0]].rungs[rung].epochs,
            "candidates": len(present),
            "kept": sum(records[n].depth > rung + 1 for n in present),
            "best": scores[best_name], "best_name": best_name,
        })
    return rows



def _check(param_grid, factor=3):
    # The options of search='halving', checked before anything is written.
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or (
            factor < 2):
        raise ValueError(f"factor must be an int >= 2, got {factor!r}.")
    if "max_iter" in _grid_keys(param_grid):
        raise ValueError(
            "search='halving' gives each rung its epochs, so max_iter cannot be in "
            "the grid: set it on the estimator (the last rung's epochs) and take "
            "it out of the grid.")


def _protocol(factor=3):
    return {"search": "halving", "factor": factor}


HALVING = Strategy("halving", run=run_halving, check=_check, protocol=_protocol)
