"""
Quick start: an MLP and a CNN on the embedded digits
====================================================

Fits :class:`sknets.MLPClassifierTorch` on scikit-learn's 8x8 digits (shipped
with scikit-learn, no download), prints the held-out test score, and puts
scikit-learn's own ``MLPClassifier`` with the same parameters beside it, and
:class:`sknets.CNNClassifierTorch` with its default architecture.

Run it with ``python examples/quickstart_digits.py``.
"""

# %%
import time
import warnings

import pandas as pd
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sknets import CNNClassifierTorch, MLPClassifierTorch

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixels in [0, 1]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

# %%
# The same parameters for both MLPs: one hidden layer of 100 units, Adam,
# batches of 200, at most 200 epochs. The CNN reads each row of 64 pixels as
# an 8x8 image.
params = dict(hidden_layer_sizes=(100,), max_iter=200, random_state=0)
clf = MLPClassifierTorch(**params)
rows = []
for name, estimator in [
    ("sknets MLPClassifierTorch", clf),
    ("sklearn MLPClassifier", MLPClassifier(**params)),
    ("sknets CNNClassifierTorch", CNNClassifierTorch(random_state=0)),
]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tic = time.perf_counter()
        estimator.fit(X_train, y_train)
        seconds = time.perf_counter() - tic
    rows.append({"estimator": name, "epochs": estimator.n_iter_,
                 "fit seconds": round(seconds, 2),
                 "test accuracy": round(estimator.score(X_test, y_test), 4)})

print(pd.DataFrame(rows).to_string(index=False))

# %%
# The per-epoch history of the sknets model is a table too.
print(pd.DataFrame(clf.history_).tail(3).to_string(index=False))
print(f"test accuracy: {clf.score(X_test, y_test):.4f}")
