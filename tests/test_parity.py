"""MLPClassifier parity: solver='lbfgs', sparse X and multi-label targets."""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV as SklearnGridSearchCV
from sklearn.model_selection import KFold
from sklearn.neural_network import MLPClassifier

from sknets import CNNClassifierTorch, MLPClassifierTorch
from sknets.model_selection import GridSearchCV
from sknets.persistence import load, save


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


@pytest.fixture(scope="module")
def multilabel():
    X, Y = make_multilabel_classification(n_samples=80, n_features=10, n_classes=4,
                                          random_state=0, return_indicator=True)
    return X / X.max(), Y


def _quiet(estimator, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **fit_params)


def _fused_matches_separate(base, grid, X, y, cv, atol):
    # sknets' fused search and scikit-learn's give the same mean scores.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fused = GridSearchCV(base, grid, cv=cv).fit(X, y)
        plain = SklearnGridSearchCV(base, grid, cv=cv).fit(X, y)
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"], atol=atol)


# -- solver='lbfgs' -------------------------------------------------------------

def test_lbfgs_reaches_scikit_learns_accuracy_on_digits(digits):
    X, y = digits
    params = dict(solver="lbfgs", hidden_layer_sizes=50, max_iter=150,
                  random_state=1)
    ours = _quiet(MLPClassifierTorch(**params), X[:1200], y[:1200])
    theirs = _quiet(MLPClassifier(**params), X[:1200], y[:1200])
    accuracy, reference = ours.score(X[1200:], y[1200:]), theirs.score(X[1200:],
                                                                         y[1200:])
    assert accuracy >= reference - 0.01, (accuracy, reference)
    assert ours.score(X[:1200], y[:1200]) == 1.0


def test_lbfgs_objective_is_the_weighted_loss_plus_the_l2_term(digits):
    # loss_ is the objective at the final weights: the weighted mean
    # cross-entropy plus 0.5 * alpha * sum(W^2) / sum(w).
    X, y = digits[0][:300], digits[1][:300]
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    clf = _quiet(MLPClassifierTorch((16,), solver="lbfgs", alpha=0.01, max_iter=20,
                                    dtype="float64", random_state=0), X, y,
                 sample_weight=w)
    proba = clf.predict_proba(X)
    loss = -np.average(np.log(proba[np.arange(len(y)), y]), weights=w)
    penalty = 0.5 * 0.01 * sum((c ** 2).sum() for c in clf.coefs_) / w.sum()
    assert clf.loss_ == pytest.approx(loss + penalty, rel=1e-9)
    assert clf.loss_curve_[-1] == clf.loss_


def test_lbfgs_counts_iterations_and_stops_at_max_iter(digits):
    X, y = digits
    clf = MLPClassifierTorch((16,), solver="lbfgs", max_iter=7, random_state=0)
    with pytest.warns(ConvergenceWarning,
                      match=r"lbfgs failed to converge after 7 iteration\(s\)"):
        clf.fit(X, y)
    assert clf.n_iter_ == len(clf.loss_curve_) == 7
    # Each iteration's line search lowers the objective.
    assert np.all(np.diff(clf.loss_curve_) < 0)


def test_lbfgs_stops_at_max_fun_with_a_warning(digits):
    X, y = digits
    clf = MLPClassifierTorch((16,), solver="lbfgs", max_iter=150, max_fun=10,
                             random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_fun=10"):
        clf.fit(X, y)
    assert clf.n_iter_ <= 10


def test_lbfgs_converged_on_tol_gives_no_warning(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifierTorch((16,), solver="lbfgs", tol=10.0,
                                 random_state=0).fit(X, y)
    assert clf.n_iter_ == 1
    assert clf.net_.monitor_.stop_reason_.startswith("Converged")


def test_lbfgs_hides_partial_fit():
    assert not hasattr(MLPClassifierTorch(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPClassifierTorch(solver="adam"), "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit") as info:
        MLPClassifierTorch(solver="lbfgs").partial_fit  # noqa: B018
    assert "stochastic optimizers" in str(info.value.__cause__)


def test_lbfgs_ignores_early_stopping(digits):
    X, y = digits[0][:200], digits[1][:200]
    clf = _quiet(MLPClassifierTorch((8,), solver="lbfgs", early_stopping=True,
                                    max_iter=5, random_state=0), X, y)
    assert clf.validation_scores_ is None
    assert "valid_accuracy" not in clf.history_[-1]
    assert clf.net_.history[-1]["train_samples"] == 200  # no rows held out


@pytest.mark.parametrize("params, match", [
    ({"dropout": 0.5}, "dropout"),
    ({"batch_norm": True}, "batch_norm"),
    ({"max_grad_norm": 1.0}, "max_grad_norm"),
    ({"max_fun": 0}, "max_fun"),
])
def test_lbfgs_refuses_what_changes_its_objective(params, match):
    X, y = np.random.RandomState(0).rand(20, 3), np.arange(20) % 2
    with pytest.raises(ValueError, match=match):
        MLPClassifierTorch(solver="lbfgs", **params).fit(X, y)


def test_lbfgs_warm_start_continues_from_the_weights(digits):
    X, y = digits
    clf = _quiet(MLPClassifierTorch((16,), solver="lbfgs", max_iter=10,
                                    warm_start=True, random_state=0), X, y)
    first = clf.loss_
    _quiet(clf, X, y)
    assert clf.n_iter_ == 10 and len(clf.loss_curve_) == 20
    assert clf.loss_curve_[10] < first


def test_lbfgs_candidates_train_apart_in_fused_searches(digits):
    X, y = digits[0][:400], digits[1][:400]
    grid = {"solver": ["adam", "lbfgs"], "alpha": [1e-4, 1e-2]}
    base = MLPClassifierTorch((16,), max_iter=8, random_state=0)
    _fused_matches_separate(base, grid, X, y, cv=3, atol=1e-12)


# -- sparse X ---------------------------------------------------------------------

@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csr_array, sp.csc_matrix])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_input_trains_as_its_dense_copy(digits, container, solver):
    X, y = digits[0][:300], digits[1][:300]
    params = dict(hidden_layer_sizes=(16,), solver=solver, max_iter=5,
                  random_state=0)
    dense = _quiet(MLPClassifierTorch(**params), X, y)
    sparse = _quiet(MLPClassifierTorch(**params), container(X), y)
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(sparse.predict_proba(container(X)),
                               dense.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(sparse.predict(X), dense.predict(X))


def test_sparse_partial_fit_and_early_stopping(digits):
    X, y = sp.csr_matrix(digits[0][:300]), digits[1][:300]
    clf = MLPClassifierTorch((16,), random_state=0)
    for _ in range(3):
        clf.partial_fit(X, y, classes=np.arange(10))
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 3
    stopped = _quiet(MLPClassifierTorch((16,), early_stopping=True, max_iter=5,
                                        random_state=0), X, y)
    assert len(stopped.validation_scores_) == 5


def test_wide_sparse_input_is_never_copied_dense():
    # 3,000 x 50,000 with 0.1% non-zeros: a dense float32 copy is 600 MB;
    # batches of 100 rows densified one at a time are 20 MB.
    rng = np.random.RandomState(0)
    X = sp.random(3000, 50_000, density=0.001, format="csr", random_state=rng,
                  dtype=np.float32)
    y = rng.randint(0, 3, 3000)
    clf = MLPClassifierTorch((8,), batch_size=100, max_iter=1, random_state=0)
    tracemalloc.start()
    try:
        _quiet(clf, X, y)
        clf.predict_proba(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 150e6, peak


def test_sparse_input_in_fused_searches_matches_separate_fits(digits):
    X, y = sp.csr_matrix(digits[0][:400]), digits[1][:400]
    grid = {"alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 1e-2]}
    base = MLPClassifierTorch((16,), max_iter=4, random_state=0)
    _fused_matches_separate(base, grid, X, y, cv=3, atol=0.01)


def test_sparse_input_is_in_the_mlp_tags_only():
    assert MLPClassifierTorch().__sklearn_tags__().input_tags.sparse
    assert not CNNClassifierTorch().__sklearn_tags__().input_tags.sparse
    X = sp.csr_matrix(np.random.RandomState(0).rand(8, 16))
    with pytest.raises(TypeError, match="sparse input is not supported"):
        CNNClassifierTorch(image_shape=(4, 4)).fit(X, np.arange(8) % 2)


# -- multi-label targets --------------------------------------------------------------

def test_multilabel_predicts_an_indicator_matrix(multilabel):
    X, Y = multilabel
    clf = _quiet(MLPClassifierTorch((32,), max_iter=300, learning_rate_init=0.01,
                                    random_state=0), X, Y)
    assert clf.classes_.tolist() == [0, 1, 2, 3]
    assert clf.n_outputs_ == 4 and clf.out_activation_ == "logistic"
    proba, pred = clf.predict_proba(X), clf.predict(X)
    assert proba.shape == Y.shape and pred.shape == Y.shape and pred.dtype == Y.dtype
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(Y.dtype))
    assert np.abs(proba.sum(1) - 1).max() > 0.1  # per label, not a softmax
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert clf.score(X, Y) > 0.7  # subset accuracy (scikit-learn: 0.68 to 0.88)


def test_multilabel_loss_is_the_binary_cross_entropy_summed_over_labels(multilabel):
    X, Y = multilabel
    clf = _quiet(MLPClassifierTorch((16,), solver="lbfgs", alpha=0.0, max_iter=10,
                                    dtype="float64", random_state=0), X, Y)
    p = clf.predict_proba(X)
    loss = -(Y * np.log(p) + (1 - Y) * np.log(1 - p)).sum(1).mean()
    assert clf.loss_ == pytest.approx(loss, rel=1e-9)


def test_multilabel_partial_fit_needs_the_label_count(multilabel):
    X, Y = multilabel
    clf = MLPClassifierTorch((16,), random_state=0)
    for _ in range(3):
        clf.partial_fit(X, Y, classes=[0, 1, 2, 3])
    assert len(clf.loss_curve_) == 3
    with pytest.raises(ValueError, match="5 label columns"):
        MLPClassifierTorch().partial_fit(X, np.hstack([Y, Y[:, :1]]),
                                         classes=[0, 1, 2, 3])


def test_multilabel_early_stopping_and_validation_data(multilabel):
    X, Y = multilabel
    clf = _quiet(MLPClassifierTorch((16,), early_stopping=True, max_iter=5,
                                    random_state=0), X, Y)
    assert len(clf.validation_scores_) == 5
    held = _quiet(MLPClassifierTorch((16,), max_iter=3, random_state=0), X[:60], Y[:60],
                  validation_data=(X[60:], Y[60:]))
    row = held.history_[-1]
    assert row["valid_accuracy"] == pytest.approx(held.score(X[60:], Y[60:]))
    assert 0 <= row["valid_f1_macro"] <= 1


@pytest.mark.parametrize("params, Y_change, match", [
    ({}, "constant", r"Column\(s\) \[1\]"),
    ({"class_weight": "balanced"}, None, "class_weight weighs"),
    ({"loss": "mse"}, None, "loss='mse'"),
])
def test_multilabel_bad_input_gets_a_clear_error(multilabel, params, Y_change, match):
    X, Y = multilabel
    Y = Y.copy()
    if Y_change == "constant":
        Y[:, 1] = 0
    with pytest.raises(ValueError, match=match):
        MLPClassifierTorch(max_iter=1, **params).fit(X, Y)


def test_warm_start_cannot_switch_between_label_kinds(multilabel):
    X, Y = multilabel
    clf = _quiet(MLPClassifierTorch((8,), max_iter=1, warm_start=True), X, Y)
    with pytest.raises(ValueError, match="one label per sample"):
        clf.fit(X, Y[:, 0])


def test_multilabel_fused_search_matches_separate_fits(multilabel):
    X, Y = multilabel
    grid = {"alpha": [1e-4, 1e-2]}
    base = MLPClassifierTorch((16,), max_iter=5, random_state=0)
    _fused_matches_separate(base, grid, X, Y, cv=KFold(3), atol=1e-12)


def test_multilabel_cnn_and_saved_model(multilabel, tmp_path):
    X, Y = multilabel
    images = np.repeat(X, 10, axis=1)[:, :64]  # 8 x 8 one-channel images
    cnn = _quiet(CNNClassifierTorch(image_shape=(8, 8), conv_layers=[(4, 3)],
                                    hidden_layer_sizes=(8,), max_iter=3,
                                    random_state=0), images, Y)
    assert cnn.predict(images).shape == Y.shape
    mlp = _quiet(MLPClassifierTorch((8,), max_iter=3, random_state=0), X,
                 Y.astype(bool))
    save(mlp, tmp_path / "model.sknets")
    loaded = load(tmp_path / "model.sknets")
    np.testing.assert_array_equal(loaded.predict(X), mlp.predict(X))
    assert loaded.predict(X).dtype == bool
