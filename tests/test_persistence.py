"""Safe save and load: exact round trips, tampered files, atomic writes."""

import json
import os
import pickle
import signal
import stat
import subprocess
import sys
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


# (header change, tensor change, expected message): files rewritten from a
# real model, refused by test_hostile_file_is_refused_with_a_model_file_error.
TAMPERED = [
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
]


def test_missing_file_is_file_not_found(tmp_path):
    # A path with no file is the usual FileNotFoundError, not a model error.
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


# -- hostile files: each crafted byte by byte from a real model file ------------


def _param(header, name, value):
    header["params"]["dict"] = [[k, value if k == name else v]
                                for k, v in header["params"]["dict"]]


def _raw_safetensors(path, sknets_record):
    # A safetensors file with no tensors whose sknets record is given as is.
    layout = json.dumps({"__metadata__": {"sknets": sknets_record}}).encode()
    path.write_bytes(len(layout).to_bytes(8, "little") + layout)


def _craft_header(change):
    def craft(model_path, path):
        path.write_bytes(model_path.read_bytes())
        _rewrite(path, header_change=change)
    return craft


def _craft_tensors(change):
    def craft(model_path, path):
        path.write_bytes(model_path.read_bytes())
        _rewrite(path, tensors_change=change)
    return craft


def _huge_layers(header):
    _param(header, "hidden_layer_sizes", {"tuple": [20000, 16]})
    header["fitted"]["n_features_in_"] = 25000
    header["fitted"].pop("feature_names_in_")


def _set_group(key, value):
    def change(header):
        group = header["optimizer"]["param_groups"][0]
        group["dict"] = [[k, value if k == key else v] for k, v in group["dict"]]
    return change


def _nan_tensor(name):
    def change(tensors):
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[0] = float("nan")
    return change


def _deep_json(model_path, path):
    _raw_safetensors(path, "[" * 100_000 + "]" * 100_000)


def _fifo(model_path, path):
    os.mkfifo(path)


def _folder(model_path, path):
    path.mkdir()


def _truncated(model_path, path):
    data = model_path.read_bytes()
    path.write_bytes(data[: len(data) - 100])


def _random_bytes(model_path, path):
    path.write_bytes(np.random.RandomState(0).bytes(500))


def _foreign(model_path, path):
    save_file({"w": torch.zeros(2)}, str(path))


def _tampered(index):
    header_change, tensors_change, _ = TAMPERED[index]

    def craft(model_path, path):
        path.write_bytes(model_path.read_bytes())
        _rewrite(path, header_change, tensors_change)
    return craft


HOSTILE = {
    "n_threads_beyond_cpus": (_craft_header(lambda h: _param(h, "n_threads", 30000)),
                              "n_threads=30000"),
    "huge_label_dtype": (_craft_header(lambda h: h["fitted"].update(
        classes_={"dtype": "<U50000000", "values": ["a", "b", "c"]})),
        "far wider than its longest label"),
    "huge_layers": (_craft_header(_huge_layers), r"'module.0.weight' .* call for"),
    "nan_weights": (_craft_tensors(_nan_tensor("module.0.weight")), "NaN or infinite"),
    "nan_class_weight": (_craft_tensors(_nan_tensor("criterion.class_weight")),
                         "NaN or infinite"),
    "nan_optimizer_state": (_craft_tensors(_nan_tensor("optimizer.0.exp_avg")),
                            "NaN or infinite"),
    "string_lr": (_craft_header(_set_group("lr", "abc")), "lr='abc'"),
    "nan_lr": (_craft_header(_set_group("lr", {"float": "nan"})), "lr=nan"),
    "deep_json": (_deep_json, "nests too deeply"),
    "param_groups_not_a_list": (_craft_header(
        lambda h: h["optimizer"].update(param_groups=5)), "optimizer settings"),
    "dropout_not_numbers": (_craft_header(
        lambda h: _param(h, "dropout", [[0.1], {"dict": []}])), "invalid|valid"),
    "monitor_not_a_record": (_craft_header(lambda h: h["fitted"].update(monitor=[])),
                             "training state"),
    "schedule_count_negative": (_craft_header(
        lambda h: h["fitted"]["schedule"].update(t_=-5)), "non-negative"),
    "best_loss_nan": (_craft_header(lambda h: h["fitted"]["monitor"]["dict"].append(
        ["best_validation_score_", {"float": "nan"}])), "best loss"),
    "fifo": (_fifo, "not a regular file"),
    "folder": (_folder, "not a regular file"),
    "truncated": (_truncated, "truncated or corrupt"),
    "random_bytes": (_random_bytes, "not a readable model file"),
    "foreign_safetensors": (_foreign, "not an sknets model"),
    **{f"tampered_{i}": (_tampered(i), message)
       for i, (_, _, message) in enumerate(TAMPERED)},
}


@pytest.fixture(scope="module")
def mlp_file(mlp, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "mlp.safetensors"
    save(mlp, path)
    return path


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_is_refused_with_a_model_file_error(mlp_file, tmp_path, name):
    # Each crafted file is a ModelFileError that says what is wrong.
    craft, message = HOSTILE[name]
    path = tmp_path / "hostile.safetensors"
    craft(mlp_file, path)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_hostile_files_fail_fast_and_small(mlp_file, tmp_path):
    # In a fresh process: every crafted file is refused within 1 s, and the
    # peak memory stays within 200 MB of what loading a valid model takes.
    for name, (craft, _) in HOSTILE.items():
        craft(mlp_file, tmp_path / f"{name}.safetensors")
    script = """
import json, resource, sys, time
from pathlib import Path
from sknets.persistence import ModelFileError, load
load(sys.argv[1])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = {}
for path in sorted(Path(sys.argv[2]).glob("*.safetensors")):
    start = time.perf_counter()
    try:
        load(path)
        outcome = "loaded"
    except ModelFileError:
        outcome = "refused"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report[path.stem] = [outcome, time.perf_counter() - start, (peak - base) / 1024]
print(json.dumps(report))
"""
    result = subprocess.run([sys.executable, "-c", script, str(mlp_file),
                             str(tmp_path)], capture_output=True, text=True,
                            timeout=300, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report) == set(HOSTILE)
    for name, (outcome, seconds, extra_mb) in report.items():
        assert outcome == "refused", name
        assert seconds < 1.0, (name, seconds)
        assert extra_mb < 200, (name, extra_mb)


def test_load_on_a_missing_device_blames_the_device(mlp_file):
    # Asking for CUDA on a machine without it is the caller's error, not the file's.
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    with pytest.raises(ValueError, match="CUDA is not available") as info:
        load(mlp_file, device="cuda")
    assert not isinstance(info.value, ModelFileError)


def test_save_keeps_the_mode_of_the_file_it_replaces(mlp, tmp_path):
    # An existing 0644 file stays 0644; a new file gets the umask's default.
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    save(mlp, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    os.chmod(path, 0o640)
    save(mlp, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    previous = os.umask(0o027)
    try:
        save(mlp, tmp_path / "new.safetensors")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "new.safetensors").st_mode) == 0o640


def test_save_writes_through_a_symlink(mlp, tmp_path):
    # The link stays a link; the file it points to gets the model.
    target = tmp_path / "store" / "model.safetensors"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "latest.safetensors"
    link.symlink_to(target)
    save(mlp, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert isinstance(load(target), MLPClassifierTorch)


def test_save_accepts_numpy_layer_sizes(small_digits, tmp_path):
    # hidden_layer_sizes given as an ndarray saves and loads.
    X_train, X_test, y_train, _ = small_digits
    clf = MLPClassifierTorch(np.array([12, 6]), max_iter=2, random_state=0,
                             device="cpu").fit(X_train, y_train)
    save(clf, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert tuple(loaded.hidden_layer_sizes) == (12, 6)
    np.testing.assert_array_equal(loaded.predict_proba(X_test),
                                  clf.predict_proba(X_test))


def test_temporary_of_a_killed_save_is_removed_by_the_next_save(mlp, tmp_path):
    # SIGKILL while save writes: its temporary file stays behind, and the next
    # save of the same target removes it.
    path = tmp_path / "model.safetensors"
    script = f"""
import os, time
import numpy as np
from sknets import MLPClassifierTorch
from sknets.persistence import save
X, y = np.random.RandomState(0).rand(40, 4), np.arange(40) % 2
clf = MLPClassifierTorch((8,), max_iter=1, device="cpu").fit(X, y)
def hang(fd):
    print("writing", flush=True)
    time.sleep(120)
os.fsync = hang
save(clf, {str(path)!r})
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    leftovers = [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert len(leftovers) == 1 and not path.exists()
    save(mlp, path)
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_load_keeps_the_saved_device_parameter(tmp_path):
    # device='auto' comes back as 'auto' (resolved at each fit and predict).
    X, y = np.random.RandomState(0).rand(30, 4), np.arange(30) % 2
    clf = MLPClassifierTorch((4,), max_iter=1, device="auto").fit(X, y)
    save(clf, tmp_path / "m.safetensors")
    assert load(tmp_path / "m.safetensors").device == "auto"
    assert load(tmp_path / "m.safetensors", device="cpu").device == "cpu"
