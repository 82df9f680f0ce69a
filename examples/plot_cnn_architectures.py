"""
CNN architectures: depth, filters, pooling, dense head, LeNet-5 (seeds 002, 004)
================================================================================

Seeds 002 and 004 compared convolutional networks: strided 'valid' stacks of
2 to 5 convolutions, the number of filters, max against average pooling and
its size, a dense head, LeNet-5, and where dropout and batch normalisation
go. :data:`sknets.cnn.ARCHITECTURES` names them, and
:func:`sknets.cnn.architecture_grid` turns a list of names into a grid.

By default it runs on scikit-learn's 8x8 digits for 10 epochs on one
validation split (the architectures' windows are clipped to the small
images; about a minute on 2 CPU cores): the ranking then claims no evidence
of any difference. ``SKNETS_EXAMPLE_FULL=1`` uses MNIST's 28x28 images (or
Fashion-MNIST when MNIST is absent, which the example says) and 3-fold
cross-validation, 3 scores per candidate: CNN fits train one by one on the
CPU, so 10 splits of 11 networks would take hours (``compare`` prints the
planned fits and their estimated time before it starts).
"""

# %%
import os
import warnings

from sklearn.exceptions import ConvergenceWarning

from sknets import CNNClassifierTorch
from sknets.cnn import architecture_grid
from sknets.compare import compare
from sknets.datasets import load_digits_images, load_fashion_mnist, load_mnist
from sknets.plotting import plot_filters, plot_roc_curves

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

# %%
# Seed 004's basic network and its variants, LeNet-5 and seed 002's strided
# stack; and, on the basic network, where batch normalisation and dropout go.
grid = architecture_grid(["basic", "short", "min-filters", "pool5", "avg-pool",
                          "fc", "lenet5", "arch1"])
grid += [{**entry, "batch_norm": [True]} for entry in architecture_grid("basic")]
grid += [{**entry, "conv_dropout": [(0.25, 0.0), (0.25, 0.25)]}
         for entry in architecture_grid("basic")]
result = compare(CNNClassifierTorch(max_iter=20 if FULL else 10, random_state=0),
                 grid, X, y, cv=3 if FULL else "holdout", repeats=1,
                 output_dir="runs/example-cnn-architectures")
print(result.results[["architecture", "batch_norm", "conv_dropout",
                      "mean_f1_macro", "mean_accuracy", "fit_time"]].to_string())

# %%
# The best network's ROC curves on the test data and its learned filters.
best, report = result.best_estimator_, result.evaluation
print(report)
fig = plot_roc_curves(report.y_true, report.y_proba, best.classes_)
fig = plot_filters(best)
