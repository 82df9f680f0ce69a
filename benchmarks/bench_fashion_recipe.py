"""The Fashion-MNIST recipe (``sknets.cnn.RECIPES['fashion']``), chosen on validation.

The 60,000 training images are split 50,000 / 10,000 (stratified, seed 0).
Each contender trains on the 50,000 with the 10,000 as ``validation_data``
(scored every epoch, never used for training), and the one with the best
final validation accuracy is chosen. Only the chosen one is then scored on
the 10,000 test images: the test split never takes part in a choice. The
contenders are the recipe and the same recipe with the default CNN's two
convolutions.

Records each contender's fit time, epochs and validation accuracy, the
chosen one's test accuracy, and writes
``benchmarks/results/fashion_recipe.json`` and the "Fashion-MNIST recipe"
section of ``docs/performance.md``::

    python benchmarks/bench_fashion_recipe.py            # about 40 minutes on 2 cores
    python benchmarks/bench_fashion_recipe.py --only recipe   # the recipe alone
    python benchmarks/bench_fashion_recipe.py --quick    # a smoke run
"""

import argparse
import time
import warnings

from _common import publish
from bench_fused_search import machine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sknets import CNNClassifierTorch
from sknets.cnn import RECIPES
from sknets.datasets import load_fashion_mnist

MARKER = "<!-- fashion recipe: benchmarks/bench_fashion_recipe.py -->"
# The recipe, and the same with the two-convolution network of the default
# CNN (cheaper per epoch).
CONTENDERS = {
    "recipe": dict(RECIPES["fashion"]),
    "recipe with 2 convolutions": {**RECIPES["fashion"],
                                   "conv_layers": ((32, 3), (64, 3)),
                                   "conv_dropout": (0.0, 0.2)},
}


def markdown(results):
    m = results["machine"]
    chosen = results["chosen"]
    lines = [
        MARKER, "", "## Fashion-MNIST recipe", "",
        f"Measured by `python benchmarks/bench_fashion_recipe.py` on {m['cpu']} "
        f"({m['cpu_count']} cores), torch {m['torch']} with {m['torch_threads']} "
        "threads. Each contender trains on 50,000 of the 60,000 training images; "
        "the other 10,000 are its validation split, which chooses the contender. "
        "Only the chosen one is scored on the 10,000 test images.", "",
        "| contender | epochs | fit time | s/epoch | validation accuracy | chosen |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results["contenders"].items():
        lines.append(f"| {name} | {r['epochs']} | {r['fit_seconds'] / 60:.1f} min | "
                     f"{r['fit_seconds'] / r['epochs']:.1f} | "
                     f"{r['valid_accuracy']:.4f} | {'yes' if name == chosen else ''} |")
    r = results["contenders"][chosen]
    lines += ["", f"The chosen contender ({chosen}) scores "
              f"**{results['test_accuracy']:.4f}** test accuracy (macro-F1 "
              f"{results['test_f1_macro']:.4f}) after "
              f"{r['fit_seconds'] / 60:.1f} minutes of training; the target is "
              "0.935 within 30 minutes.", "",
              "The recipe: `CNNClassifierTorch(**sknets.cnn.RECIPES['fashion'])`, "
              f"that is `{_params_text(RECIPES['fashion'])}`."]
    return "\n".join(lines) + "\n"


def _params_text(params):
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=sorted(CONTENDERS))
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_fashion_mnist(return_X_y=True)
    X_test, y_test = load_fashion_mnist(kind="test", return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=10000, stratify=y, random_state=0)
    if args.quick:
        X_train, y_train, X_val, y_val = X_train[:2000], y_train[:2000], \
            X_val[:1000], y_val[:1000]
    names = [args.only] if args.only else list(CONTENDERS)
    contenders, models = {}, {}
    for name in names:
        params = {**CONTENDERS[name], "random_state": 0}
        if args.quick:
            params["max_iter"] = 2
        clf = CNNClassifierTorch(**params)
        tic = time.perf_counter()
        clf.fit(X_train, y_train, validation_data=(X_val, y_val))
        seconds = time.perf_counter() - tic
        history = clf.history_
        contenders[name] = {
            "params": {k: repr(v) for k, v in params.items()},
            "epochs": clf.n_iter_, "fit_seconds": seconds,
            "valid_accuracy": float(history[-1]["valid_accuracy"]),
            "history": [{k: row[k] for k in ("epoch", "lr", "train_loss",
                                             "valid_loss", "valid_accuracy",
                                             "duration") if k in row}
                        for row in history],
        }
        models[name] = clf
        print(name, f"{seconds:.0f} s",
              f"validation {history[-1]['valid_accuracy']:.4f}", flush=True)
    chosen = max(contenders, key=lambda n: contenders[n]["valid_accuracy"])
    from sklearn.metrics import accuracy_score, f1_score

    y_pred = models[chosen].predict(X_test)
    results = {"machine": machine(), "contenders": contenders, "chosen": chosen,
               "test_accuracy": float(accuracy_score(y_test, y_pred)),
               "test_f1_macro": float(f1_score(y_test, y_pred, average="macro"))}
    publish(results, markdown(results), "fashion_recipe", MARKER, args.quick)


if __name__ == "__main__":
    main()
