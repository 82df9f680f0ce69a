"""Figures of the seed studies: learning curves, confusion matrices, ROC
curves, learned filters, prediction galleries and search comparisons.

Each function returns a matplotlib ``Figure`` (made without pyplot, so it is
safe in scripts, threads and notebooks, where it displays inline) and works
on its own.
"""

import math

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import auc, confusion_matrix, roc_curve

__all__ = [
    "plot_confusion_matrix",
    "plot_filters",
    "plot_learning_curves",
    "plot_predictions_gallery",
    "plot_roc_curves",
    "plot_search_results",
]


def _history_rows(history):
    if hasattr(history, "history_"):
        return list(history.history_)
    if hasattr(history, "to_dict"):  # a DataFrame
        return history.to_dict("records")
    return list(history)


def plot_learning_curves(history, title=None):
    """Per-epoch loss and accuracy, training and validation.

    Parameters
    ----------
    history : fitted estimator, list of dict or DataFrame
        An sknets estimator (its ``history_``) or the history itself.
    title : str, default=None
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Two axes: loss, then accuracy, against the epoch.

    Examples
    --------
    >>> from sknets.plotting import plot_learning_curves
    >>> rows = [{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5},
    ...         {"epoch": 2, "train_loss": 0.5, "train_accuracy": 0.8}]
    >>> len(plot_learning_curves(rows).axes)
    2
    """
    rows = _history_rows(history)
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(rows)]
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for part, style in (("train", "-"), ("valid", "--")):
            values = [row.get(f"{part}_{metric}") for row in rows]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], style,
                        marker="o", markersize=3, label=f"{part} {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def plot_confusion_matrix(y_true, y_pred, *, labels=None, class_names=None,
                          normalize=False, title=None):
    """A confusion-matrix heat map with the counts written in.

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
    fig : matplotlib.figure.Figure
        The heat map's axes and its colour bar's.

    Examples
    --------
    >>> from sknets.plotting import plot_confusion_matrix
    >>> len(plot_confusion_matrix([0, 1, 1], [0, 1, 0]).axes)
    2
    """
    if labels is None:
        labels = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
    matrix = confusion_matrix(y_true, y_pred, labels=labels).astype(float)
    if normalize:
        matrix /= np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    names = [str(n) for n in (class_names if class_names is not None else labels)]
    size = max(4.0, 0.55 * len(names) + 2)
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, names, rotation=45, ha="right")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value:.2f}" if normalize else f"{int(value)}",
                ha="center", va="center", fontsize=8,
                color="white" if value > threshold else "black")
    ax.set_title(title or "confusion matrix")
    return fig


def plot_roc_curves(y_true, y_proba, classes, *, class_names=None, title=None):
    """One-vs-rest ROC curve of each class, with its AUC in the legend.

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
    fig : matplotlib.figure.Figure
        One axes; classes absent from ``y_true`` are left out.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.plotting import plot_roc_curves
    >>> proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    >>> len(plot_roc_curves([0, 1, 1], proba, [0, 1]).axes)
    1
    """
    y_true, y_proba = np.asarray(y_true), np.asarray(y_proba)
    names = class_names if class_names is not None else [str(c) for c in classes]
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    for k, (label, name) in enumerate(zip(classes, names, strict=True)):
        positive = y_true == label
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, y_proba[:, k])
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title or "ROC curves, one class against the rest")
    ax.legend(fontsize=8, loc="lower right")
    return fig


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


def plot_filters(filters, max_filters=64, title=None):
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
    fig : matplotlib.figure.Figure
        One axes per filter drawn.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.plotting import plot_filters
    >>> len(plot_filters(np.zeros((6, 3, 3))).axes)
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
    fig.suptitle(title or "learned first-layer filters (red > 0 > blue)")
    return fig


def plot_predictions_gallery(images, y_true, y_pred, *, class_names=None,
                             classes=None, n_correct=8, n_wrong=8, image_shape=None,
                             title=None):
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
    fig : matplotlib.figure.Figure
        One axes per example shown, correct ones first.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.plotting import plot_predictions_gallery
    >>> fig = plot_predictions_gallery(np.zeros((4, 16)), [0, 1, 1, 0], [0, 1, 0, 0])
    >>> len(fig.axes)
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
    right = np.flatnonzero(y_true == y_pred)[:n_correct]
    wrong = np.flatnonzero(y_true != y_pred)[:n_wrong]
    chosen = np.concatenate([right, wrong]).astype(int)
    fig, axes = _grid(max(len(chosen), 1), width=1.5)
    for ax, i in zip(axes, chosen, strict=False):
        ax.imshow(images[i], cmap="gray")
        ok = y_true[i] == y_pred[i]
        predicted = names.get(y_pred[i].item(), y_pred[i])
        true = names.get(y_true[i].item(), y_true[i])
        ax.set_title(f"{predicted}" + ("" if ok else f"\n(true {true})"),
                     fontsize=7, color="green" if ok else "red")
    fig.suptitle(title or f"{len(right)} correct (green) and {len(wrong)} wrong (red) "
                 "predictions")
    return fig


def plot_search_results(search, param, metric=None, title=None):
    """Score against one varied parameter, for a search or its results table.

    Each point is a candidate (mean score, with its std as an error bar); the
    line joins the best candidate at each value of ``param``.

    Parameters
    ----------
    search : fitted GridSearchCV or DataFrame
        A search, or ``search_results_frame``'s table (or the ``results``
        of ``sknets.compare``).
    param : str
        The parameter on the x axis; 'width' and 'depth' are derived from
        ``hidden_layer_sizes``.
    metric : str, default=None
        The metric (``mean_<metric>`` column); None uses the refit metric,
        or the first one.
    title : str, default=None
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes.

    Examples
    --------
    >>> import pandas as pd
    >>> from sknets.plotting import plot_search_results
    >>> results = pd.DataFrame({"learning_rate_init": [0.1, 0.01, 0.001],
    ...                         "mean_f1_macro": [0.5, 0.9, 0.8]})
    >>> fig = plot_search_results(results, "learning_rate_init")
    >>> fig.axes[0].get_xscale(), fig.axes[0].get_ylabel()
    ('log', 'f1_macro')
    """
    from .metrics import search_results_frame

    frame = search if hasattr(search, "columns") else search_results_frame(search)
    if metric is None:
        metric = next(c[len("mean_"):] for c in frame.columns
                      if c.startswith("mean_") and "time" not in c
                      and not c.startswith("mean_train_"))
    column = f"mean_{metric}"
    if param not in frame or column not in frame:
        raise ValueError(f"No column {param!r} or {column!r} in the results; they "
                         f"have {list(frame.columns)}.")
    values = frame[param].tolist()
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                  for v in values)
    order = sorted(set(map(repr, values)),
                   key=lambda r: float(r) if numeric else r)
    position = {r: i for i, r in enumerate(order)}
    xs = ([float(v) for v in values] if numeric
          else [position[repr(v)] for v in values])
    std = frame.get(f"std_{metric}", np.zeros(len(frame)))
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.errorbar(xs, frame[column], yerr=np.nan_to_num(np.asarray(std, float)),
                fmt="o", alpha=0.6, capsize=3, label="candidates")
    best = {}
    for x, score in zip(xs, frame[column], strict=True):
        best[x] = max(best.get(x, -np.inf), score)
    keys = sorted(best)
    ax.plot(keys, [best[k] for k in keys], "-", color="C1", label="best at each value")
    if numeric:
        positive = all(v > 0 for v in xs)
        if positive and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
    else:
        ax.set_xticks(range(len(order)), order, rotation=30, ha="right")
    ax.set_xlabel(param)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{metric} against {param}")
    return fig
