"""Parameters changed between warm-start fits and partial_fit calls.

Each parameter either takes effect on the continued fit (the net is then
configured exactly as a fresh net of the new parameters) or raises a
ValueError naming it; the policy is listed in docs/architecture.md.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from sknets import CNNClassifierTorch, MLPClassifierTorch
from sknets.persistence import load, save

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

BASE = dict(hidden_layer_sizes=(16,), batch_size=32, max_iter=3, random_state=0,
            learning_rate_init=0.01, device="cpu")


def _fingerprint(net):
    # Everything a fit is configured with, for comparing a continued net
    # with a fresh one: the spec, the network's layers, the loss, the
    # optimizer's kind and settings (the rate is the schedule's), the loop.
    optimizer = net.optimizer_
    groups = [{k: v for k, v in group.items() if k not in ("params", "lr")}
              for group in optimizer.param_groups]
    weights = net.criterion_.class_weight
    return {
        "spec": net.spec_,
        "module": repr(net.module_),
        "criterion": (net.criterion_.loss,
                      None if weights is None else weights.tolist()),
        "optimizer": (type(optimizer).__name__, groups),
        "loop": (net.alpha, net.batch_size, net.max_epochs,
                 net.iterator_train__shuffle, net.iterator_train__seed,
                 net.iterator_train__drop_single, str(net.device)),
        "callbacks": [name for name, _ in net.callbacks_],
        "rules": (net.schedule_.spec, net.monitor_.spec),
    }


# (parameter, first value, second value); None as the expected error means
# the change takes effect.
MLP_CHANGES = [
    ("hidden_layer_sizes", (16,), (24,), "hidden_layer_sizes"),
    ("activation", "relu", "tanh", None),
    ("dropout", 0.0, 0.3, None),
    ("batch_norm", False, True, "batch_norm"),
    ("solver", "adam", "sgd", None),
    ("alpha", 1e-4, 0.5, None),
    ("batch_size", 32, 64, None),
    ("learning_rate", "constant", "step", None),
    ("learning_rate_init", 0.01, 0.001, None),
    ("power_t", 0.5, 0.25, None),
    ("max_iter", 3, 5, None),
    ("max_fun", 15000, 20, None),
    ("shuffle", True, False, None),
    ("random_state", 0, 1, None),
    ("tol", 1e-4, 1e-2, None),
    ("verbose", False, True, None),
    ("momentum", 0.9, 0.5, None),
    ("nesterovs_momentum", True, False, None),
    ("early_stopping", False, True, None),
    ("validation_fraction", 0.1, 0.2, None),
    ("beta_1", 0.9, 0.8, None),
    ("beta_2", 0.999, 0.99, None),
    ("epsilon", 1e-8, 1e-6, None),
    ("n_iter_no_change", 10, 2, None),
    ("lr_step_size", 10, 2, None),
    ("lr_gamma", 0.1, 0.5, None),
    ("loss", "cross_entropy", "mse", None),
    ("weight_init", "xavier_uniform", "kaiming_normal", "weight_init"),
    ("class_weight", None, {0: 3.0}, None),
    ("device", "cpu", "auto" if not torch.cuda.is_available() else "cpu", None),
    ("n_threads", None, 1, None),
    ("dtype", "float32", "float64", "dtype"),
    ("lr_warmup", 0, 2, None),
    ("max_grad_norm", None, 1.0, None),
    ("label_smoothing", 0.0, 0.1, None),
    ("augment", None, "light", None),
]


def test_every_parameter_has_a_continuation_case():
    # The table covers every parameter but warm_start itself (tested below).
    covered = {name for name, *_ in MLP_CHANGES} | {"warm_start"}
    assert covered == set(MLPClassifierTorch().get_params())


def _warm(small_digits, param, first, second, **extra):
    X, _, y, _ = small_digits
    clf = MLPClassifierTorch(**{**BASE, **extra, param: first}, warm_start=True)
    return clf.fit(X, y).set_params(**{param: second}), X, y


@pytest.mark.parametrize("param, first, second, error", MLP_CHANGES,
                         ids=[c[0] for c in MLP_CHANGES])
def test_warm_start_applies_or_refuses_a_changed_parameter(small_digits, param,
                                                           first, second, error):
    # After set_params, a warm-start fit is configured as a fresh fit with the
    # new value would be, or it raises an error that names the parameter.
    clf, X, y = _warm(small_digits, param, first, second)
    if error is not None:
        with pytest.raises(ValueError, match=error):
            clf.fit(X, y)
        return
    clf.fit(X, y)
    fresh = MLPClassifierTorch(**{**clf.get_params(), "warm_start": False})
    assert _fingerprint(clf.net_) == _fingerprint(fresh.fit(X, y).net_)


PARTIAL_FIT_CHANGES = [c for c in MLP_CHANGES
                       if c[0] not in ("early_stopping", "validation_fraction",
                                       "max_iter")]


@pytest.mark.parametrize("param, first, second, error", PARTIAL_FIT_CHANGES,
                         ids=[c[0] for c in PARTIAL_FIT_CHANGES])
def test_partial_fit_applies_or_refuses_a_changed_parameter(small_digits, param,
                                                            first, second, error):
    # Between partial_fit calls: configured as a first partial_fit with the
    # new value, or an error that names the parameter.
    X, _, y, _ = small_digits
    clf = MLPClassifierTorch(**{**BASE, param: first})
    clf.partial_fit(X, y, classes=np.arange(10)).set_params(**{param: second})
    if error is not None:
        with pytest.raises(ValueError, match=error):
            clf.partial_fit(X, y)
        return
    clf.partial_fit(X, y)
    fresh = MLPClassifierTorch(**clf.get_params()).partial_fit(X, y,
                                                               classes=np.arange(10))
    assert _fingerprint(clf.net_) == _fingerprint(fresh.net_)


def test_partial_fit_refuses_early_stopping_turned_on(small_digits):
    # partial_fit has no validation split: turning early_stopping on says so.
    X, _, y, _ = small_digits
    clf = MLPClassifierTorch(**BASE).partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(ValueError, match="partial_fit does not support early"):
        clf.set_params(early_stopping=True).partial_fit(X, y)


def test_larger_alpha_between_warm_fits_shrinks_the_weights(small_digits):
    # The same start, continued with alpha=0 and alpha=1: the penalty is used.
    norms = {}
    for alpha in (0.0, 1.0):
        clf, X, y = _warm(small_digits, "alpha", 0.0, alpha, solver="sgd")
        clf.set_params(max_iter=10).fit(X, y)
        norms[alpha] = sum(float(np.square(c).sum()) for c in clf.coefs_)
    assert norms[1.0] < 0.8 * norms[0.0]


def test_early_stopping_turned_on_restores_the_best_epoch(small_digits):
    # Switched on between warm fits: a finite best score, and the kept weights
    # score exactly that on the validation set.
    X, X_val, y, y_val = small_digits
    clf, _, _ = _warm(small_digits, "early_stopping", False, True,
                      learning_rate_init=0.05)
    clf.set_params(max_iter=15, n_iter_no_change=100)
    clf.fit(X, y, validation_data=(X_val, y_val))
    assert np.isfinite(clf.best_validation_score_)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.score(X_val, y_val) == clf.best_validation_score_


def test_changed_learning_rate_is_used_from_the_next_epoch(small_digits):
    # The schedule owns the rate: a new learning_rate_init shows in history_.
    clf, X, y = _warm(small_digits, "learning_rate_init", 0.01, 0.002)
    clf.fit(X, y)
    assert [row["lr"] for row in clf.history_] == [0.01] * 3 + [0.002] * 3
    clf.set_params(learning_rate_init=0.005).partial_fit(X, y)
    assert clf.history_[-1]["lr"] == 0.005


def test_loss_change_is_used_for_the_recorded_loss(small_digits):
    # After switching to 'mse' the recorded training loss is an MSE (< 0.1).
    clf, X, y = _warm(small_digits, "loss", "cross_entropy", "mse")
    clf.fit(X, y)
    assert clf.loss_curve_[2] > 0.1 and clf.loss_curve_[-1] < 0.1


def test_changed_activation_keeps_the_trained_weights(small_digits):
    # A new activation reuses the weights: they start where the last fit ended.
    clf, X, y = _warm(small_digits, "activation", "relu", "tanh")
    before = [c.copy() for c in clf.coefs_]
    clf.set_params(max_iter=1, learning_rate_init=1e-9).fit(X, y)
    for ours, reference in zip(clf.coefs_, before, strict=True):
        np.testing.assert_allclose(ours, reference, atol=1e-6)
    assert isinstance(clf.net_.module_[1], torch.nn.Tanh)


def test_n_threads_change_applies_to_the_next_fit(small_digits):
    # The thread count of the continued fit is the new one.
    seen = []

    class Probe(MLPClassifierTorch):
        # Records torch's thread count while the network trains.
        def _plan_fit(self, *args, **kwargs):
            plan = super()._plan_fit(*args, **kwargs)
            train = plan.net.partial_fit

            def probe(*a, **k):
                seen.append(torch.get_num_threads())
                del plan.net.partial_fit  # the net's own method again
                return train(*a, **k)

            plan.net.partial_fit = probe
            return plan

    X, _, y, _ = small_digits
    clf = Probe(**BASE, warm_start=True, n_threads=2).fit(X, y)
    clf.set_params(n_threads=1).fit(X, y)
    assert seen == [2, 1]


def test_warm_start_turned_off_trains_a_new_net(small_digits):
    # warm_start=False after a warm fit: the same weights as a fresh fit.
    X, _, y, _ = small_digits
    clf = MLPClassifierTorch(**BASE, warm_start=True).fit(X, y)
    clf.set_params(warm_start=False).fit(X, y)
    fresh = MLPClassifierTorch(**BASE).fit(X, y)
    for ours, reference in zip(clf.coefs_, fresh.coefs_, strict=True):
        np.testing.assert_array_equal(ours, reference)


CNN_CHANGES = [
    ("conv_layers", ((4, 3),), ((6, 3),), "conv_layers"),
    ("padding", "same", "valid", "padding"),
    ("pool_size", 2, 4, "pool_size"),
    ("conv_activation", None, "tanh", None),
    ("pooling", "max", "avg", None),
    ("conv_dropout", 0.0, 0.2, None),
    ("pool_stride", None, 2, None),
    ("clip_kernels", True, False, None),
    ("image_shape", None, (1, 8, 8), None),
]


@pytest.mark.parametrize("param, first, second, error", CNN_CHANGES,
                         ids=[c[0] for c in CNN_CHANGES])
def test_cnn_warm_start_applies_or_refuses(small_digits, param, first, second,
                                           error):
    # The CNN's own parameters follow the same rule.
    X, _, y, _ = small_digits
    params = {**BASE, "conv_layers": ((4, 3),), "hidden_layer_sizes": (8,),
              param: first}
    clf = CNNClassifierTorch(**params, warm_start=True).fit(X, y)
    clf.set_params(**{param: second})
    if error is not None:
        with pytest.raises(ValueError, match=error):
            clf.fit(X, y)
        return
    clf.fit(X, y)
    fresh = CNNClassifierTorch(**{**clf.get_params(), "warm_start": False})
    assert _fingerprint(clf.net_) == _fingerprint(fresh.fit(X, y).net_)


def test_cnn_parameter_table_covers_the_cnn_parameters():
    # Every CNN-only parameter is in the table.
    own = set(CNNClassifierTorch().get_params()) - set(BASE) - set(
        MLPClassifierTorch().get_params())
    assert own <= {name for name, *_ in CNN_CHANGES}


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_saved_model_continues_exactly_as_the_unsaved_one(small_digits, tmp_path,
                                                          how):
    # Save, load, train 3 more epochs: bit for bit the weights the original
    # reaches (optimizer, schedule and stopping state all come back).
    X, _, y, _ = small_digits
    params = dict(BASE, solver="sgd", learning_rate="adaptive", tol=0.5,
                  n_iter_no_change=1, dropout=0.2, warm_start=True)
    original = MLPClassifierTorch(**params).fit(X, y)
    save(original, tmp_path / "model.safetensors")
    loaded = load(tmp_path / "model.safetensors")
    for model in (original, loaded):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if how == "warm_start":
                model.fit(X, y)
            else:
                for _ in range(3):
                    model.partial_fit(X, y)
    def epochs(model):
        return [{k: v for k, v in row.items() if k != "duration"}
                for row in model.history_]

    assert epochs(loaded) == epochs(original)
    assert loaded.net_.schedule_.reductions_ == original.net_.schedule_.reductions_
    for ours, reference in zip(loaded.coefs_ + loaded.intercepts_,
                               original.coefs_ + original.intercepts_, strict=True):
        np.testing.assert_array_equal(ours, reference)


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_switch_to_adamw_moves_the_penalty_into_the_optimizer(small_digits, how):
    # adam -> adamw between calls: alpha leaves the loss and becomes AdamW's
    # decoupled weight decay, as in a fresh 'adamw' fit; and back again.
    X, _, y, _ = small_digits
    clf = MLPClassifierTorch(**BASE, alpha=0.3, warm_start=True)
    call = clf.fit if how == "warm_start" else (
        lambda X, y: clf.partial_fit(X, y, classes=np.arange(10)))
    call(X, y)
    assert clf.net_.alpha == 0.3
    clf.set_params(solver="adamw")
    call(X, y)
    assert clf.net_.alpha == 0.0
    assert type(clf.net_.optimizer_).__name__ == "AdamW"
    assert clf.net_.optimizer_.param_groups[0]["weight_decay"] == 0.3
    clf.set_params(solver="adam")
    call(X, y)
    assert clf.net_.alpha == 0.3
    assert clf.net_.optimizer_.param_groups[0]["weight_decay"] == 0
