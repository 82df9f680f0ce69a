"""Scorers and reports for comparing models: macro-F1, per-class ROC-AUC.

The scorers plug into ``GridSearchCV`` and ``cross_validate`` like
scikit-learn's own; ``make_scoring`` bundles them for multi-metric searches.
They share one ``predict_proba`` (and one ``predict``) call per fold, as
scikit-learn's built-in scorers do. ``evaluate`` computes the per-class report
the seed studies print by hand, and ``search_results_frame`` turns a fitted
search into a tidy table.
"""

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    make_scorer,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.metrics._scorer import _Scorer
from sklearn.utils.validation import check_is_fitted

from ._tables import markdown_table
from ._typing import ArrayLike
from .cnn import CNNClassifierTorch, architecture_name

__all__ = [
    "Evaluation",
    "evaluate",
    "f1_macro_scorer",
    "make_scoring",
    "parameter_rows",
    "per_class_roc_auc_scorers",
    "roc_auc_ovr_macro",
    "search_results_frame",
]

# pos_label=None as in scikit-learn's 'f1_macro': averaged scores have no
# positive class, and binary labels need not contain 1.
f1_macro_scorer = make_scorer(f1_score, average="macro", pos_label=None,
                              zero_division=0.0)
f1_macro_scorer.__doc__ = """Macro-averaged F1 of ``predict``, as a scorer.

Classes without predicted or true samples count as F1 0 (``zero_division=0``)
instead of warning. Use it as ``scoring=f1_macro_scorer``.
"""


def _class_columns(y_true, proba, classes):
    # predict_proba reaches scorers as (n, n_classes), or as the positive
    # class's column alone for binary problems (scikit-learn's convention).
    proba = np.asarray(proba)
    if proba.ndim == 1:
        proba = np.column_stack([1.0 - proba, proba])  # (n, 2)
    return np.asarray(y_true), proba, list(classes)


def _weighted_rows(y_true, proba, sample_weight):
    # The rows that count: a row of weight zero is left out, as if absent.
    if sample_weight is None:
        return y_true, proba, None
    sample_weight = np.asarray(sample_weight, dtype=float)
    keep = sample_weight > 0
    return y_true[keep], proba[keep], sample_weight[keep]


def _class_auc(y_true, proba, classes, label, sample_weight=None):
    """One-vs-rest ROC-AUC of ``label``, NaN (with a warning) when undefined."""
    y_true, proba, classes = _class_columns(y_true, proba, classes)
    y_true, proba, sample_weight = _weighted_rows(y_true, proba, sample_weight)
    if label not in classes:
        warnings.warn(
            f"ROC-AUC of class {label!r} is NaN: the estimator was not fitted on "
            "that class (it is absent from this training fold).",
            UndefinedMetricWarning, stacklevel=2,
        )
        return math.nan
    positive = y_true == label
    if positive.all() or not positive.any():
        state = "absent from" if not positive.any() else "the only class in"
        warnings.warn(
            f"ROC-AUC of class {label!r} is NaN: the class is {state} y_true "
            "(e.g. a cross-validation fold without that class).",
            UndefinedMetricWarning, stacklevel=2,
        )
        return math.nan
    return float(roc_auc_score(positive, proba[:, classes.index(label)],
                               sample_weight=sample_weight))


class _ProbaScorer(_Scorer):
    # A scorer of predict_proba that also sees the fitted estimator's classes_.
    # Being a scikit-learn _Scorer, it shares the cached predict_proba call of
    # a multi-metric evaluation.

    def __init__(self, name):
        super().__init__(score_func=roc_auc_score, sign=1, kwargs={},
                         response_method="predict_proba")
        self.name = name

    def _score(self, method_caller, estimator, X, y_true, **kwargs):
        # kwargs: the sample_weight, when given, weights the AUCs.
        proba = method_caller(estimator, "predict_proba", X, pos_label=None)
        return self._score_proba(y_true, proba, estimator.classes_,
                                 kwargs.get("sample_weight"))

    def __repr__(self):
        return f"<sknets scorer {self.name}>"


class _ClassROCAUCScorer(_ProbaScorer):
    def __init__(self, label):
        super().__init__(f"roc_auc_{label}")
        self.label = label

    def _score_proba(self, y_true, proba, classes, sample_weight=None):
        return _class_auc(y_true, proba, classes, self.label, sample_weight)


class _MacroROCAUCScorer(_ProbaScorer):
    def _score_proba(self, y_true, proba, classes, sample_weight=None):
        y_true, proba, classes = _class_columns(y_true, proba, classes)
        y_true, proba, sample_weight = _weighted_rows(y_true, proba, sample_weight)
        present = [label for label in classes if label in set(np.unique(y_true))]
        if len(present) < 2:
            warnings.warn(
                f"ROC-AUC is NaN: y_true holds {len(present)} of the estimator's "
                "classes; one-vs-rest AUC needs at least 2.",
                UndefinedMetricWarning, stacklevel=2,
            )
            return math.nan
        # For two classes both AUCs are equal, and their mean is the binary AUC.
        return float(np.mean([_class_auc(y_true, proba, classes, label,
                                         sample_weight) for label in present]))


roc_auc_ovr_macro = _MacroROCAUCScorer("roc_auc_ovr")
roc_auc_ovr_macro.__doc__ = """Macro mean of the per-class one-vs-rest ROC-AUCs.

Equal to ``roc_auc_score(y, proba, multi_class='ovr', average='macro')`` when
every class of the estimator is in ``y``; a class absent from ``y`` (a
cross-validation fold without it) is left out of the mean instead of raising.
For two classes it is the binary ROC-AUC.
"""


def per_class_roc_auc_scorers(classes: ArrayLike) -> dict:
    """One scorer per class: the one-vs-rest ROC-AUC of its predict_proba column.

    A class absent from a fold's ``y`` (or from the labels the estimator was
    fitted on) has no AUC: its scorer returns NaN and warns with
    ``UndefinedMetricWarning`` instead of raising, so a search goes on.

    Parameters
    ----------
    classes : array-like
        The class labels, e.g. ``np.unique(y)``.

    Returns
    -------
    scorers : dict
        ``{'roc_auc_<label>': scorer}`` for each label, in the order given.

    Examples
    --------
    >>> from sknets.metrics import per_class_roc_auc_scorers
    >>> sorted(per_class_roc_auc_scorers(["cat", "dog"]))
    ['roc_auc_cat', 'roc_auc_dog']
    """
    scorers = {}
    for label in np.asarray(classes).tolist():
        scorers[f"roc_auc_{label}"] = _ClassROCAUCScorer(label)
    if len(scorers) != len(np.asarray(classes)):
        raise ValueError(f"classes has labels that repeat, or that print the same: "
                         f"{list(classes)}.")
    return scorers


def make_scoring(classes: ArrayLike = None) -> dict:
    """The multi-metric ``scoring`` dict for comparing classifiers.

    Parameters
    ----------
    classes : array-like or None, default=None
        Class labels; when given, one ``roc_auc_<label>`` scorer per class is
        added (see ``per_class_roc_auc_scorers``).

    Returns
    -------
    scoring : dict
        ``accuracy``, ``f1_macro``, ``precision_macro``, ``recall_macro`` and
        ``roc_auc_ovr`` (macro), then the per-class AUCs. Pass it as
        ``GridSearchCV(..., scoring=make_scoring(), refit='f1_macro')``; it
        works with any ``n_jobs``. A fold without some class gives NaN for
        that class's AUC, with a warning, never an exception.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_validate
    >>> from sknets.metrics import make_scoring
    >>> X, y = load_iris(return_X_y=True)
    >>> scores = cross_validate(LogisticRegression(max_iter=500), X, y,
    ...                         scoring=make_scoring(classes=[0, 1, 2]))
    >>> sorted(key for key in scores if key.startswith("test_"))[:3]
    ['test_accuracy', 'test_f1_macro', 'test_precision_macro']
    >>> float(scores["test_roc_auc_0"].mean())
    1.0
    """
    scoring = {
        "accuracy": make_scorer(accuracy_score),
        "f1_macro": f1_macro_scorer,
        "precision_macro": make_scorer(precision_score, average="macro",
                                       pos_label=None, zero_division=0.0),
        "recall_macro": make_scorer(recall_score, average="macro", pos_label=None,
                                    zero_division=0.0),
        "roc_auc_ovr": roc_auc_ovr_macro,
    }
    if classes is not None:
        scoring.update(per_class_roc_auc_scorers(classes))
    return scoring


# -- evaluation report ------------------------------------------------------------


class Evaluation:
    """The scores of a fitted classifier on one dataset, per class and overall.

    Made by ``evaluate``. ``str()`` and ``to_markdown()`` give the report as
    text; ``to_frame()`` the per-class table as a DataFrame.

    Attributes
    ----------
    classes : ndarray of shape (n_classes,)
        The estimator's ``classes_``; every per-class array follows them.
    accuracy, precision_macro, recall_macro, f1_macro : float
        Overall scores (macro means over classes).
    roc_auc_ovr : float
        Macro mean of the per-class ROC-AUCs that are defined.
    log_loss : float
        Cross-entropy of ``predict_proba``.
    precision, recall, f1, roc_auc : ndarray of shape (n_classes,)
        Per-class scores; ``roc_auc`` is NaN for a class absent from y.
    support : ndarray of shape (n_classes,)
        Number of samples of each class in y.
    confusion_matrix : ndarray of shape (n_classes, n_classes)
        Counts, rows the true class and columns the predicted one.
    y_true, y_pred : ndarray of shape (n_samples,)
        The labels and the predictions.
    y_proba : ndarray of shape (n_samples, n_classes)
        ``predict_proba``, for ROC curves.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.metrics import Evaluation
    >>> proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> report = Evaluation(["a", "b", "b"], ["a", "b", "a"], proba, ["a", "b"])
    >>> round(report.accuracy, 3), report.recall.tolist(), report.roc_auc.tolist()
    (0.667, [1.0, 0.5], [1.0, 1.0])
    """

    _SUMMARY = [("accuracy", "accuracy"), ("precision_macro", "macro precision"),
                ("recall_macro", "macro recall"), ("f1_macro", "macro F1"),
                ("roc_auc_ovr", "ROC-AUC (macro)"), ("log_loss", "log loss")]

    def __init__(self, y_true: ArrayLike, y_pred: ArrayLike, y_proba: ArrayLike,
                 classes: ArrayLike) -> None:
        self.classes = np.asarray(classes)
        self.y_true, self.y_pred = np.asarray(y_true), np.asarray(y_pred)
        self.y_proba = np.asarray(y_proba)
        labels = self.classes.tolist()
        self.accuracy = float(accuracy_score(self.y_true, self.y_pred))
        self.precision, self.recall, self.f1, self.support = (
            precision_recall_fscore_support(self.y_true, self.y_pred, labels=labels,
                                            zero_division=0.0))
        self.precision_macro = float(self.precision.mean())
        self.recall_macro = float(self.recall.mean())
        self.f1_macro = float(self.f1.mean())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UndefinedMetricWarning)
            self.roc_auc = np.array([_class_auc(self.y_true, self.y_proba, labels, k)
                                     for k in labels])
        for warning in caught[:1]:  # one warning is enough for the report
            warnings.warn(warning.message, UndefinedMetricWarning, stacklevel=3)
        defined = self.roc_auc[~np.isnan(self.roc_auc)]
        self.roc_auc_ovr = float(defined.mean()) if defined.size else math.nan
        self.log_loss = float(log_loss(self.y_true, self.y_proba, labels=labels))
        self.confusion_matrix = confusion_matrix(self.y_true, self.y_pred,
                                                 labels=labels)

    def summary(self) -> dict:
        """The overall scores.

        Returns
        -------
        summary : dict
            accuracy, macro precision/recall/F1, macro ROC-AUC, log loss and
            the number of samples.
        """
        result = {key: getattr(self, key) for key, _ in self._SUMMARY}
        result["n_samples"] = len(self.y_true)
        return result

    def to_frame(self) -> pd.DataFrame:
        """The per-class table, as scikit-learn's ``classification_report``.

        Returns
        -------
        frame : pandas.DataFrame
            One row per class, then 'macro avg' and 'weighted avg'; columns
            precision, recall, f1-score, support and roc_auc.
        """
        per_class = pd.DataFrame(
            {"precision": self.precision, "recall": self.recall, "f1-score": self.f1,
             "support": self.support, "roc_auc": self.roc_auc},
            index=self.classes.astype(object),
        )
        weights = self.support / max(self.support.sum(), 1)  # (n_classes,)
        averages = pd.DataFrame(
            {"precision": [self.precision_macro, weights @ self.precision],
             "recall": [self.recall_macro, weights @ self.recall],
             "f1-score": [self.f1_macro, weights @ self.f1],
             "support": [self.support.sum()] * 2,
             "roc_auc": [self.roc_auc_ovr, _weighted_mean(self.roc_auc, weights)]},
            index=["macro avg", "weighted avg"],
        )
        frame = pd.concat([per_class, averages])
        frame.index.name = "class"
        return frame

    def confusion_frame(self) -> pd.DataFrame:
        """The confusion matrix with class labels.

        Returns
        -------
        frame : pandas.DataFrame
            Rows the true class, columns the predicted class.
        """
        return pd.DataFrame(self.confusion_matrix,
                            index=pd.Index(self.classes, name="true"),
                            columns=pd.Index(self.classes, name="predicted"))

    def _summary_line(self):
        return "  ".join(f"{label} {getattr(self, key):.4f}"
                         for key, label in self._SUMMARY) + (
            f"  samples {len(self.y_true)}")

    def __str__(self):
        table = self.to_frame().to_string(
            float_format=lambda v: f"{v:.4f}", na_rep="nan")
        matrix = self.confusion_frame().to_string()
        return (f"{self._summary_line()}\n\n{table}\n\n"
                f"confusion matrix (rows: true class, columns: predicted)\n{matrix}")

    def __repr__(self):
        return (f"<Evaluation accuracy={self.accuracy:.4f} "
                f"f1_macro={self.f1_macro:.4f} n_samples={len(self.y_true)}>")

    def to_markdown(self) -> str:
        """The report as markdown: a summary table, the per-class table and
        the confusion matrix.

        Returns
        -------
        text : str
        """
        summary = markdown_table(
            ["metric", "value"],
            [[label, f"{getattr(self, key):.4f}"] for key, label in self._SUMMARY]
            + [["samples", str(len(self.y_true))]], [False, True])
        frame = self.to_frame()
        rows = [[str(index)] + [str(int(value)) if column == "support"
                                else _cell(value) for column, value in row.items()]
                for index, row in frame.iterrows()]
        per_class = markdown_table(["class", *frame.columns], rows,
                                   [False] + [True] * len(frame.columns))
        matrix = markdown_table(
            ["true \\ predicted", *map(str, self.classes)],
            [[str(label), *map(str, row)]
             for label, row in zip(self.classes, self.confusion_matrix,
                                   strict=True)],
            [False] + [True] * len(self.classes))
        return f"{summary}\n\n{per_class}\n\n**Confusion matrix**\n\n{matrix}\n"


def _weighted_mean(values, weights):
    # A class absent from y has no ROC-AUC (NaN) and no support: it is left
    # out of the weighted mean, as it is of the macro mean.
    defined = ~np.isnan(values)
    total = weights[defined].sum()
    return float(weights[defined] @ values[defined] / total) if total else math.nan


def _cell(value):
    return "nan" if np.isnan(value) else f"{value:.4f}"


def evaluate(estimator: Any, X: ArrayLike, y: ArrayLike) -> Evaluation:
    """Score a fitted classifier on (X, y): the report of the seed studies.

    Parameters
    ----------
    estimator : classifier
        A fitted classifier with ``predict_proba`` (any scikit-learn one).
    X : array-like
        Input data, as the estimator takes it.
    y : array-like of shape (n_samples,)
        True labels; each must be one of ``estimator.classes_``.

    Returns
    -------
    evaluation : Evaluation
        Accuracy, macro precision/recall/F1, per-class precision, recall,
        F1, support and ROC-AUC, the confusion matrix and the log loss.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sknets.metrics import evaluate
    >>> X, y = load_iris(return_X_y=True)
    >>> report = evaluate(LogisticRegression(max_iter=500).fit(X, y), X, y)
    >>> round(report.accuracy, 3), report.confusion_matrix.shape
    (0.973, (3, 3))
    >>> report.to_frame().loc["macro avg", "support"]
    np.int64(150)
    """
    check_is_fitted(estimator)
    y = np.asarray(y)
    unknown = np.setdiff1d(np.unique(y), estimator.classes_)
    if unknown.size:
        raise ValueError(
            f"y has labels {unknown.tolist()} that the estimator was not fitted on; "
            f"its classes_ are {estimator.classes_.tolist()}."
        )
    proba = estimator.predict_proba(X)
    # Predictions from the probabilities, so that the two always agree.
    y_pred = estimator.classes_[np.argmax(proba, axis=1)]
    return Evaluation(y, y_pred, proba, estimator.classes_)


# -- search results ---------------------------------------------------------------


def _refit_metric(search):
    metrics = sorted(key[len("mean_test_"):] for key in search.cv_results_
                     if key.startswith("mean_test_"))
    if isinstance(search.refit, str) and search.refit in metrics:
        return search.refit, metrics
    return ("score" if "score" in metrics else metrics[0]), metrics


def parameter_rows(estimator: Any, candidates: Sequence[dict]) -> list[dict]:
    """One dict of parameters per candidate, for a results table.

    Parameters
    ----------
    estimator : estimator
        The base estimator the candidates set parameters of.
    candidates : list of dict
        Each candidate's parameters (``cv_results_['params']``).

    Returns
    -------
    rows : list of dict
        Every parameter any candidate sets (a candidate that leaves one out
        shows the base estimator's value), ``width`` and ``depth`` (widest
        hidden layer and number of hidden layers) when the estimator has
        ``hidden_layer_sizes``, and ``architecture`` (the preset of
        ``sknets.cnn.ARCHITECTURES`` a CNN candidate is, or None).

    Examples
    --------
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.metrics import parameter_rows
    >>> parameter_rows(MLPClassifierTorch(), [{"hidden_layer_sizes": (64, 32)},
    ...                                       {"alpha": 0.1}])
    [{'hidden_layer_sizes': (64, 32), 'alpha': 0.0001, 'width': 64, 'depth': 2}, \
{'hidden_layer_sizes': (100,), 'alpha': 0.1, 'width': 100, 'depth': 1}]
    """
    base = estimator.get_params()
    names = []
    for params in candidates:
        names += [name for name in params if name not in names]
    rows = []
    for params in candidates:
        row = {name: params.get(name, base.get(name)) for name in names}
        full = {**base, **params}
        if full.get("hidden_layer_sizes") is not None:
            hidden = full["hidden_layer_sizes"]
            hidden = [hidden] if isinstance(hidden, int) else list(hidden)
            row["width"], row["depth"] = max(hidden, default=0), len(hidden)
        if isinstance(estimator, CNNClassifierTorch):
            row["architecture"] = architecture_name(full)
        rows.append(row)
    return rows


def search_results_frame(search: Any) -> pd.DataFrame:
    """A tidy table of a fitted ``GridSearchCV`` (or ``RandomizedSearchCV``).

    Parameters
    ----------
    search : fitted BaseSearchCV
        A search over any estimator, with one or several metrics.

    Returns
    -------
    frame : pandas.DataFrame
        One row per candidate, best first by the refit metric (the first
        metric when refit is not a metric name). Columns: each parameter (a
        candidate that does not set one shows the base estimator's value),
        ``width`` and ``depth`` (widest hidden layer and number of hidden
        layers, when the estimator has ``hidden_layer_sizes``), ``architecture``
        (the preset of ``sknets.cnn.ARCHITECTURES`` a CNN candidate is, if
        any), then ``mean_<metric>`` and ``std_<metric>`` for each metric,
        ``rank`` and the fit and score times. ``frame.attrs['refit']`` names
        the metric that ranks it.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sknets.metrics import make_scoring, search_results_frame
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.01, 1]},
    ...                       scoring=make_scoring(), refit="f1_macro").fit(X, y)
    >>> search_results_frame(search)[["C", "mean_f1_macro"]].round(3)
          C  mean_f1_macro
    0  1.00          0.973
    1  0.01          0.849
    """
    check_is_fitted(search, "cv_results_")
    results = search.cv_results_
    metric, metrics = _refit_metric(search)
    frame = pd.DataFrame(parameter_rows(search.estimator, results["params"]))
    for name in metrics:
        frame[f"mean_{name}"] = results[f"mean_test_{name}"]
        frame[f"std_{name}"] = results[f"std_test_{name}"]
        if f"mean_train_{name}" in results:
            frame[f"mean_train_{name}"] = results[f"mean_train_{name}"]
    frame["rank"] = results[f"rank_test_{metric}"]
    for name in ("mean_fit_time", "std_fit_time", "mean_score_time"):
        frame[name] = results[name]
    order = np.argsort(-np.nan_to_num(frame[f"mean_{metric}"].to_numpy(dtype=float),
                                      nan=-np.inf), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    frame.attrs["refit"] = metric
    return frame
