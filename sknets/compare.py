"""The comparison runner behind ``sknets compare``: a grid, one protocol, a report.

``compare`` trains every candidate of a parameter grid, picks the best by a
validation metric (macro-F1 by default), tests it on held-out data and writes
``results.csv``, ``report.html`` (self-contained), ``report.md``, one PNG per
figure and every candidate's model. Each finished candidate is saved as soon
as it is done, so an interrupted run resumes where it stopped.
"""

import base64
import hashlib
import html
import io
import json
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import (
    ParameterGrid,
    StratifiedKFold,
    cross_validate,
    train_test_split,
)
from tqdm.auto import tqdm

from . import plotting
from ._files import write_atomically
from .cnn import CNNClassifierTorch
from .metrics import evaluate, make_scoring, parameter_rows
from .persistence import _decode, _encode, load, save

__all__ = ["ComparisonResult", "compare"]


def _value_label(value):
    if isinstance(value, tuple):
        return "-".join(_value_label(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def candidate_name(params):
    """A file name that encodes a candidate's parameters.

    Parameters
    ----------
    params : dict
        The candidate's parameters.

    Returns
    -------
    name : str
        ``name=value`` pairs joined by ``__``, with a short hash when that
        would be too long for a file name.

    Examples
    --------
    >>> from sknets.compare import candidate_name
    >>> candidate_name({"hidden_layer_sizes": (128, 64), "learning_rate_init": 0.01})
    'hidden_layer_sizes=128-64__learning_rate_init=0.01'
    """
    text = "__".join(f"{key}={_value_label(value)}"
                     for key, value in sorted(params.items()))
    text = re.sub(r"[^A-Za-z0-9=._+-]+", "-", text) or "default"
    if len(text) > 120:
        digest = hashlib.sha1(repr(sorted(params.items())).encode()).hexdigest()[:10]
        text = f"{text[:100]}__{digest}"
    return text


def _fingerprint(estimator, X, y, X_test, y_test, protocol):
    digest = hashlib.sha256()
    for array in (X, y, X_test, y_test):
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes() if array.dtype.kind != "O"
                      else repr(array.tolist()).encode())
    digest.update(type(estimator).__name__.encode())
    digest.update(json.dumps(_encode(estimator.get_params(), "estimator"),
                             sort_keys=True).encode())
    digest.update(json.dumps(protocol, sort_keys=True).encode())
    return digest.hexdigest()


def _write_json(path, record):
    write_atomically(path, json.dumps(record))


def _quiet():
    warnings.simplefilter("ignore", ConvergenceWarning)


def _run_candidate(estimator, params, data, protocol, scoring):
    """Fit and score one candidate; return its record and its model.

    Runs wherever joblib sends it (a worker process, a Dask worker on another
    machine); the caller saves what it returns, so workers need no shared
    file system.
    """
    with warnings.catch_warnings():
        _quiet()
        model = clone(estimator).set_params(**params)
        model._epoch_progress = protocol.get("epoch_progress", False)
        X_train, y_train, X_val, y_val = data
        start = time.perf_counter()
        if protocol["cv"] == "holdout":
            model.fit(X_train, y_train, validation_data=(X_val, y_val))
            fit_time = time.perf_counter() - start
            scores = {name: [float(scorer(model, X_val, y_val))]
                      for name, scorer in scoring.items()}
        else:
            folds = StratifiedKFold(protocol["cv"], shuffle=True,
                                    random_state=protocol["random_state"])
            result = cross_validate(model, X_train, y_train, cv=folds,
                                    scoring=scoring, return_estimator=True,
                                    n_jobs=protocol.get("n_jobs"))
            fit_time = float(np.sum(result["fit_time"]))
            scores = {name: [float(v) for v in result[f"test_{name}"]]
                      for name in scoring}
            model = result["estimator"][0]  # fold 0's curves stand for the rest
        model.__dict__.pop("_epoch_progress", None)
    record = {"name": candidate_name(params), "params": _encode(params, "params"),
              "scores": scores, "fit_time": fit_time,
              "history": _encode(model.history_, "history")}
    return record, model


def _keep(record, model, folder):
    # The model first, then its record: a record always has its model.
    save(model, folder / f"{record['name']}.safetensors")
    _write_json(folder / f"{record['name']}.json", record)
    return record


class ComparisonResult:
    """What ``compare`` found and wrote.

    Attributes
    ----------
    results : pandas.DataFrame
        One row per candidate, best first: its parameters, ``mean_<metric>``
        and ``std_<metric>`` for each metric, and ``fit_time``.
    refit : str
        The metric that ranked them.
    best_params_ : dict
        The parameters of the best candidate.
    best_estimator_ : estimator
        The best model (trained on the training part; refitted on all the
        training data with cv=K).
    evaluation : sknets.metrics.Evaluation or None
        The best model on the test data.
    histories : dict
        Per-epoch history of each candidate, by candidate name.
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

    def __init__(self, **attributes):
        self.__dict__.update(attributes)

    def __repr__(self):
        return (f"<ComparisonResult {len(self.results)} candidates, best "
                f"{self.best_params_}, output in {self.output_dir}>")


def compare(estimator, param_grid, X, y, X_test=None, y_test=None, *,
            cv="holdout", scoring=None, refit="f1_macro", n_jobs=None,
            output_dir="runs/compare", test_size=0.2, validation_size=0.2,
            random_state=0, save_all=False, class_names=None, verbose=True):
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
    cv : 'holdout' or int, default='holdout'
        'holdout' (the seed studies' protocol): each candidate trains once on
        the training part and is scored, and its per-epoch curves recorded, on
        a stratified ``validation_size`` of it; that model is kept. An int K:
        stratified K-fold cross-validation; the best candidate is then
        refitted on all the training data (every candidate with
        ``save_all=True``).
    scoring : dict, default=None
        Multi-metric scorers; None means ``make_scoring(classes)``.
    refit : str, default='f1_macro'
        The metric that picks the best candidate.
    n_jobs : int, default=None
        Parallel candidates (holdout) or folds (cv=K), through joblib.
    output_dir : str or path-like, default='runs/compare'
        Where everything is written. Rerunning with the same data, estimator
        and protocol resumes: finished candidates are loaded, not refitted.
    test_size, validation_size : float, default=0.2
        Fractions held out for testing and, with 'holdout', for validation.
    random_state : int, default=0
        Seed of the splits.
    save_all : bool, default=False
        With cv=K, refit and save every candidate on all the training data.
    class_names : list of str, default=None
        Names of the classes (in sorted label order) for the report.
    verbose : bool, default=True
        Show progress bars (candidates, and epochs when fitting one at a time).

    Returns
    -------
    result : ComparisonResult

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
    >>> sorted(p.name for p in result.output_dir.iterdir())[:4]
    ['best_model.safetensors', 'figures', 'models', 'report.html']
    """
    output = Path(output_dir)
    models = output / "models"
    models.mkdir(parents=True, exist_ok=True)
    X, y = np.asarray(X), np.asarray(y)
    if X_test is None:
        X, X_test, y, y_test = train_test_split(
            X, y, test_size=test_size, stratify=y, random_state=random_state)
    X_test, y_test = np.asarray(X_test), np.asarray(y_test)
    if cv != "holdout" and not (isinstance(cv, int) and cv >= 2):
        raise ValueError(f"cv must be 'holdout' or an int >= 2, got {cv!r}.")
    protocol = {"cv": cv, "validation_size": validation_size,
                "random_state": random_state, "refit": refit}
    fingerprint = _fingerprint(estimator, X, y, X_test, y_test, protocol)
    run_file = output / "run.json"
    if run_file.exists():
        previous = json.loads(run_file.read_text()).get("fingerprint")
        if previous != fingerprint:
            raise ValueError(
                f"{output} holds a run on other data, another estimator or "
                "another protocol; choose another output directory (--output) or "
                "delete it to start over."
            )
    _write_json(run_file, {"fingerprint": fingerprint, "protocol": protocol})
    classes = np.unique(y)
    scoring = make_scoring(classes) if scoring is None else scoring
    if refit not in scoring:
        raise ValueError(f"refit={refit!r} is not one of the metrics {list(scoring)}.")
    if cv == "holdout":
        X_fit, X_val, y_fit, y_val = train_test_split(
            X, y, test_size=validation_size, stratify=y, random_state=random_state)
        data = (X_fit, y_fit, X_val, y_val)
    else:
        data = (X, y, None, None)

    candidates = list(ParameterGrid(param_grid))
    records, todo = {}, []
    for params in candidates:
        name = candidate_name(params)
        record_file = models / f"{name}.json"
        if record_file.exists() and (models / f"{name}.safetensors").exists():
            records[name] = json.loads(record_file.read_text())
        else:
            todo.append(params)
    reused = sorted(records)
    folds = 1 if cv == "holdout" else cv
    progress = tqdm(total=len(candidates) * folds, initial=len(records) * folds,
                    disable=not verbose, unit="fit",
                    desc="candidates" if folds == 1 else f"candidates x {folds} folds")
    parallel_candidates = cv == "holdout" and n_jobs not in (None, 1)
    if parallel_candidates:
        jobs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_run_candidate)(estimator, params, data, protocol, scoring)
            for params in todo)
        for record, model in jobs:
            records[record["name"]] = _keep(record, model, models)
            progress.update(folds)
    else:
        # One candidate at a time; with cv=K, n_jobs runs its folds in parallel.
        settings = {**protocol, "n_jobs": None if cv == "holdout" else n_jobs,
                    "epoch_progress": verbose and cv == "holdout"}
        for params in todo:
            progress.set_postfix_str(candidate_name(params)[:60])
            record, model = _run_candidate(estimator, params, data, settings, scoring)
            records[record["name"]] = _keep(record, model, models)
            progress.update(folds)
    progress.close()

    results = _results_frame(estimator, candidates, records, scoring, refit)
    best_name = results.loc[0, "candidate"]
    best_params = _decode(records[best_name]["params"], "params")
    best = load(models / f"{best_name}.safetensors")
    if cv != "holdout":
        with warnings.catch_warnings():
            _quiet()
            best = clone(estimator).set_params(**best_params).fit(X, y)
        save(best, output / "best_model.safetensors")
        if save_all:
            for params in candidates:
                with warnings.catch_warnings():
                    _quiet()
                    model = clone(estimator).set_params(**params).fit(X, y)
                save(model, models / f"{candidate_name(params)}.refit.safetensors")
    else:
        save(best, output / "best_model.safetensors")
    evaluation = evaluate(best, X_test, y_test)
    histories = {name: _decode(record["history"], "history")
                 for name, record in records.items()}
    result = ComparisonResult(
        results=results, refit=refit, best_params_=best_params, best_estimator_=best,
        evaluation=evaluation, histories=histories, output_dir=output,
        fitted=sorted(set(records) - set(reused)), reused=reused,
    )
    results.drop(columns=["candidate"]).to_csv(output / "results.csv", index=False)
    _write_report(result, X_test, class_names, protocol, param_grid)
    return result


def _results_frame(estimator, candidates, records, scoring, refit):
    rows = []
    for params, parameters in zip(candidates, parameter_rows(estimator, candidates),
                                  strict=True):
        name = candidate_name(params)
        record = records[name]
        row = {"candidate": name, **parameters}
        for metric in scoring:
            values = np.asarray(record["scores"][metric], dtype=float)
            row[f"mean_{metric}"] = float(np.mean(values))
            row[f"std_{metric}"] = float(np.std(values))
        row["fit_time"] = record["fit_time"]
        row["epochs"] = len(record["history"])
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values(f"mean_{refit}", ascending=False, kind="stable",
                             na_position="last").reset_index(drop=True)


# -- the report -------------------------------------------------------------------


def _figure_files(result, X_test, class_names, param_grid):
    """(title, file name, Figure) for every figure of the report."""
    figures = []
    frame = result.results
    varied = set()
    for grid in ([param_grid] if isinstance(param_grid, dict) else param_grid):
        varied |= {key for key, values in grid.items() if len(values) > 1}
    if "hidden_layer_sizes" in varied:
        varied = (varied - {"hidden_layer_sizes"}) | {
            c for c in ("width", "depth") if c in frame and frame[c].nunique() > 1}
    metric = result.refit
    for param in sorted(varied):
        if param in frame:
            figures.append((f"{metric} against {param}", f"score_vs_{param}.png",
                            plotting.plot_search_results(frame, param, metric)))
    for name in frame["candidate"]:
        figures.append((f"learning curves: {name}", f"curves_{name}.png",
                        plotting.plot_learning_curves(result.histories[name],
                                                      title=name)))
    best, evaluation = result.best_estimator_, result.evaluation
    names = class_names or [str(c) for c in best.classes_]
    figures.append(("confusion matrix of the best model on the test data",
                    "confusion_matrix.png",
                    plotting.plot_confusion_matrix(
                        evaluation.y_true, evaluation.y_pred, labels=best.classes_,
                        class_names=names)))
    figures.append(("ROC curves of the best model on the test data", "roc_curves.png",
                    plotting.plot_roc_curves(evaluation.y_true, evaluation.y_proba,
                                             best.classes_, class_names=names)))
    if isinstance(best, CNNClassifierTorch) and best.filters_ is not None:
        figures.append(("learned first-layer filters", "filters.png",
                        plotting.plot_filters(best)))
        images = np.asarray(X_test, dtype=float).reshape(len(X_test),
                                                          *best.image_shape_)
        figures.append(("correct and wrong test predictions", "predictions.png",
                        plotting.plot_predictions_gallery(
                            images, evaluation.y_true, evaluation.y_pred,
                            class_names=names, classes=best.classes_)))
    return figures


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def _table_markdown(frame, index=False):
    return frame.to_markdown(index=index, floatfmt=".4f")


def _write_report(result, X_test, class_names, protocol, param_grid):
    output = result.output_dir
    figures_dir = output / "figures"
    figures_dir.mkdir(exist_ok=True)
    figures = _figure_files(result, X_test, class_names, param_grid)
    images = {}
    for title, file_name, fig in figures:
        data = _png(fig)
        (figures_dir / file_name).write_bytes(data)
        images[file_name] = (title, data)
    ranked = result.results.drop(columns=["candidate"])
    metric_columns = [c for c in ranked.columns if c.startswith(("mean_", "std_"))
                      and not c[len("mean_"):].startswith("roc_auc_")
                      or c in ("mean_roc_auc_ovr", "std_roc_auc_ovr")]
    shown = ranked[[c for c in ranked.columns if not c.startswith(("mean_", "std_"))]
                   + metric_columns]
    history = pd.DataFrame(result.best_estimator_.history_)
    report = result.evaluation.to_frame()
    protocol_text = ("holdout: each candidate trained once, scored on a stratified "
                     f"{protocol['validation_size']:.0%} validation split"
                     if protocol["cv"] == "holdout" else
                     f"{protocol['cv']}-fold stratified cross-validation")
    summary = result.evaluation.summary()
    title = (f"Comparison of {len(ranked)} {type(result.best_estimator_).__name__} "
             "candidates")
    intro = (f"Protocol: {protocol_text}; best by validation {protocol['refit']}. "
             f"Best candidate: {result.best_params_}. Test accuracy "
             f"{summary['accuracy']:.4f}, macro-F1 {summary['f1_macro']:.4f} on "
             f"{summary['n_samples']} held-out samples.")

    sections_md = [f"# {title}", "", intro, "", "## Ranked candidates", "",
                   _table_markdown(shown), "",
                   "## Best model, per epoch", "", _table_markdown(history), "",
                   "## Best model on the test data", "",
                   result.evaluation.to_markdown(), "", "## Figures", ""]
    sections_md += [f"![{title}](figures/{name})" for name, (title, _) in
                    images.items()]
    (output / "report.md").write_text("\n".join(sections_md) + "\n")

    def img(name):
        title, data = images[name]
        encoded = base64.b64encode(data).decode()
        return (f'<figure><img alt="{html.escape(title)}" '
                f'src="data:image/png;base64,{encoded}"><figcaption>'
                f"{html.escape(title)}</figcaption></figure>")

    comparison = [n for n in images if n.startswith("score_vs_")]
    curves = [n for n in images if n.startswith("curves_")]
    best_figures = [n for n in images if n not in comparison + curves]
    body = [
        f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(intro)}</p>",
        "<h2>Ranked candidates</h2>",
        shown.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0),
        "<h2>Score against each varied parameter</h2>",
        *[img(n) for n in comparison],
        "<h2>Best model on the test data</h2>",
        pd.DataFrame({"value": summary}).to_html(
            float_format=lambda v: f"{v:.4f}", border=0),
        report.to_html(float_format=lambda v: f"{v:.4f}", border=0),
        "<p>Confusion matrix (rows: true class, columns: predicted):</p>",
        result.evaluation.confusion_frame().to_html(border=0),
        *[img(n) for n in best_figures],
        "<h2>Best model, per epoch</h2>",
        history.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0),
        "<h2>Learning curves of every candidate</h2>",
        *[img(n) for n in curves],
    ]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;"
             "padding:0 1em;color:#222}table{border-collapse:collapse;"
             "font-size:13px;margin:1em 0}th,td{padding:3px 8px;border-bottom:"
             "1px solid #ddd;text-align:right}th{background:#f4f4f4}"
             "figure{display:inline-block;margin:.5em}img{max-width:100%}"
             "figcaption{font-size:12px;color:#555}")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{style}</style></head>"
            f"<body>\n{chr(10).join(body)}\n</body></html>\n")
    (output / "report.html").write_text(page)
