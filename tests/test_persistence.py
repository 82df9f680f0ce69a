"""Safe save and load: exact round trips, tampered files, atomic writes."""

import json
import os
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression

from sknets import CNNClassifierTorch, MLPClassifierTorch, persistence
from sknets.persistence import ModelFileError, load, save

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def mlp(small_digits):
    # String labels, early stopping, class weights keyed by label, np.inf.
    X_train, _, y_train, _ = small_digits
    labels = np.array([f"digit {k}" for k in range(10)], dtype=object)[y_train]
    frame = pd.DataFrame(X_train, columns=[f"px{i}" for i in range(64)])
    return MLPClassifierTorch(
        (32, 16), early_stopping=True, max_iter=8, n_iter_no_change=np.inf,
        class_weight={"digit 3": 2.0}, dropout=(0.1, 0.0), random_state=0,
        device="cpu",
    ).fit(frame, labels)


@pytest.fixture(scope="module")
def cnn(small_digits):
    # Binary, image input, batch norm buffers, per-block dropout, SGD state.
    X_train, _, y_train, _ = small_digits
    X = X_train.reshape(-1, 8, 8)
    return CNNClassifierTorch(
        conv_layers=((4, 3), (6, 3, 2)), hidden_layer_sizes=(8,), batch_norm=True,
        conv_dropout=(0.0, 0.2), solver="sgd", learning_rate="invscaling",
        max_iter=3, random_state=0, device="cpu",
    ).fit(X, y_train % 2)


def _same_fitted_state(a, b):
    assert a.get_params() == b.get_params()
    np.testing.assert_array_equal(a.classes_, b.classes_)
    assert a.history_ == b.history_ and a.loss_curve_ == b.loss_curve_
    for name in ("n_iter_", "t_", "loss_", "best_loss_", "best_validation_score_",
                 "validation_scores_", "n_features_in_", "n_outputs_", "n_layers_",
                 "out_activation_"):
        assert getattr(a, name) == getattr(b, name), name
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_,
                      strict=True):
        np.testing.assert_array_equal(ca, cb)


def test_mlp_round_trip_is_exact(mlp, small_digits, tmp_path):
    # Same predictions bit for bit, same parameters and fitted attributes.
    _, X_test, _, _ = small_digits
    frame = pd.DataFrame(X_test, columns=[f"px{i}" for i in range(64)])
    path = tmp_path / "mlp.safetensors"
    save(mlp, path)
    loaded = load(path)
    np.testing.assert_array_equal(loaded.predict_proba(frame), mlp.predict_proba(frame))
    np.testing.assert_array_equal(loaded.predict(frame), mlp.predict(frame))
    _same_fitted_state(mlp, loaded)
    np.testing.assert_array_equal(loaded.feature_names_in_, mlp.feature_names_in_)
    assert loaded.get_params()["n_iter_no_change"] == np.inf


def test_cnn_round_trip_and_continued_training(cnn, small_digits, tmp_path):
    # The optimizer and schedule state come back: one more epoch of
    # partial_fit gives the same model from the original and the loaded copy.
    X_train, X_test, y_train, _ = small_digits
    path = tmp_path / "cnn.safetensors"
    save(cnn, path)
    loaded = load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X_test),
                                  cnn.predict_proba(X_test))
    np.testing.assert_array_equal(loaded.filters_, cnn.filters_)
    assert loaded.image_shape_ == (1, 8, 8)
    _same_fitted_state(cnn, loaded)
    original = pickle.loads(pickle.dumps(cnn))
    X, y = X_train.reshape(-1, 8, 8)[:100], y_train[:100] % 2
    original.partial_fit(X, y)
    loaded.partial_fit(X, y)
    np.testing.assert_array_equal(loaded.predict_proba(X_test),
                                  original.predict_proba(X_test))
    assert loaded.t_ == original.t_ and loaded.loss_curve_ == original.loss_curve_


def _rewrite(path, header_change=None, tensors_change=None):
    with safe_open(str(path), framework="pt") as f:
        tensors = {key: f.get_tensor(key) for key in f.keys()}
        header = json.loads(f.metadata()["sknets"])
    if header_change:
        header_change(header)
    if tensors_change:
        tensors_change(tensors)
    save_file(tensors, str(path), metadata={"sknets": json.dumps(header)})


def _set_hidden(header):
    header["params"]["dict"] = [
        [k, {"tuple": [64, 16]} if k == "hidden_layer_sizes" else v]
        for k, v in header["params"]["dict"]]


@pytest.mark.parametrize("header_change, tensors_change, message", [
    (_set_hidden, None,
     r"'module.0.weight' .* shape \(32, 64\) .* call for \(64, 64\)"),
    (None, lambda t: t.update(extra=torch.zeros(3)), r"unexpected tensor.*'extra'"),
    (None, lambda t: t.update({"module.9.bias": torch.zeros(3)}),
     r"unexpected tensor.*module.9.bias"),
    (None, lambda t: t.pop("module.3.weight"), "lacks the tensor 'module.3.weight'"),
    (None, lambda t: t.update({"module.0.bias": t["module.0.bias"].double()}),
     r"module.0.bias.*torch.float64"),
    (lambda h: h.update(estimator="os.system"), None, "names estimator 'os.system'"),
    (lambda h: h.update(format_version=99), None, "Upgrade sknets"),
    (lambda h: h["params"]["dict"].append(["evil", 1]), None, "unknown parameters"),
    (lambda h: h["fitted"].update(classes_={"dtype": "|O", "values": [1, 2]}), None,
     "dtype object"),
    (lambda h: h["fitted"].update(n_features_in_=-3), None, "n_features_in_"),
    (lambda h: h["params"]["dict"].append(["alpha", -1.0]), None,
     "parameters are invalid"),
])
def test_tampered_files_are_refused(mlp, tmp_path, header_change, tensors_change,
                                    message):
    # A changed shape, a stray or missing tensor, a wrong dtype, a foreign
    # class, a future format or bad values: each a clear ModelFileError.
    path = tmp_path / "model.safetensors"
    save(mlp, path)
    _rewrite(path, header_change, tensors_change)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_truncated_and_foreign_files_are_refused(mlp, tmp_path):
    # Cut weights, random bytes, a plain safetensors file.
    path = tmp_path / "model.safetensors"
    save(mlp, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load(path)
    path.write_bytes(os.urandom(500))
    with pytest.raises(ModelFileError, match="not a readable model file"):
        load(path)
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ModelFileError, match="not an sknets model"):
        load(path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.safetensors")


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_crash_during_save_keeps_the_old_file(mlp, cnn, tmp_path, monkeypatch,
                                              failure):
    # The write dies before the rename: the previous model is intact and no
    # temporary file is left.
    path = tmp_path / "model.safetensors"
    save(mlp, path)
    before = path.read_bytes()

    def crash(fd):
        raise failure

    monkeypatch.setattr(persistence.os, "fsync", crash)
    with pytest.raises(type(failure)):
        save(cnn, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]
    monkeypatch.undo()
    assert isinstance(load(path), MLPClassifierTorch)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_model_saved_for_cuda_loads_on_the_cpu(mlp, small_digits, tmp_path):
    # A file whose device is 'cuda' (saved on a GPU machine) runs on the CPU,
    # with a warning, and predicts the same.
    _, X_test, _, _ = small_digits
    frame = pd.DataFrame(X_test, columns=[f"px{i}" for i in range(64)])
    path = tmp_path / "model.safetensors"
    save(mlp, path)

    def to_cuda(header):
        header["params"]["dict"] = [[k, "cuda" if k == "device" else v]
                                    for k, v in header["params"]["dict"]]
        header["fitted"]["device"] = "cuda"

    _rewrite(path, to_cuda)
    with pytest.warns(UserWarning, match="device='cuda'.*runs on the CPU"):
        loaded = load(path)
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(frame), mlp.predict_proba(frame))
    assert load(path, device="cpu").device == "cpu"


def test_save_refuses_what_it_cannot_save(tmp_path):
    # Unfitted sknets estimators and other estimators are errors.
    with pytest.raises(NotFittedError):
        save(MLPClassifierTorch(), tmp_path / "m.safetensors")
    X, y = np.random.RandomState(0).rand(10, 2), np.arange(10) % 2
    with pytest.raises(TypeError, match="use joblib"):
        save(LogisticRegression().fit(X, y), tmp_path / "m.safetensors")


def test_joblib_round_trip_for_trusted_files(cnn, small_digits, tmp_path):
    # The scikit-learn way works too (it runs pickle: trusted files only).
    _, X_test, _, _ = small_digits
    joblib.dump(cnn, tmp_path / "model.joblib")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X_test),
                                  cnn.predict_proba(X_test))
