"""``compare``: a study from its options, through the strategy that searches.

The stages are ``_runner``'s (plan, run, rank, refit, evaluate); how the
candidates train is the search strategy's, looked up in ``STRATEGIES``; the
report is ``_report``'s, written last. Dependencies point one way: this
module imports the others, none imports it.
"""

import inspect
import warnings
from collections.abc import Sequence
from typing import Any

from .._typing import ArrayLike, StrPath
from ..mlp import MLPClassifierTorch
from ..persistence import _decode
from . import _report
from ._folder import RunFolder
from ._halving import HALVING
from ._provenance import python_call, session
from ._record import DONE
from ._runner import (
    GRID,
    compare_records,
    estimate_seconds,
    evaluate_best,
    plan,
    plan_text,
    rank,
    refit_best,
)
from ._study import _is_int, make_study

__all__ = ["STRATEGIES", "ComparisonResult", "compare"]

# search= name -> Strategy (see _runner.Strategy): one entry per strategy.
STRATEGIES = {strategy.name: strategy for strategy in (GRID, HALVING)}


class ComparisonResult:
    """What ``compare`` found and wrote.

    Attributes
    ----------
    results : pandas.DataFrame
        One row per candidate, best first: its parameters, ``status``
        ('done' or 'diverged'), ``mean_<metric>`` and ``std_<metric>`` for
        each metric, ``fit_time`` and ``epochs``.
    refit : str
        The metric that ranked them.
    best_params_ : dict
        The parameters of the best candidate.
    best_estimator_ : estimator
        The best model (trained on the training part; refitted on all the
        training data with cv=K).
    evaluation : sknets.metrics.Evaluation
        The best model on the test data; ``evaluation.intervals`` holds the
        95% intervals ``accuracy_ci`` (Wilson) and ``f1_macro_ci`` (a
        bootstrap over test samples).
    histories : dict
        Per-epoch history of each candidate (fold 0's with cv=K), by name.
    comparison : sknets.model_selection.CandidateComparison
        The candidates compared on the ranking metric with intervals and
        corrected tests; ``results`` holds its ``ci_low``, ``ci_high`` and
        ``tied_with_best``, and effects.csv its ``effects``.
    output_dir : pathlib.Path
        Where the files were written.
    fitted, reused : list of str
        The candidates fitted by this call, and those found done by an
        earlier, interrupted run.

    Examples
    --------
    Returned by ``compare`` (see its example); its attributes are plain:

    >>> from sknets.compare import ComparisonResult
    >>> ComparisonResult(best_params_={"alpha": 0.1}).best_params_
    {'alpha': 0.1}
    """

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)

    def __repr__(self):
        return (f"<ComparisonResult {len(self.results)} candidates, best "
                f"{self.best_params_}, output in {self.output_dir}>")


def compare(estimator: Any, param_grid: dict | list[dict], X: ArrayLike, y: ArrayLike,
            X_test: ArrayLike | None = None, y_test: ArrayLike | None = None, *,
            cv: int | str = 5, repeats: int = 2, scoring: dict | None = None,
            refit: str = "f1_macro", n_jobs: int | None = None,
            output_dir: StrPath = "runs/compare", test_size: float = 0.2,
            validation_size: float = 0.2, random_state: int = 0, save_all: bool = False,
            class_names: Sequence[str] | None = None,
            data_summary: Sequence[str] | None = None, client: Any = None,
            verbose: bool = True, sample_weight: ArrayLike | None = None,
            search: str = "grid", factor: int = 3,
            command: str | None = None) -> ComparisonResult:
    """Compare the candidates of a parameter grid and write a report.

    Parameters
    ----------
    estimator : MLPClassifierTorch or CNNClassifierTorch
        The base estimator; each candidate sets its parameters.
    param_grid : dict or list of dict
        As for ``GridSearchCV``.
    X, y : array-like
        Training data (flat rows or images).
    X_test, y_test : array-like, default=None
        Held-out test data; None holds out a stratified ``test_size`` of X.
    cv : int or 'holdout', default=5
        An int K: stratified K-fold cross-validation, repeated ``repeats``
        times with new folds; each candidate's splits train together as one
        stacked network where they stack, and the best candidate is then
        refitted on all the training data (every candidate with
        ``save_all=True``). 'holdout' (the seed studies' protocol): each
        candidate trains once on the training part and is scored, and its
        per-epoch validation curves recorded, on a stratified
        ``validation_size`` of it; that model is kept. One split gives no
        estimate of how scores vary between training sets, so a holdout
        comparison claims no evidence of any difference.
    repeats : int, default=2
        Repetitions of the K-fold split (``RepeatedStratifiedKFold``): K x
        repeats validation scores per candidate (10 by default), which the
        comparison's intervals and tests need. Must be 1 with 'holdout'.
    scoring : dict, default=None
        Multi-metric scorers; None means ``make_scoring(classes)``.
    refit : str, default='f1_macro'
        The metric that picks the best candidate.
    n_jobs : int, default=None
        Parallel candidates (holdout) or folds (cv=K), through joblib.
    output_dir : str or path-like, default='runs/compare'
        Where everything is written. Rerunning with the same data, estimator
        and protocol resumes: finished candidates are loaded, not refitted
        (one scored without a metric now asked for is fitted again). A second
        run on the same folder waits for the first.
    test_size, validation_size : float, default=0.2
        Fractions held out for testing and, with 'holdout', for validation.
    random_state : int, default=0
        Seed of the splits.
    save_all : bool, default=False
        With cv=K, refit and save every candidate on all the training data.
    class_names : list of str, default=None
        Names of the classes (in sorted label order) for the report.
    data_summary : list of str, default=None
        Lines saying what data was read (e.g. ``load_image_folder``'s
        ``summary.lines()``), shown in the report's summary.
    client : distributed.Client, default=None
        Run the candidates on this Dask cluster's workers, however many
        threads it has; the models come back to this process to be saved.
    verbose : bool, default=True
        Show progress bars (candidates, and epochs when fitting one at a time).
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the rows of X: every fit trains with them (see
        ``MLPClassifierTorch.fit``) and every candidate's validation or fold
        scores are weighted by them. The test evaluation counts each test
        sample once.
    search : {'grid', 'halving'}, default='grid'
        'grid' trains every candidate for the estimator's ``max_iter``
        epochs. 'halving' is successive halving with epochs as the resource
        (``halving_rungs``): every candidate trains a few epochs, the best
        ``1 / factor`` continue (warm start) to the next rung, and the last
        rung's survivors reach ``max_iter``; the best is chosen among them.
        ``max_iter`` cannot then be in the grid.
    factor : int, default=3
        With 'halving', the share of candidates each rung keeps
        (``1 / factor``) and its growth in epochs.
    command : str, default=None
        The command line that runs this study (``sknets compare`` passes
        its own), recorded with the versions, the machine and the date in
        run.json's ``sessions`` and shown in the report's "How this was
        run"; None records this Python call instead.

    Returns
    -------
    result : ComparisonResult

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C: the candidate in training is not kept, and a rerun trains
        it again; finished candidates are kept.
    ValueError
        For parameters the estimator refuses (before anything is written), a
        folder that holds another run, or when every candidate diverged.

    Examples
    --------
    >>> import tempfile
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.compare import compare
    >>> from sknets.datasets import load_digits_images
    >>> X, y = load_digits_images(return_X_y=True)
    >>> result = compare(MLPClassifierTorch(max_iter=5, random_state=0),
    ...                  {"learning_rate_init": [1e-2, 1e-3]}, X, y,
    ...                  output_dir=tempfile.mkdtemp(), verbose=False)
    >>> len(result.results), result.best_params_
    (2, {'learning_rate_init': 0.01})
    >>> files = sorted(p.name for p in result.output_dir.iterdir())
    >>> files[:5]
    ['.lock', 'best.json', 'best_model.safetensors', 'effects.csv', 'evaluation.json']
    """
    strategy = _strategy(search)
    options = {"factor": factor} if strategy.name == "halving" else {}
    if strategy.check is not None:
        strategy.check(param_grid, **options)
    if n_jobs is not None and (not _is_int(n_jobs, -10**6) or n_jobs == 0):
        raise ValueError(f"n_jobs must be a nonzero int (-1: all cores) or None, "
                         f"got {n_jobs!r}.")
    if cv == "holdout" and repeats == 2:
        repeats = 1  # the default repeats K-fold; holdout is one split
    study = make_study(X, y, X_test, y_test, cv=cv, scoring=scoring, refit=refit,
                       test_size=test_size, validation_size=validation_size,
                       random_state=random_state, class_names=class_names,
                       data_summary=data_summary, sample_weight=sample_weight,
                       repeats=repeats)
    if strategy.protocol is not None:  # another search is another run
        study.protocol.update(strategy.protocol(**options))
    folder = RunFolder(output_dir)
    folder.check_writable()
    call = None
    if command is None:
        given = {"cv": cv, "repeats": repeats, "scoring": scoring, "refit": refit,
                   "n_jobs": n_jobs, "test_size": test_size,
                   "validation_size": validation_size, "random_state": random_state,
                   "search": search, "factor": factor}
        call = python_call(estimator, param_grid, _changed(given, X_test,
                                                           sample_weight))
    this_session = session(estimator, command=command, call=call, n_jobs=n_jobs,
                           client=client)
    with folder.locked():
        work = plan(folder, estimator, param_grid, study, session=this_session,
                    test_size=None if X_test is not None else test_size)
        if verbose and work.todo:
            print(plan_text(work, study,
                            estimate_seconds(estimator, work.todo, study),
                            stacked=isinstance(estimator, MLPClassifierTorch)),
                  flush=True)
        strategy.run(folder, estimator, work, study, n_jobs=n_jobs, client=client,
                     verbose=verbose, **options)
        run_record = folder.read_run()
        comparison = compare_records(run_record, work.records)
        results = rank(run_record, work.records, comparison)
        folder.save_text("results.csv",
                          results.drop(columns=["candidate"]).to_csv(index=False))
        if comparison is not None:
            folder.save_text("effects.csv", comparison.effects.to_csv(index=False))
        best_name = results.loc[0, "candidate"]
        if work.records[best_name].status != DONE:
            folder.save_json("run.json", {**run_record, "state": "diverged"})
            _report_or_warn(folder)
            raise ValueError(
                f"All {len(results)} candidates diverged (their loss became "
                f"non-finite); see {folder.path / 'report.html'}. Lower "
                "learning_rate_init, scale the inputs or set batch_norm=True."
            )
        best = refit_best(folder, estimator, work, study, best_name,
                          save_all=save_all)
        evaluation = evaluate_best(folder, best, study)
        folder.save_json("run.json", {**run_record, "state": "finished"})
        _report_or_warn(folder)
    records = work.records
    return ComparisonResult(
        results=results, refit=refit,
        best_params_=_decode(records[best_name].params, "params"),
        best_estimator_=best, evaluation=evaluation,
        histories={name: _decode(record.histories[0], "history")
                   for name, record in records.items()},
        output_dir=folder.path, fitted=sorted(set(records) - set(work.reused)),
        reused=work.reused, comparison=comparison,
    )


def _changed(options, X_test, sample_weight):
    # compare's options that differ from its defaults, for the Python call.
    defaults = inspect.signature(compare).parameters
    changed = {key: value for key, value in options.items()
               if repr(defaults[key].default) != repr(value)}
    if changed.get("repeats") == 1 and options["cv"] == "holdout":
        del changed["repeats"]
    if X_test is not None:
        changed = {"X_test": _Name("X_test"), "y_test": _Name("y_test"), **changed}
        changed.pop("test_size", None)
    if sample_weight is not None:
        changed["sample_weight"] = _Name("sample_weight")
    return changed


class _Name(str):
    # A variable of the caller's, shown by name in the Python call.
    def __repr__(self):
        return str(self)


def _strategy(search):
    # The search strategy of search=, checked before anything is written.
    if search not in STRATEGIES:
        raise ValueError(f"search must be one of {list(STRATEGIES)}, got {search!r}.")
    return STRATEGIES[search]


def _report_or_warn(folder):
    # The results are saved before the report: a report that fails never
    # loses a finished run.
    try:
        _report.write_report(folder.path)
    except Exception as exc:  # noqa: BLE001 - any failure of the report
        warnings.warn(
            f"The results are saved in {folder.path} (results.csv), but the report "
            f"could not be written: {type(exc).__name__}: {exc}. Run `sknets "
            f"report {folder.path}` to try again.", UserWarning, stacklevel=3)
