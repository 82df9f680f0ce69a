"""Scorers, evaluation reports and search tables against scikit-learn's metrics."""

import math
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    check_scoring,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import GridSearchCV, cross_validate

from sknets import CNNClassifierTorch, MLPClassifierTorch
from sknets.cnn import architecture_grid
from sknets.metrics import (
    Evaluation,
    evaluate,
    f1_macro_scorer,
    make_scoring,
    per_class_roc_auc_scorers,
    roc_auc_ovr_macro,
    search_results_frame,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

LABELS = {"int": np.array([3, 5, 7, 9]), "str": np.array(["ant", "bee", "cat", "dog"])}


def _problem(n_classes, label_kind):
    # A noisy problem, so that no score is trivially 1.
    X, y = make_classification(n_samples=240, n_features=6, n_informative=4,
                               n_classes=n_classes, n_clusters_per_class=1,
                               class_sep=0.8, random_state=0)
    y = LABELS[label_kind][y]
    clf = MLPClassifierTorch(hidden_layer_sizes=(8,), max_iter=20, batch_size=32,
                             random_state=0, device="cpu").fit(X[:160], y[:160])
    return clf, X[160:], y[160:]


@pytest.fixture(params=[(2, "int"), (2, "str"), (4, "int"), (4, "str")],
                ids=["binary-int", "binary-str", "multiclass-int", "multiclass-str"])
def fitted(request):
    return _problem(*request.param)


def test_scorers_equal_sklearn_metrics(fitted):
    # Each scorer gives scikit-learn's value on the same predictions.
    clf, X, y = fitted
    proba, pred = clf.predict_proba(X), clf.predict(X)
    assert f1_macro_scorer(clf, X, y) == f1_score(y, pred, average="macro")
    per_class = per_class_roc_auc_scorers(clf.classes_)
    for k, label in enumerate(clf.classes_):
        expected = roc_auc_score(y == label, proba[:, k])
        assert per_class[f"roc_auc_{label}"](clf, X, y) == pytest.approx(expected,
                                                                         abs=1e-15)
    if len(clf.classes_) == 2:
        expected = roc_auc_score(y == clf.classes_[1], proba[:, 1])
    else:
        expected = roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert roc_auc_ovr_macro(clf, X, y) == pytest.approx(expected, abs=1e-15)
    assert 0.5 < expected < 1.0


def test_make_scoring_equals_sklearn_metrics(fitted):
    # The multi-metric dict, evaluated as GridSearchCV does, on one fold.
    clf, X, y = fitted
    proba, pred = clf.predict_proba(X), clf.predict(X)
    scores = check_scoring(clf, scoring=make_scoring(clf.classes_))(clf, X, y)
    expected = {
        "accuracy": accuracy_score(y, pred),
        "f1_macro": f1_score(y, pred, average="macro"),
        "precision_macro": precision_score(y, pred, average="macro"),
        "recall_macro": recall_score(y, pred, average="macro"),
    }
    for k, label in enumerate(clf.classes_):
        expected[f"roc_auc_{label}"] = roc_auc_score(y == label, proba[:, k])
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=1e-15), name
    assert set(scores) == set(expected) | {"roc_auc_ovr"}


def test_multi_metric_scoring_calls_predict_proba_once(fitted):
    # All probability scorers share one cached call, as scikit-learn's do.
    clf, X, y = fitted
    calls = []
    predict_proba = clf.predict_proba
    clf.predict_proba = lambda X: calls.append(len(X)) or predict_proba(X)
    check_scoring(clf, scoring=make_scoring(clf.classes_))(clf, X, y)
    assert calls == [len(X)]


def test_evaluate_equals_sklearn_metrics(fitted):
    # The report's numbers are scikit-learn's on the same predictions.
    clf, X, y = fitted
    proba, pred = clf.predict_proba(X), clf.predict(X)
    report = evaluate(clf, X, y)
    np.testing.assert_array_equal(report.y_pred, pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=clf.classes_, zero_division=0.0)
    np.testing.assert_array_equal(report.precision, precision)
    np.testing.assert_array_equal(report.recall, recall)
    np.testing.assert_array_equal(report.f1, f1)
    np.testing.assert_array_equal(report.support, support)
    assert report.accuracy == accuracy_score(y, pred)
    assert report.f1_macro == pytest.approx(f1_score(y, pred, average="macro"))
    assert report.log_loss == pytest.approx(log_loss(y, proba, labels=clf.classes_))
    np.testing.assert_array_equal(report.confusion_matrix,
                                  confusion_matrix(y, pred, labels=clf.classes_))
    aucs = [roc_auc_score(y == label, proba[:, k])
            for k, label in enumerate(clf.classes_)]
    np.testing.assert_allclose(report.roc_auc, aucs, atol=1e-15)
    assert report.roc_auc_ovr == pytest.approx(roc_auc_ovr_macro(clf, X, y))
    frame = report.to_frame()
    assert list(frame.index) == [*clf.classes_, "macro avg", "weighted avg"]
    assert list(frame.columns) == ["precision", "recall", "f1-score", "support",
                                   "roc_auc"]
    assert frame.loc["macro avg", "support"] == len(y)
    assert frame.loc["weighted avg", "f1-score"] == pytest.approx(
        f1_score(y, pred, average="weighted"))


def test_report_text_and_markdown():
    # The text reads like the seed studies' tables.
    clf, X, y = _problem(4, "str")
    report = evaluate(clf, X, y)
    text = str(report)
    assert text.startswith(f"accuracy {report.accuracy:.4f}")
    assert "macro avg" in text and "confusion matrix" in text
    assert f"bee {report.precision[1]:.4f}" in " ".join(text.split())
    markdown = report.to_markdown()
    assert f"| macro F1 | {report.f1_macro:.4f} |" in markdown
    assert f"| cat | {report.precision[2]:.4f} | {report.recall[2]:.4f} |" in markdown
    assert f"| {report.support[2]} |" in markdown
    assert "| true \\\\ predicted | ant | bee | cat | dog |" in markdown
    assert "| --- | ---: | ---: | ---: | ---: |" in markdown  # counts align right
    assert report.summary()["n_samples"] == len(y)


def test_markdown_escapes_class_names():
    # One renderer for every table: a class named like markup or a cell's
    # end is shown as written, in its own cell.
    from sknets.metrics import Evaluation

    report = Evaluation(np.array([0, 1, 1]), np.array([0, 1, 0]),
                        np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]),
                        np.array([0, 1]))
    report.classes = np.array(["a|b", "<i>"], dtype=object)
    markdown = report.to_markdown()
    assert "| a\\|b |" in markdown and "| &lt;i&gt; |" in markdown
    assert "<i>" not in markdown


def test_evaluate_refuses_labels_the_model_never_saw():
    # A label outside classes_ is an error naming it.
    clf, X, y = _problem(2, "int")
    y = y.copy()
    y[0] = 42
    with pytest.raises(ValueError, match=r"labels \[42\] that the estimator"):
        evaluate(clf, X, y)


def test_fold_without_a_class_gives_nan_and_a_warning():
    # The test fold lacks class 2: its AUC is NaN, the others are scored.
    X, y = make_classification(n_samples=150, n_features=5, n_informative=3,
                               n_classes=3, n_clusters_per_class=1, random_state=0)
    train = np.arange(100)
    test = np.arange(100, 150)[y[100:] != 2]
    clf = MLPClassifierTorch(max_iter=10, random_state=0, device="cpu")
    with pytest.warns(UndefinedMetricWarning, match="class 2 is NaN: the class is "
                                                    "absent from y_true"):
        scores = cross_validate(clf, X, y, cv=[(train, test)],
                                scoring=make_scoring(classes=[0, 1, 2]))
    assert math.isnan(scores["test_roc_auc_2"][0])
    assert 0.5 < scores["test_roc_auc_0"][0] <= 1.0
    assert 0.5 < scores["test_roc_auc_1"][0] <= 1.0
    assert scores["test_roc_auc_ovr"][0] == pytest.approx(
        (scores["test_roc_auc_0"][0] + scores["test_roc_auc_1"][0]) / 2)
    # A training fold without class 2: the model cannot score it either.
    fitted = clf.fit(X[y != 2], y[y != 2])
    with pytest.warns(UndefinedMetricWarning, match="not fitted on that class"):
        assert math.isnan(per_class_roc_auc_scorers([2])["roc_auc_2"](fitted, X, y))


def test_grid_search_refits_the_best_macro_f1_in_parallel():
    # On imbalanced classes accuracy prefers unweighted classes; the search
    # refits the candidate with the best macro-F1, 'balanced' class weights.
    X, y = make_classification(n_samples=300, n_features=8, n_informative=4,
                               n_classes=3, weights=[0.75, 0.2, 0.05],
                               class_sep=0.6, random_state=0)
    search = GridSearchCV(
        MLPClassifierTorch(hidden_layer_sizes=(16,), max_iter=40, random_state=0,
                           device="cpu"),
        {"class_weight": [None, "balanced"], "learning_rate_init": [1e-3, 1e-2]},
        scoring=make_scoring(classes=[0, 1, 2]), refit="f1_macro", cv=3, n_jobs=2,
    ).fit(X, y)
    results = search.cv_results_
    assert search.best_index_ == np.argmax(results["mean_test_f1_macro"])
    assert np.argmax(results["mean_test_accuracy"]) != search.best_index_
    assert search.best_params_ == {"class_weight": "balanced",
                                   "learning_rate_init": 1e-2}
    assert search.best_score_ == results["mean_test_f1_macro"][search.best_index_]
    assert np.isfinite(results["mean_test_roc_auc_2"]).all()
    # The tidy table: best first, one column per parameter and metric.
    frame = search_results_frame(search)
    assert len(frame) == 4
    assert frame.loc[0, "class_weight"] == "balanced"
    assert list(frame["mean_f1_macro"]) == sorted(results["mean_test_f1_macro"],
                                                  reverse=True)
    assert list(frame["rank"]) == [1, 2, 3, 4]
    for column in ["learning_rate_init", "width", "depth", "mean_accuracy",
                   "std_accuracy", "mean_roc_auc_1", "std_f1_macro", "mean_fit_time"]:
        assert column in frame
    assert (frame["width"] == 16).all() and (frame["depth"] == 1).all()


def test_search_results_frame_fills_parameters_and_names_presets(small_digits):
    # Candidates of a list-of-dicts grid show the base value of what they
    # leave out; CNN candidates are named by their preset.
    X_train, _, y_train, _ = small_digits
    grid = [{"hidden_layer_sizes": [(), (16, 8)]}, {"alpha": [0.1]}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(MLPClassifierTorch(max_iter=3, device="cpu"), grid,
                              cv=2).fit(X_train[:200], y_train[:200])
    frame = search_results_frame(search)
    assert "mean_score" in frame and len(frame) == 3
    row = frame[frame["alpha"] == 0.1].iloc[0]
    assert row["hidden_layer_sizes"] == (100,) and row["width"] == 100
    widths = dict(zip(frame["hidden_layer_sizes"], frame["width"], strict=True))
    assert widths[()] == 0 and widths[(16, 8)] == 16
    depths = dict(zip(frame["hidden_layer_sizes"], frame["depth"], strict=True))
    assert depths[()] == 0 and depths[(16, 8)] == 2

    cnn = GridSearchCV(CNNClassifierTorch(max_iter=1, device="cpu"),
                       architecture_grid(["short", "lenet5"]), cv=2)
    cnn.fit(X_train[:100], y_train[:100])
    assert sorted(search_results_frame(cnn)["architecture"]) == ["lenet5", "short"]


def test_weighted_roc_auc_leaves_out_an_absent_class():
    # A class absent from y has no AUC and no support: the weighted average
    # is over the present classes, not NaN.
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1],
                      [0.3, 0.6, 0.1]])
    with pytest.warns(UndefinedMetricWarning):
        report = Evaluation([0, 1, 0, 1], [0, 1, 0, 1], proba, [0, 1, 2])
    frame = report.to_frame()
    assert np.isnan(frame.loc[2, "roc_auc"])
    assert frame.loc["weighted avg", "roc_auc"] == 1.0
    assert frame.loc["macro avg", "roc_auc"] == 1.0
