"""
GridSearchCV with macro-F1 and per-class ROC-AUC
================================================

:func:`sknets.metrics.make_scoring` gives ``GridSearchCV`` the metrics the
seed studies read: accuracy, macro precision, recall and F1, and the ROC-AUC
of every class. The search refits the candidate with the best macro-F1, and
:func:`sknets.metrics.search_results_frame` turns it into a table.

It runs on scikit-learn's digits in about a minute on 2 CPU cores;
``SKNETS_EXAMPLE_FULL=1`` trains longer.
"""

# %%
import os
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

from sknets import MLPClassifierTorch
from sknets.datasets import load_digits_images
from sknets.metrics import evaluate, make_scoring, search_results_frame

FULL = os.environ.get("SKNETS_EXAMPLE_FULL") == "1"
# The short default runs stop before convergence; that is expected here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
X, y = load_digits_images(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25,
                                                    stratify=y, random_state=0)
search = GridSearchCV(
    MLPClassifierTorch(max_iter=60 if FULL else 20, random_state=0),
    {"hidden_layer_sizes": [(32,), (128,), (64, 64)],
     "learning_rate_init": [1e-3, 1e-2]},
    scoring=make_scoring(classes=np.unique(y)), refit="f1_macro", cv=3, n_jobs=2,
).fit(X_train, y_train)

# %%
# The candidates, best first by macro-F1, with their per-class AUCs.
frame = search_results_frame(search)
auc_columns = [f"mean_roc_auc_{label}" for label in np.unique(y)]
print(frame[["hidden_layer_sizes", "learning_rate_init", "mean_f1_macro",
             "std_f1_macro", "mean_accuracy"]].to_string())
print(frame[["hidden_layer_sizes", "learning_rate_init", *auc_columns]]
      .round(4).to_string())

# %%
# The refitted best model on the test data.
print(search.best_params_)
print(evaluate(search.best_estimator_, X_test, y_test))
