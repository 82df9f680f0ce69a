"""The report of a comparison run: one model, rendered as Markdown and HTML.

``build_report`` reads a run folder (nothing else: no training, no data) and
returns a ``Report``: sections of paragraphs, lists, tables, figures and
collapsed details, with every number already formatted by its kind.
``_render`` turns that one model into Markdown and HTML. ``write_report``
builds, renders and writes the files.
"""

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .. import plotting
from .._typing import StrPath
from ..metrics import Evaluation
from ..persistence import _decode, _decode_array
from ..plotting import _value_text
from ._folder import RunFolder
from ._halving import rung_table
from ._model import Code, Details, Image, Report, Section, Table
from ._provenance import rerun
from ._record import DIVERGED
from ._render import render_html, render_markdown
from ._runner import compare_records, rank
from ._study import n_splits

__all__ = ["Report", "build_report", "write_report"]


# -- formatting by kind ----------------------------------------------------------------


def _score(value, status=None):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "diverged" if status == DIVERGED else "n/a"
    return f"{value:.4f}"


def _score_pm(mean, std, folds, status=None):
    text = _score(mean, status)
    return (f"{text} ± {std:.4f}" if folds > 1 and not math.isnan(mean)
            and not math.isnan(std) else text)


def _interval(low, high):
    if low is None or not (np.isfinite(low) and np.isfinite(high)):
        return ""
    return f"[{low:.4f}, {high:.4f}]"


def _count(value):
    return str(int(round(value)))


def _epochs(value):
    return _count(value) if float(value).is_integer() else f"{value:.1f}"


def _seconds(value):
    return f"{value:.2f}"


def _params_text(params):
    text = ", ".join(f"{key}={_value_text(value)}" for key, value in params.items())
    return text or "the base estimator's parameters"


# -- reading a run folder --------------------------------------------------------------


def _varied(frame, grid_keys):
    return [key for key in grid_keys
            if key in frame and len({repr(v) for v in frame[key]}) > 1]


def _figure_params(frame, varied):
    # hidden_layer_sizes is drawn as its width and its depth, where they vary.
    params = []
    for key in varied:
        if key == "hidden_layer_sizes":
            params += [c for c in ("width", "depth")
                       if c in frame and frame[c].nunique() > 1] or [key]
        else:
            params.append(key)
    return params


def _png(display):
    buffer = io.BytesIO()
    display.figure_.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def _image(file, title, display):
    return Image(file, title, _png(display))


def _load_evaluation(folder):
    record = folder.read_json("evaluation.json")
    if record is None:
        return None, None, None
    classes = _decode_array(record["classes"], "classes")
    evaluation = Evaluation(_decode_array(record["y_true"], "y_true"),
                            _decode_array(record["y_pred"], "y_pred"),
                            np.asarray(record["y_proba"], dtype=float), classes)
    intervals = {key: record[key] for key in ("accuracy_ci", "f1_macro_ci")
                 if key in record}
    return evaluation, record.get("gallery"), intervals


def build_report(run_dir):
    """Read a run folder and build its report.

    Parameters
    ----------
    run_dir : str or path-like
        A folder written by ``compare`` (finished or interrupted).

    Returns
    -------
    report : Report
    """
    folder = RunFolder(run_dir)
    results = read_results(folder)
    try:
        return _build_report(folder, *results)
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise _damaged(folder, exc) from None


def _damaged(folder, exc):
    return ValueError(
        f"{folder.path} holds damaged run files ({type(exc).__name__}: {exc}); "
        "rerun the comparison, which trains again what is missing, or delete "
        "the folder to start over.")


def read_results(folder):
    """A run folder's finished candidates, compared and ranked.

    What the report, ``log_to_mlflow`` and ``log_to_tensorboard`` read.

    Parameters
    ----------
    folder : RunFolder

    Returns
    -------
    run : dict
        run.json.
    records : dict
        The finished candidates' records, by name.
    comparison : CandidateComparison or None
        ``compare_records(run, records)``.
    frame : pandas.DataFrame
        ``rank(run, records, comparison)``.

    Raises
    ------
    ValueError
        When the folder holds no run, no finished candidate, or damaged
        files (saying how to recover).
    """
    run = folder.read_run()
    if run is None:
        raise ValueError(f"{folder.path} holds no comparison run (no run.json).")
    try:
        records = {}
        for entry in run["candidates"]:
            record = folder.finished_record(entry["name"])
            if record is not None:
                records[entry["name"]] = record
        if not records:
            raise ValueError(f"{folder.path} holds no finished candidate yet; rerun "
                             "the comparison to train them.")
        comparison = compare_records(run, records)
        return run, records, comparison, rank(run, records, comparison)
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise _damaged(folder, exc) from None


def _build_report(folder, run, records, comparison, frame):
    protocol = run["protocol"]
    metric = protocol["refit"]
    folds = n_splits(protocol)
    varied = _varied(frame, run["grid"])
    lead = _lead_param(comparison, varied)
    evaluation, gallery, test_ci = _load_evaluation(folder)
    best_name = (folder.read_json("best.json") or {}).get("name")
    class_names = run.get("class_names")
    classes = _decode_array(run["classes"], "classes")
    names = class_names or [str(c) for c in classes.tolist()]
    params_of = {entry["name"]: _decode(entry["params"], "params")
                 for entry in run["candidates"]}
    n_total, n_done = len(run["candidates"]), len(records)
    title = f"Comparison of {n_total} {run['estimator']} candidates"

    summary = _summary(run, frame, comparison, evaluation, best_name, params_of,
                       n_total, n_done, folds, records, test_ci)
    sections = [
        Section("summary", "Summary", summary),
        Section("ranking", "Ranking", _ranking(frame, varied, metric, folds, run)),
        *([Section("rungs", "Successive halving: the rungs",
                   _rungs(records, run, params_of, metric, folds))]
          if protocol.get("search") == "halving" else []),
        Section("parameters", "What each parameter did",
                _parameters(frame, comparison, varied, metric)),
        Section("curves", "Learning curves",
                _curves(frame, records, lead, folds)),
        Section("best-model", "The best model on the test data",
                _best_model(folder, evaluation, gallery, names, best_name, records,
                            run)),
        Section("metrics", "Every metric", _metrics(frame, run, folds, names,
                                                    classes)),
        Section("candidates", "Every candidate",
                _candidates(frame, records, params_of)),
        Section("how-run", "How this was run", _how_run(run)),
    ]
    return Report(title, sections)


def _lead_param(comparison, varied):
    # The parameter that colours the curves: the first of the effect
    # sentences (evidence first, then the largest difference).
    if comparison is not None and len(comparison.effects):
        for sentence in comparison.effect_sentences():
            param = sentence.split(":")[0].removesuffix(" mattered most")
            if param in varied:
                return param
    return varied[0] if varied else None


def _protocol_text(run, folds):
    protocol = run["protocol"]
    if protocol["cv"] == "holdout":
        how = ("holdout: each candidate trained once and was scored on one "
               f"stratified {protocol['validation_size']:.0%} validation split of "
               "the training data")
    else:
        repeats = protocol.get("repeats", 1)
        how = (f"{protocol['cv']}-fold stratified cross-validation"
               + (f" repeated {repeats} times" if repeats > 1 else "")
               + f" ({folds} validation scores per candidate)")
    if protocol.get("search") == "halving":
        how += (f", with successive halving (factor {protocol['factor']}): each "
                "rung's best candidates go on training, the others stop; the best "
                "is chosen among the last rung's")
    return how


def _sizes_text(run):
    # What each model trained on, not only what the data held.
    cv = run["protocol"]["cv"]
    n_fit, n_val = run.get("n_fit"), run.get("n_val")
    if n_fit is None:
        return f"{run['n_train']} training and {run['n_test']} test samples."
    if cv == "holdout":
        return (f"Each candidate trained on {n_fit} samples and was validated on "
                f"{n_val} (of {run['n_train']} training samples); the best is "
                f"tested on {run['n_test']} test samples.")
    return (f"Each fit trained on about {n_fit} samples and was validated on about "
            f"{n_val} (of {run['n_train']} training samples); the best was then "
            f"refitted on all {run['n_train']} and tested on {run['n_test']} test "
            "samples.")


def _still_improving(run, records, name):
    """Why the best candidate had not converged, or None."""
    record = records[name]
    entries = {entry["name"]: i for i, entry in enumerate(run["candidates"])}
    budgets = run.get("max_iter")
    histories = [_decode(h, "history") for h in record.histories if h]
    if not histories:
        return None
    if run["protocol"]["cv"] == "holdout":
        history = histories[0]
        key = next((k for k in ("valid_f1_macro", "valid_accuracy")
                    if k in history[-1]), None)
        if key is None:
            return None
        values = [row.get(key) for row in history]
        values = [v for v in values if v is not None and np.isfinite(v)]
        tail = max(1, len(values) // 10)
        if values and max(values[-tail:]) >= max(values) and len(values) > 1 \
                and max(values[-tail:]) > max(values[:-tail] or [-np.inf]):
            return (f"its validation {key[len('valid_'):]} was still improving in "
                    f"its last {tail} epoch(s) (best at epoch "
                    f"{int(np.argmax(values)) + 1} of {len(values)})")
        return None
    if budgets is not None and name in entries:
        budget = budgets[entries[name]]
        ran_out = sum(len(h) >= budget for h in histories)
        if ran_out:
            return (f"{ran_out} of its {len(histories)} fits used all {budget} "
                    "epochs without meeting the stopping rule (tol, "
                    "n_iter_no_change)")
    return None


def _summary(run, frame, comparison, evaluation, best_name, params_of, n_total,
             n_done, folds, records, test_ci):
    protocol = run["protocol"]
    metric = protocol["refit"]
    blocks = [f"Protocol: {_protocol_text(run, folds)}; ranked by validation "
              f"{metric}. {_sizes_text(run)}"]
    if run.get("state") == "running":
        blocks.append(f"This run is unfinished: {n_done} of {n_total} candidates are "
                      "done. Rerun the same command to train the others; this "
                      "report covers the finished ones.")
    best_row = frame.iloc[0]
    if best_row["status"] == DIVERGED:
        blocks.append("Every candidate diverged: its training or validation "
                      "loss became non-finite. Lower learning_rate_init, scale "
                      "the inputs or set batch_norm=True.")
    if comparison is not None:
        blocks.append(comparison.summary(describe=_params_text))
    if evaluation is not None and best_name is not None:
        test = test_ci or {}
        blocks.append(
            f"The best on the test data: accuracy {evaluation.accuracy:.4f} "
            f"{_interval(*test.get('accuracy_ci', (None, None)))}, macro-F1 "
            f"{evaluation.f1_macro:.4f} "
            f"{_interval(*test.get('f1_macro_ci', (None, None)))}, ROC-AUC "
            f"{evaluation.roc_auc_ovr:.4f} ({run['n_test']} test samples; 95% "
            "intervals: Wilson for accuracy, a bootstrap over test samples for "
            "macro-F1).".replace("  ", " "))
        why = _still_improving(run, records, best_name)
        if why:
            blocks.append(f"Not converged: the best candidate's {why}; more epochs "
                          "(--max-iter) may change the comparison.")
    if run.get("data_summary"):
        blocks.append(Details("The data as read", [run["data_summary"]]))
    if len(frame) == 1:
        blocks.append("One candidate: no parameter was varied.")
    n_diverged = int((frame["status"] == DIVERGED).sum())
    if n_diverged:
        blocks.append(f"{n_diverged} candidate(s) diverged; they rank last, with their "
                      "scores shown as 'diverged'.")
    return blocks


def _timing_text(frame, run):
    """What the ranking's time column measures, and whether it holds."""
    cpu = bool(frame["cpu_time"].notna().all())
    sessions = run.get("sessions") or []
    dask = any(session.get("dask_workers") for session in sessions)
    parallel = any(session.get("n_jobs") not in (None, 1) for session in sessions)
    if cpu:
        text = ("CPU time is the processor time of a candidate's fits, summed over "
                "its splits: the seconds the process that trained them spent on "
                "all its threads (fits trained together as one stack share the "
                "stack's time by their wall time). Wall-clock time "
                "(results.csv's fit_time) also counts the time a fit waited "
                "while other processes held the cores; CPU time barely does, so "
                "candidates trained side by side, or beside other work, compare "
                "fairly.")
        if dask:
            text += (" On Dask, a worker that ran several candidates at once in "
                     "its threads counts their time together: compare these "
                     "times only roughly.")
        return text
    text = ("Fit time is wall-clock time, summed over a candidate's splits "
            "(this run's records predate CPU times).")
    if parallel or dask:
        text += (" Candidates trained in parallel shared the cores, so their "
                 "times measure that contention as well as their cost.")
    return text


def _ranking(frame, varied, metric, folds, run):
    columns = ["#", *varied, metric, f"{metric} 95% CI", "tied with best"]
    numeric = [True] + [False] * len(varied) + [True, True, False]
    has_accuracy = "mean_accuracy" in frame and metric != "accuracy"
    if has_accuracy:
        columns.append("accuracy")
        numeric.append(True)
    halving = "rung" in frame
    if halving:
        columns.append("rung")
        numeric.append(True)
    cpu = bool(frame["cpu_time"].notna().all())
    columns += ["epochs", "CPU time (s)" if cpu else "fit time (s)"]
    numeric += [True, True]
    rows = []
    for i, row in frame.iterrows():
        cells = [str(i + 1), *(_value_text(row[p]) for p in varied),
                 _score_pm(row[f"mean_{metric}"], row[f"std_{metric}"], folds,
                           row["status"]),
                 _interval(row["ci_low"], row["ci_high"]),
                 "= best" if i == 0 and row["tied_with_best"] else
                 ("yes" if row["tied_with_best"] else "")]
        if has_accuracy:
            cells.append(_score_pm(row["mean_accuracy"], row["std_accuracy"], folds,
                                   row["status"]))
        if halving:
            cells.append(_count(row["rung"]))
        cells += [_epochs(row["epochs"]),
                  _seconds(row["cpu_time"] if cpu else row["fit_time"])]
        rows.append(cells)
    blocks = [Table(columns, rows, numeric), _timing_text(frame, run)]
    if halving:
        blocks.insert(0, "Each candidate's scores are those of the last rung it "
                         "reached, after that rung's epochs: candidates of a later "
                         "rung rank first.")
    if folds > 1:
        blocks.insert(0, f"Scores are the mean ± std over {folds} splits; the 95% CI "
                         "is the corrected resampled t-interval of the mean (the "
                         "splits share training samples, so it is wider than the "
                         "std suggests). 'tied with best' marks the candidates the "
                         "data cannot tell from the best (corrected paired t-test, "
                         "Bonferroni-adjusted). Epochs are the mean over the "
                         "splits.")
    else:
        blocks.insert(0, "One validation split: no spread; the interval is the "
                         "binomial standard error of the score as a proportion of "
                         "the validation samples (a floor on its uncertainty), and "
                         "no candidate is told apart from the best.")
    return blocks


def _rungs(records, run, params_of, metric, folds):
    names = [entry["name"] for entry in run["candidates"]]
    table = rung_table(records, names, metric)
    rows = [[str(i + 1), _count(row["epochs"]), _count(row["candidates"]),
             _count(row["kept"]), _score(row["best"]),
             _params_text(params_of[row["best_name"]])]
            for i, row in enumerate(table)]
    trained = sum(sum(record.epochs) for record in records.values())
    full = len(names) * folds * (table[-1]["epochs"] if table else 0)
    fits = "fits" if folds == 1 else f"fits ({folds} per candidate)"
    return [
        "Every candidate trained the first rung's epochs; each rung's best "
        f"1/{run['protocol']['factor']} continued training from where it "
        "stood (warm start) to the next rung's epochs, counted from the start.",
        Table(["rung", "epochs", "candidates", "kept", f"best {metric}",
               "best candidate"], rows, [True, True, True, True, True, False]),
        f"The {fits} trained {trained} epochs in all; the full grid would train "
        f"{full}.",
    ]


def _parameters(frame, comparison, varied, metric):
    if not varied:
        return ["No parameter was varied."]
    blocks = []
    if comparison is not None and len(comparison.effects):
        effects = comparison.effects
        rows = [[row["param"], _value_text(row["value"]),
                 _value_text(row["reference"]),
                 "n/a" if not np.isfinite(row["difference"]) else
                 f"{row['difference']:+.4f}",
                 _interval(row["ci_low"], row["ci_high"]),
                 "" if not np.isfinite(row["p_value"]) else f"{row['p_value']:.3g}",
                 "yes" if row["evidence"] else "no"]
                for _, row in effects.iterrows()]
        blocks += [
            f"The difference in validation {metric} at each value of each varied "
            "parameter from its best value (the reference), paired on the other "
            "parameters and on the split; its 95% corrected interval, and the "
            "p-value of the corrected t-test adjusted for every effect tested "
            "(Bonferroni; the intervals are simultaneous, at 95% for the effects "
            "together). 'evidence' is yes only where that test rejects \"no "
            "difference\" at alpha 0.05, that is where the interval excludes 0.",
            Table(["parameter", "value", "against", "difference",
                   "simultaneous 95% CI",
                   "adjusted p", "evidence"], rows,
                  [False, False, False, True, True, True, False])]
        # One split has no intervals: a forest plot of bare points would
        # draw differences as if they were measured.
        if not comparison.one_split and np.isfinite(
                effects["difference"].to_numpy(float)).any():
            blocks.append(_image("effects.png", "effects: differences and their "
                                 "intervals", comparison.plot_effects()))
        blocks += comparison.notes
    if len(varied) > 1 or len(frame) > 2:
        blocks.append(_image("parallel_coordinates.png",
                             f"parallel coordinates: parameters against {metric}",
                             plotting.plot_parallel_coordinates(frame, varied,
                                                                metric)))
    for param in _figure_params(frame, varied):
        blocks.append(_image(f"score_vs_{param}.png", f"{metric} against {param}",
                             plotting.plot_search_results(frame, param, metric)))
    return blocks


def _curves(frame, records, lead, folds):
    histories, colour_by = {}, {}
    for _, row in frame.iterrows():
        record = records[row["candidate"]]
        runs = [_decode(h, "history") for h in record.histories if h]
        if not runs:
            continue
        histories[row["candidate"]] = runs
        colour_by[row["candidate"]] = row[lead] if lead else row["candidate"]
    if not histories:
        return ["No candidate finished an epoch."]
    metrics = [m for m in ("loss", "accuracy", "f1_macro")
               if any(f"train_{m}" in h[0] or f"valid_{m}" in h[0]
                      for runs in histories.values() for h in runs if h)]
    validated = any(key.startswith("valid_") for runs in histories.values()
                    for h in runs for key in h[0])
    parts = ("training (solid) and validation (dashed) curves" if validated else
             "training curves (cross-validation folds have no validation split)")
    text = (f"Every candidate's {parts}, coloured by {lead}." if lead else
            f"The {parts}.")
    if folds > 1:
        text += " Each line is the mean over the folds, the band their range."
    display = plotting.plot_candidate_curves(
        histories, colour_by=colour_by if lead else None, colour_name=lead,
        metrics=tuple(metrics))
    return [text, _image("curves_overlaid.png",
                         "overlaid learning curves of every candidate", display)]


def _best_model(folder, evaluation, gallery, names, best_name, records, run):
    if evaluation is None or best_name is None:
        return ["Not available yet: the run has not finished."
                if run.get("state") == "running" else
                "No best model: every candidate diverged."]
    summary = evaluation.summary()
    blocks = [Table(["metric", "value"],
                    [[label, _score(summary[key])] for key, label in
                     Evaluation._SUMMARY] + [["samples", str(summary["n_samples"])]],
                    [False, True])]
    per_class = evaluation.to_frame()
    label_of = dict(zip(evaluation.classes.tolist(), names, strict=False))
    rows = [[str(label_of.get(index, index)),
             *(_count(v) if column == "support" else _score(v)
               for column, v in row.items())]
            for index, row in per_class.iterrows()]
    blocks.append(Table(["class", *per_class.columns], rows,
                        [False] + [True] * len(per_class.columns), wide=True))
    classes = evaluation.classes
    blocks.append(_image("confusion_matrix.png", "confusion matrix of the best model",
                         plotting.plot_confusion_matrix(
                             evaluation.y_true, evaluation.y_pred, labels=classes,
                             class_names=names)))
    blocks.append(_image("roc_curves.png", "ROC curves of the best model",
                         plotting.plot_roc_curves(evaluation.y_true,
                                                  evaluation.y_proba, classes,
                                                  class_names=names)))
    if gallery is not None:
        best = folder.load_best()
        if getattr(best, "filters_", None) is not None:
            blocks.append(_image("filters.png", "learned first-layer filters",
                                 plotting.plot_filters(best)))
        images = np.asarray(gallery["images"], dtype=float).reshape(
            -1, *gallery["image_shape"])
        chosen = gallery["indices"]
        blocks.append(_image("predictions.png", "correct and wrong test predictions",
                             plotting.plot_predictions_gallery(
                                 images, evaluation.y_true[chosen],
                                 evaluation.y_pred[chosen], class_names=names,
                                 classes=classes)))
    history = records[best_name].histories[0]
    if history:
        blocks.append(Details("The best candidate's training, epoch by epoch",
                              [_history_table(_decode(history, "history"))]))
    return blocks


def _history_table(history):
    frame = pd.DataFrame(history).drop(columns=["batches"], errors="ignore")
    columns = list(frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            if column == "epoch":
                cells.append(_count(value))
            elif isinstance(value, (bool, np.bool_)):
                cells.append("yes" if value else "")
            elif isinstance(value, (int, float, np.number)) and not pd.isna(value):
                cells.append(f"{value:.4f}" if column != "lr" else f"{value:.3g}")
            else:
                cells.append("" if pd.isna(value) else str(value))
        rows.append(cells)
    return Table(columns, rows, [True] * len(columns), wide=True)


def _metrics(frame, run, folds, names, classes):
    metrics = run["protocol"]["metrics"]
    per_class = [m for m in metrics if m.startswith("roc_auc_")
                 and m[len("roc_auc_"):] in {str(c) for c in classes.tolist()}]
    overall = [m for m in metrics if m not in per_class]
    rows = [[str(i + 1), *(_score_pm(row[f"mean_{m}"], row[f"std_{m}"], folds,
                                     row["status"]) for m in overall)]
            for i, row in frame.iterrows()]
    blocks = ["Validation scores of every candidate, by rank (#)."
              + (" Mean ± std over the folds." if folds > 1 else ""),
              Table(["#", *overall], rows, [True] * (len(overall) + 1), wide=True)]
    if per_class:
        label_of = {f"roc_auc_{c}": n for c, n in zip(classes.tolist(), names,
                                                        strict=False)}
        rows = [[str(i + 1), *(_score(row[f"mean_{m}"], row["status"])
                               for m in per_class)]
                for i, row in frame.iterrows()]
        blocks += ["One-vs-rest ROC-AUC of each class, by rank (#).",
                   Table(["#", *(str(label_of[m]) for m in per_class)], rows,
                         [True] * (len(per_class) + 1), wide=True)]
    return blocks


def _candidates(frame, records, params_of):
    blocks = []
    for i, row in frame.iterrows():
        name = row["candidate"]
        record = records[name]
        inner = [f"Parameters: {_params_text(params_of[name])}.",
                 f"Status: {record.status}; file name {name}."]
        history = record.histories[0] if record.histories else []
        if history:
            inner.append(_history_table(_decode(history, "history")))
        blocks.append(Details(f"#{i + 1}: {_params_text(params_of[name])}", inner))
    return blocks


def _how_run(run):
    blocks = []
    how = rerun(run)
    if how is None:
        blocks.append("This run folder was written before sknets recorded how a "
                      "study was run; its protocol is in run.json.")
    elif how[0] == "command":
        blocks += ["To run this study again into a new folder, run this command "
                   "with another --output; with this --output it resumes this run "
                   "(finished candidates are loaded, not trained again):",
                   Code(how[1])]
    else:
        data = run.get("data_summary")
        blocks += ["This study was run from Python. This call, with the same "
                   "data, runs it again (pass another output_dir for a new "
                   "folder):", Code(how[1]),
                   f"The data: {run['n_train']} training and {run['n_test']} test "
                   f"samples; their fingerprint (with the estimator and protocol) "
                   f"is {run['fingerprint'][:16]}, which a rerun into this folder "
                   "checks." + (f" As read: {'; '.join(data)}." if data else "")]
    protocol = run["protocol"]
    seeds = [f"random_state={protocol['random_state']} for the test split and the "
             "validation splits or folds"]
    params = _decode(run.get("estimator_params") or {"dict": []}, "estimator")
    if "random_state" in params:
        seed = _value_text(params["random_state"])
        seeds.append(f"the estimator's random_state={seed} for every candidate's "
                     "initialisation and batches")
    blocks.append("Seeds: " + "; ".join(seeds) + ".")
    if params:
        blocks.append(Details(
            f"Every parameter of the base {run['estimator']} (each candidate "
            "changes only its grid's)",
            [Table(["parameter", "value"],
                   [[key, _value_text(value)] for key, value in params.items()])]))
    sessions = run.get("sessions") or []
    if sessions:
        if len(sessions) > 1:
            blocks.append(f"This run was started or resumed {len(sessions)} times; "
                          "each candidate was trained in one of these sessions.")
        blocks.append("The software and the machine (the same scores need the "
                      "same versions; another torch build or CPU can change the "
                      "last digits of a score, and with them the order of near "
                      "ties):")
        blocks.append(Table(
            ["started (UTC)", "sknets", "torch", "scikit-learn", "numpy", "Python",
             "CPU", "cores", "torch threads", "device", "parallel"],
            [_session_row(session) for session in sessions], wide=True))
    return blocks


def _session_row(session):
    versions = session.get("versions", {})
    if session.get("dask_workers"):
        parallel = f"Dask, {session['dask_workers']} worker threads"
    elif session.get("n_jobs") not in (None, 1):
        parallel = f"n_jobs={session['n_jobs']}"
    else:
        parallel = "one fit at a time"
    return [str(session.get("date", "")).replace("T", " ").removesuffix("+00:00"),
            *(str(versions.get(key)) for key in ("sknets", "torch", "scikit-learn",
                                                "numpy", "python")),
            str(session.get("cpu")), str(session.get("cores")),
            str(session.get("torch_threads")), str(session.get("device")), parallel]


def _images(blocks):
    for block in blocks:
        if isinstance(block, Image):
            yield block
        elif isinstance(block, Details):
            yield from _images(block.blocks)


def write_report(run_dir: StrPath) -> Path:
    """Render the report of a run folder: report.html, report.md and figures/.

    Reads only the folder, so it works on a finished or an interrupted run
    (``sknets report RUN_DIR``), without training anything.

    Parameters
    ----------
    run_dir : str or path-like
        A folder written by ``compare``.

    Returns
    -------
    path : pathlib.Path
        The report.html written.
    """
    folder = RunFolder(run_dir)
    report = build_report(folder.path)
    (folder.path / "figures").mkdir(exist_ok=True)
    for section in report.sections:
        for image in _images(section.blocks):
            folder.save_bytes(f"figures/{image.file}", image.png)

    folder.save_text("report.md", render_markdown(report))
    folder.save_text("report.html", render_html(report))
    return Path(folder.path) / "report.html"
