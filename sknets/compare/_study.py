"""The study of a comparison: its data, held-out test set, splits and fingerprint.

``make_study`` checks and splits the data once, before anything is written;
``_fingerprint`` is what a resumed run folder must match.
"""

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import (
    RepeatedStratifiedKFold,
    StratifiedKFold,
    train_test_split,
)
from sklearn.utils.validation import _check_sample_weight

from ..metrics import make_scoring
from ..persistence import _encode
from ._folder import FORMAT

__all__ = ["Study", "make_study", "n_splits", "split_ratio"]


# -- the study: data and protocol ------------------------------------------------------


@dataclass
class Study:
    """What a run compares on: the data splits, the protocol and the metrics."""

    X: np.ndarray  # the training part (cv=K: all of it, split into folds)
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_val: np.ndarray | None  # holdout: the validation split of X
    y_val: np.ndarray | None
    protocol: dict
    scoring: dict
    classes: np.ndarray
    class_names: list | None = None
    data_summary: list | None = None  # lines saying what data was read
    sample_weight: np.ndarray | None = None  # of the rows of X
    sample_weight_val: np.ndarray | None = None  # of the rows of X_val

    @property
    def folds(self):
        """Splits per candidate: 1 with 'holdout', else cv x repeats."""
        return n_splits(self.protocol)

    @property
    def refit(self):
        return self.protocol["refit"]


def _split(X, y, w, size, random_state):
    # A stratified split of X, y and their weights (when there are any).
    arrays = (X, y) if w is None else (X, y, w)
    parts = train_test_split(*arrays, test_size=size, stratify=y,
                             random_state=random_state)
    if w is None:
        parts += [None, None]
    X, X_out, y, y_out, w, w_out = parts
    return X, X_out, y, y_out, w, w_out


def n_splits(protocol):
    """Validation scores per candidate under a protocol (run.json's)."""
    if protocol["cv"] == "holdout":
        return 1
    return protocol["cv"] * protocol.get("repeats", 1)


def split_ratio(protocol):
    """n_test / n_train of a protocol's splits (None for one holdout split)."""
    return None if protocol["cv"] == "holdout" else 1 / (protocol["cv"] - 1)


def _is_int(value, low):
    return (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            and value >= low)


def _check_test_data(X, y, X_test, y_test):
    # The test data against the training data, before anything trains: a
    # mismatch found at evaluation would cost the whole run.
    if y_test is None:
        raise ValueError("X_test is given without y_test; give both, or neither "
                         "to split a test set off X.")
    X_test, y_test = np.asarray(X_test), np.asarray(y_test)
    if X_test.ndim < 2 or y_test.ndim != 1:
        raise ValueError(f"X_test must have one row per sample and y_test one "
                         f"label per row; got shapes {X_test.shape} and "
                         f"{y_test.shape}.")
    if len(X_test) != len(y_test):
        raise ValueError(f"X_test has {len(X_test)} rows but y_test has "
                         f"{len(y_test)} labels; they must match.")
    width, test_width = int(np.prod(X.shape[1:])), int(np.prod(X_test.shape[1:]))
    if width != test_width:
        raise ValueError(f"X_test has {test_width} values per row (shape "
                         f"{X_test.shape}) but the training data X has {width} "
                         f"(shape {X.shape}): the test data must have the "
                         "training data's features.")
    unseen = sorted(set(np.unique(y_test).tolist()) - set(np.unique(y).tolist()),
                    key=str)
    if unseen:
        raise ValueError(f"y_test has label(s) {unseen[:10]} that the training "
                         "labels y do not have: a classifier cannot predict them. "
                         "Give test data of the training classes.")


def make_study(X, y, X_test, y_test, *, cv, scoring, refit, test_size,
               validation_size, random_state, class_names, data_summary=None,
               sample_weight=None, repeats=1):
    """Split the data as the protocol says and check the protocol's values."""
    if cv != "holdout" and not _is_int(cv, 2):
        raise ValueError(f"cv must be 'holdout' or an int >= 2, got {cv!r}.")
    if not _is_int(repeats, 1):
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}.")
    if cv == "holdout" and repeats != 1:
        raise ValueError("repeats > 1 needs cv=K (repeated K-fold); 'holdout' is "
                         "one split. Set cv=5, or repeats=1.")
    X, y = np.asarray(X), np.asarray(y)
    w = None
    if sample_weight is not None:
        w = _check_sample_weight(sample_weight, np.arange(len(y)),
                                 ensure_non_negative=True)
    if X_test is None:
        if y_test is not None:
            raise ValueError("y_test is given without X_test; give both, or "
                             "neither to split a test set off X.")
        X, X_test, y, y_test, w, _ = _split(X, y, w, test_size, random_state)
    else:
        _check_test_data(X, y, X_test, y_test)
    X_test, y_test = np.asarray(X_test), np.asarray(y_test)
    classes = np.unique(y)
    scoring = make_scoring(classes) if scoring is None else dict(scoring)
    if refit not in scoring:
        raise ValueError(f"refit={refit!r} is not one of the metrics {list(scoring)}.")
    X_val = y_val = w_val = None
    if cv == "holdout":
        X, X_val, y, y_val, w, w_val = _split(X, y, w, validation_size,
                                              random_state)
    protocol = {"cv": cv, "validation_size": validation_size,
                "random_state": random_state, "refit": refit,
                "metrics": list(scoring)}
    if repeats > 1:  # kept out otherwise: a K-fold run's folder stays the same
        protocol["repeats"] = repeats
    return Study(X, y, X_test, y_test, X_val, y_val, protocol, scoring, classes,
                 None if class_names is None else [str(n) for n in class_names],
                 None if data_summary is None else [str(s) for s in data_summary],
                 w, w_val)


def _fingerprint(estimator, study):
    digest = hashlib.sha256(f"sknets-compare-{FORMAT}".encode())
    arrays = (study.X, study.y, study.X_test, study.y_test)
    if study.X_val is not None:
        arrays += (study.X_val, study.y_val)
    if study.sample_weight is not None:  # other weights are another study
        arrays += (study.sample_weight,) + (
            () if study.sample_weight_val is None else (study.sample_weight_val,))
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes() if array.dtype.kind != "O"
                      else repr(array.tolist()).encode())
    digest.update(type(estimator).__name__.encode())
    digest.update(json.dumps(_encode(estimator.get_params(), "estimator"),
                             sort_keys=True).encode())
    # The metrics are left out: a rerun with other scorers refits only the
    # candidates whose records lack one of them (see plan).
    protocol = {k: v for k, v in study.protocol.items() if k != "metrics"}
    digest.update(json.dumps(protocol, sort_keys=True).encode())
    return digest.hexdigest()


def _n_fit(study):
    # The rows each candidate's model trains on (a fold's training part).
    if study.protocol["cv"] == "holdout":
        return int(len(study.y))
    return int(len(study.y) - len(study.y) // study.protocol["cv"])


def _n_val(study):
    # The rows each validation score is computed on.
    if study.protocol["cv"] == "holdout":
        return int(len(study.y_val))
    return int(len(study.y) // study.protocol["cv"])


def _splits(study):
    protocol = study.protocol
    if protocol["cv"] == "holdout":
        return [(np.arange(len(study.y)), None)]
    repeats = protocol.get("repeats", 1)
    splitter = (StratifiedKFold(protocol["cv"], shuffle=True,
                                random_state=protocol["random_state"])
                if repeats == 1 else
                RepeatedStratifiedKFold(n_splits=protocol["cv"], n_repeats=repeats,
                                        random_state=protocol["random_state"]))
    return list(splitter.split(study.X, study.y))


def _n_features(study):
    return int(np.prod(study.X.shape[1:])) if study.X.ndim > 1 else 1
