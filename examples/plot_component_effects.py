"""
What each component does, with intervals (seed study 003)
=========================================================

Seed 003 asked how each component of a network and its training changes
the result: learning rate, depth and width, loss. It trained one network
per setting on one split and read the final validation accuracy, so a
difference of 0.005 looked like a finding. Here the same questions are one
grid, every candidate is scored on 10 splits (stratified 5-fold repeated
twice, each candidate's splits trained together as one stacked network),
and ``compare_candidates`` says which differences the data support:
corrected resampled t-intervals, paired on the other parameters and on the
split, Bonferroni-adjusted.

By default it runs on scikit-learn's digits for 15 epochs (about a minute on
2 CPU cores); ``SKNETS_EXAMPLE_FULL=1`` uses 10,000 Fashion-MNIST images and
20 epochs.
"""

# %%
import os
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from sknets import MLPClassifierTorch
from sknets.datasets import load_digits_images, load_fashion_mnist
from sknets.metrics import evaluate
from sknets.model_selection import GridSearchCV, compare_candidates

FULL = os.environ.get("SKNETS_EXAMPLE_FULL") == "1"
# The short runs stop before convergence; that is expected here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
if FULL:
    X, y = load_fashion_mnist(return_X_y=True)
    X, y = X[:10000], y[:10000]
else:
    X, y = load_digits_images(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y,
                                                  random_state=0)

# %%
# The seed's components as one grid: learning rate x depth and width x loss.
grid = {"learning_rate_init": [0.001, 0.01],
        "hidden_layer_sizes": [(32,), (64,), (64, 64)],
        "loss": ["cross_entropy", "mse"]}
cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0)
search = GridSearchCV(MLPClassifierTorch(batch_size=64, max_iter=20 if FULL else 15,
                                         random_state=0),
                      grid, cv=cv, scoring="accuracy").fit(X_train, y_train)

# %%
# Every candidate with its interval; ``tied_with_best`` marks those the data
# cannot tell from the best.
comparison = compare_candidates(search)
print(comparison.candidates.to_string(float_format=lambda v: f"{v:.4f}"))

# %%
# Each component's effect against its best value, with its simultaneous
# interval, and the sentences a report gives: "no evidence" is a finding.
print(comparison.effects.to_string(float_format=lambda v: f"{v:.4f}"))
print(comparison)

# %%
# The forest plot: filled markers are differences with evidence.
display = comparison.plot_effects()

# %%
# The chosen model on the test split, which chose nothing.
print(evaluate(search.best_estimator_, X_test, y_test))
