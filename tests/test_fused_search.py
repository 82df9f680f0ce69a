"""Fused searches: a grid trained as one stacked network, equivalent to its
separate fits."""

import numpy as np
import pytest
import torch
from _stacks import count_stacks
from sklearn import model_selection as sk
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import make_scorer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknets import MLPClassifierTorch
from sknets.metrics import roc_auc_ovr_macro
from sknets.model_selection import GridSearchCV, RandomizedSearchCV, fit_on_folds
from sknets.training import BatchIterator, fused

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def _folds(X, y, n_splits=3):
    return [train for train, _ in
            StratifiedKFold(n_splits).split(X, y)]


def _separate(estimators, X, y, rows):
    return [clone(est).fit(X[r], y[r]) for est, r in zip(estimators, rows,
                                                        strict=True)]


def test_cv_results_have_scikit_learns_keys_and_dtypes(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    grid = {"learning_rate_init": [1e-3, 1e-2], "alpha": [1e-4, 1e-1]}
    est = MLPClassifierTorch((16,), max_iter=3, random_state=0)
    ours = GridSearchCV(est, grid, cv=3, return_train_score=True).fit(X, y)
    theirs = sk.GridSearchCV(est, grid, cv=3, return_train_score=True).fit(X, y)
    assert sorted(ours.cv_results_) == sorted(theirs.cv_results_)
    for key, value in theirs.cv_results_.items():
        mine = ours.cv_results_[key]
        assert type(mine) is type(value), key
        if isinstance(value, np.ndarray):
            assert mine.dtype == value.dtype, key
            assert mine.shape == value.shape, key
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_index_ == theirs.best_index_
    np.testing.assert_allclose(ours.best_score_, theirs.best_score_, atol=0.01)
    assert ours.best_estimator_.n_iter_ == 3
    np.testing.assert_array_equal(ours.predict(X[:50]), ours.best_estimator_.predict(
        X[:50]))


def test_initial_weights_and_batch_order_equal_the_separate_fits(digits,
                                                                 monkeypatch):
    X, y = digits
    rows = _folds(X, y)
    estimators = [MLPClassifierTorch((12,), learning_rate_init=lr, max_iter=2,
                                     batch_size=100, random_state=seed)
                  for lr, seed in [(1e-3, 0), (1e-2, 1), (3e-3, 2)]]
    stacked, orders = [], []
    init = fused._StackedStep.__init__

    def recording_init(self, members, X_, streams=None):
        init(self, members, X_, streams)
        stacked.append([p.detach().clone() for p in self.params])

    epoch_rows = BatchIterator.epoch_rows

    def recording_rows(self):
        out = epoch_rows(self)
        orders.append(out.clone())
        return out

    monkeypatch.setattr(fused._StackedStep, "__init__", recording_init)
    monkeypatch.setattr(BatchIterator, "epoch_rows", recording_rows)
    fit_on_folds(estimators, X, y, rows)
    assert len(stacked) == 1 and len(orders) == 6  # 3 models x 2 epochs
    fused_orders = [orders[0::3], orders[1::3], orders[2::3]]
    monkeypatch.undo()

    separate_init, separate_orders = [], []
    build = fused.__dict__  # noqa: F841 (keeps the module imported)
    from sknets import _base
    build_net = _base.build_net

    def recording_build(spec):
        net = build_net(spec)
        separate_init.append([p.detach().clone() for p in net.module_.parameters()])
        return net

    order = BatchIterator._order

    def recording_order(self, n, device):
        out = order(self, n, device)
        separate_orders.append(out.clone())
        return out

    monkeypatch.setattr(_base, "build_net", recording_build)
    monkeypatch.setattr(BatchIterator, "_order", recording_order)
    _separate(estimators, X, y, rows)
    for i, r in enumerate(rows):
        for k, p in enumerate(separate_init[i]):
            assert torch.equal(stacked[0][k][i], p)
        for epoch in range(2):
            mapped = torch.as_tensor(r)[separate_orders[2 * i + epoch]]
            assert torch.equal(fused_orders[i][epoch], mapped)


@pytest.mark.parametrize("params", [
    [{"solver": "adam", "alpha": 1e-4, "learning_rate_init": 1e-3},
     {"solver": "adam", "alpha": 0.5, "learning_rate_init": 1e-2,
      "beta_1": 0.8, "epsilon": 1e-6},
     {"solver": "adam", "loss": "mse", "class_weight": "balanced"},
     {"solver": "adam", "loss": "hinge", "learning_rate": "step",
      "lr_step_size": 1}],
    [{"solver": "sgd", "momentum": 0.9, "learning_rate_init": 0.05},
     {"solver": "sgd", "momentum": 0.5, "nesterovs_momentum": False},
     {"solver": "sgd", "momentum": 0.0, "learning_rate": "invscaling"}],
    [{"solver": "rmsprop", "learning_rate_init": 1e-3},
     {"solver": "rmsprop", "learning_rate_init": 1e-2, "alpha": 0.1}],
    [{"solver": "adamw", "alpha": 0.01}, {"solver": "adamw", "alpha": 0.1}],
    [{"batch_norm": True, "learning_rate_init": 1e-3},
     {"batch_norm": True, "learning_rate_init": 1e-2}],
    # On the CPU each model draws its dropout masks from its separate fit's
    # own stream: the same masks, so the same losses.
    [{"dropout": 0.5}, {"dropout": 0.2, "learning_rate_init": 1e-2},
     {"dropout": 0.0}],
    [{"dropout": 0.5, "batch_norm": True},
     {"dropout": 0.1, "batch_norm": True, "alpha": 0.1}],
], ids=["adam", "sgd", "rmsprop", "adamw", "batch_norm", "dropout",
        "dropout_batch_norm"])
def test_first_epoch_loss_equals_the_separate_fits(digits, params):
    X, y = digits
    rows = _folds(X, y)
    # Folds of unequal size: the last batches are ragged across models.
    rows = [rows[0], rows[1][:-7], rows[2][: len(rows[2]) // 2]]
    estimators = [MLPClassifierTorch((20,), max_iter=3, batch_size=64,
                                     random_state=i, **p)
                  for i, p in enumerate(params)
                  for _ in range(1)]
    estimators = [clone(e) for e in estimators for _ in rows]
    fold_rows = [r for _ in params for r in rows]
    fitted = fit_on_folds(estimators, X, y, fold_rows)
    separate = _separate(estimators, X, y, fold_rows)
    for (est, error, _), alone in zip(fitted, separate, strict=True):
        assert error is None
        first, expected = est.history_[0]["train_loss"], alone.history_[0]["train_loss"]
        assert abs(first - expected) <= 1e-5 * abs(expected), (first, expected)
        assert est.n_iter_ == alone.n_iter_
        # Training goes on equivalently: later epochs to float32 rounding.
        np.testing.assert_allclose(est.loss_curve_, alone.loss_curve_, rtol=1e-3)
        assert len(est.net_.optimizer_.state) == len(alone.net_.optimizer_.state)


def test_binary_targets_and_string_labels_fuse(digits):
    X, y = digits
    mask = y < 2
    X, y = X[mask], np.where(y[mask] == 0, "zero", "one")
    rows = _folds(X, y)
    estimators = [MLPClassifierTorch((8,), max_iter=2, learning_rate_init=lr,
                                     random_state=0) for lr in (1e-3, 1e-2, 1e-1)]
    fitted = fit_on_folds(estimators, X, y, rows)
    separate = _separate(estimators, X, y, rows)
    for (est, error, _), alone in zip(fitted, separate, strict=True):
        assert error is None
        assert est.coefs_[-1].shape == (8, 1)
        np.testing.assert_array_equal(est.classes_, alone.classes_)
        np.testing.assert_allclose(est.loss_curve_, alone.loss_curve_, rtol=1e-4)


def test_ten_epochs_on_digits_score_as_the_separate_search(digits):
    X, y = digits
    grid = {"learning_rate_init": [1e-4, 1e-3, 1e-2], "alpha": [1e-4, 1.0]}
    est = MLPClassifierTorch((32,), max_iter=10, random_state=0)
    ours = GridSearchCV(est, grid, cv=3, refit=False).fit(X, y)
    theirs = sk.GridSearchCV(est, grid, cv=3, refit=False).fit(X, y)
    diff = np.abs(ours.cv_results_["mean_test_score"]
                  - theirs.cv_results_["mean_test_score"])
    assert diff.max() <= 0.01, diff
    assert ours.best_index_ == theirs.best_index_


def test_each_model_stops_at_its_separate_fits_epoch(digits):
    X, y = digits
    rows = _folds(X, y)[:2]
    params = [
        {"early_stopping": True, "n_iter_no_change": 1, "tol": 0.01},
        {"early_stopping": True, "n_iter_no_change": 3, "tol": 0.0,
         "validation_fraction": 0.2},
        {"early_stopping": False, "n_iter_no_change": 1, "tol": 0.05},
        {"early_stopping": False, "n_iter_no_change": 2, "tol": 1e-4,
         "learning_rate_init": 0.05},
        {"early_stopping": False, "max_iter": 4},
        # Dropout models leave the stack at different epochs; the others keep
        # drawing from their own streams.
        {"early_stopping": False, "max_iter": 3, "dropout": 0.3},
        {"early_stopping": False, "max_iter": 6, "dropout": 0.5},
    ]
    estimators = [MLPClassifierTorch((16,), random_state=0,
                                     **{"max_iter": 40, **p})
                  for p in params for _ in rows]
    fold_rows = [r for _ in params for r in rows]
    fitted = fit_on_folds(estimators, X, y, fold_rows)
    separate = _separate(estimators, X, y, fold_rows)
    n_iter = [est.n_iter_ for est, _, _ in fitted]
    assert n_iter == [alone.n_iter_ for alone in separate]
    assert len(set(n_iter)) >= 4, n_iter
    for (est, _, _), alone in zip(fitted, separate, strict=True):
        if alone.early_stopping:
            np.testing.assert_allclose(est.validation_scores_,
                                       alone.validation_scores_, atol=0.02)
            assert est.best_validation_score_ == max(est.validation_scores_)
        assert len(est.history_) == len(alone.history_)
        assert [r["lr"] for r in est.history_] == [r["lr"] for r in alone.history_]
        if alone.dropout:
            np.testing.assert_allclose(est.loss_curve_, alone.loss_curve_, rtol=1e-4)


def test_fallback_fits_mix_with_fused_ones(digits, capsys):
    X, y = digits
    X, y = X[:400], y[:400]
    # verbose=1 prints per epoch, so those candidates are fitted on their own.
    grid = {"learning_rate_init": [1e-3, 1e-2], "verbose": [0, 1]}
    est = MLPClassifierTorch((16,), max_iter=3, random_state=0)
    ours = GridSearchCV(est, grid, cv=2, refit=False).fit(X, y)
    theirs = sk.GridSearchCV(est, grid, cv=2, refit=False).fit(X, y)
    scores, expected = (ours.cv_results_["mean_test_score"],
                        theirs.cv_results_["mean_test_score"])
    verbose = ours.cv_results_["param_verbose"].astype(int) == 1
    # Ordinary fits are the same fits: equal scores. Fused ones: equivalent.
    np.testing.assert_array_equal(scores[verbose], expected[verbose])
    np.testing.assert_allclose(scores[~verbose], expected[~verbose], atol=0.02)
    capsys.readouterr()
    # A pipeline is fitted as scikit-learn fits it: the same numbers.
    pipe = make_pipeline(StandardScaler(), est)
    grid = {"mlpclassifiertorch__learning_rate_init": [1e-3, 1e-2]}
    ours = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    theirs = sk.GridSearchCV(pipe, grid, cv=2).fit(X, y)
    np.testing.assert_array_equal(ours.cv_results_["mean_test_score"],
                                  theirs.cv_results_["mean_test_score"])


def test_refit_with_multimetric_scoring(digits):
    X, y = digits
    X, y = X[:400], y[:400]
    scoring = {"accuracy": "accuracy", "roc_auc": roc_auc_ovr_macro,
               "f1": make_scorer(lambda a, b: float(np.mean(a == b)))}
    grid = {"learning_rate_init": [1e-4, 1e-2]}
    est = MLPClassifierTorch((16,), max_iter=5, random_state=0)
    ours = GridSearchCV(est, grid, cv=2, scoring=scoring, refit="roc_auc").fit(X, y)
    theirs = sk.GridSearchCV(est, grid, cv=2, scoring=scoring,
                             refit="roc_auc").fit(X, y)
    assert ours.multimetric_
    assert sorted(ours.cv_results_) == sorted(theirs.cv_results_)
    assert ours.best_index_ == theirs.best_index_ == 1
    assert ours.best_score_ == ours.cv_results_["mean_test_roc_auc"][1]
    assert ours.best_estimator_.learning_rate_init == 1e-2
    assert set(ours.scorer_) == set(scoring)
    with pytest.raises(ValueError, match="refit must be"):
        GridSearchCV(est, grid, cv=2, scoring=scoring, refit=True).fit(X, y)


def test_error_score_when_one_candidate_raises(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    # validation_fraction=0.999 leaves no training row: that fit raises.
    grid = {"learning_rate_init": [1e-3, 1e-2], "early_stopping": [True],
            "validation_fraction": [0.1, 0.999]}
    est = MLPClassifierTorch((16,), max_iter=3, random_state=0)
    with pytest.warns(FitFailedWarning, match="fits failed"):
        search = GridSearchCV(est, grid, cv=2, error_score=-1.0).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    failed = search.cv_results_["param_validation_fraction"].astype(float) > 0.5
    assert np.all(scores[failed] == -1.0)
    assert np.all(scores[~failed] > 0.0)
    assert search.best_params_["validation_fraction"] == 0.1
    with pytest.raises(ValueError):
        GridSearchCV(est, grid, cv=2, error_score="raise").fit(X, y)


def test_randomized_search_and_fuse_false(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    dist = {"learning_rate_init": [1e-3, 3e-3, 1e-2], "alpha": [1e-4, 1e-2]}
    est = MLPClassifierTorch((16,), max_iter=3, random_state=0)
    ours = RandomizedSearchCV(est, dist, n_iter=4, cv=2, random_state=0).fit(X, y)
    theirs = sk.RandomizedSearchCV(est, dist, n_iter=4, cv=2,
                                   random_state=0).fit(X, y)
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    plain = RandomizedSearchCV(est, dist, n_iter=4, cv=2, random_state=0,
                               fuse=False).fit(X, y)
    np.testing.assert_array_equal(plain.cv_results_["mean_test_score"],
                                  theirs.cv_results_["mean_test_score"])
    assert GridSearchCV(est, dist).get_params()["fuse"] is True


def test_stack_shrinks_as_models_stop(digits, monkeypatch):
    X, y = digits
    rows = _folds(X, y)[:1]
    sizes = []
    keep = fused._StackedStep.keep

    def recording_keep(self, index):
        keep(self, index)
        sizes.append(len(self.members))

    monkeypatch.setattr(fused._StackedStep, "keep", recording_keep)
    estimators = [MLPClassifierTorch((8,), max_iter=m, random_state=0)
                  for m in (1, 2, 4)]
    fitted = fit_on_folds(estimators, X, y, rows * 3)
    assert [est.n_iter_ for est, _, _ in fitted] == [1, 2, 4]
    assert sizes == [2, 1]


def test_work_is_shared_evenly_between_workers():
    # Three groups of 10 fits, one cheap: whole, one worker would carry 39
    # of 49. With 2 workers the costliest group is cut once, 7 + 3, which
    # leaves no worker more than 10% over an even share; with one worker
    # every group stays whole.
    from sknets.model_selection._search import _makespan, _units

    groups = {"a": [1.0] * 10, "b": [2.0] * 10, "c": [1.9] * 10}
    units = _units(groups, 2, cost=lambda item: item)
    costs = [sum(u) for u in units]
    assert sorted(len(u) for u in units) == [3, 7, 10, 10]
    assert _makespan(costs, 2) <= 1.1 * sum(costs) / 2
    assert costs == sorted(costs, reverse=True)  # costliest go out first
    assert sorted(len(u) for u in _units(groups, 1, cost=lambda item: item)) == [10] * 3
    # A group of one cannot be cut.
    assert [len(u) for u in _units({"a": [5.0]}, 4, cost=lambda item: item)] == [1]


def test_callbacks_get_scikit_learns_tasks_when_fits_are_fused(digits, monkeypatch):
    from sklearn.callback.tests._utils import RecordingCallback
    X, y = digits
    X, y = X[:240], y[:240]
    grid = {"learning_rate_init": [1e-3, 1e-2]}
    est = MLPClassifierTorch((8,), max_iter=2, random_state=0)
    counts = {}
    for fuse in (True, False):
        callback = RecordingCallback()
        calls = count_stacks(monkeypatch)
        search = GridSearchCV(est, grid, cv=3, fuse=fuse).set_callbacks(callback)
        search.fit(X, y, sample_weight=np.ones(len(y)))
        monkeypatch.undo()
        counts[fuse] = (callback.count_hooks("on_fit_task_begin"),
                        callback.count_hooks("on_fit_task_end"), calls)
    assert counts[True][2] == [6] and counts[False][2] == []
    # the search, its candidates x splits task, 6 fits and the refit
    assert counts[True][:2] == counts[False][:2]
    assert counts[True][0] >= 8


def _fit_failures(search):
    return np.column_stack([np.isnan(search.cv_results_[f"split{k}_test_score"])
                            for k in range(search.n_splits_)])


# Row 0 is in the training rows of the second split alone, and in no test
# rows: only the fits of that split train on it.
_SPLITS = [(np.arange(1, 160), np.arange(160, 240)),
           (np.arange(0, 160), np.arange(160, 240)),
           (np.arange(80, 240), np.arange(1, 80))]


@pytest.mark.parametrize("bad", ["nan_in_X", "inf_in_X", "negative_weight",
                                 "nan_weight", "inf_weight"])
def test_a_bad_row_fails_only_the_fits_that_train_on_it(digits, bad):
    X, y = digits
    X, y = X[:240].astype(np.float64), y[:240]
    weight = np.ones(len(y))
    if bad == "nan_in_X":
        X[0, 3] = np.nan
    elif bad == "inf_in_X":
        X[0, 3] = np.inf
    else:
        weight[0] = {"negative_weight": -1.0, "nan_weight": np.nan,
                     "inf_weight": np.inf}[bad]
    est = MLPClassifierTorch((8,), max_iter=2, random_state=0)
    grid = {"learning_rate_init": [1e-3, 1e-2]}
    results = {}
    for fuse in (True, False):
        search = GridSearchCV(est, grid, cv=_SPLITS, fuse=fuse, refit=False)
        with pytest.warns(FitFailedWarning):
            search.fit(X, y, sample_weight=weight)
        results[fuse] = search
    failed = _fit_failures(results[True])
    np.testing.assert_array_equal(failed, _fit_failures(results[False]))
    assert failed[:, 1].all() and not failed[:, [0, 2]].any()
    for k in (0, 2):
        np.testing.assert_allclose(
            results[True].cv_results_[f"split{k}_test_score"],
            results[False].cv_results_[f"split{k}_test_score"], atol=0.02)


def test_text_in_X_fails_only_the_fits_that_train_on_it(digits):
    X, y = digits
    X = X[:240].astype(object)
    X[0, 3] = "a lot"
    y = y[:240]
    est = MLPClassifierTorch((8,), max_iter=2, random_state=0)
    search = GridSearchCV(est, {"alpha": [1e-4]}, cv=_SPLITS, refit=False)
    with pytest.warns(FitFailedWarning):
        search.fit(X, y)
    failed = _fit_failures(search)
    assert failed[:, 1].all() and not failed[:, [0, 2]].any()


def test_negative_indices_in_a_custom_split_are_taken_as_numpy_takes_them(digits):
    X, y = digits
    X, y = X[:240], y[:240]
    n = len(y)
    positive = [(np.arange(80, n), np.arange(80)), (np.arange(160), np.arange(160, n))]
    negative = [(train - n, test - n) for train, test in positive]
    est = MLPClassifierTorch((8,), max_iter=2, random_state=0)
    grid = {"learning_rate_init": [1e-3, 1e-2]}
    ours = GridSearchCV(est, grid, cv=negative, refit=False).fit(X, y)
    reference = GridSearchCV(est, grid, cv=positive, refit=False).fit(X, y)
    np.testing.assert_array_equal(ours.cv_results_["mean_test_score"],
                                  reference.cv_results_["mean_test_score"])
    assert np.isfinite(ours.cv_results_["mean_test_score"]).all()


def test_indices_outside_X_fail_those_fits_with_numpys_message(digits):
    X, y = digits
    X, y = X[:240], y[:240]
    cv = [(np.arange(80, 240), np.arange(80)), (np.arange(100, 300), np.arange(80))]
    est = MLPClassifierTorch((8,), max_iter=1, random_state=0)
    results = fit_on_folds([clone(est), clone(est)], X, y, [train for train, _ in cv])
    assert results[0][1] is None
    assert isinstance(results[1][1], IndexError)
    assert "out of bounds" in str(results[1][1])
