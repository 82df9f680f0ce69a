"""Behaviour of MLPClassifierTorch, asserted with numbers on small data."""

import pickle
import re
import signal
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknets import DivergenceWarning, MLPClassifierTorch, _base
from sknets.modules import ACTIVATIONS, LOSSES, WEIGHT_INITS
from sknets.training import LEARNING_RATE_SCHEDULES, SOLVERS, NoFiniteWeightsError
from sknets.training import build as training_build

FAST = dict(hidden_layer_sizes=(32,), batch_size=32, max_iter=10, random_state=0,
            learning_rate_init=0.01,
            device="cpu")


def fast(**params):
    return MLPClassifierTorch(**{**FAST, **params})


@pytest.fixture(autouse=True)
def _quiet_convergence():
    # Short fits end at max_iter on purpose; a ConvergenceWarning is expected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def test_digits_default_parameters(digits):
    # The defaults reach scikit-learn's level on held-out digits.
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifierTorch(random_state=0, device="cpu").fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.95
    reference = MLPClassifier(random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= reference.score(X_test, y_test) - 0.02


@pytest.mark.parametrize("labels", [
    np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
              "eight", "nine"]),
    np.array([-5, -4, -3, -2, -1, 0, 1, 2, 3, 4]),
    np.array([3, 10, 17, 42, 99, 100, 250, 1000, 1001, 5000]),
], ids=["strings", "negative", "non-contiguous"])
def test_label_types(small_digits, labels):
    # Labels of any kind come back from predict, in classes_ order.
    X_train, X_test, y_train, y_test = small_digits
    clf = fast().fit(X_train, labels[y_train])
    assert list(clf.classes_) == sorted(labels)
    predicted = clf.predict(X_test)
    assert predicted.dtype == labels.dtype
    assert set(predicted) <= set(labels)
    assert np.mean(predicted == labels[y_test]) > 0.85


def test_binary(small_digits):
    # Two classes: one output unit as in scikit-learn, two probability columns.
    X_train, X_test, y_train, y_test = small_digits
    keep_train, keep_test = y_train < 2, y_test < 2
    y_str = np.where(y_train[keep_train] == 0, "even", "odd")
    clf = fast().fit(X_train[keep_train], y_str)
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    assert [c.shape for c in clf.coefs_] == [(64, 32), (32, 1)]
    proba = clf.predict_proba(X_test[keep_test])
    assert proba.shape == (keep_test.sum(), 2)
    expected = np.where(y_test[keep_test] == 0, "even", "odd")
    assert np.mean(clf.predict(X_test[keep_test]) == expected) > 0.98


def test_ten_classes_shapes_match_sklearn(small_digits):
    # coefs_, intercepts_ and the layer counts are shaped as scikit-learn's.
    X_train, _, y_train, _ = small_digits
    ours = fast(hidden_layer_sizes=(20, 15), max_iter=2).fit(X_train, y_train)
    theirs = MLPClassifier((20, 15), max_iter=2).fit(X_train, y_train)
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    for name in ("n_layers_", "n_outputs_", "out_activation_", "n_features_in_"):
        assert getattr(ours, name) == getattr(theirs, name)


def test_linear_model(small_digits):
    # hidden_layer_sizes=() is a linear model with a single weight matrix.
    X_train, X_test, y_train, y_test = small_digits
    clf = fast(hidden_layer_sizes=(), learning_rate_init=0.01).fit(X_train, y_train)
    assert [c.shape for c in clf.coefs_] == [(64, 10)]
    assert clf.n_layers_ == 2
    assert clf.score(X_test, y_test) > 0.85


def test_int_hidden_layer_sizes_is_one_layer(small_digits):
    # An int means one hidden layer of that width.
    X_train, _, y_train, _ = small_digits
    clf = fast(hidden_layer_sizes=7, max_iter=1).fit(X_train, y_train)
    assert [c.shape for c in clf.coefs_] == [(64, 7), (7, 10)]


# Parameters that make each option learn digits in 10 short epochs.
OPTIONS = (
    [("loss", name, {"learning_rate_init": 0.01}) for name in LOSSES]
    + [("activation", name, {"learning_rate_init": 0.01}) for name in ACTIVATIONS]
    + [("solver", name, {"learning_rate_init": 0.05 if name == "sgd" else 0.01})
       for name in SOLVERS]
    + [("learning_rate", name, {"solver": "sgd", "learning_rate_init": 0.1,
                                "lr_step_size": 5, "lr_gamma": 0.5,
                                "power_t": 0.1})
       for name in LEARNING_RATE_SCHEDULES]
    + [("weight_init", name, {"learning_rate_init": 0.01}) for name in WEIGHT_INITS]
)


@pytest.mark.parametrize("param, value, extra", OPTIONS,
                         ids=[f"{p}={v}" for p, v, _ in OPTIONS])
def test_every_option_trains(small_digits, param, value, extra):
    # Each loss, activation, solver, schedule and init learns digits.
    X_train, X_test, y_train, y_test = small_digits
    clf = fast(**{param: value}, **extra).fit(X_train, y_train)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.score(X_test, y_test) > 0.8


def test_dropout_and_batch_norm(small_digits):
    # The seed-001 block (Linear, BatchNorm, ReLU, Dropout) builds and learns.
    X_train, X_test, y_train, y_test = small_digits
    clf = fast(hidden_layer_sizes=(64, 32), dropout=0.3, batch_norm=True,
               learning_rate_init=0.01).fit(X_train, y_train)
    names = [type(m).__name__ for m in clf.net_.module_]
    assert names[:4] == ["Linear", "BatchNorm1d", "ReLU", "Dropout"]
    assert clf.score(X_test, y_test) > 0.85


def test_batch_norm_with_a_single_sample_last_batch(small_digits):
    # 33 samples in batches of 32 leave one sample, which is skipped.
    X_train, _, y_train, _ = small_digits
    clf = fast(batch_norm=True, max_iter=2).fit(X_train[:33], y_train[:33])
    assert clf.net_.history[-1, "train_batch_count"] == 1
    with pytest.raises(ValueError, match="batch_norm=True needs batches"):
        fast(batch_norm=True, batch_size=1).fit(X_train[:10], y_train[:10])


def test_schedules_set_the_learning_rate(small_digits):
    # The recorded per-epoch learning rates follow each schedule's formula.
    X_train, _, y_train, _ = small_digits
    lrs = {}
    for name in ("step", "exponential", "cosine", "invscaling"):
        clf = fast(solver="sgd", learning_rate=name, learning_rate_init=0.1,
                   lr_step_size=3, lr_gamma=0.5, max_iter=6,
                   n_iter_no_change=np.inf).fit(X_train, y_train)
        lrs[name] = [row["lr"] for row in clf.history_]
    np.testing.assert_allclose(lrs["step"], [0.1, 0.1, 0.1, 0.05, 0.05, 0.05])
    np.testing.assert_allclose(lrs["exponential"], 0.1 * 0.5 ** np.arange(6))
    np.testing.assert_allclose(lrs["cosine"],
                               0.05 * (1 + np.cos(np.pi * np.arange(6) / 6)))
    seen = 600 * np.arange(6)
    np.testing.assert_allclose(lrs["invscaling"], 0.1 / (seen + 1) ** 0.5)
    # As in scikit-learn, invscaling is ignored by adam.
    clf = fast(learning_rate="invscaling", max_iter=3).fit(X_train, y_train)
    assert [row["lr"] for row in clf.history_] == [0.01] * 3


def test_adaptive_divides_learning_rate_by_five(small_digits):
    # With sgd, a stalled loss divides the rate by 5 instead of stopping.
    X_train, _, y_train, _ = small_digits
    clf = fast(solver="sgd", learning_rate="adaptive", learning_rate_init=0.1,
               tol=10.0, n_iter_no_change=1, max_iter=6).fit(X_train, y_train)
    assert [row["lr"] for row in clf.history_] == pytest.approx(
        [0.1, 0.1, 0.1, 0.02, 0.02, 0.004])


def test_stops_when_training_loss_stalls(small_digits):
    # Without early stopping: no improvement of tol for n_iter_no_change + 1
    # epochs stops training, with no ConvergenceWarning.
    X_train, _, y_train, _ = small_digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = fast(tol=10.0, n_iter_no_change=3, max_iter=50).fit(X_train, y_train)
    assert clf.n_iter_ == 5
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None


def test_max_iter_warns(small_digits):
    # Reaching max_iter raises scikit-learn's ConvergenceWarning.
    X_train, _, y_train, _ = small_digits
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(2\\)"):
        fast(max_iter=2).fit(X_train, y_train)


def test_early_stopping_restores_best_epoch(digits):
    # The weights kept are those of the best validation epoch: a fit that
    # stops at that epoch has the same coefficients.
    X_train, _, y_train, _ = digits
    params = dict(early_stopping=True, n_iter_no_change=3, max_iter=60,
                  learning_rate_init=0.02)
    clf = fast(**params).fit(X_train, y_train)
    scores = clf.validation_scores_
    best_epoch = int(np.argmax(scores)) + 1
    assert clf.n_iter_ > best_epoch
    assert clf.best_validation_score_ == max(scores)
    assert clf.best_loss_ is None
    history = pd.DataFrame(clf.history_)
    assert {"valid_loss", "valid_accuracy", "valid_f1_macro"} <= set(history)
    np.testing.assert_allclose(history["valid_accuracy"], scores)
    stopped = fast(**{**params, "max_iter": best_epoch}).fit(X_train, y_train)
    for ours, reference in zip(clf.coefs_, stopped.coefs_, strict=True):
        np.testing.assert_array_equal(ours, reference)


def test_random_state_reproducible(small_digits):
    # The same seed gives identical curves and predictions; another does not.
    X_train, X_test, y_train, _ = small_digits
    a = fast(dropout=0.2).fit(X_train, y_train)
    b = fast(dropout=0.2).fit(X_train, y_train)
    c = fast(dropout=0.2, random_state=1).fit(X_train, y_train)
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    assert a.loss_curve_ != c.loss_curve_


def test_fit_leaves_global_torch_rng_alone(small_digits):
    # Seeding a fit does not reseed the caller's torch generator.
    X_train, _, y_train, _ = small_digits
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fast(max_iter=1).fit(X_train, y_train)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_grid_search_in_pipeline(small_digits):
    # GridSearchCV(n_jobs=2) compares width, depth, learning rate and loss.
    X_train, X_test, y_train, y_test = small_digits
    pipe = make_pipeline(StandardScaler(), fast(max_iter=8))
    grid = {
        "mlpclassifiertorch__hidden_layer_sizes": [(16,), (32, 16)],
        "mlpclassifiertorch__learning_rate_init": [0.01, 0.0001],
        "mlpclassifiertorch__loss": ["cross_entropy", "mse"],
    }
    search = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(X_train, y_train)
    assert len(search.cv_results_["params"]) == 8
    assert search.best_params_["mlpclassifiertorch__learning_rate_init"] == 0.01
    assert search.best_score_ > 0.85
    assert search.score(X_test, y_test) > 0.85


def test_clone_and_pickle(small_digits, tmp_path):
    # clone keeps parameters only; pickle and joblib keep the fitted model.
    X_train, X_test, y_train, _ = small_digits
    clf = fast(hidden_layer_sizes=(16, 8), dropout=0.1).fit(X_train, y_train)
    cloned = clone(clf)
    assert cloned.get_params() == clf.get_params()
    assert not hasattr(cloned, "net_")
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X_test),
                                  clf.predict_proba(X_test))
    joblib.dump(clf, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict(X_test), clf.predict(X_test))
    # The restored model keeps training: its L2 penalty still sees its weights.
    restored.set_params(warm_start=True, max_iter=2, alpha=1.0).fit(X_train, y_train)
    assert len(restored.loss_curve_) == len(clf.loss_curve_) + 2
    penalized = restored.net_.penalized_weights_
    assert penalized[0] is restored.net_.module_[0].weight


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_model_unpickles_on_cpu(small_digits):
    # A net recorded as trained on CUDA loads on a CPU-only machine, with a
    # warning, and predicts there. (skorch maps its tensors to the CPU.)
    X_train, X_test, y_train, _ = small_digits
    clf = fast(max_iter=2).fit(X_train, y_train)
    expected = clf.predict_proba(X_test)
    clf.net_.device = "cuda"
    with pytest.warns(UserWarning, match="not available"):
        restored = pickle.loads(pickle.dumps(clf))
    assert str(restored.net_.device) == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X_test), expected)


def test_partial_fit(small_digits):
    # One epoch per call; classes are required on the first call.
    X_train, X_test, y_train, y_test = small_digits
    clf = fast()
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X_train, y_train)
    for _ in range(5):
        clf.partial_fit(X_train[:300], y_train[:300], classes=np.arange(10))
        assert clf.n_iter_ == 1
    assert len(clf.loss_curve_) == 5 and clf.t_ == 1500
    assert clf.score(X_test, y_test) > 0.8
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X_train[:5], y_train[:5] + 20)
    with pytest.raises(ValueError, match="partial_fit does not support early"):
        fast(early_stopping=True).partial_fit(X_train, y_train, classes=range(10))


def test_warm_start_continues(small_digits):
    # A second fit with warm_start starts from the fitted weights.
    X_train, _, y_train, _ = small_digits
    clf = fast(warm_start=True, max_iter=3).fit(X_train, y_train)
    first = clf.loss_curve_[-1]
    clf.fit(X_train, y_train)
    assert len(clf.loss_curve_) == 6 and clf.n_iter_ == 3
    assert clf.loss_curve_[3] < first
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X_train[y_train < 5], y_train[y_train < 5])


def test_class_weight(small_digits):
    # 'balanced' and dict weights change the fit; unknown labels are refused.
    X_train, X_test, y_train, y_test = small_digits
    keep = (y_train != 3) | (np.arange(len(y_train)) % 10 == 0)  # rare 3s
    plain = fast().fit(X_train[keep], y_train[keep])
    balanced = fast(class_weight="balanced").fit(X_train[keep], y_train[keep])
    recall = [np.mean(m.predict(X_test[y_test == 3]) == 3) for m in (plain, balanced)]
    assert recall[1] >= recall[0]
    weights = balanced.net_.criterion_.class_weight
    assert float(weights[3]) > 5 * float(weights[0])
    heavy = fast(class_weight={3: 20.0}).fit(X_train[keep], y_train[keep])
    assert float(heavy.net_.criterion_.class_weight[3]) == 20.0
    with pytest.raises(ValueError, match="not in y"):
        fast(class_weight={11: 2.0}).fit(X_train, y_train)


def test_history_and_verbose(small_digits, capsys):
    # verbose=True prints one line per epoch; history_ makes a table.
    X_train, _, y_train, _ = small_digits
    clf = fast(verbose=True, max_iter=4, early_stopping=True).fit(X_train, y_train)
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("Iteration")]
    assert len(lines) == 4
    assert re.match(r"Iteration 1, loss = [\d.]+, train acc [\d.]+, valid loss",
                    lines[0])
    table = pd.DataFrame(clf.history_)
    assert list(table["epoch"]) == [1, 2, 3, 4]
    assert {"train_loss", "train_accuracy", "lr", "duration"} <= set(table)
    assert (table["duration"] > 0).all()
    np.testing.assert_allclose(table["train_loss"], clf.loss_curve_)


def test_verbose_two_shows_batch_progress(small_digits, capsys):
    # verbose=2 adds a progress bar over the batches of each epoch.
    X_train, _, y_train, _ = small_digits
    fast(verbose=2, max_iter=1).fit(X_train, y_train)
    assert "/19 [" in capsys.readouterr().err  # 600 samples in batches of 32


def test_predict_proba_rows_sum_to_one(small_digits):
    # Probabilities are float64 rows summing to 1, for every loss.
    X_train, X_test, y_train, _ = small_digits
    for loss in ("hinge", "mae"):
        clf = fast(loss=loss, max_iter=2).fit(X_train, y_train)
        proba = clf.predict_proba(X_test)
        assert proba.dtype == np.float64
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_allclose(np.exp(clf.predict_log_proba(X_test)), proba,
                                   rtol=1e-10)
        np.testing.assert_array_equal(clf.predict(X_test),
                                      clf.classes_[proba.argmax(1)])


def test_prediction_does_not_depend_on_the_batch(small_digits):
    # A sample's probabilities are bit-identical whatever else is predicted.
    X_train, X_test, y_train, _ = small_digits
    clf = fast(batch_norm=True, max_iter=2).fit(X_train, y_train)
    full = clf.predict_proba(X_test)
    order = np.random.RandomState(0).permutation(len(X_test))[:37]
    np.testing.assert_array_equal(clf.predict_proba(X_test[order]), full[order])
    np.testing.assert_array_equal(clf.predict_proba(X_test[5:6]), full[5:6])


def test_divergence_rolls_back(small_digits):
    # A loss that becomes NaN stops training, keeps finite weights and warns.
    X_train, X_test, y_train, _ = small_digits
    with pytest.warns(DivergenceWarning, match="lower learning_rate_init"):
        clf = fast(solver="sgd", learning_rate_init=1e4, momentum=0.99,
                   max_iter=50).fit(X_train * 100, y_train)
    assert clf.n_iter_ < 50
    assert clf.history_[-1].get("diverged") is True
    assert all(np.isfinite(c).all() for c in clf.coefs_)
    assert np.isfinite(clf.predict_proba(X_test)).all()


@pytest.mark.parametrize("random_state", range(4))
def test_divergence_keeps_weights_that_predict_finite_probabilities(random_state):
    # Full-batch SGD at a huge rate: after the DivergenceWarning, every
    # training row gets finite probabilities (rolled back only to checked
    # weights).
    X, y = load_digits(return_X_y=True)
    X = X / 16
    with pytest.warns(DivergenceWarning):
        clf = MLPClassifierTorch(solver="sgd", learning_rate_init=1e6,
                                 batch_size=2000, max_iter=6, device="cpu",
                                 random_state=random_state).fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_divergence_without_finite_weights_is_an_error(small_digits):
    # Inputs so large that no weights give finite outputs: a first fit leaves
    # the estimator unfitted; a warm-start fit keeps the weights it had.
    X_train, X_test, y_train, _ = small_digits
    huge = X_train * np.float32(3e38)
    first = fast()
    with pytest.raises(NoFiniteWeightsError, match="Scale the input features"):
        first.fit(huge, y_train)
    with pytest.raises(NotFittedError):
        first.predict(X_test)
    clf = fast(warm_start=True, max_iter=2).fit(X_train, y_train)
    before = [c.copy() for c in clf.coefs_]
    with pytest.raises(NoFiniteWeightsError):
        clf.fit(huge, y_train)
    for ours, reference in zip(clf.coefs_, before, strict=True):
        np.testing.assert_array_equal(ours, reference)
    assert len(clf.net_.history) == 2
    assert np.isfinite(clf.predict_proba(X_test)).all()


def _interrupt_at(module, call):
    # A forward hook that raises KeyboardInterrupt at the given forward pass,
    # as Ctrl-C would in the middle of an epoch.
    seen = []

    def hook(*args):
        seen.append(1)
        if len(seen) == call:
            raise KeyboardInterrupt

    return module.register_forward_hook(hook)


def test_interrupt_keeps_last_completed_epoch(small_digits):
    # Ctrl-C mid-epoch: a warning, and the weights of the last full epoch.
    X_train, X_test, y_train, _ = small_digits
    clf = fast(warm_start=True, max_iter=2).fit(X_train, y_train)
    before = [c.copy() for c in clf.coefs_]
    _interrupt_at(clf.net_.module_, 5)
    with pytest.warns(UserWarning, match="interrupted by user after 0 complete"):
        clf.fit(X_train, y_train)
    for ours, reference in zip(clf.coefs_, before, strict=True):
        np.testing.assert_array_equal(ours, reference)
    assert len(clf.history_) == 2 and len(clf.loss_curve_) == 2
    assert clf.predict(X_test).shape == (len(X_test),)


def test_interrupt_in_first_epoch_leaves_estimator_unfitted(small_digits,
                                                            monkeypatch):
    # Ctrl-C before the first epoch of a first fit ends: the interrupt goes on
    # to the caller and predict says the estimator is not fitted.
    X_train, X_test, y_train, _ = small_digits
    build = training_build.build_net

    def build_then_interrupt(spec, module=None):
        net = build(spec, module)
        _interrupt_at(net.module_, 3)
        return net

    monkeypatch.setattr(_base, "build_net", build_then_interrupt)
    clf = fast(max_iter=3)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X_train, y_train)
    with pytest.raises(NotFittedError):
        clf.predict(X_test)


# -- bad input ----------------------------------------------------------------

X_OK = np.random.RandomState(0).rand(20, 3)
Y_OK = np.arange(20) % 2


@pytest.mark.parametrize("X, y, error, match", [
    (np.where(np.eye(20, 3) > 0, np.nan, X_OK), Y_OK, ValueError, "NaN"),
    (np.where(np.eye(20, 3) > 0, np.inf, X_OK), Y_OK, ValueError, "infinity"),
    (np.empty((0, 3)), np.empty(0), ValueError, "0 sample"),
    (X_OK[:, 0], Y_OK, ValueError, "Expected 2D array"),
    (X_OK, Y_OK[:15], ValueError, "inconsistent numbers of samples"),
    (sp.csr_matrix(np.where(np.eye(20, 3) > 0, np.nan, X_OK)), Y_OK, ValueError,
     "NaN"),
    (X_OK, np.linspace(0, 1, 20), ValueError, "Unknown label type"),
    (X_OK, np.stack([Y_OK, np.arange(20) % 3], axis=1), ValueError,
     "multiclass-multioutput"),
], ids=["nan", "inf", "empty", "1d", "lengths", "sparse-nan", "continuous-y",
        "multioutput-y"])
def test_bad_data(X, y, error, match):
    # Each bad input names the problem.
    with pytest.raises(error, match=match):
        fast().fit(X, y)


@pytest.mark.parametrize("param, value", [
    ("activation", "swish"), ("solver", "newton"), ("loss", "focal"),
    ("learning_rate", "warmup"), ("weight_init", "orthogonal"),
])
def test_unknown_option_lists_valid_ones(param, value):
    # An unknown string names the parameter and lists every accepted value.
    with pytest.raises(ValueError, match=f"'{param}' parameter") as info:
        fast(**{param: value}).fit(X_OK, Y_OK)
    registry = {"activation": ACTIVATIONS, "solver": SOLVERS, "loss": LOSSES,
                "learning_rate": LEARNING_RATE_SCHEDULES,
                "weight_init": WEIGHT_INITS}[param]
    assert all(f"'{key}'" in str(info.value) for key in registry)


def test_bad_devices_and_sizes():
    # Unknown devices, missing CUDA and bad layer sizes get clear errors.
    with pytest.raises(ValueError, match="not a device sknets knows"):
        fast(device="tpu").fit(X_OK, Y_OK)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            fast(device="cuda").fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        fast(hidden_layer_sizes=(10, 0)).fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="sequence of ints"):
        fast(hidden_layer_sizes=(10, 2.5)).fit(X_OK, Y_OK)


def test_predict_checks_features(small_digits):
    # predict refuses data with another number of features.
    X_train, _, y_train, _ = small_digits
    clf = fast(max_iter=1).fit(X_train, y_train)
    with pytest.raises(ValueError, match="expecting 64 features"):
        clf.predict(X_train[:, :10])


def test_ctrl_c_in_first_epoch_leaves_estimator_unfitted():
    # A real SIGINT while the first epoch runs, in a child process with the
    # default SIGINT handling: fit raises KeyboardInterrupt and predict then
    # raises NotFittedError, not AttributeError.
    script = """
import numpy as np
from sklearn.exceptions import NotFittedError
from sknets import MLPClassifierTorch
X, y = np.random.RandomState(0).rand(20000, 8), np.arange(20000) % 2
clf = MLPClassifierTorch((8,), batch_size=1, max_iter=2, device="cpu")
seen = []
def ready(module, args):
    if not seen:
        seen.append(1)
        print("training", flush=True)
import torch
from torch.nn.modules.module import register_module_forward_pre_hook
register_module_forward_pre_hook(ready)
try:
    clf.fit(X, y)
    print("finished")
except KeyboardInterrupt:
    try:
        clf.predict(X[:2])
        print("predicted")
    except NotFittedError:
        print("not fitted")
"""
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert child.stdout.readline().strip() == "training"
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=120)
    finally:
        child.kill()
    assert out.strip() == "not fitted"


def test_stratified_split_error_starts_with_scikit_learns_message():
    # Code that matches scikit-learn's MLPClassifier error keeps working; the
    # advice follows it.
    X = np.random.RandomState(0).rand(20, 3)
    y = np.r_[["a"] * 19, ["b"]]
    with pytest.raises(ValueError) as theirs:
        MLPClassifier(early_stopping=True).fit(X, y)
    with pytest.raises(ValueError) as ours:
        MLPClassifierTorch(early_stopping=True).fit(X, y)
    prefix = str(theirs.value).split(" Classes with too few members")[0]
    assert prefix.startswith("The least populated classes in y have only 1 member")
    assert str(ours.value).startswith(prefix)
    assert "Classes with too few members are: ['b']" in str(ours.value)
    assert "Set early_stopping=False" in str(ours.value)
