"""The comparison runner's stages: plan, run, rank, refit the best.

The study (data, splits, fingerprint) is ``_study``'s, the dispatch of
groups of candidates ``_dispatch``'s and the record ``_record``'s; this
module holds the stages that use them, and the grid strategy.

``_compare.compare`` calls them in that order (the report last), as
scikit-learn's ``BaseSearchCV.fit`` does its own. Each stage reads and
writes the run folder (``RunFolder``), so a run interrupted in any stage
resumes in a later call, and the report can be rendered again from the
folder alone (``sknets report``).
"""

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import (
    ParameterGrid,
)

from ..metrics import evaluate, parameter_rows
from ..model_selection._comparison import (
    bootstrap_interval,
    comparison_from_scores,
    wilson_interval,
)
from ..model_selection._search import fit_cost
from ..persistence import _decode, _encode, _encode_array
from ..plotting import gallery_indices
from ._dispatch import _Progress, execute
from ._folder import FORMAT
from ._record import DONE, INTERRUPTED, candidate_name
from ._study import (
    _fingerprint,
    _n_features,
    _n_fit,
    _n_val,
    n_splits,
    split_ratio,
)

__all__ = ["GRID", "Strategy", "compare_records", "evaluate_best", "plan", "rank",
           "refit_best", "run"]



# -- stage 1: plan ---------------------------------------------------------------------


@dataclass
class Plan:
    """The candidates, those an earlier run finished, and those to run."""

    candidates: list
    names: list
    records: dict = field(default_factory=dict)  # finished, by name
    todo: list = field(default_factory=list)  # params still to run
    reused: list = field(default_factory=list)


def _check_candidates(estimator, candidates, study):
    # Every candidate's parameters are checked before anything is written,
    # so that a typo never leaves a folder that only this run can use: by
    # their constraints, then by one epoch on one row of each class, which
    # finds what only a fit can (a device, layer sizes, per-layer values,
    # class_weight keys).
    if not candidates:
        raise ValueError("The parameter grid has no candidates.")
    _, first = np.unique(study.y, return_index=True)
    rows = np.sort(np.concatenate([first, first]))  # two per class: batch norm
    X, y = study.X[rows], study.y[rows]
    for params in candidates:
        model = clone(estimator).set_params(**params)
        model._validate_params()
        trial = clone(model).set_params(max_iter=1, early_stopping=False,
                                        verbose=0, warm_start=False)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trial.fit(X, y)
        except (ValueError, TypeError, RuntimeError, MemoryError) as exc:
            raise type(exc)(f"The candidate {params} cannot train: {exc}") from exc


def _unique(grid):
    # A list of grids may name one candidate twice; it is run once.
    candidates = {}
    for params in grid:
        candidates.setdefault(candidate_name(params), params)
    return list(candidates.values())


def plan(folder, estimator, param_grid, study, *, session=None, test_size=None):
    """Check the grid and the folder; say what is finished and what to run.

    ``session`` (``_provenance.session``) is appended to run.json's
    ``sessions``: one per call that started or resumed the run. ``test_size``
    is the share held out as the test set (None: the caller gave one).
    """
    candidates = _unique(ParameterGrid(param_grid))
    _check_candidates(estimator, candidates, study)
    fingerprint = _fingerprint(estimator, study)
    previous = folder.read_run()
    if previous is not None and previous.get("format") != FORMAT:
        raise ValueError(
            f"{folder.path} holds a run written by another version of sknets, "
            "which this version cannot resume; choose another output directory "
            "(--output) or delete it to start over."
        )
    if previous is not None and previous.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{folder.path} holds a run on other data, another estimator or another "
            "protocol; choose another output directory (--output) or delete it to "
            "start over."
        )
    names = [candidate_name(params) for params in candidates]
    rows = parameter_rows(estimator, candidates)
    entries = [{"name": name, "params": _encode(params, "params"),
                "row": _encode(row, "params")}
               for name, params, row in zip(names, candidates, rows, strict=True)]
    folder.save_json("run.json", {
        "format": FORMAT, "fingerprint": fingerprint,
        "estimator": type(estimator).__name__, "protocol": study.protocol,
        "classes": _encode_array(study.classes, "classes"),
        "class_names": study.class_names, "grid": _grid_keys(param_grid),
        "data_summary": study.data_summary,
        "candidates": entries, "state": "running",
        "n_train": int(len(study.y)) + (0 if study.y_val is None
                                        else int(len(study.y_val))),
        "n_test": int(len(study.y_test)),
        "n_fit": _n_fit(study), "n_val": _n_val(study),
        "max_iter": _max_iter(estimator, candidates),
        "estimator_params": _encode(estimator.get_params(deep=False), "estimator"),
        "test_size": test_size,
        "sessions": ((previous or {}).get("sessions") or [])
        + ([] if session is None else [session]),
    })
    result = Plan(candidates, names)
    metrics = set(study.scoring)
    for name, params in zip(names, candidates, strict=True):
        record = folder.finished_record(name)
        if record is None or not metrics <= set(record.scores):
            result.todo.append(params)
        else:
            result.records[name] = record
    result.reused = sorted(result.records)
    return result


def _max_iter(estimator, candidates):
    # Each candidate's epoch budget, to tell a fit that stopped from one that
    # ran out of epochs.
    base = estimator.get_params().get("max_iter")
    return [int(params.get("max_iter", base)) for params in candidates]


def _grid_keys(param_grid):
    grids = [param_grid] if isinstance(param_grid, dict) else list(param_grid)
    keys = []
    for grid in grids:
        keys += [key for key in grid if key not in keys]
    return keys


# -- stage 2: run ----------------------------------------------------------------------


def _finished(folder, plan, record, models, progress):
    if record.status == INTERRUPTED:
        raise KeyboardInterrupt
    folder.keep(record, models[0] if record.status == DONE else None)
    plan.records[record.name] = record
    progress.done()


def run(folder, estimator, plan, study, *, n_jobs=None, client=None, verbose=True):
    """Fit every candidate still to run, saving each as soon as its group ends.

    Candidates train in groups (``groups``): one group at a time in this
    process, ``n_jobs`` groups at a time through joblib, or all groups at
    once on a dask.distributed ``client``'s workers.
    """
    progress = _Progress(len(plan.candidates), len(plan.records), study.folds,
                         verbose)
    try:
        execute(estimator, plan.todo, study,
                lambda record, models: _finished(folder, plan, record, models,
                                                 progress),
                progress, n_jobs=n_jobs, client=client)
    finally:
        progress.close()


def estimate_seconds(estimator, todo, study, probe_rows=1024):
    """About how long the fits still to run take, trained one by one.

    The costliest candidate (``fit_cost``) trains one and then two epochs on
    up to ``probe_rows`` training rows; the second epoch's time, scaled to
    each fit's rows, epochs and cost, is summed over every fit still to run
    (``len(todo)`` candidates x the protocol's splits). Fits that stack train
    faster than this.

    Returns
    -------
    seconds : float
    """
    if not todo:
        return 0.0
    n_features = _n_features(study)
    members = [clone(estimator).set_params(**params) for params in todo]
    costs = [fit_cost(member, n_features) for member in members]
    probe = members[int(np.argmax(costs))]
    rows = np.random.default_rng(0).permutation(len(study.y))[:probe_rows]
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epochs in (1, 2):
            model = clone(probe).set_params(max_iter=epochs, early_stopping=False,
                                            verbose=False)
            start = time.perf_counter()
            model.fit(study.X[rows], study.y[rows])
            times.append(time.perf_counter() - start)
    per_epoch = times[1] - times[0] if times[1] > times[0] else times[1] / 2
    per_row_epoch = per_epoch / len(rows) / (costs[int(np.argmax(costs))] / max(
        probe.get_params().get("max_iter", 1), 1))
    # fit_cost counts epochs already: cost / max_iter is the per-epoch cost.
    return float(per_row_epoch * _n_fit(study) * study.folds * sum(costs))


def plan_text(work, study, seconds, stacked=True):
    """The sentence ``compare`` prints before training: fits, time, options.

    ``stacked`` says whether a candidate's splits train as one stack (MLPs),
    which makes them faster than the one-by-one estimate.
    """
    n = len(work.todo)
    protocol = study.protocol
    if protocol["cv"] == "holdout":
        splits = "1 split (holdout)"
        fewer = ""
    else:
        repeats = protocol.get("repeats", 1)
        splits = (f"{study.folds} splits ({protocol['cv']}-fold"
                  + (f" x {repeats} repeats)" if repeats > 1 else ")"))
        fewer = (" For fewer fits: --cv 3 --repeats 1 (3 scores per candidate), or "
                 "--cv holdout (one split: no test can tell candidates apart).")
    refit = "" if protocol["cv"] == "holdout" else ", then one refit of the best"
    done = f" ({len(work.reused)} done before)" if work.reused else ""
    minutes = (f"about {seconds:.0f} s" if seconds < 120 else
               f"about {seconds / 60:.0f} min")
    stack = (" (a candidate's splits train together as one stack, faster)"
             if stacked and study.folds > 1 else "")
    return (f"Plan: {n} candidate(s){done} x {splits} = {n * study.folds} fits"
            f"{refit}; {minutes} if trained one by one{stack}.{fewer}")


# -- stage 3: rank ---------------------------------------------------------------------


def compare_records(run_record, records, alpha=0.05):
    """The candidates' split scores compared with their uncertainty.

    Parameters
    ----------
    run_record : dict
        run.json.
    records : dict
        Finished candidates' records, by name.
    alpha : float, default=0.05
        Test level.

    Returns
    -------
    comparison : CandidateComparison or None
        ``compare_candidates``' comparison of the ranking metric over the
        candidates' splits (with successive halving, those of the last rung
        reached); None when no candidate has a finite score on every split.
    """
    protocol = run_record["protocol"]
    metric = protocol["refit"]
    entries = [entry for entry in run_record["candidates"] if entry["name"] in records]
    if "search" in protocol and protocol["search"] == "halving" and entries:
        last = max(records[e["name"]].depth for e in entries)
        entries = [e for e in entries
                   if records[e["name"]].depth == last]
    params = [_decode(entry["params"], "params") for entry in entries]
    scores = [records[entry["name"]].scores.get(metric) for entry in entries]
    width = n_splits(protocol)
    scores = np.array([s if s is not None and len(s) == width else [math.nan] * width
                       for s in scores], dtype=float).reshape(len(entries), width)
    if not np.isfinite(scores).all(axis=1).any():
        return None
    return comparison_from_scores(params, scores, metric=metric,
                                  test_train_ratio=split_ratio(protocol),
                                  alpha=alpha, n_test=run_record.get("n_val"))


def rank(run_record, records, comparison=None):
    """The ranking of the finished candidates, best first.

    Parameters
    ----------
    run_record : dict
        run.json.
    records : dict
        Finished candidates' records, by name.
    comparison : CandidateComparison or None, default=None
        ``compare_records(run_record, records)``, when the caller has it.

    Returns
    -------
    frame : pandas.DataFrame
        One row per finished candidate: its parameters, ``status``,
        ``mean_<metric>`` and ``std_<metric>`` for each metric, ``fit_time``
        (wall-clock seconds) and ``cpu_time`` (CPU seconds, NaN where not
        measured) summed over the splits, ``epochs`` (mean over splits), and
        with successive halving the ``rung`` it reached (1 is the first; later
        rungs rank first, each by its score at that rung). Diverged candidates
        have NaN scores and come after every finished one, whatever rung they
        reached. ``ci_low``, ``ci_high`` and ``tied_with_best`` come from
        ``comparison`` (``compare_records``; computed when None) for the ranking
        metric: the corrected interval of the mean, and whether the data can
        tell the candidate from the best. With one split the spread
        (``std_<metric>``) is NaN: one score has none. ``frame.attrs['refit']``
        names the ranking metric.
    """
    refit = run_record["protocol"]["refit"]
    metrics = run_record["protocol"]["metrics"]
    one_split = n_splits(run_record["protocol"]) == 1
    if comparison is None:
        comparison = compare_records(run_record, records)
    intervals = {}
    if comparison is not None:
        for _, row in comparison.candidates.iterrows():
            intervals[candidate_name(row["params"])] = (
                row["ci_low"], row["ci_high"], bool(row["tied_with_best"]))
    rows = []
    for entry in run_record["candidates"]:
        record = records.get(entry["name"])
        if record is None:
            continue
        row = {"candidate": entry["name"], **_decode(entry["row"], "params"),
               "status": record.status}
        for metric in metrics:
            values = np.asarray(record.scores[metric], dtype=float)
            row[f"mean_{metric}"] = float(np.mean(values))
            row[f"std_{metric}"] = math.nan if one_split else float(np.std(values))
        low, high, tied = intervals.get(entry["name"], (math.nan, math.nan, False))
        row.update(ci_low=low, ci_high=high, tied_with_best=tied)
        row["fit_time"] = record.fit_time
        row["cpu_time"] = math.nan if record.cpu_time is None else record.cpu_time
        epochs = float(np.mean(record.epochs))
        row["epochs"] = int(epochs) if epochs.is_integer() else epochs
        if record.rungs is not None:
            row["rung"] = record.depth
        rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):
        # Finished candidates rank above diverged ones; with successive
        # halving, among them those of a later rung first: they trained
        # longer, so the best is the deepest rung's best finished candidate.
        frame["_finished"] = frame["status"] == DONE
        order = ["_finished", *(["rung"] if "rung" in frame else []),
                 f"mean_{refit}"]
        frame = frame.sort_values(order, ascending=False, kind="stable",
                                  na_position="last").reset_index(drop=True)
        frame = frame.drop(columns="_finished")
    frame.attrs["refit"] = refit
    return frame


# -- stage 4: refit the best -----------------------------------------------------------


def _refit(estimator, params, study):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = clone(estimator).set_params(**params).fit(
            study.X, study.y, sample_weight=study.sample_weight)
    if model.interrupted_:
        raise KeyboardInterrupt
    return model


def refit_best(folder, estimator, plan, study, best_name, *, save_all=False):
    """The best model: holdout's own, or (cv=K) refitted on all the training data.

    With cv=K and ``save_all``, every candidate is refitted and saved, the best
    among them; each refit is saved as it finishes and reused by a rerun.
    """
    by_name = dict(zip(plan.names, plan.candidates, strict=True))
    if study.protocol["cv"] == "holdout":
        best = folder.load_model(best_name)
    else:
        done = folder.read_json("best.json") or {}
        refit_names = [name for name in plan.names
                       if plan.records[name].status == DONE] if save_all else []
        for name in refit_names:
            if not folder.model_path(name, refit=True).exists():
                folder.save_model(_refit(estimator, by_name[name], study), name,
                                  refit=True)
        if save_all:
            best = folder.load_model(best_name, refit=True)
        elif done.get("name") == best_name and folder.best_model_path.exists():
            best = folder.load_best()
        else:
            best = _refit(estimator, by_name[best_name], study)
    folder.save_best(best)
    folder.save_json("best.json", {"name": best_name})
    return best


# -- stage 5: evaluate and report ------------------------------------------------------


def intervals_of_test_scores(evaluation, alpha=0.05):
    """95% intervals of the test scores: Wilson's for accuracy, a bootstrap
    over test rows for macro-F1 (1000 resamples, seeded)."""
    classes = evaluation.classes
    n = len(classes)
    y_true = np.searchsorted(classes, evaluation.y_true)
    y_pred = np.searchsorted(classes, evaluation.y_pred)
    n_right = int(np.sum(y_true == y_pred))

    def f1(t, p):  # macro-F1 with zero_division=0, as the f1_macro scorer
        counts = np.bincount(t * n + p, minlength=n * n).reshape(n, n)
        total = counts.sum(axis=0) + counts.sum(axis=1)
        return float(np.mean(np.divide(2 * np.diag(counts), total,
                                       out=np.zeros(n), where=total > 0)))

    return {"accuracy_ci": list(wilson_interval(n_right, len(y_true), alpha)),
            "f1_macro_ci": list(bootstrap_interval(f1, y_true, y_pred,
                                                   alpha=alpha))}


def evaluate_best(folder, best, study):
    """Score the best model on the test data and keep what the report needs."""
    evaluation = evaluate(best, study.X_test, study.y_test)
    record = {**intervals_of_test_scores(evaluation),
              "classes": _encode_array(evaluation.classes, "classes"),
              "y_true": _encode_array(evaluation.y_true, "y_true"),
              "y_pred": _encode_array(evaluation.y_pred, "y_pred"),
              "y_proba": evaluation.y_proba.tolist()}
    image_shape = getattr(best, "image_shape_", None)
    if image_shape is not None:
        chosen = gallery_indices(evaluation.y_true, evaluation.y_pred)
        record["gallery"] = {
            "indices": chosen.tolist(), "image_shape": list(image_shape),
            "images": np.asarray(study.X_test, dtype=float).reshape(
                len(study.X_test), -1)[chosen].round(4).tolist()}
    folder.save_json("evaluation.json", record)
    evaluation.intervals = {key: tuple(record[key])
                            for key in ("accuracy_ci", "f1_macro_ci")}
    return evaluation


@dataclass(frozen=True)
class Strategy:
    """A search strategy of ``compare``: how the candidates of a plan train.

    ``_compare.STRATEGIES`` maps each ``search=`` name to one; a new
    strategy is one module that defines its ``Strategy`` and one entry in
    that table.

    Parameters
    ----------
    name : str
        The ``search=`` value (and ``--search`` of the CLI).
    run : callable
        ``run(folder, estimator, plan, study, *, n_jobs, client, verbose,
        **options)``: trains ``plan.todo`` (resuming from ``plan.records``),
        saving each candidate's record as it finishes, and leaves every
        candidate's record in ``plan.records``.
    check : callable, default=None
        ``check(param_grid, **options)`` raises a ``ValueError`` naming what
        to change, before anything is written; None checks nothing.
    protocol : callable, default=None
        ``protocol(**options)``: what joins the study's protocol, so that a
        folder of another strategy (or other options) is another run; None
        adds nothing.
    """

    name: str
    run: object
    check: object = None
    protocol: object = None


GRID = Strategy("grid", run=lambda folder, estimator, plan, study, *, n_jobs,
                client, verbose, **options: run(folder, estimator, plan, study,
                                                 n_jobs=n_jobs, client=client,
                                                 verbose=verbose))
