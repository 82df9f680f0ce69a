"""Safe save and load of fitted estimators: safetensors and JSON, no pickle.

One ``.safetensors`` file holds the tensors (the module's weights and
buffers, the loss's class weights, the optimizer's state) and, in its JSON
header, everything else: the estimator's class and parameters, ``classes_``,
the fitted attributes, the per-epoch history and the versions that wrote it.
Loading reads only tensors and JSON, so an untrusted file cannot run code;
every value is validated, and the tensors must be exactly those the
parameters describe. Writes go to a temporary file that replaces the target
only once complete, so a crash never leaves a half-written model.

``pickle``/``joblib`` also work, the scikit-learn way, for files you trust.
"""

import json
import math
import os
import stat
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
import sklearn
import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_tensors
from safetensors.torch import save as safetensors_bytes
from sklearn.utils.validation import check_is_fitted

from . import __version__
from ._base import resolve_device
from ._files import write_atomically
from ._typing import StrPath
from .cnn import CNNClassifierTorch
from .mlp import MLPClassifierTorch
from .modules import build_module
from .training import build_net

__all__ = ["FORMAT_VERSION", "load", "save"]

FORMAT = "sknets-model"
FORMAT_VERSION = 1
# Only these classes can be loaded: the file names one, never a code path.
ESTIMATORS = {cls.__name__: cls for cls in (MLPClassifierTorch, CNNClassifierTorch)}
_SECTIONS = ("module", "criterion", "optimizer")
_ARRAY_KINDS = {"i", "u", "f", "b", "U"}
# A header larger than this is not one sknets writes (a model's header with a
# history of 10,000 epochs takes about 3 MB).
_MAX_HEADER_BYTES = 32 * 2**20
# Longest fixed-width string dtype accepted for labels beyond the longest label.
_MAX_LABEL_CHARS = 256


class ModelFileError(ValueError):
    """A model file that is not a valid sknets model, with what is wrong."""


# -- JSON encoding of parameters and arrays -------------------------------------


def _encode(value, name):
    # JSON with tags for what JSON lacks: tuples, non-string dict keys and
    # non-finite floats.
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return [_encode(v, name) for v in value.tolist()]
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, name) for v in value]}
    if isinstance(value, list):
        return [_encode(v, name) for v in value]
    if isinstance(value, dict):
        return {"dict": [[_encode(k, name), _encode(v, name)]
                         for k, v in value.items()]}
    raise TypeError(f"{name}={value!r} cannot be saved safely: only numbers, "
                    "strings, booleans, None, tuples, lists and dicts can.")


def _decode(value, name):
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, list):
        return [_decode(v, name) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        (tag, content), = value.items()
        if tag == "tuple" and isinstance(content, list):
            return tuple(_decode(v, name) for v in content)
        if tag == "dict" and isinstance(content, list) and all(
                isinstance(pair, list) and len(pair) == 2 for pair in content):
            return {_decode(k, name): _decode(v, name) for k, v in content}
        if tag == "float" and content in ("inf", "-inf", "nan"):
            return float(content)
    raise ModelFileError(f"{name} holds {value!r}, which is not a value sknets "
                         "writes.")


def _encode_array(array, name):
    array = np.asarray(array)
    if array.dtype.kind == "O" and all(isinstance(v, str) for v in array.tolist()):
        return {"dtype": "str", "values": array.tolist()}
    if array.dtype.kind not in _ARRAY_KINDS:
        raise TypeError(f"{name} of dtype {array.dtype} cannot be saved safely; "
                        "labels must be numbers, booleans or strings.")
    return {"dtype": array.dtype.str, "values": array.tolist()}


def _decode_array(value, name):
    if not (isinstance(value, dict) and set(value) == {"dtype", "values"}
            and isinstance(value["values"], list)):
        raise ModelFileError(f"{name} is not an array record.")
    if value["dtype"] == "str":
        if not all(isinstance(v, str) for v in value["values"]):
            raise ModelFileError(f"{name} holds non-strings.")
        return np.array(value["values"], dtype=object)
    try:
        dtype = np.dtype(value["dtype"])
    except TypeError as exc:
        raise ModelFileError(f"{name} has an unknown dtype.") from exc
    if dtype.kind not in _ARRAY_KINDS or dtype.subdtype is not None:
        raise ModelFileError(f"{name} has dtype {dtype}, which sknets never writes.")
    if dtype.kind == "U":
        longest = max((len(v) for v in value["values"] if isinstance(v, str)),
                       default=0)
        if dtype.itemsize // 4 > max(longest, _MAX_LABEL_CHARS):
            raise ModelFileError(f"{name} has dtype {dtype}, far wider than its "
                                 f"longest label ({longest} characters).")
    try:
        return np.array(value["values"], dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{name} does not hold {dtype} values.") from exc


# -- save ----------------------------------------------------------------------


def _tensors(net):
    tensors = {}
    for section, state in (("module", net.module_.state_dict()),
                           ("criterion", net.criterion_.state_dict())):
        for key, tensor in state.items():
            tensors[f"{section}.{key}"] = tensor.detach().cpu().contiguous()
    optimizer = net.optimizer_.state_dict()
    extra = {}
    for index, state in optimizer["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                extra[f"{index}.{key}"] = _encode(value, "optimizer state")
    groups = _encode(optimizer["param_groups"], "optimizer settings")
    return tensors, {"param_groups": groups, "values": extra}


def _fitted_record(estimator):
    net = estimator.net_
    monitor, schedule = net.monitor_, net.schedule_
    record = {
        "classes_": _encode_array(estimator.classes_, "classes_"),
        "n_features_in_": estimator.n_features_in_,
        "n_iter_": estimator.n_iter_,
        "interrupted_": bool(estimator.interrupted_),
        "history_": _encode(estimator.history_, "history_"),
        "monitor": _encode({"best_loss_": monitor.best_loss_,
                            "best_validation_score_": monitor.best_validation_score_,
                            "no_improvement_count_": monitor.no_improvement_count_},
                           "monitor"),
        "schedule": {"epoch_": schedule.epoch_, "t_": schedule.t_,
                     "reductions_": schedule.reductions_},
        "device": str(net.device),
    }
    if estimator._multilabel:  # the indicator y's dtype, which predict returns
        record["multilabel_dtype"] = estimator._multilabel_dtype.str
    if hasattr(estimator, "feature_names_in_"):
        record["feature_names_in_"] = _encode_array(estimator.feature_names_in_,
                                                    "feature_names_in_")
    if hasattr(estimator, "image_shape_"):
        record["image_shape_"] = list(estimator.image_shape_)
    return record


def save(estimator: Any, path: StrPath) -> Any:
    """Save a fitted sknets estimator to one safetensors file.

    Parameters
    ----------
    estimator : MLPClassifierTorch or CNNClassifierTorch
        A fitted estimator.
    path : str or path-like
        The file to write (conventionally ``*.safetensors``). It is replaced
        atomically: readers see the old file or the new one, never a part. An
        existing file keeps its permissions; a symlink is written through to
        its target.

    Notes
    -----
    A ``random_state`` that is a ``RandomState`` instance is saved as None
    (it only matters for further training). The per-batch losses of
    ``net_.history`` are not saved; ``history_`` is.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_iris
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.persistence import load, save
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifierTorch(max_iter=5, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "iris.safetensors")
    >>> save(clf, path)
    >>> bool((load(path).predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    if type(estimator).__name__ not in ESTIMATORS:
        raise TypeError(f"save() takes {sorted(ESTIMATORS)}, got "
                        f"{type(estimator).__name__}; use joblib for other "
                        "estimators.")
    check_is_fitted(estimator)
    params = estimator.get_params()
    if isinstance(params["random_state"], np.random.RandomState):
        params["random_state"] = None
    tensors, optimizer = _tensors(estimator.net_)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "versions": {"sknets": __version__, "torch": torch.__version__,
                     "sklearn": sklearn.__version__, "numpy": np.__version__},
        "params": _encode(params, "params"),
        "fitted": _fitted_record(estimator),
        "optimizer": optimizer,
    }
    data = safetensors_bytes(tensors, metadata={"sknets": json.dumps(header)})
    write_atomically(path, data)


# -- load ----------------------------------------------------------------------


def _file_bytes(path):
    # Only a regular file is read: opening a FIFO or a device without
    # O_NONBLOCK could wait forever.
    fd = os.open(os.fspath(path), os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO, a device, a folder
        os.close(fd)
        raise ModelFileError(f"{os.fspath(path)!r} is not a regular file; "
                             "sknets loads model files only.")
    with os.fdopen(fd, "rb") as f:
        return f.read()


def _json(text, what):
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ModelFileError(f"{what} is not valid JSON (or nests too "
                             f"deeply): {str(exc)[:200]}") from exc


def _read(path):
    data = _file_bytes(path)
    where = repr(os.fspath(path))
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else None
    if size is None or size > _MAX_HEADER_BYTES or 8 + size > len(data):
        raise ModelFileError(f"{where} is not a readable model file (truncated or "
                             "corrupt?): its safetensors header is cut off or "
                             "larger than sknets writes.")
    layout = _json(data[8:8 + size], f"The safetensors header of {where}")
    metadata = layout.get("__metadata__") if isinstance(layout, dict) else None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("sknets"), str):
        raise ModelFileError(f"{where} is not an sknets model: its safetensors "
                             "header has no 'sknets' record.")
    header = _json(metadata["sknets"], f"The sknets record of {where}")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{where} is not an sknets model file.")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{where} has model format version {version!r}; this sknets "
            f"({__version__}) reads version {FORMAT_VERSION}. Upgrade sknets to "
            "load it."
        )
    try:
        tensors = safetensors_tensors(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{where} is not a readable model file (truncated or "
                             f"corrupt?): {exc}") from exc
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(f"Tensor '{key}' in {where} holds NaN or "
                                 "infinite values; a trained model never does.")
    return header, tensors


def _field(record, key, check, what):
    if key not in record or not check(record[key]):
        raise ModelFileError(f"The model file's {key} is missing or not {what}.")
    return record[key]


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_tensors(expected, tensors, section):
    # The file's tensors of one section must be exactly the expected ones:
    # same names, shapes and dtypes.
    given = {key[len(section) + 1:]: tensor for key, tensor in tensors.items()
             if key.startswith(section + ".")}
    for key, tensor in expected.items():
        if key not in given:
            raise ModelFileError(f"The model file lacks the tensor '{section}.{key}' "
                                 "that its parameters call for.")
        if given[key].shape != tensor.shape or given[key].dtype != tensor.dtype:
            raise ModelFileError(
                f"Tensor '{section}.{key}' in the model file has shape "
                f"{tuple(given[key].shape)} and dtype {given[key].dtype}; the "
                f"parameters call for {tuple(tensor.shape)} and {tensor.dtype}."
            )
    extra = sorted(set(given) - set(expected))
    if extra:
        raise ModelFileError(f"The model file holds unexpected tensor(s) "
                             f"{[f'{section}.{k}' for k in extra]}.")
    return given


def _finite_number(value):
    return (isinstance(value, Real) and not isinstance(value, bool)
            and math.isfinite(value))


def _like(value, template):
    # A saved optimizer setting must be of the kind the fresh optimizer holds:
    # finite numbers for numbers, flags for flags, tuples of numbers alike.
    if template is None or isinstance(template, bool):
        return value is None or isinstance(value, bool)
    if isinstance(template, Real):
        return _finite_number(value)
    if isinstance(template, (tuple, list)):
        return (isinstance(value, (tuple, list)) and len(value) == len(template)
                and all(_like(v, t) for v, t in zip(value, template, strict=True)))
    return type(value) is type(template)


def _restore_optimizer(net, record, tensors):
    template = net.optimizer_.state_dict()
    if not isinstance(record, dict):
        raise ModelFileError("The model file's optimizer record is not an object.")
    groups = _decode(record.get("param_groups"), "optimizer settings")
    values = record.get("values", {})
    if (not isinstance(groups, list) or len(groups) != len(template["param_groups"])
            or not isinstance(values, dict)):
        raise ModelFileError("The model file's optimizer settings do not match "
                             "the estimator's optimizer.")
    for group, expected in zip(groups, template["param_groups"], strict=True):
        if (not isinstance(group, dict) or set(group) != set(expected)
                or group["params"] != expected["params"]):
            raise ModelFileError("The model file's optimizer settings do not match "
                                 "the estimator's optimizer.")
        for key, value in group.items():
            if key != "params" and not _like(value, expected[key]):
                raise ModelFileError(
                    f"The model file's optimizer setting {key}={value!r} is not "
                    f"a value of the kind the optimizer uses ({expected[key]!r}).")
    params = [p for group in net.optimizer_.param_groups for p in group["params"]]
    state = {}
    names = {key[len("optimizer."):] for key in tensors if key.startswith("optimizer.")}
    for key in names | set(values):
        index, _, field = key.partition(".")
        if not index.isdigit() or int(index) >= len(params) or not field:
            raise ModelFileError(f"The model file holds an unexpected optimizer "
                                 f"entry '{key}'.")
        value = tensors.get(f"optimizer.{key}")
        if value is None:
            value = _decode(values[key], "optimizer state")
            if not _finite_number(value):
                raise ModelFileError(f"The model file's optimizer entry '{key}' is "
                                     f"{value!r}, not a finite number.")
        state.setdefault(int(index), {})[field] = value
    for index, entry in state.items():
        for field, value in entry.items():
            if torch.is_tensor(value) and value.dim() > 0 and (
                    value.shape != params[index].shape):
                raise ModelFileError(
                    f"Optimizer tensor '{index}.{field}' has shape "
                    f"{tuple(value.shape)}, its parameter "
                    f"{tuple(params[index].shape)}.")
    try:
        net.optimizer_.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"The model file's optimizer state is invalid: "
                             f"{exc}") from exc


def load(path: StrPath, device: str | None = None) -> Any:
    """Load an estimator saved by ``save``, validating everything it reads.

    Parameters
    ----------
    path : str or path-like
        A file written by ``save``.
    device : str or None, default=None
        Where the loaded model runs. None uses the saved ``device`` parameter
        when this machine has that device, and the CPU (with a warning)
        otherwise: a model trained on CUDA loads on a CPU-only machine.

    Returns
    -------
    estimator : MLPClassifierTorch or CNNClassifierTorch
        Fitted, predicting exactly as the saved one on the same device, and
        ready for ``partial_fit`` or a warm-start ``fit``.

    Raises
    ------
    ModelFileError
        (a ValueError) when the file is truncated, tampered with or not an
        sknets model, saying what is wrong.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sknets import CNNClassifierTorch
    >>> from sknets.persistence import ModelFileError, load, save
    >>> X, y = np.random.RandomState(0).rand(20, 16), np.arange(20) % 2
    >>> path = os.path.join(tempfile.mkdtemp(), "cnn.safetensors")
    >>> save(CNNClassifierTorch(max_iter=1, random_state=0).fit(X, y), path)
    >>> load(path).image_shape_
    (1, 4, 4)
    >>> _ = open(path, "r+b").truncate(100)
    >>> try:
    ...     load(path)
    ... except ModelFileError as error:
    ...     print("refused:", str(error)[-40:])
    refused: ...
    """
    if device is not None:
        # The caller's choice: an unknown or missing device is their error,
        # not the file's.
        resolve_device(device)
    try:
        return _load(path, device)
    except ModelFileError:
        raise
    except (TypeError, KeyError, AttributeError, IndexError, ValueError,
            OverflowError, RecursionError) as exc:
        raise ModelFileError(f"{os.fspath(path)!r} is not a valid sknets model "
                             f"file: {str(exc)[:300]}") from exc


def _estimator(header, device):
    # The estimator the header describes, its parameters validated by the
    # estimator's own constraints, plus bounds for what only a file decides.
    name = header.get("estimator")
    if name not in ESTIMATORS:
        raise ModelFileError(f"The model file names estimator {name!r}; sknets "
                             f"loads {sorted(ESTIMATORS)}.")
    params = _decode(header.get("params"), "params")
    if not isinstance(params, dict):
        raise ModelFileError("The model file's params are not a mapping.")
    cls = ESTIMATORS[name]
    unknown = set(params) - set(cls._get_param_names())
    if unknown:
        raise ModelFileError(f"The model file has unknown parameters {sorted(unknown)} "
                             f"for {name}.")
    estimator = cls(**params)
    try:
        estimator._validate_params()
    except ValueError as exc:
        raise ModelFileError(f"The model file's parameters are invalid: {exc}"
                             ) from exc
    n_threads = estimator.n_threads
    if n_threads is not None and n_threads > (os.cpu_count() or 1):
        raise ModelFileError(f"The model file sets n_threads={n_threads}, more than "
                             f"this machine's {os.cpu_count()} CPUs.")
    if device is not None:
        estimator.device = device
        return estimator, resolve_device(device)
    try:
        return estimator, resolve_device(estimator.device)
    except ValueError as exc:
        if "not available" not in str(exc) and "does not exist" not in str(exc):
            raise ModelFileError(f"The model file's parameters are invalid: "
                                 f"{exc}") from exc
    warnings.warn(f"The model was saved with device={estimator.device!r}, which "
                  "this machine lacks; it runs on the CPU.", UserWarning,
                  stacklevel=4)
    estimator.device = "cpu"
    return estimator, "cpu"


def _load(path, device):
    header, tensors = _read(path)
    estimator, device = _estimator(header, device)

    fitted = header.get("fitted")
    if not isinstance(fitted, dict):
        raise ModelFileError("The model file has no fitted-attributes record.")
    classes = _decode_array(fitted.get("classes_"), "classes_")
    if classes.ndim != 1 or len(classes) < 1 or len(np.unique(classes)) != len(
            classes):
        raise ModelFileError("The model file's classes_ are not 1 or more distinct "
                             "labels.")
    estimator.classes_ = classes
    estimator._multilabel_dtype = None
    if "multilabel_dtype" in fitted:
        kind = fitted["multilabel_dtype"]
        try:
            dtype = np.dtype(kind) if isinstance(kind, str) else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in "biuf":
            raise ModelFileError("The model file's multilabel_dtype is not a "
                                 "numeric dtype.")
        estimator._multilabel_dtype = dtype
    estimator.n_features_in_ = _field(fitted, "n_features_in_",
                                      lambda v: _is_count(v) and v > 0,
                                      "a positive integer")
    if "feature_names_in_" in fitted:
        names = _decode_array(fitted["feature_names_in_"], "feature_names_in_")
        if len(names) != estimator.n_features_in_:
            raise ModelFileError("The model file's feature_names_in_ do not match "
                                 "n_features_in_.")
        estimator.feature_names_in_ = names
    if isinstance(estimator, CNNClassifierTorch):
        shape = _field(fitted, "image_shape_",
                       lambda v: isinstance(v, list) and len(v) == 3
                       and all(_is_count(s) and s > 0 for s in v),
                       "(channels, height, width)")
        if math.prod(shape) != estimator.n_features_in_:
            raise ModelFileError(f"The model file's image_shape_ {shape} does not "
                                 f"hold n_features_in_={estimator.n_features_in_}.")
        estimator.image_shape_ = tuple(shape)

    class_weight = tensors.get("criterion.class_weight")
    expected = (2 if len(classes) == 1 else len(classes),)
    if class_weight is not None and (class_weight.shape != expected
                                     or class_weight.dtype != getattr(
                                         torch, estimator.dtype)):
        raise ModelFileError("The model file's class weights do not match classes_.")
    _check_tensors({} if class_weight is None else {"class_weight": class_weight},
                   tensors, "criterion")
    stray = sorted(key for key in tensors if key.split(".")[0] not in _SECTIONS)
    if stray:
        raise ModelFileError(f"The model file holds unexpected tensor(s) {stray}.")
    # The same spec a fit derives; the network is first laid out on the meta
    # device, so that its size is checked against the file's tensors before
    # any memory is allocated for it.
    try:
        spec = estimator._training_spec(
            None, device, seed=0,
            class_weight=None if class_weight is None else class_weight.tolist())
        with torch.device("meta"):
            module = build_module(spec.module).to(spec.torch_dtype)
    except ValueError as exc:
        raise ModelFileError(f"The model file's parameters describe no valid "
                             f"network: {exc}") from exc
    weights = _check_tensors(module.state_dict(), tensors, "module")
    module = module.to_empty(device="cpu")
    module.load_state_dict(weights)

    net = build_net(spec, module)
    _restore_optimizer(net, header.get("optimizer"), tensors)
    history = _decode(fitted.get("history_"), "history_")
    if (not isinstance(history, list) or not history or not all(
            isinstance(row, dict) and isinstance(row.get("train_loss"), float)
            for row in history)):
        raise ModelFileError("The model file's history_ is not a list of epochs "
                             "with their train_loss.")
    for row in history:
        net.history.append({**row, "batches": []})
    _restore_training_state(net, _decode(fitted.get("monitor"), "monitor"),
                            fitted.get("schedule"))
    estimator.net_ = net
    estimator._update_fitted_attributes()
    estimator.n_iter_ = _field(fitted, "n_iter_", _is_count, "a count")
    # Files written before interrupted_ existed hold finished fits.
    interrupted = fitted.get("interrupted_", False)
    if not isinstance(interrupted, bool):
        raise ModelFileError("The model file's interrupted_ is not true or false.")
    estimator.interrupted_ = interrupted
    return estimator


def _restore_training_state(net, monitor, schedule):
    # The stopping monitor's and the schedule's state, so that training
    # continues as it would have without the save.
    if not isinstance(monitor, dict) or not isinstance(schedule, dict):
        raise ModelFileError("The model file's training state is incomplete.")
    best_loss = monitor.get("best_loss_")
    best_score = monitor.get("best_validation_score_")
    if not (_finite_number(best_loss) or best_loss == math.inf) or not (
            _finite_number(best_score) or best_score == -math.inf):
        raise ModelFileError("The model file's best loss and validation score are "
                             "not numbers a fit records.")
    counts = [monitor.get("no_improvement_count_"), schedule.get("epoch_"),
              schedule.get("t_"), schedule.get("reductions_", 0)]
    if not all(_is_count(c) for c in counts):
        raise ModelFileError("The model file's training state holds counts that "
                             "are not non-negative integers.")
    net.monitor_.best_loss_ = float(best_loss)
    net.monitor_.best_validation_score_ = float(best_score)
    (net.monitor_.no_improvement_count_, net.schedule_.epoch_, net.schedule_.t_,
     net.schedule_.reductions_) = counts
