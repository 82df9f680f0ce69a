"""Sample weights, metadata routing and one-class targets, as scikit-learn's
MLPClassifier has them, asserted with numbers on small data."""

import warnings

import numpy as np
import pytest
import sklearn
import torch
from sklearn import model_selection as sk
from sklearn.base import clone
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.metrics import accuracy_score
from sklearn.model_selection import cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknets import CNNClassifierTorch, MLPClassifierTorch
from sknets.model_selection import GridSearchCV, fit_on_folds

FAST = dict(hidden_layer_sizes=(32,), batch_size=32, max_iter=10, random_state=0,
            learning_rate_init=0.01, device="cpu")


def fast(**params):
    return MLPClassifierTorch(**{**FAST, **params})


pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _weights(n, seed=0, high=4):
    return np.random.RandomState(seed).randint(0, high, n).astype(np.float64)


def test_zero_weights_equal_removing_the_rows(small_digits):
    # A zero weight removes its row: mini-batches, order and all.
    X, X_test, y, _ = small_digits
    w = (np.arange(len(y)) % 3 != 0).astype(float)
    weighted = fast().fit(X, y, sample_weight=w)
    removed = fast().fit(X[w > 0], y[w > 0])
    np.testing.assert_allclose(weighted.loss_curve_, removed.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(weighted.predict_proba(X_test),
                               removed.predict_proba(X_test), rtol=1e-4, atol=1e-6)
    assert weighted.t_ == removed.t_
    # partial_fit too.
    classes = np.unique(y)
    weighted = fast().partial_fit(X, y, sample_weight=w, classes=classes)
    removed = fast().partial_fit(X[w > 0], y[w > 0], classes=classes)
    np.testing.assert_allclose(weighted.loss_, removed.loss_, rtol=1e-5)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "hinge"])
def test_integer_weights_equal_repeating_the_rows(small_digits, loss):
    # Full batch: a weight k is k copies of the row, penalty included.
    X, X_test, y, _ = small_digits
    X, y = X[:150], y[:150]
    w = _weights(len(y))
    params = dict(batch_size=1000, max_iter=15, alpha=1e-2, loss=loss)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Got `batch_size`")
        weighted = fast(**params).fit(X, y, sample_weight=w)
        repeated = fast(**params).fit(X.repeat(w.astype(int), axis=0),
                                      y.repeat(w.astype(int)))
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(weighted.predict_proba(X_test),
                               repeated.predict_proba(X_test), rtol=1e-5, atol=1e-6)


def test_weights_shift_the_decision_as_class_weight_does(small_digits):
    # Balanced per-row weights are class_weight='balanced', row by row (over
    # a full batch, whose weights sum to its size): the rare class is found
    # more often than without weights.
    X, X_test, y, y_test = small_digits
    keep = (y != 3) | (np.arange(len(y)) % 10 == 0)  # rare 3s
    X, y = X[keep], y[keep]
    counts = np.bincount(y)
    w = len(y) / (len(counts) * counts[y])
    full = dict(batch_size=len(y), max_iter=30, learning_rate_init=0.02)
    weighted = fast(**full).fit(X, y, sample_weight=w)
    balanced = fast(class_weight="balanced", **full).fit(X, y)
    plain = fast(**full).fit(X, y)
    np.testing.assert_allclose(weighted.loss_curve_, balanced.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(weighted.predict_proba(X_test),
                               balanced.predict_proba(X_test), rtol=1e-4, atol=1e-6)
    recall = [np.mean(m.predict(X_test[y_test == 3]) == 3) for m in (plain, weighted)]
    assert recall[1] > recall[0]
    # Weights and class_weight multiply.
    both = fast(class_weight={3: 2.0}, **full).fit(X, y, sample_weight=w)
    assert both.loss_curve_[0] != pytest.approx(weighted.loss_curve_[0], rel=1e-3)


def _validation_split(y, random_state, fraction):
    # The rows fit() holds out for early stopping (its seed draw, then the
    # stratified split).
    rng = np.random.RandomState(random_state)
    rng.randint(np.iinfo(np.int32).max)
    return train_test_split(np.arange(len(y)), test_size=fraction, stratify=y,
                            random_state=rng)


def test_early_stopping_scores_are_weighted(small_digits):
    # validation_scores_ are weighted accuracies of the held-out rows, and
    # the kept (best) weights score best_validation_score_ with those weights.
    X, _, y, _ = small_digits
    w = _weights(len(y), high=3) + (y == 1) * 5.0  # zeros, and heavy 1s
    clf = fast(early_stopping=True, max_iter=8, n_iter_no_change=100).fit(
        X, y, sample_weight=w)
    _, val = _validation_split(y, 0, clf.validation_fraction)
    pred = clf.predict(X[val])
    weighted = accuracy_score(y[val], pred, sample_weight=w[val])
    assert clf.best_validation_score_ == pytest.approx(weighted, abs=1e-12)
    assert clf.best_validation_score_ == pytest.approx(max(clf.validation_scores_))
    assert weighted != pytest.approx(accuracy_score(y[val], pred), abs=1e-6)
    f1 = [row["valid_f1_macro"] for row in clf.history_]
    assert all(0 < v <= 1 for v in f1)


def test_bad_sample_weights_are_refused_with_the_reason():
    X, y = np.random.RandomState(0).rand(20, 3), np.arange(20) % 2
    for w, match in [(-np.ones(20), "Negative values"),
                     (np.r_[np.nan, np.ones(19)], "NaN"), (np.ones(5), "shape"),
                     (np.zeros(20), "at least one non-zero")]:
        with pytest.raises(ValueError, match=match):
            fast().fit(X, y, sample_weight=w)
    # Weights that leave the early-stopping validation rows weightless.
    _, val = _validation_split(y, 0, 0.5)
    w = np.ones(20)
    w[val] = 0
    with pytest.raises(ValueError, match="validation split"):
        fast(early_stopping=True, validation_fraction=0.5).fit(X, y, sample_weight=w)
    # ... or the training rows weightless.
    with pytest.raises(ValueError, match="zero for every training row"):
        fast(early_stopping=True, validation_fraction=0.5).fit(
            X, y, sample_weight=1.0 - w)
    clf = fast()
    with pytest.raises(ValueError):
        clf.fit(X, y, sample_weight=-np.ones(20))
    assert not hasattr(clf, "net_")


def test_sample_weight_is_not_overwritten_and_accepts_lists(small_digits):
    X, _, y, _ = small_digits
    w = _weights(len(y)) + 1
    kept = w.copy()
    a = fast(max_iter=2).fit(X, y, sample_weight=w)
    b = fast(max_iter=2).fit(X, y, sample_weight=list(w))
    np.testing.assert_array_equal(w, kept)
    assert a.loss_curve_ == b.loss_curve_


def test_cnn_takes_sample_weights(small_digits):
    X, _, y, _ = small_digits
    X, y = X[:200], y[:200]
    w = (np.arange(len(y)) % 4 != 0).astype(float)
    params = dict(conv_layers=[(4, 3)], hidden_layer_sizes=(16,), max_iter=2,
                  random_state=0, device="cpu")
    weighted = CNNClassifierTorch(**params).fit(X, y, sample_weight=w)
    removed = CNNClassifierTorch(**params).fit(X[w > 0], y[w > 0])
    np.testing.assert_allclose(weighted.loss_curve_, removed.loss_curve_, rtol=1e-5)


# -- metadata routing ----------------------------------------------------------


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_pipeline_routes_sample_weight_when_requested(small_digits, routing):
    X, X_test, y, _ = small_digits
    w = _weights(len(y))
    mlp = fast(max_iter=3).set_fit_request(sample_weight=True)
    pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False), mlp)
    pipe.fit(X, y, sample_weight=w)
    direct = fast(max_iter=3).fit(StandardScaler().fit_transform(X), y,
                                  sample_weight=w)
    assert pipe[-1].loss_curve_ == direct.loss_curve_
    unweighted = fast(max_iter=3).fit(StandardScaler().fit_transform(X), y)
    assert pipe[-1].loss_curve_ != unweighted.loss_curve_
    # partial_fit's request too.
    request = fast().set_partial_fit_request(sample_weight=True).get_metadata_routing()
    assert request.partial_fit.requests["sample_weight"] is True
    # Weights passed but not requested: scikit-learn's error.
    with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
        make_pipeline(StandardScaler().set_fit_request(sample_weight=False),
                      fast(max_iter=3)).fit(X, y, sample_weight=w)


@pytest.mark.parametrize("search", [sk.GridSearchCV, GridSearchCV],
                         ids=["scikit-learn", "sknets"])
def test_searches_route_sample_weight_when_requested(small_digits, routing, search):
    # Routed to fit and to score, the weights give what scikit-learn gives
    # without routing (weighted fits, weighted scores; the sknets search
    # fuses the weighted fits); a score that does not request them is
    # unweighted.
    X, _, y, _ = small_digits
    w = _weights(len(y))
    grid = {"learning_rate_init": [1e-3, 1e-2]}
    mlp = fast(max_iter=3).set_fit_request(sample_weight=True)
    got = search(mlp.set_score_request(sample_weight=True), grid, cv=3).fit(
        X, y, sample_weight=w)
    reference = sk.GridSearchCV(fast(max_iter=3), grid, cv=3)
    with sklearn.config_context(enable_metadata_routing=False):
        reference.fit(X, y, sample_weight=w)
    np.testing.assert_allclose(got.cv_results_["mean_test_score"],
                               reference.cv_results_["mean_test_score"], atol=1e-12)
    assert got.best_estimator_.loss_curve_ == reference.best_estimator_.loss_curve_
    unweighted_scores = search(clone(mlp).set_score_request(sample_weight=False),
                               grid, cv=3).fit(X, y, sample_weight=w)
    counts = unweighted_scores.cv_results_["split0_test_score"] * 200
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert not np.allclose(unweighted_scores.cv_results_["mean_test_score"],
                           got.cv_results_["mean_test_score"])
    with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
        search(fast(max_iter=3), grid, cv=3).fit(X, y, sample_weight=w)


def test_cross_validate_routes_sample_weight(small_digits, routing):
    X, _, y, _ = small_digits
    w = (np.arange(len(y)) % 3 != 0).astype(float)
    mlp = fast(max_iter=3).set_fit_request(sample_weight=True).set_score_request(
        sample_weight=False)
    scores = cross_validate(mlp, X, y, cv=2, params={"sample_weight": w},
                            return_estimator=True)
    plain = cross_validate(fast(max_iter=3), X, y, cv=2, return_estimator=True)
    assert [e.t_ for e in scores["estimator"]] != [e.t_ for e in plain["estimator"]]
    assert [e.t_ for e in scores["estimator"]] == [
        int(w[train].sum()) * 3 for train, _ in sk.StratifiedKFold(2).split(X, y)]


# -- fused searches --------------------------------------------------------------


def test_fused_weighted_fits_equal_their_separate_fits(small_digits):
    # Each stacked model trains on its fold's weights: first-epoch losses to
    # 1e-5, and every epoch close.
    X, _, y, _ = small_digits
    w = _weights(len(y))
    folds = [np.arange(0, 400), np.arange(200, 600)]
    models = [fast(learning_rate_init=lr, alpha=a, max_iter=4)
              for lr in (1e-3, 1e-2) for a in (1e-4, 1e-1)]
    estimators = [clone(m) for m in models for _ in folds]
    rows = [f for _ in models for f in folds]
    results = fit_on_folds(estimators, X, y, rows, sample_weight=w)
    for (fused, error, _), r, model in zip(results, rows,
                                           [m for m in models for _ in folds],
                                           strict=True):
        assert error is None
        alone = clone(model).fit(X[r], y[r], sample_weight=w[r])
        assert fused.loss_curve_[0] == pytest.approx(alone.loss_curve_[0], rel=1e-5)
        np.testing.assert_allclose(fused.loss_curve_, alone.loss_curve_, rtol=1e-3)
        assert fused.t_ == alone.t_


# -- one class -------------------------------------------------------------------


@pytest.mark.parametrize("make", [fast, lambda: CNNClassifierTorch(
    conv_layers=[(2, 3)], hidden_layer_sizes=(4,), max_iter=2, device="cpu")],
    ids=["mlp", "cnn"])
def test_one_class_targets_predict_that_class(make):
    # As scikit-learn's MLPClassifier: the fit succeeds and predicts the one
    # class; its probability is 1.
    X = np.random.RandomState(0).rand(40, 64)
    y = np.full(40, "only")
    clf = make().fit(X, y)
    assert clf.classes_.tolist() == ["only"]
    assert clf.predict(X[:5]).tolist() == ["only"] * 5
    proba = clf.predict_proba(X[:5])
    assert proba.shape == (5, 1) and (proba == 1).all()
    assert (clf.predict_log_proba(X[:5]) == 0).all()
    assert clf.n_iter_ >= 1 and len(clf.loss_curve_) == clf.n_iter_
    partial = make().partial_fit(X, np.ones(40), classes=[1.0])
    assert partial.predict(X[:3]).tolist() == [1.0] * 3


# -- float64, tags and the documentation link --------------------------------------


def test_float64_trains_as_float32_does_with_float64_rounding(small_digits):
    # The same initial weights and batches; the curves agree to float32's
    # rounding; everything fitted is float64.
    X, X_test, y, _ = small_digits
    single = fast(max_iter=3).fit(X, y)
    double = fast(max_iter=3, dtype="float64").fit(X, y)
    assert double.coefs_[0].dtype == np.float64
    assert next(double.net_.module_.parameters()).dtype == torch.float64
    np.testing.assert_allclose(double.loss_curve_, single.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(double.predict_proba(X_test),
                               single.predict_proba(X_test), atol=1e-3)
    # A fused search trains float64 fits on their own, with the same results.
    grid = {"learning_rate_init": [1e-3, 1e-2]}
    fused = GridSearchCV(fast(max_iter=3, dtype="float64"), grid, cv=2).fit(X, y)
    plain = sk.GridSearchCV(fast(max_iter=3, dtype="float64"), grid, cv=2).fit(X, y)
    np.testing.assert_array_equal(fused.cv_results_["mean_test_score"],
                                  plain.cv_results_["mean_test_score"])


def test_gpu_fits_are_tagged_non_deterministic():
    assert not fast().__sklearn_tags__().non_deterministic
    assert fast(device="cuda").__sklearn_tags__().non_deterministic
    assert CNNClassifierTorch(device="cuda:1").__sklearn_tags__().non_deterministic


def test_html_repr_links_to_the_api_reference():
    # Each class links to the page Sphinx writes for its entry in docs/api.rst.
    from pathlib import Path

    from sknets._docs import DOCS_URL
    from sknets.preprocessing import PixelScaler

    api = (Path(__file__).parents[1] / "docs" / "api.rst").read_text()
    for estimator in (fast(), CNNClassifierTorch(), PixelScaler(),
                      GridSearchCV(fast(), {"alpha": [1.0]})):
        link = estimator._get_doc_link()
        assert link.startswith(DOCS_URL + "generated/") and link.endswith(".html")
        name = link[len(DOCS_URL + "generated/"):-len(".html")]
        assert f"   {name}\n" in api
        assert link in estimator._repr_html_()
