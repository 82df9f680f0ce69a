"""Data shared by the tests: small, built once per session; the quick subset."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


@pytest.fixture(scope="session")
def digits():
    """Digits scaled to [0, 1], split 75/25 stratified: X_train, X_test, y_..."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


@pytest.fixture(scope="session")
def small_digits(digits):
    """600 training and 400 test digits, for the many short fits."""
    X_train, X_test, y_train, y_test = digits
    return X_train[:600], X_test[:400], y_train[:600], y_test[:400]


# `python -m pytest -m quick`: a first check of an install in under three
# minutes on 2 cores (the estimators, parity,
# callbacks, persistence, the statistics and the CLI's help); the full
# suite stays the README's test command.
QUICK_MODULES = {"test_mlp", "test_cnn", "test_parity", "test_callbacks",
                 "test_persistence", "test_metrics", "test_comparison",
                 "test_record", "test_cli_help"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.stem in QUICK_MODULES:
            item.add_marker(pytest.mark.quick)
