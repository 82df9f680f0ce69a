"""Gradient clipping, label smoothing and the warm-up, plateau and one-cycle
schedules, asserted with numbers on small data."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sknets import CNNClassifierTorch, MLPClassifierTorch
from sknets.model_selection import fit_on_folds

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(hidden_layer_sizes=(32,), batch_size=32, max_iter=10, random_state=0,
            learning_rate_init=0.01, device="cpu")


def fast(**params):
    return MLPClassifierTorch(**{**FAST, **params})


def _weights(clf):
    return torch.cat([p.detach().flatten() for p in clf.net_.module_.parameters()])


def test_clipping_bounds_each_steps_gradient_norm(small_digits):
    # Plain SGD at rate 1 on one full batch: the step is the gradient, so its
    # norm is the clipped norm; a bound above the norm changes nothing.
    X, _, y, _ = small_digits
    params = dict(solver="sgd", momentum=0.0, learning_rate_init=1.0,
                  batch_size=len(y), alpha=0.5, max_iter=1)
    start = _weights(fast(**{**params, "learning_rate_init": 1e-30}).fit(X, y))
    free = fast(**params).fit(X, y)
    norm = float(torch.linalg.vector_norm(_weights(free) - start))
    assert norm > 0.1
    clipped = fast(**params, max_grad_norm=0.1).fit(X, y)
    assert float(torch.linalg.vector_norm(_weights(clipped) - start)) == \
        pytest.approx(0.1, rel=1e-4)
    loose = fast(**params, max_grad_norm=10 * norm).fit(X, y)
    assert torch.equal(_weights(loose), _weights(free))


def test_label_smoothing_changes_the_loss_as_torchs_formula_says(small_digits):
    # (1 - e) * NLL of the true class + e * the mean over classes of -log p,
    # at the initial weights (a rate too small to move them).
    X, _, y, _ = small_digits
    for eps in (0.0, 0.1, 0.3):
        clf = fast(label_smoothing=eps, batch_size=len(y), max_iter=1, alpha=0.0,
                   learning_rate_init=1e-30).fit(X, y)
        with torch.no_grad():
            log_p = clf.net_.module_(torch.from_numpy(X)).log_softmax(1).double()
        nll = -log_p[torch.arange(len(y)), torch.from_numpy(y)]
        expected = ((1 - eps) * nll - eps * log_p.mean(1)).mean()
        assert clf.loss_curve_[0] == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ValueError, match="loss='cross_entropy'"):
        fast(label_smoothing=0.1, loss="mse").fit(X, y)


def test_warmup_scales_any_schedule_linearly(small_digits):
    X, _, y, _ = small_digits
    clf = fast(lr_warmup=3, learning_rate="step", lr_step_size=4, lr_gamma=0.5,
               max_iter=9).fit(X, y)
    step = [0.01] * 4 + [0.005] * 4 + [0.0025]
    expected = [lr * min(1.0, (e + 1) / 4) for e, lr in enumerate(step)]
    np.testing.assert_allclose([row["lr"] for row in clf.history_], expected,
                               rtol=1e-12)


@pytest.mark.parametrize("max_iter", [10, 17])
def test_onecycle_follows_torchs_one_cycle(small_digits, max_iter):
    X, _, y, _ = small_digits
    clf = fast(learning_rate="onecycle", max_iter=max_iter,
               n_iter_no_change=np.inf).fit(X, y)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01,
                                                   total_steps=max_iter)
    expected = []
    for epoch in range(max_iter):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if epoch < max_iter - 1:
            schedule.step()
    np.testing.assert_allclose([row["lr"] for row in clf.history_], expected,
                               rtol=1e-12)


def test_plateau_lowers_the_rate_on_the_monitored_score(small_digits):
    # n_iter_no_change=1: after two epochs without improvement the rate is
    # multiplied by lr_gamma, until it is below 1e-6 and training stops. The
    # score is the training loss, or validation_data's accuracy when given.
    X, X_val, y, y_val = small_digits
    params = dict(learning_rate="plateau", n_iter_no_change=1, lr_gamma=0.1,
                  learning_rate_init=1e-3)
    # tol=1: no epoch after the first improves the loss or the accuracy by 1.
    clf = fast(**params, tol=1.0, max_iter=12).fit(X, y)
    rates = [row["lr"] for row in clf.history_]
    expected = [1e-3] * 3 + [1e-4] * 2 + [1e-5] * 2 + [1e-6] * 2
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    assert clf.n_iter_ == 9 and "did not improve" in clf.net_.monitor_.stop_reason_
    # tol=0.1: the loss improves by more every epoch (by 0.12 to 0.17), the
    # validation accuracy does not from its second epoch on (+0.05, +0.08).
    on_loss = fast(**params, tol=0.1, max_iter=6).fit(X, y)
    on_valid = fast(**params, tol=0.1, max_iter=6).fit(
        X, y, validation_data=(X_val, y_val))
    assert [row["lr"] for row in on_loss.history_] == [1e-3] * 6
    assert [row["lr"] for row in on_valid.history_][:4] == [1e-3] * 3 + [1e-4]


def test_new_options_fuse_as_their_separate_fits_train(small_digits):
    # Stacked with other settings, each model trains as its own fit: first
    # epoch losses to 1e-5 and the same learning rates.
    X, _, y, _ = small_digits
    options = [{}, {"max_grad_norm": 0.5}, {"label_smoothing": 0.2},
               {"lr_warmup": 2}, {"learning_rate": "onecycle"},
               {"learning_rate": "plateau", "n_iter_no_change": 1, "tol": 0.3}]
    models = [fast(max_iter=4, **option) for option in options]
    rows = [np.arange(450)] * len(models)
    results = fit_on_folds([clone(m) for m in models], X, y, rows)
    for (fused, error, _), model in zip(results, models, strict=True):
        assert error is None
        alone = clone(model).fit(X[:450], y[:450])
        assert fused.loss_curve_[0] == pytest.approx(alone.loss_curve_[0], rel=1e-5)
        np.testing.assert_allclose(fused.loss_curve_, alone.loss_curve_, rtol=1e-4)
        assert [r["lr"] for r in fused.history_] == [r["lr"] for r in alone.history_]


def test_cnn_takes_the_new_options(small_digits):
    X, _, y, _ = small_digits
    clf = CNNClassifierTorch(conv_layers=[(4, 3)], hidden_layer_sizes=(16,),
                             max_iter=3, random_state=0, device="cpu",
                             max_grad_norm=1.0, label_smoothing=0.1, lr_warmup=1,
                             learning_rate="onecycle").fit(X[:200], y[:200])
    assert len(clf.loss_curve_) == 3 and np.isfinite(clf.loss_curve_).all()


# -- augmentation -----------------------------------------------------------------


def test_augmentation_moves_training_batches_but_never_predictions(small_digits):
    # Training changes; predictions and validation scores are the network's
    # own outputs on the images as given.
    X, X_val, y, y_val = small_digits
    params = dict(conv_layers=[(4, 3)], hidden_layer_sizes=(16,), max_iter=3,
                  random_state=0, device="cpu")
    plain = CNNClassifierTorch(**params).fit(X, y, validation_data=(X_val, y_val))
    moved = CNNClassifierTorch(**params, augment="light").fit(
        X, y, validation_data=(X_val, y_val))
    assert moved.loss_curve_[0] != plain.loss_curve_[0]
    assert not torch.equal(_weights(moved), _weights(plain))
    with torch.no_grad():
        logits = moved.net_.module_.eval()(torch.from_numpy(X_val).view(-1, 1, 8, 8))
    np.testing.assert_allclose(moved.predict_proba(X_val),
                               logits.double().softmax(1).numpy(), rtol=1e-5)
    assert moved.history_[-1]["valid_accuracy"] == pytest.approx(
        moved.score(X_val, y_val), abs=1e-12)
    assert moved.predict_proba(X_val[:5]).tolist() == \
        moved.predict_proba(X_val[:5]).tolist()


def test_augmentation_is_reproducible_by_seed(small_digits):
    X, _, y, _ = small_digits
    first = fast(augment="strong", max_iter=2).fit(X, y)
    again = fast(augment="strong", max_iter=2).fit(X, y)
    other = fast(augment="strong", max_iter=2, random_state=1).fit(X, y)
    assert torch.equal(_weights(first), _weights(again))
    assert first.loss_curve_ == again.loss_curve_
    assert other.loss_curve_ != first.loss_curve_
    # The stream carries on across partial_fit calls, and through a pickle.
    import pickle

    a = fast(augment="light").partial_fit(X, y, classes=np.arange(10))
    b = pickle.loads(pickle.dumps(a))
    a.partial_fit(X, y)
    b.partial_fit(X, y)
    assert torch.equal(_weights(a), _weights(b))


def test_a_shifted_one_pixel_image_moves_its_pixel():
    # Each row keeps its own image (labels stay aligned): a single bright
    # pixel lands within the largest shift of where it was, and moves.
    from sknets.training import Augmenter, AugmentSpec

    size, n = 16, 32
    rng = np.random.RandomState(0)
    where = rng.randint(5, 11, size=(n, 2))
    images = torch.zeros(n, 1, size, size)
    images[torch.arange(n), 0, where[:, 0], where[:, 1]] = 1.0
    out = Augmenter(AugmentSpec(shift=0.125), (1, size, size), seed=0,
                    device="cpu")(images)
    assert out.shape == images.shape
    grid = torch.arange(size, dtype=torch.float32)
    mass = out.sum(dim=(1, 2, 3))
    rows = (out[:, 0].sum(2) * grid).sum(1) / mass
    cols = (out[:, 0].sum(1) * grid).sum(1) / mass
    moved = np.hypot(rows.numpy() - where[:, 0], cols.numpy() - where[:, 1])
    np.testing.assert_allclose(mass.numpy(), 1.0, atol=1e-5)  # no pixel lost
    assert (np.abs(rows.numpy() - where[:, 0]) <= 2 + 1e-4).all()
    assert (np.abs(cols.numpy() - where[:, 1]) <= 2 + 1e-4).all()
    assert (moved > 0.1).mean() > 0.9
    # Flat rows are moved as the same images.
    flat = Augmenter(AugmentSpec(shift=0.125), (1, size, size), seed=0,
                     device="cpu")(images.view(n, -1))
    assert torch.equal(flat.view_as(out), out)


@pytest.mark.parametrize("augment, match", [
    ("heavy", "a str among"), ({"shear": 1.0}, "unknown key"),
    ({"rotate": -5}, "finite number >= 0"), ({"shift": 1.5}, "below 1"),
])
def test_bad_augment_values_say_what_to_change(small_digits, augment, match):
    X, _, y, _ = small_digits
    with pytest.raises(ValueError, match=match):
        fast(augment=augment).fit(X, y)


def test_augmenting_an_mlp_needs_square_image_rows(small_digits):
    X, _, y, _ = small_digits
    with pytest.raises(ValueError, match="not a square one-channel image"):
        fast(augment="light").fit(X[:, :60], y)
