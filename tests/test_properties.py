"""Property tests: random data, labels, dtypes and parameters never break a fit.

For every generated example, fit and predict either work or raise one of the
documented ValueErrors; probabilities are rows that sum to 1; predictions are
members of classes_; save and load give the same predictions bit for bit.
"""

import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from sknets import CNNClassifierTorch, DivergenceWarning, MLPClassifierTorch
from sknets.persistence import load, save

# The ValueErrors fit may raise on valid-looking input, each documented.
DOCUMENTED = re.compile("|".join([
    r"early_stopping=True cannot hold out a stratified validation set",
    r"The validation set is too small",
    r"batch_norm=True needs batches of at least 2 samples",
]))

DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_]


@st.composite
def problems(draw):
    n_classes = draw(st.integers(2, 20))
    n_samples = draw(st.integers(2, 60))
    n_features = draw(st.integers(1, 12))
    # Imbalanced: each class's weight is drawn, and two labels are forced in.
    weights = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=n_classes,
                                     max_size=n_classes)))
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    codes = rng.choice(n_classes, size=n_samples, p=weights / weights.sum())
    codes[:2] = [0, 1]
    if draw(st.booleans()):
        names = draw(st.lists(st.text(min_size=1, max_size=6), min_size=n_classes,
                              max_size=n_classes, unique=True))
        labels = np.array(names, dtype=object)
    else:
        labels = np.array(draw(st.lists(st.integers(-1000, 1000),
                                        min_size=n_classes, max_size=n_classes,
                                        unique=True)))
    dtype = draw(st.sampled_from(DTYPES))
    X = rng.normal(scale=draw(st.sampled_from([0.1, 1.0, 30.0])),
                   size=(n_samples, n_features))
    X = (X > 0) if dtype is np.bool_ else X.astype(dtype)
    return X, labels[codes]


@st.composite
def estimators(draw):
    common = dict(
        activation=draw(st.sampled_from(["relu", "tanh", "logistic", "elu",
                                         "identity", "leaky_relu"])),
        solver=draw(st.sampled_from(["adam", "sgd", "adamw", "rmsprop"])),
        learning_rate=draw(st.sampled_from(["constant", "invscaling", "adaptive",
                                            "step", "exponential", "cosine"])),
        learning_rate_init=draw(st.sampled_from([1e-3, 1e-2, 0.1])),
        loss=draw(st.sampled_from(["cross_entropy", "mse", "mae", "hinge"])),
        batch_size=draw(st.sampled_from(["auto", 1, 3, 16])),
        batch_norm=draw(st.booleans()),
        early_stopping=draw(st.sampled_from([False, False, True])),
        weight_init=draw(st.sampled_from(["xavier_uniform", "xavier_normal",
                                          "kaiming_uniform", "torch"])),
        class_weight=draw(st.sampled_from([None, "balanced"])),
        alpha=draw(st.sampled_from([0.0, 1e-4, 0.1])),
        max_iter=draw(st.integers(1, 3)),
        random_state=draw(st.integers(0, 100)),
        device="cpu",
    )
    hidden = tuple(draw(st.lists(st.integers(1, 8), max_size=2)))
    if draw(st.booleans()):
        return MLPClassifierTorch(hidden, dropout=draw(st.sampled_from([0.0, 0.3])),
                                  **common)
    return CNNClassifierTorch(
        conv_layers=tuple(draw(st.lists(
            st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 2)),
            max_size=2))),
        hidden_layer_sizes=hidden,
        padding=draw(st.sampled_from(["same", "valid"])),
        pooling=draw(st.sampled_from(["max", "avg", None])),
        conv_dropout=draw(st.sampled_from([0.0, 0.2])),
        **common,
    )


def _fit(estimator, X, y):
    """Fit, returning False for a documented refusal; anything else fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DivergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            estimator.fit(X, y)
        except ValueError as exc:
            assert DOCUMENTED.search(str(exc)), f"undocumented ValueError: {exc}"
            return False
    return True


SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


@SETTINGS
@given(problem=problems(), estimator=estimators())
def test_fit_and_predict_never_crash(problem, estimator):
    # Fit works or raises a documented ValueError; then predict works.
    X, y = problem
    if not _fit(estimator, X, y):
        event("fit refused with a documented ValueError")
        return
    event(f"fitted {type(estimator).__name__}")
    assert len(estimator.predict(X)) == len(X)


@SETTINGS
@given(problem=problems(), estimator=estimators())
def test_fitted_models_predict_and_round_trip(problem, estimator, tmp_path_factory):
    # On 200 fitted models: probabilities are rows summing to 1, predictions
    # are labels of classes_, and save/load gives the same outputs exactly.
    X, y = problem
    if not _fit(estimator, X, y):
        reject()
    proba = estimator.predict_proba(X)
    assert proba.shape == (len(X), len(estimator.classes_))
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    predictions = estimator.predict(X)
    assert set(predictions.tolist()) <= set(estimator.classes_.tolist())
    assert sorted(estimator.classes_.tolist(), key=repr) == sorted(
        set(y.tolist()), key=repr)
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    save(estimator, path)
    loaded = load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    np.testing.assert_array_equal(loaded.predict(X), predictions)


def test_diverging_candidate_ranks_last_in_a_search(small_digits):
    # A learning rate that makes SGD diverge gives a usable, worst-scoring
    # candidate instead of a crashed search.
    from sklearn.model_selection import GridSearchCV

    X_train, _, y_train, _ = small_digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DivergenceWarning)
        search = GridSearchCV(
            MLPClassifierTorch(solver="sgd", max_iter=5, random_state=0,
                               device="cpu"),
            {"learning_rate_init": [0.05, 1e4]}, cv=2,
        ).fit(X_train * 1000, y_train)
    scores = search.cv_results_["mean_test_score"]
    assert search.best_params_ == {"learning_rate_init": 0.05}
    assert np.isfinite(scores).all() and scores[1] < scores[0]
    assert search.cv_results_["rank_test_score"].tolist() == [1, 2]


@pytest.mark.parametrize("labels", [["a", "b"], [True, False]])
def test_two_classes_of_any_label_type(labels):
    # Binary problems keep their labels' type through predict.
    X = np.random.RandomState(0).rand(20, 3)
    y = np.array(labels * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifierTorch(max_iter=2, device="cpu").fit(X, y)
    assert set(clf.predict(X).tolist()) <= set(labels)
