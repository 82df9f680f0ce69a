"""The training engine: batches, the L2 penalty, validation metrics."""

import os
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV

from sknets import MLPClassifierTorch
from sknets.training import BatchIterator, TensorData
from sknets.training.net import _EpochSums, _macro_f1
from sknets.training.runtime import _flush_denormal_enabled
from sknets.training.steps import add_l2_gradient


def test_batches_cover_every_sample_once():
    # A shuffled epoch visits each sample exactly once, in a new order.
    data = TensorData(torch.arange(10.0).reshape(10, 1), torch.arange(10))
    iterator = BatchIterator(data, batch_size=3, shuffle=True, seed=0)
    epochs = [torch.cat([yb for _, yb, _ in iterator]) for _ in range(2)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(10))
    assert not torch.equal(epochs[0], epochs[1])
    assert [len(yb) for _, yb, _ in iterator] == [3, 3, 3, 1]


def test_single_sample_last_batch_is_dropped_when_asked():
    # For batch normalisation, a last batch of one sample is left out.
    data = TensorData(torch.zeros(7, 2), torch.arange(7))
    iterator = BatchIterator(data, batch_size=3, drop_single=True)
    assert [len(yb) for _, yb, _ in iterator] == [3, 3] and len(iterator) == 2


def test_penalty_gradient_matches_autograd():
    # The fused L2 gradient and loss equal autograd through get_loss.
    rng = np.random.RandomState(0)
    X, y = rng.rand(60, 5).astype(np.float32), np.arange(60) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifierTorch((8, 4), alpha=0.5, max_iter=1, random_state=0,
                                 device="cpu").fit(X, y)
    net, module = clf.net_, clf.net_.module_
    Xb, yb = torch.from_numpy(X[:20]), torch.from_numpy(y[:20])

    module.zero_grad()
    expected_loss = net.get_loss(module(Xb), yb, training=True)
    expected_loss.backward()
    expected = [p.grad.clone() for p in module.parameters()]

    module.zero_grad()
    loss = net.criterion_(module(Xb), yb)
    loss.backward()
    loss = loss.detach() + add_l2_gradient(net.penalized_weights_, net.alpha / 20)
    assert float(loss) == pytest.approx(float(expected_loss.detach()), rel=1e-6)
    for grad, reference in zip(module.parameters(), expected, strict=True):
        torch.testing.assert_close(grad.grad, reference, rtol=1e-6, atol=1e-7)


def test_macro_f1_matches_sklearn():
    # The per-epoch validation macro-F1 is scikit-learn's, absent classes too.
    rng = np.random.RandomState(0)
    y_true, y_pred = rng.randint(0, 4, 50), rng.randint(0, 5, 50)
    y_true[y_true == 2] = 0  # class 2 absent from y_true
    ours = _macro_f1(torch.from_numpy(y_true), torch.from_numpy(y_pred), 6)
    assert ours == pytest.approx(f1_score(y_true, y_pred, average="macro"), rel=1e-12)


@pytest.mark.parametrize("caller_setting", [False, True])
def test_fit_flushes_subnormals_and_restores_the_callers_setting(caller_setting):
    # Training runs with subnormals flushed; the caller's mode comes back.
    seen = []

    class Probe(MLPClassifierTorch):
        def _place(self, X, device):  # called inside fit, once per data set
            seen.append(_flush_denormal_enabled())
            return super()._place(X, device)

    X = np.random.RandomState(0).rand(30, 4)
    y = np.arange(30) % 2
    supported = torch.set_flush_denormal(caller_setting)  # False on some CPUs
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = Probe(max_iter=2, device="cpu").fit(X, y)
        assert _flush_denormal_enabled() == (caller_setting and supported)
        clf.predict(X)
        assert _flush_denormal_enabled() == (caller_setting and supported)
    finally:
        torch.set_flush_denormal(False)
    assert seen == [supported]


def test_prediction_finds_nan_and_inf_in_any_chunk():
    # Non-finite values are caught chunk by chunk, even in the last chunk,
    # with scikit-learn's message; finite values whose sum overflows pass.
    rng = np.random.RandomState(0)
    X, y = rng.rand(5000, 6).astype(np.float32), np.arange(5000) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifierTorch((8,), max_iter=1, device="cpu").fit(X[:100], y[:100])
    for bad, name in [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")]:
        X_bad = X.copy()
        X_bad[-1, 2] = bad
        with pytest.raises(ValueError, match=f"Input X contains {name}"):
            clf.predict(X_bad)
    huge = np.full((3, 6), 3e38, dtype=np.float32)
    assert clf.predict_proba(huge).shape == (3, 3)


class _ThreadProbe(MLPClassifierTorch):
    # Records torch's thread count while the network trains, inside fit.
    def _plan_fit(self, *args, **kwargs):
        plan = super()._plan_fit(*args, **kwargs)
        train = plan.net.partial_fit

        def probe(*a, **k):
            self.threads_in_fit_ = torch.get_num_threads()
            del plan.net.partial_fit  # the net's own method again
            return train(*a, **k)

        plan.net.partial_fit = probe
        return plan


# Batches of 30 rows through 784-2048-2: 48 M multiply-adds, above
# SMALL_BATCH_WORK, so these fits keep torch's thread count.
X_WIDE = np.random.RandomState(0).rand(40, 784).astype(np.float32)


def _threads_scorer(estimator, X, y):
    return estimator.threads_in_fit_


def test_n_threads_applies_during_fit_and_is_restored():
    # An explicit count holds inside fit; the caller's count comes back.
    X = np.random.RandomState(0).rand(30, 4)
    y = np.arange(30) % 2
    before = torch.get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = _ThreadProbe(max_iter=1, n_threads=1, device="cpu").fit(X, y)
        assert clf.threads_in_fit_ == 1 and torch.get_num_threads() == before
        # A fit with large batches keeps torch's count (None).
        wide = _ThreadProbe((2048,), max_iter=1, device="cpu").fit(X_WIDE[:30], y)
    assert wide.threads_in_fit_ == before


def test_small_fits_train_on_one_thread():
    # Below SMALL_BATCH_WORK (30 x (4 x 100 + 100 x 1) here) a CPU fit trains
    # on one thread whatever torch's setting, and the caller's comes back.
    X = np.random.RandomState(0).rand(30, 4)
    y = np.arange(30) % 2
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = _ThreadProbe(max_iter=1, device="cpu").fit(X, y)
            assert clf.threads_in_fit_ == 1 and torch.get_num_threads() == 2
            clf = _ThreadProbe(max_iter=1, n_threads=2, device="cpu").fit(X, y)
            assert clf.threads_in_fit_ == 2
    finally:
        torch.set_num_threads(previous)


def test_parallel_search_workers_share_the_cores():
    # GridSearchCV(n_jobs=2): each fit runs cpu_count // 2 threads (at least 1).
    y = np.arange(40) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(_ThreadProbe((2048,), max_iter=1, device="cpu"),
                              {"alpha": [1e-4, 1e-3]}, cv=2, n_jobs=2,
                              scoring=_threads_scorer).fit(X_WIDE, y)
    expected = max(1, (os.cpu_count() or 1) // 2)
    assert search.cv_results_["mean_test_score"].tolist() == [expected, expected]


def test_shuffling_is_seeded_and_the_last_batch_is_partial():
    # The same seed gives the same order; another seed another one; 10
    # samples in batches of 4 end with a batch of 2.
    data = TensorData(torch.arange(10.0).reshape(10, 1), torch.arange(10))
    orders = [torch.cat([yb for _, yb, _ in BatchIterator(data, 4, True, seed)])
              for seed in (1, 1, 2)]
    assert torch.equal(orders[0], orders[1]) and not torch.equal(orders[0],
                                                                 orders[2])
    sizes = [len(yb) for _, yb, _ in BatchIterator(data, 4, True, 1)]
    assert sizes == [4, 4, 2]
    unshuffled = torch.cat([yb for _, yb, _ in BatchIterator(data, 4)])
    assert unshuffled.tolist() == list(range(10))


def test_host_batches_gather_the_rows_asked_for():
    # The pinned-buffer path of a training set too large for the GPU,
    # checked on the CPU: each call returns exactly the rows of its indices,
    # alternating between two buffers.
    from sknets.training.batches import _HostBatches

    X = torch.arange(40.0).reshape(10, 4)
    gather = _HostBatches(X, batch_size=3, device="cpu")
    order = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    seen = []
    for start in range(0, 10, 3):
        idx = order[start:start + 3]
        batch = gather(idx)
        assert torch.equal(batch, X[idx])
        seen.append(batch.data_ptr())
    assert seen[0] == seen[2] and seen[0] != seen[1]


def test_batches_of_a_split_visit_only_its_rows():
    # A training split given as row indices: each of its rows once per
    # epoch, no other row, shuffled or not.
    rows = torch.tensor([7, 2, 9, 4, 0])
    data = TensorData(torch.arange(10.0).reshape(10, 1), torch.arange(10), rows)
    assert len(data) == 5
    for shuffle in (True, False):
        batches = list(BatchIterator(data, batch_size=2, shuffle=shuffle, seed=0))
        order = torch.cat([yb for _, yb, _ in batches])
        assert sorted(order.tolist()) == [0, 2, 4, 7, 9]
        features = torch.cat([Xb[:, 0] for Xb, _, _ in batches])
        assert torch.equal(features.long(), order)
    assert [yb.tolist() for _, yb, _ in BatchIterator(data, 2)] == [[7, 2], [9, 4], [0]]


def test_epoch_sums_stay_small_however_many_batches():
    # Per-batch tensors are folded into running sums: at most 256 are held,
    # and the totals equal the exact batch-size-weighted sums.
    sums = _EpochSums()
    rng = np.random.RandomState(0)
    losses, sizes = rng.rand(1000), rng.randint(1, 5, 1000)
    for loss, size in zip(losses, sizes, strict=True):
        sums.add(torch.tensor(loss, dtype=torch.float32), torch.tensor(size - 1),
                 int(size))
        assert len(sums.losses) < 256
    loss_sum, n_correct = sums.totals()
    expected = float(losses.astype(np.float32).astype(np.float64) @ sizes)
    assert loss_sum == pytest.approx(expected, rel=1e-12)
    assert n_correct == int((sizes - 1).sum()) and sums.n_seen == sizes.sum()


def test_history_keeps_no_per_batch_records():
    # An epoch of many small batches leaves one row in the history, not one
    # record per batch (memory that grew with every batch of every epoch).
    X, y = np.random.RandomState(0).rand(300, 4), np.arange(300) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifierTorch((4,), batch_size=1, max_iter=2,
                                 device="cpu").fit(X, y)
    assert [row["batches"] for row in clf.net_.history] == [[], []]
    assert clf.net_.history[-1]["train_batch_count"] == 300


def test_fitted_model_keeps_no_weight_snapshots():
    # The monitor's snapshots serve one fit: a fitted (and pickled) model
    # holds its weights once, not three times.
    X, y = np.random.RandomState(0).rand(60, 4), np.arange(60) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifierTorch((64,), early_stopping=True, max_iter=3,
                                 device="cpu").fit(X, y)
    monitor = clf.net_.monitor_
    assert (monitor.best_state_, monitor.start_state_, monitor.last_state_) == (
        None, None, None)


@pytest.mark.parametrize("params", [
    {"solver": "adam", "alpha": 1e-2}, {"solver": "adamw"},
    {"solver": "sgd"}, {"solver": "sgd", "momentum": 0.0},
    {"solver": "sgd", "nesterovs_momentum": False}, {"solver": "rmsprop"},
    {"solver": "adam", "learning_rate": "step", "lr_step_size": 1},
])
def test_lean_step_trains_exactly_as_torchs_step(params, monkeypatch):
    # After the first step of each epoch, the update is torch's functional
    # optimizer on lists gathered once: weights and losses are bit-identical
    # to stepping torch's optimizer every time.
    from sknets.training import optimizers

    rng = np.random.RandomState(0)
    X, y = rng.rand(90, 6).astype(np.float32), np.arange(90) % 3

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return MLPClassifierTorch((8,), batch_size=16, max_iter=3,
                                      random_state=0, **params).fit(X, y)

    calls = []
    real = optimizers.LeanStep.__call__
    monkeypatch.setattr(optimizers.LeanStep, "__call__",
                        lambda self: calls.append(1) or real(self))
    lean = fit()
    assert len(calls) == 3 * (6 - 1)  # all but the first step of each epoch
    monkeypatch.setattr(optimizers.LeanStep, "of", classmethod(lambda cls, o: None))
    plain = fit()
    for a, b in zip(lean.net_.module_.parameters(), plain.net_.module_.parameters(),
                    strict=True):
        assert torch.equal(a, b)
    assert lean.loss_curve_ == plain.loss_curve_
    state_a = lean.net_.optimizer_.state_dict()["state"]
    state_b = plain.net_.optimizer_.state_dict()["state"]
    for k in state_b:
        for name, value in state_b[k].items():
            assert torch.equal(state_a[k][name], value)


def test_batches_carry_the_weights_of_their_rows():
    # Weights are indexed like y: each batch's weights are its rows' own, on
    # every path (shuffled split, plain slices).
    rows = torch.tensor([7, 2, 9, 4, 0])
    weight = torch.arange(10.0) / 10
    data = TensorData(torch.arange(10.0).reshape(10, 1), torch.arange(10), rows,
                      weight)
    for shuffle in (True, False):
        for Xb, yb, wb in BatchIterator(data, batch_size=2, shuffle=shuffle, seed=0):
            assert torch.equal(wb, yb / 10) and torch.equal(Xb[:, 0].long(), yb)
    whole = TensorData(torch.zeros(4, 1), torch.arange(4), weight=torch.ones(4))
    assert [wb.tolist() for _, _, wb in BatchIterator(whole, 3)] == [[1, 1, 1], [1]]
    assert all(wb is None for _, _, wb in BatchIterator(
        TensorData(torch.zeros(4, 1), torch.arange(4)), 3))
