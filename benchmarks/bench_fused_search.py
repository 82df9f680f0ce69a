"""Fused searches against scikit-learn's GridSearchCV, in one process.

Two grids, each timed with the contenders alternating round by round
(medians over rounds reported):

- **digits**: the default grid of ``sknets compare`` (widths (64,), (128,),
  (64, 64) x learning rates 1e-3, 1e-2: 6 candidates), 5-fold, with the
  command's 60 epochs and the estimator's default stopping rules;
- **Fashion-MNIST**: 30,000 training rows, a 784-128-64-10 MLP at batch 64,
  learning rate x alpha (8 candidates) x 2 folds, 5 epochs per fit (the
  digits, upscaled to 28x28 and tiled, when the dataset is absent). The
  fused run's arithmetic rate is given as a fraction of the machine's sgemm
  rate, measured in the same run.

The contenders: ``sknets.model_selection.GridSearchCV`` (fuse=True, one
process) against scikit-learn's ``GridSearchCV`` of the same estimator with
n_jobs=1 and n_jobs=2. No refit: it is one ordinary fit in every contender.
It writes ``benchmarks/results/fused_search.json`` and the "Fused searches"
section of ``docs/performance.md``::

    python benchmarks/bench_fused_search.py           # about 10 minutes on 2 cores
    python benchmarks/bench_fused_search.py --quick   # a smoke run
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn import model_selection as sk
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import sknets
from sknets import MLPClassifierTorch
from sknets.datasets import load_fashion_mnist
from sknets.model_selection import GridSearchCV

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- fused searches: benchmarks/bench_fused_search.py -->"


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return platform.processor()
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def machine():
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "sklearn": sklearn.__version__, "sknets": sknets.__version__}


def sgemm_rate():
    a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
    for _ in range(5):
        a @ b
    rates = []
    for _ in range(5):
        tic = time.perf_counter()
        for _ in range(20):
            a @ b
        rates.append(2 * 1024 ** 3 * 20 / (time.perf_counter() - tic))
    return max(rates)


def fashion(n_rows):
    try:
        X, y = load_fashion_mnist(return_X_y=True)
        source = "Fashion-MNIST"
    except (FileNotFoundError, OSError, ValueError):
        digits = load_digits()
        images = torch.nn.functional.interpolate(
            torch.tensor(digits.images[:, None], dtype=torch.float32),
            size=(28, 28), mode="bilinear").reshape(len(digits.images), -1).numpy()
        reps = -(-n_rows // len(images))
        X, y = np.tile(images * 16, (reps, 1)), np.tile(digits.target, reps)
        source = "digits upscaled to 28x28 (Fashion-MNIST not installed)"
    return (X[:n_rows] / 255.0).astype(np.float32), y[:n_rows], source


def time_contenders(contenders, rounds):
    times = {name: [] for name in contenders}
    searches = {}
    for _ in range(rounds):
        for name, run in contenders.items():
            tic = time.perf_counter()
            searches[name] = run()
            times[name].append(time.perf_counter() - tic)
    return {name: statistics.median(t) for name, t in times.items()}, times, searches


def contenders(estimator, grid, cv, X, y):
    return {
        "fused": lambda: GridSearchCV(estimator, grid, cv=cv, refit=False).fit(X, y),
        "scikit-learn n_jobs=1": lambda: sk.GridSearchCV(
            estimator, grid, cv=cv, refit=False, n_jobs=1).fit(X, y),
        "scikit-learn n_jobs=2": lambda: sk.GridSearchCV(
            estimator, grid, cv=cv, refit=False, n_jobs=2).fit(X, y),
    }


def agreement(searches):
    fused = searches["fused"].cv_results_
    plain = searches["scikit-learn n_jobs=1"].cv_results_
    diff = np.abs(fused["mean_test_score"] - plain["mean_test_score"])
    return {"max_score_difference": float(diff.max()),
            "same_best": int(np.argmin(fused["rank_test_score"]))
            == int(np.argmin(plain["rank_test_score"])),
            "best": str(plain["params"][int(np.argmin(plain["rank_test_score"]))])}


def mlp_flops(sizes, n_rows, epochs):
    # Forward and weight gradients for every layer, input gradients for all
    # but the first: 2 flops per multiply-add.
    layers = list(zip(sizes[:-1], sizes[1:], strict=True))
    per_row = sum(6 * a * b for a, b in layers) - 2 * layers[0][0] * layers[0][1]
    return per_row * n_rows * epochs


def digits_case(rounds, quick):
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    grid = {"hidden_layer_sizes": [(64,), (128,), (64, 64)],
            "learning_rate_init": [1e-3, 1e-2]}
    estimator = MLPClassifierTorch(max_iter=5 if quick else 60, random_state=0)
    median, times, searches = time_contenders(
        contenders(estimator, grid, 5, X, y), rounds)
    return {"median_s": median, "times_s": times, **agreement(searches),
            "fits": 30, "max_iter": estimator.max_iter}


def fashion_case(rounds, quick):
    n_rows = 3000 if quick else 30000
    X, y, source = fashion(n_rows)
    grid = {"learning_rate_init": [1e-4, 3e-4, 1e-3, 3e-3],
            "alpha": [1e-4, 1e-2]}
    epochs = 1 if quick else 5
    estimator = MLPClassifierTorch((128, 64), batch_size=64, max_iter=epochs,
                                   random_state=0)
    median, times, searches = time_contenders(
        contenders(estimator, grid, 2, X, y), rounds)
    rate = sgemm_rate()
    flops = mlp_flops([784, 128, 64, 10], n_rows // 2, epochs) * 16
    return {"median_s": median, "times_s": times, **agreement(searches),
            "rows": n_rows, "source": source, "epochs": epochs, "fits": 16,
            "sgemm_gflops": rate / 1e9,
            "fused_gflops": flops / median["fused"] / 1e9,
            "fused_fraction_of_sgemm": flops / median["fused"] / rate}


def markdown(results):
    m, d, f = results["machine"], results["digits"], results["fashion"]

    def ratio(case, other):
        return case["median_s"][other] / case["median_s"]["fused"]

    rows = [
        ("digits, compare's grid, 5-fold: scikit-learn n_jobs=1 / fused",
         ratio(d, "scikit-learn n_jobs=1"), ">= 3"),
        ("digits, compare's grid, 5-fold: scikit-learn n_jobs=2 / fused",
         ratio(d, "scikit-learn n_jobs=2"), ">= 2"),
        ("Fashion-MNIST, 8 candidates x 2 folds: scikit-learn n_jobs=1 / fused",
         ratio(f, "scikit-learn n_jobs=1"), ">= 2"),
        ("Fashion-MNIST, 8 candidates x 2 folds: scikit-learn n_jobs=2 / fused",
         ratio(f, "scikit-learn n_jobs=2"), ">= 1.3"),
    ]
    lines = [
        MARKER, "", "## Fused searches", "",
        f"Measured by `python benchmarks/bench_fused_search.py` on {m['cpu']} "
        f"({m['cpu_count']} cores), torch {m['torch']} with {m['torch_threads']} "
        f"threads, scikit-learn {m['sklearn']}. The contenders alternate round by "
        f"round; figures are medians over {results['rounds']} rounds of a whole "
        "search without its refit. \"fused\" is `sknets.model_selection."
        "GridSearchCV` in one process; the others are scikit-learn's "
        "`GridSearchCV` of the same `MLPClassifierTorch`.", "",
        "| speed-up | measured | target |", "| --- | --- | --- |",
        *[f"| {name} | **{value:.2f}x** | {target} |" for name, value, target in rows],
        "", "| grid | fused | scikit-learn n_jobs=1 | scikit-learn n_jobs=2 | "
        "max score difference | same best |", "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, case in (("digits, 6 candidates x 5 folds, "
                        f"max_iter={d['max_iter']}", d),
                       (f"{f['source']}, {f['rows']:,} rows, 8 x 2, "
                        f"{f['epochs']} epochs, batch 64", f)):
        s = case["median_s"]
        lines.append(f"| {name} | {s['fused']:.1f} s | "
                     f"{s['scikit-learn n_jobs=1']:.1f} s | "
                     f"{s['scikit-learn n_jobs=2']:.1f} s | "
                     f"{case['max_score_difference']:.4f} | {case['same_best']} |")
    lines += [
        "", f"The fused Fashion-MNIST search does {f['fused_gflops']:.1f} GFLOP/s "
        f"of matrix arithmetic, **{100 * f['fused_fraction_of_sgemm']:.0f}%** of the "
        f"machine's sgemm rate ({f['sgemm_gflops']:.0f} GFLOP/s, a 1024x1024 "
        "product measured in the same run; the goal is 50%).", "",
    ]
    return "\n".join(lines) + "\n"


def write_section(text):
    path = ROOT / "docs" / "performance.md"
    current = path.read_text() if path.exists() else "# Performance\n\n"
    head = current.split(MARKER)[0].rstrip("\n") + "\n\n"
    path.write_text(head + text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    rounds = 1 if args.quick else args.rounds
    # Warm the worker processes and torch once, outside the timings.
    X, y = load_digits(return_X_y=True)
    small = MLPClassifierTorch((8,), max_iter=1)
    sk.GridSearchCV(small, {"alpha": [1e-4, 1e-3]}, cv=2, n_jobs=2).fit(X, y)
    GridSearchCV(small, {"alpha": [1e-4, 1e-3]}, cv=2).fit(X, y)
    results = {"machine": machine(), "rounds": rounds,
               "digits": digits_case(rounds, args.quick),
               "fashion": fashion_case(rounds, args.quick)}
    text = markdown(results)
    print(text)
    if not args.quick:
        out = ROOT / "benchmarks" / "results" / "fused_search.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        write_section(text)
        print(f"wrote {out} and docs/performance.md")


if __name__ == "__main__":
    main()
