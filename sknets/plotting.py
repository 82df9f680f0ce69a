"""Figures of the seed studies and of ``sknets compare``.

Learning curves (one run, or every candidate of a study overlaid), confusion
matrices, ROC curves, learned filters, prediction galleries, scores against a
parameter and parallel coordinates.

Where scikit-learn has a display, the function returns it: a
``ConfusionMatrixDisplay`` or a ``RocCurveDisplay``. Elsewhere it returns a
``FigureDisplay``. Either way the figure is ``display.figure_`` and its axes
``display.ax_``. Figures are made without pyplot, so they are safe in scripts,
threads and notebooks. Labels the user chose (class names, parameter values)
are drawn as written: a ``$`` never switches to mathtext.
"""

import io
import math
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay, auc, roc_curve

from ._typing import ArrayLike

__all__ = [
    "FigureDisplay",
    "plot_candidate_curves",
    "plot_confusion_matrix",
    "plot_filters",
    "plot_learning_curves",
    "plot_parallel_coordinates",
    "plot_predictions_gallery",
    "plot_roc_curves",
    "plot_search_results",
]


class FigureDisplay:
    """A figure drawn by sknets where scikit-learn has no display for it.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure.
    ax : matplotlib Axes or ndarray of Axes
        Its axes (an array when there are several).

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure, as on scikit-learn's displays.
    ax_ : matplotlib Axes or ndarray of Axes
        Its axes.

    Examples
    --------
    >>> from sknets.plotting import plot_learning_curves
    >>> display = plot_learning_curves([{"epoch": 1, "train_loss": 1.0}])
    >>> type(display).__name__, len(display.figure_.axes)
    ('FigureDisplay', 2)
    """

    def __init__(self, figure: Any, ax: Any) -> None:
        self.figure_ = figure
        self.ax_ = ax

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.figure_.savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()


def text(value):
    """A label drawn as written: ``$`` is escaped so matplotlib never reads
    mathtext in a user's class name or parameter value.

    Parameters
    ----------
    value : object
        Anything; it is drawn as ``str(value)``.

    Returns
    -------
    label : str

    Examples
    --------
    >>> from sknets.plotting import text
    >>> text("$x^$")
    '\\\\$x^\\\\$'
    """
    return str(value).replace("$", r"\$")


def _history_rows(history):
    if hasattr(history, "history_"):
        return list(history.history_)
    if hasattr(history, "to_dict"):  # a DataFrame
        return history.to_dict("records")
    return list(history)


def _series(rows, key):
    return np.array([np.nan if row.get(key) is None else float(row[key])
                     for row in rows], dtype=float)


def plot_learning_curves(history: Any, title: str | None = None) -> FigureDisplay:
    """Per-epoch loss and accuracy of one fit, training and validation.

    Parameters
    ----------
    history : fitted estimator, list of dict or DataFrame
        An sknets estimator (its ``history_``) or the history itself.
    title : str, default=None
        Figure title.

    Returns
    -------
    display : FigureDisplay
        Two axes: loss, then accuracy, against the epoch.

    Examples
    --------
    >>> from sknets.plotting import plot_learning_curves
    >>> rows = [{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5},
    ...         {"epoch": 2, "train_loss": 0.5, "train_accuracy": 0.8}]
    >>> len(plot_learning_curves(rows).figure_.axes)
    2
    """
    rows = _history_rows(history)
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(rows)]
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for part, style in (("train", "-"), ("valid", "--")):
            values = _series(rows, f"{part}_{metric}")
            if not np.isnan(values).all():
                ax.plot(epochs, values, style, marker="o", markersize=3,
                        label=f"{part} {metric}")
        _epoch_axis(ax, metric)
        if ax.lines:
            ax.legend()
    if title:
        fig.suptitle(text(title))
    return FigureDisplay(fig, axes)


def _epoch_axis(ax, metric):
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)


def plot_candidate_curves(histories: dict, *, colour_by: dict | None = None,
                          colour_name: str | None = None,
                          metrics: Sequence[str] = ("loss", "accuracy"),
                          title: str | None = None) -> FigureDisplay:
    """Every candidate's training and validation curves, overlaid.

    One axes per metric; training curves are solid and validation curves
    dashed. A candidate with several histories (one per cross-validation
    fold) is drawn as their mean, with a band from the lowest to the highest
    fold.

    Parameters
    ----------
    histories : dict
        Candidate label to its history (a list of per-epoch dicts) or to a
        list of histories, one per fold.
    colour_by : dict, default=None
        Candidate label to the value that picks its colour (the value of the
        parameter that mattered most); candidates with equal values share a
        colour. None gives each candidate its own colour.
    colour_name : str, default=None
        Name of that parameter, for the legend.
    metrics : tuple of str, default=('loss', 'accuracy')
        The metrics, as in the history's ``train_<metric>`` keys.
    title : str, default=None
        Figure title.

    Returns
    -------
    display : FigureDisplay
        One axes per metric.

    Examples
    --------
    >>> from sknets.plotting import plot_candidate_curves
    >>> a = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}]
    >>> b = [{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.7}]
    >>> display = plot_candidate_curves({"a": a, "b": b}, colour_by={"a": 1, "b": 2},
    ...                                 colour_name="depth", metrics=("loss",))
    >>> len(display.ax_[0].lines)
    2
    """
    colour_by = colour_by or {label: label for label in histories}
    # One colour per distinct value (keyed by repr: values may be unhashable),
    # numbers in numeric order first.
    distinct = {repr(colour_by[label]): colour_by[label] for label in histories}
    values = sorted(distinct, key=lambda r: _sort_key(distinct[r]))
    colours = {r: f"C{i % 10}" for i, r in enumerate(values)}
    fig = Figure(figsize=(5.2 * len(metrics), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    drawn = set()
    for ax, metric in zip(axes, metrics, strict=True):
        for label, history in histories.items():
            folds = history if history and isinstance(history[0], list) else [history]
            colour = colours[repr(colour_by[label])]
            for part, style in (("train", "-"), ("valid", "--")):
                curves = [_series(_history_rows(h), f"{part}_{metric}") for h in folds]
                length = max(len(c) for c in curves)
                if length == 0 or all(np.isnan(c).all() for c in curves):
                    continue
                stacked = np.full((len(curves), length), np.nan)
                for i, curve in enumerate(curves):
                    stacked[i, :len(curve)] = curve
                epochs = np.arange(1, length + 1)
                mean, low, high = _fold_stats(stacked)
                drawn.add(part)
                ax.plot(epochs, mean, style, color=colour, linewidth=1.3, alpha=0.85)
                if len(curves) > 1:
                    ax.fill_between(epochs, low, high, color=colour, alpha=0.12,
                                    linewidth=0)
        _epoch_axis(ax, metric)
    from matplotlib.lines import Line2D

    prefix = f"{colour_name}=" if colour_name else ""
    handles = [Line2D([], [], color=colours[r],
                      label=text(prefix + _value_text(distinct[r]))) for r in values]
    handles += [Line2D([], [], color="grey", linestyle=style,  # type: ignore[arg-type]
                       label=label)
                for part, style, label in (("train", "-", "training"),
                                           ("valid", "--", "validation"))
                if part in drawn]
    axes[-1].legend(handles=handles, fontsize=8, loc="best")
    if title:
        fig.suptitle(text(title))
    return FigureDisplay(fig, axes)


def _fold_stats(stacked):
    # A fold that stopped earlier than the others has NaN past its end; an
    # epoch no fold reached stays NaN (numpy warns about it, which is expected).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return (np.nanmean(stacked, axis=0), np.nanmin(stacked, axis=0),
                np.nanmax(stacked, axis=0))


def _sort_key(value):
    if isinstance(value, Real) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, repr(value))


def _value_text(value):
    """A parameter value as people write it: 0.001, (128, 64), relu."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_value_text(v) for v in value) + (
            ",)" if len(value) == 1 else ")")
    return str(value)


def plot_confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, *,
                          labels: ArrayLike | None = None,
                          class_names: Sequence[str] | None = None,
                          normalize: bool = False,
                          title: str | None = None) -> Any:
    """A confusion matrix with the counts written in, through scikit-learn.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    labels : array-like, default=None
        The labels in matrix order; None uses the sorted labels present.
    class_names : list of str, default=None
        Names shown for the labels (e.g. Fashion-MNIST's clothing names).
    normalize : bool, default=False
        Show each row as fractions of its true class.
    title : str, default=None
        Axes title.

    Returns
    -------
    display : sklearn.metrics.ConfusionMatrixDisplay
        Its ``figure_`` holds the matrix's axes and its colour bar's.

    Examples
    --------
    >>> from sknets.plotting import plot_confusion_matrix
    >>> display = plot_confusion_matrix([0, 1, 1], [0, 1, 0])
    >>> display.confusion_matrix.tolist(), len(display.figure_.axes)
    ([[1, 0], [1, 1]], 2)
    """
    if labels is None:
        labels = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
    names = [text(n) for n in (class_names if class_names is not None else labels)]
    size = max(4.0, 0.55 * len(names) + 2)
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    display = ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=labels, display_labels=names, ax=ax, cmap="Blues",
        normalize="true" if normalize else None,
        values_format=".2f" if normalize else "d", xticks_rotation=45,
        text_kw={"fontsize": 8})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(text(title or "confusion matrix"))
    return display


def plot_roc_curves(y_true: ArrayLike, y_proba: ArrayLike, classes: ArrayLike, *,
                    class_names: Sequence[str] | None = None,
                    title: str | None = None) -> Any:
    """One-vs-rest ROC curve of each class, with its AUC, through scikit-learn.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_proba : array-like of shape (n_samples, n_classes)
        ``predict_proba`` output, columns in the order of ``classes``.
    classes : array-like of shape (n_classes,)
        The estimator's ``classes_``.
    class_names : list of str, default=None
        Names for the legend.
    title : str, default=None
        Axes title.

    Returns
    -------
    display : sklearn.metrics.RocCurveDisplay
        One curve per class present in ``y_true`` (``display.fpr`` is a
        list); classes absent from ``y_true`` are left out.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.plotting import plot_roc_curves
    >>> proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    >>> display = plot_roc_curves([0, 1, 1], proba, [0, 1])
    >>> [round(a, 2) for a in display.roc_auc]
    [1.0, 1.0]
    """
    y_true, y_proba = np.asarray(y_true), np.asarray(y_proba)
    names = class_names if class_names is not None else [str(c) for c in classes]
    curves: dict[str, list] = {"fpr": [], "tpr": [], "roc_auc": [], "name": []}
    for k, (label, name) in enumerate(zip(classes, names, strict=True)):
        positive = y_true == label
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, y_proba[:, k])
        curves["fpr"].append(fpr)
        curves["tpr"].append(tpr)
        curves["roc_auc"].append(float(auc(fpr, tpr)))
        curves["name"].append(text(name))
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    display = RocCurveDisplay(**curves, pos_label=None)
    if curves["fpr"]:
        display.plot(ax=ax, plot_chance_level=True,
                     curve_kwargs=[{"color": f"C{i % 10}", "linestyle": "-",
                                    "linewidth": 1.3}
                                   for i in range(len(curves["fpr"]))])
    else:
        display.ax_, display.figure_ = ax, fig
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(text(title or "ROC curves, one class against the rest"))
    if curves["fpr"]:
        ax.legend(fontsize=8, loc="lower right")
    return display


def _grid(n, width=1.2):
    cols = min(n, 8)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, width * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes[n:]:
        fig.delaxes(ax)
    for ax in axes[:n]:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes[:n]


def plot_filters(filters: Any, max_filters: int = 64,
                 title: str | None = None) -> FigureDisplay:
    """The learned filters of a convolutional layer, one small image each.

    Parameters
    ----------
    filters : CNNClassifierTorch or array-like
        A fitted CNN (its ``filters_``, the first conv layer) or weights of
        shape (out_channels, kh, kw) or (out_channels, channels, kh, kw);
        several channels are shown as their mean.
    max_filters : int, default=64
        At most this many filters are drawn.
    title : str, default=None
        Figure title.

    Returns
    -------
    display : FigureDisplay
        One axes per filter drawn.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.plotting import plot_filters
    >>> len(plot_filters(np.zeros((6, 3, 3))).ax_)
    6
    """
    weights = np.asarray(getattr(filters, "filters_", filters), dtype=float)
    if weights.ndim == 4:
        weights = weights.mean(axis=1)
    weights = weights[:max_filters]
    fig, axes = _grid(len(weights))
    limit = np.abs(weights).max() or 1.0
    for i, (ax, weight) in enumerate(zip(axes, weights, strict=True)):
        ax.imshow(weight, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(str(i), fontsize=7)
    fig.suptitle(text(title or "learned first-layer filters (red > 0 > blue)"))
    return FigureDisplay(fig, axes)


def gallery_indices(y_true, y_pred, n_correct=8, n_wrong=8):
    """The examples a gallery shows: the first right ones, then the first wrong.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    n_correct, n_wrong : int, default=8
        How many of each.

    Returns
    -------
    indices : ndarray of int
        Row indices, correct ones first.

    Examples
    --------
    >>> from sknets.plotting import gallery_indices
    >>> gallery_indices([0, 1, 1, 0], [0, 1, 0, 0], n_correct=2, n_wrong=1).tolist()
    [0, 1, 2]
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    right = np.flatnonzero(y_true == y_pred)[:n_correct]
    wrong = np.flatnonzero(y_true != y_pred)[:n_wrong]
    return np.concatenate([right, wrong]).astype(int)


def plot_predictions_gallery(images: ArrayLike, y_true: ArrayLike, y_pred: ArrayLike, *,
                             class_names: Sequence[str] | None = None,
                             classes: ArrayLike | None = None, n_correct: int = 8,
                             n_wrong: int = 8,
                             image_shape: tuple[int, ...] | None = None,
                             title: str | None = None) -> FigureDisplay:
    """Examples the model got right and wrong, with true and predicted labels.

    Parameters
    ----------
    images : array-like
        Flat rows or images (n, H, W) / (n, C, H, W).
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    class_names, classes : list, default=None
        ``class_names[i]`` is shown for the label ``classes[i]``.
    n_correct, n_wrong : int, default=8
        How many of each to show (the first ones found).
    image_shape : tuple, default=None
        (H, W) of flat rows; None reads a perfect square as a square image.
    title : str, default=None
        Figure title.

    Returns
    -------
    display : FigureDisplay
        One axes per example shown, correct ones first.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.plotting import plot_predictions_gallery
    >>> display = plot_predictions_gallery(np.zeros((4, 16)), [0, 1, 1, 0],
    ...                                    [0, 1, 0, 0])
    >>> len(display.ax_)
    4
    """
    images = np.asarray(images, dtype=float)
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        shape = image_shape or ((side, side) if side * side == images.shape[1]
                                else (1, images.shape[1]))
        images = images.reshape(len(images), *shape)
    elif images.ndim == 4:
        images = images.mean(axis=1)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    names = {}
    if class_names is not None and classes is not None:
        names = dict(zip(np.asarray(classes).tolist(), class_names, strict=True))
    chosen = gallery_indices(y_true, y_pred, n_correct, n_wrong)
    n_right = int((y_true[chosen] == y_pred[chosen]).sum())
    fig, axes = _grid(max(len(chosen), 1), width=1.5)
    for ax, i in zip(axes, chosen, strict=False):
        ax.imshow(images[i], cmap="gray")
        ok = y_true[i] == y_pred[i]
        predicted = names.get(y_pred[i].item(), y_pred[i])
        true = names.get(y_true[i].item(), y_true[i])
        ax.set_title(text(f"{predicted}" + ("" if ok else f"\n(true {true})")),
                     fontsize=7, color="green" if ok else "red")
    fig.suptitle(text(title or f"{n_right} correct (green) and "
                      f"{len(chosen) - n_right} wrong (red) predictions"))
    return FigureDisplay(fig, axes)


def _results_frame(search):
    from .metrics import search_results_frame

    return search if hasattr(search, "columns") else search_results_frame(search)


def _metric(frame, metric):
    if metric is not None:
        return metric
    refit = frame.attrs.get("refit")
    if refit is not None:
        return refit
    return next(c[len("mean_"):] for c in frame.columns
                if c.startswith("mean_") and "time" not in c
                and not c.startswith("mean_train_"))


def _missing(value):
    return value is None or (isinstance(value, Real) and not isinstance(value, bool)
                             and math.isnan(value))


def _axis_values(values):
    """(positions, kind, ticks, tick labels) of one parameter's values.

    kind is 'log' (positive numbers spanning 10x or more: rates, penalties),
    'int', 'number' or 'category' (drawn at evenly spaced positions). A
    candidate that leaves the parameter at the estimator's default (a missing
    value, None or NaN, in a results table of several grids) is the category
    'default'.
    """
    if any(_missing(v) for v in values):
        values = ["default" if _missing(v) else v for v in values]
    numbers = all(isinstance(v, Real) and not isinstance(v, bool) for v in values)
    distinct = sorted(set(values), key=float) if numbers else sorted(
        {repr(v): v for v in values}.values(), key=repr)
    if numbers:
        positions = [float(v) for v in values]
        ticks = [float(v) for v in distinct]
        labels = [_value_text(v) for v in distinct]
        if all(isinstance(v, Integral) for v in values):
            return positions, "int", ticks, labels
        if min(ticks) > 0 and max(ticks) / min(ticks) >= 10:
            return positions, "log", ticks, labels
        return positions, "number", ticks, labels
    index = {repr(v): i for i, v in enumerate(distinct)}
    return ([float(index[repr(v)]) for v in values], "category",
            list(map(float, range(len(distinct)))),
            [_value_text(v) for v in distinct])


def plot_search_results(search: Any, param: str, metric: str | None = None,
                        title: str | None = None) -> FigureDisplay:
    """Score against one varied parameter, for a search or its results table.

    Each point is a candidate: its mean score with its interval as an error
    bar (the ``ci_low`` and ``ci_high`` columns of ``sknets.compare``'s
    results, else the std); the line joins the best candidate at each value
    of ``param``. The score axis always spans the intervals, so differences
    smaller than them are not drawn as large. Integer parameters get integer
    ticks, and rates spanning a factor of ten or more a log axis.

    Parameters
    ----------
    search : fitted GridSearchCV or DataFrame
        A search, or ``search_results_frame``'s table (or the ``results``
        of ``sknets.compare``).
    param : str
        The parameter on the x axis; 'width' and 'depth' are derived from
        ``hidden_layer_sizes``.
    metric : str, default=None
        The metric (``mean_<metric>`` column); None uses the refit metric
        (the search's, or the table's ``attrs['refit']``), else the first.
    title : str, default=None
        Axes title.

    Returns
    -------
    display : FigureDisplay
        One axes.

    Examples
    --------
    >>> import pandas as pd
    >>> from sknets.plotting import plot_search_results
    >>> results = pd.DataFrame({"learning_rate_init": [0.1, 0.01, 0.001],
    ...                         "mean_f1_macro": [0.5, 0.9, 0.8]})
    >>> ax = plot_search_results(results, "learning_rate_init").ax_
    >>> ax.get_xscale(), ax.get_ylabel()
    ('log', 'f1_macro')
    """
    frame = _results_frame(search)
    metric = _metric(frame, metric)
    column = f"mean_{metric}"
    if param not in frame or column not in frame:
        raise ValueError(f"No column {param!r} or {column!r} in the results; they "
                         f"have {list(frame.columns)}.")
    xs, kind, ticks, labels = _axis_values(frame[param].tolist())
    scores = frame[column].to_numpy(dtype=float)
    if "ci_low" in frame and "ci_high" in frame:
        low = np.asarray(frame["ci_low"], dtype=float)
        high = np.asarray(frame["ci_high"], dtype=float)
        yerr = np.nan_to_num(np.vstack([scores - low, high - scores]))
        label = "candidates (95% CI)"
    else:
        yerr = np.nan_to_num(np.asarray(frame.get(f"std_{metric}",
                                                  np.zeros(len(frame))), dtype=float))
        label = "candidates (± std)"
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.errorbar(xs, scores, yerr=yerr, fmt="o", alpha=0.6, capsize=3, label=label)
    best: dict = {}
    for x, score in zip(xs, scores, strict=True):
        if not np.isnan(score):
            best[x] = max(best.get(x, -np.inf), score)
    keys = sorted(best)
    ax.plot(keys, [best[k] for k in keys], "-", color="C1", label="best at each value")
    if kind == "log":
        ax.set_xscale("log")
        ax.set_xticks(ticks, labels)
        ax.minorticks_off()
    elif kind in ("int", "category"):
        ax.set_xticks(ticks, [text(label) for label in labels],
                      rotation=30 if kind == "category" else 0,
                      ha="right" if kind == "category" else "center")
    ax.set_xlabel(param)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(text(title or f"{metric} against {param}"))
    return FigureDisplay(fig, ax)


def plot_parallel_coordinates(search: Any, params: Sequence[str],
                              metric: str | None = None,
                              title: str | None = None) -> FigureDisplay:
    """Parallel coordinates: one vertical axis per parameter, then the score.

    Each candidate is a line through its parameter values and its score,
    coloured by the score. Rates spanning a factor of ten or more are placed
    on a log scale; other values at their rank. Candidates without a score
    (diverged) are drawn grey and dashed at the bottom.

    Parameters
    ----------
    search : fitted GridSearchCV or DataFrame
        A search, or a results table with the ``params`` columns and
        ``mean_<metric>``.
    params : list of str
        The parameters, in axis order.
    metric : str, default=None
        The score; None uses the refit metric as ``plot_search_results`` does.
    title : str, default=None
        Axes title.

    Returns
    -------
    display : FigureDisplay
        One axes (and a colour bar's).

    Examples
    --------
    >>> import pandas as pd
    >>> from sknets.plotting import plot_parallel_coordinates
    >>> results = pd.DataFrame({"alpha": [1e-4, 1e-2], "depth": [1, 2],
    ...                         "mean_accuracy": [0.9, 0.8]})
    >>> display = plot_parallel_coordinates(results, ["alpha", "depth"])
    >>> len(display.ax_.lines)
    2
    """
    frame = _results_frame(search)
    metric = _metric(frame, metric)
    scores = frame[f"mean_{metric}"].to_numpy(dtype=float)
    columns = []
    for param in params:
        positions, kind, ticks, labels = _axis_values(frame[param].tolist())
        positions, ticks = np.asarray(positions), np.asarray(ticks)
        if kind == "log":
            positions, ticks = np.log10(positions), np.log10(ticks)
        elif kind in ("int", "number"):
            rank = {t: i for i, t in enumerate(ticks)}
            positions = np.array([rank[p] for p in positions], dtype=float)
            ticks = np.arange(len(ticks), dtype=float)
        low, high = ticks.min(), ticks.max()
        span = (high - low) or 1.0
        columns.append(((positions - low) / span if high > low else positions * 0 + .5,
                        (ticks - low) / span if high > low else ticks * 0 + .5,
                        labels, param))
    finite = scores[np.isfinite(scores)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    norm = Normalize(low, high if high > low else low + 1e-9)
    score_axis = np.where(np.isfinite(scores),
                          (scores - low) / ((high - low) or 1), 0.0)
    fig = Figure(figsize=(max(6.0, 1.7 * (len(params) + 1)), 4.2), layout="constrained")
    ax = fig.subplots()
    cmap = fig.colorbar(_scalar_mappable(norm), ax=ax, label=metric).cmap
    xs = np.arange(len(params) + 1)
    order = np.argsort(np.nan_to_num(scores, nan=-np.inf))  # best drawn on top
    for i in order:
        ys = [column[0][i] for column in columns] + [score_axis[i]]
        if np.isfinite(scores[i]):
            ax.plot(xs, ys, color=cmap(norm(scores[i])), linewidth=1.6, alpha=0.85)
        else:
            ax.plot(xs, ys, color="grey", linestyle="--", linewidth=1, alpha=0.7)
    ax.vlines(xs, 0, 1, color="black", linewidth=0.8)
    for x, (_, ticks, labels, _) in enumerate(columns):
        for tick, label in zip(ticks, labels, strict=True):
            ax.text(x + 0.03, tick, text(label), fontsize=8, va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                          "alpha": 0.7})
    for fraction in (0.0, 0.5, 1.0):
        ax.text(xs[-1] + 0.03, fraction, f"{low + fraction * (high - low):.4f}",
                fontsize=8, va="center")
    ax.set_xticks(xs, [text(p) for p in params] + [metric])
    ax.set_yticks([])
    ax.set_xlim(-0.1, xs[-1] + 0.45)
    ax.set_ylim(-0.06, 1.06)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(text(title or f"parameters against {metric}"))
    return FigureDisplay(fig, ax)


def _scalar_mappable(norm):
    from matplotlib.cm import ScalarMappable

    return ScalarMappable(norm=norm, cmap="viridis")
