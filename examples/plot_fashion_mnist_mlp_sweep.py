"""
Three MLPs and four learning rates on Fashion-MNIST (seed study 001)
====================================================================

Seed 001 compared three MLPs (784-1024-512-256-128-10, 784-512-256-128-64-10
and 784-128-64-10, each with batch normalisation, ReLU and dropout 0.5) at
four learning rates, picked the best by validation macro-F1 and reported it
on the test set. Here that is one call to :func:`sknets.compare.compare`.

By default the example trains on 6,000 images for 8 epochs on the seed's
own protocol, one validation split (about a minute on 2 CPU cores): the
report then ranks the candidates but claims no evidence of any difference,
because one split says nothing about how the scores move between training
sets. Set ``SKNETS_EXAMPLE_FULL=1`` for the full 60,000 images, 30 epochs
and ``compare``'s default protocol, stratified 5-fold repeated twice, whose
intervals and tests say which differences the data support. Without the
Fashion-MNIST files (``apt-get install dataset-fashion-mnist``), it uses
scikit-learn's digits and says so.
"""

# %%
import os
import warnings

from sklearn.exceptions import ConvergenceWarning

from sknets import MLPClassifierTorch
from sknets.compare import compare
from sknets.datasets import load_digits_images, load_fashion_mnist

FULL = os.environ.get("SKNETS_EXAMPLE_FULL") == "1"
# The short default runs stop before convergence; that is expected here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
try:
    train = load_fashion_mnist()
    X_test, y_test = load_fashion_mnist(kind="test", return_X_y=True)
    X, y, names = train.data, train.target, train.target_names
except FileNotFoundError:
    print("Fashion-MNIST is not installed: using scikit-learn's digits instead.")
    digits = load_digits_images()
    X, y, names, X_test, y_test = digits.data, digits.target, None, None, None
if not FULL:
    X, y = X[:6000], y[:6000]
    if X_test is not None:
        X_test, y_test = X_test[:2000], y_test[:2000]

# %%
# The grid: the seed's three architectures times four learning rates, with
# batch normalisation and dropout after every hidden layer.
param_grid = {
    "hidden_layer_sizes": [(1024, 512, 256, 128), (512, 256, 128, 64), (128, 64)],
    "learning_rate_init": [0.005, 0.004, 0.003, 0.001],
}
estimator = MLPClassifierTorch(batch_norm=True, dropout=0.5, batch_size=64,
                               max_iter=30 if FULL else 8, random_state=0)
result = compare(estimator, param_grid, X, y, X_test, y_test,
                 cv=5 if FULL else "holdout",
                 output_dir="runs/example-mlp-sweep", class_names=names)

# %%
# The ranked candidates (validation macro-F1), then the best model's test
# report; ``runs/example-mlp-sweep/report.html`` has every figure.
print(result.results[["hidden_layer_sizes", "learning_rate_init",
                      "mean_f1_macro", "mean_accuracy", "fit_time"]].to_string())
print(result.evaluation)
