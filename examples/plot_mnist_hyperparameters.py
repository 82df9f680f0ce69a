"""
Learning rate, batch size, depth, width and loss on MNIST (seed study 003)
==========================================================================

Seed 003 varied one hyperparameter at a time and tabulated per-epoch
training and validation loss and accuracy: learning rate (0.001, 0.01,
0.1), batch size (1, 16, 64, 256), hidden layers (0, 1, 2), width (32, 64,
128) and loss (cross-entropy, MSE, L1). Each study is a small grid here,
and each model's ``history_`` is the per-epoch table.

By default it runs on scikit-learn's digits for 5 epochs (under a minute on
2 CPU cores); ``SKNETS_EXAMPLE_FULL=1`` uses MNIST (or Fashion-MNIST when
MNIST is absent, which the example says) for 10 epochs.
"""

# %%
import os
import warnings

import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sknets import MLPClassifierTorch
from sknets.datasets import load_digits_images, load_fashion_mnist, load_mnist
from sknets.plotting import plot_learning_curves

FULL = os.environ.get("SKNETS_EXAMPLE_FULL") == "1"
# The short default runs stop before convergence; that is expected here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
X, y = load_digits_images(return_X_y=True)
if FULL:
    try:
        X, y = load_mnist(return_X_y=True)
    except FileNotFoundError:
        print("MNIST is not installed: using Fashion-MNIST instead.")
        X, y = load_fashion_mnist(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.2, stratify=y,
                                                  random_state=0)
EPOCHS = 10 if FULL else 5

# %%
# One study per hyperparameter; the rest stay at the seed's baseline
# (one hidden layer of 64 units, cross-entropy, lr 0.01, batch 64).
studies = {
    "learning_rate_init": [0.001, 0.01, 0.1],
    "batch_size": [1, 16, 64, 256],
    "hidden_layer_sizes": [(), (64,), (64, 64)],
    "width": [(32,), (64,), (128,)],
    "loss": ["cross_entropy", "mse", "l1"],
}
rows, histories = [], {}
for study, values in studies.items():
    param = "hidden_layer_sizes" if study == "width" else study
    for value in values:
        clf = MLPClassifierTorch((64,), learning_rate_init=0.01, batch_size=64,
                                 max_iter=EPOCHS, random_state=0)
        clf.set_params(**{param: value})
        clf.fit(X_train, y_train, validation_data=(X_val, y_val))
        last = clf.history_[-1]
        rows.append({"study": study, "value": str(value),
                     "train_loss": last["train_loss"],
                     "valid_loss": last["valid_loss"],
                     "valid_accuracy": last["valid_accuracy"],
                     "seconds_per_epoch": sum(r["duration"] for r in clf.history_)
                     / len(clf.history_)})
        histories[(study, str(value))] = clf.history_

# %%
# The final epoch of every run, and one full per-epoch table.
print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
print(pd.DataFrame(histories[("batch_size", "16")]).round(4).to_string(index=False))

# %%
# Learning curves of the batch-size study.
for value in studies["batch_size"]:
    fig = plot_learning_curves(histories[("batch_size", str(value))],
                               title=f"batch size {value}")
