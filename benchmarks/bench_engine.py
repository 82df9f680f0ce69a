"""The training engine's targets: fused grids, stacked splits, one fit.

Each case times its contenders in one process, alternating round by round,
and reports medians over the rounds:

- **digits grid**: hidden_layer_sizes (64,), (128,), (64, 64) x
  learning_rate_init 1e-2, 1e-3, 5-fold, 30 epochs per fit (no early stop):
  sknets' fused GridSearchCV (n_jobs=1 and 2) against scikit-learn's
  GridSearchCV over MLPClassifierTorch (n_jobs=1, 2) and over scikit-learn's
  own MLPClassifier (n_jobs=2);
- **ten splits**: one digits candidate ((64,), 30 epochs) on the ten
  training sets of 5-fold x 2 repeats trained as one stack
  (``fit_on_folds``) against one fit on one of them;
- **one fit**: a digits (128,) fit of 30 epochs, sknets against
  scikit-learn's MLPClassifier;
- **Fashion-MNIST** (without ``--busy``): ``bench_fused_search.py``'s case,
  30,000 rows, 784-128-64-10 at batch 64, learning rate x alpha (8
  candidates) x 2 folds, 5 epochs, against scikit-learn's search with
  n_jobs=1 and 2.

With ``--busy`` a CPU-bound process runs beside every timing (a pure-Python
loop, as another program on a laptop would). It writes
``benchmarks/results/engine.json`` (``engine_busy.json``) and its section of
``docs/performance.md``::

    python benchmarks/bench_engine.py            # about 5 minutes on 2 cores
    python benchmarks/bench_engine.py --busy
    python benchmarks/bench_engine.py --quick    # a smoke run
"""

import argparse
import json
import multiprocessing
import os
import warnings
from math import nan

import numpy as np
from _common import PATH, cpu_model, write_section
from bench_fused_search import fashion_case, machine, time_contenders
from sklearn import model_selection as sk
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold
from sklearn.neural_network import MLPClassifier

from sknets import MLPClassifierTorch
from sknets.model_selection import GridSearchCV, fit_on_folds

MARKER = "<!-- training engine: benchmarks/bench_engine.py -->"
GRID = {"hidden_layer_sizes": [(64,), (128,), (64, 64)],
        "learning_rate_init": [1e-2, 1e-3]}


def _spin(stop):
    while not stop.is_set():
        sum(range(10_000))


def _digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def digits_grid(rounds, epochs):
    X, y = _digits()
    cv = StratifiedKFold(5)
    ours = MLPClassifierTorch(max_iter=epochs, n_iter_no_change=epochs,
                              random_state=0)
    theirs = MLPClassifier(max_iter=epochs, n_iter_no_change=epochs, random_state=0)

    def run(search, estimator, n_jobs):
        return lambda: search(estimator, GRID, cv=cv, refit=False,
                              n_jobs=n_jobs).fit(X, y)

    medians, times, searches = time_contenders({
        "fused n_jobs=1": run(GridSearchCV, ours, 1),
        "fused n_jobs=2": run(GridSearchCV, ours, 2),
        "scikit-learn search, sknets n_jobs=1": run(sk.GridSearchCV, ours, 1),
        "scikit-learn search, sknets n_jobs=2": run(sk.GridSearchCV, ours, 2),
        "scikit-learn search, MLPClassifier n_jobs=2": run(sk.GridSearchCV,
                                                           theirs, 2),
    }, rounds)
    fused = searches["fused n_jobs=1"].cv_results_["mean_test_score"]
    separate = searches["scikit-learn search, sknets n_jobs=1"].cv_results_[
        "mean_test_score"]
    best_fused = min(medians["fused n_jobs=1"], medians["fused n_jobs=2"])
    return {"seconds": medians, "rounds": times,
            "fused_best_seconds": best_fused,
            "speedup_vs_sknets_n_jobs_1": medians[
                "scikit-learn search, sknets n_jobs=1"] / best_fused,
            "speedup_vs_sknets_n_jobs_2": medians[
                "scikit-learn search, sknets n_jobs=2"] / best_fused,
            "speedup_vs_mlpclassifier_n_jobs_2": medians[
                "scikit-learn search, MLPClassifier n_jobs=2"] / best_fused,
            "max_mean_score_difference": float(np.abs(fused - separate).max())}


def ten_splits(rounds, epochs):
    X, y = _digits()
    splits = [train for train, _ in
              RepeatedStratifiedKFold(n_splits=5, n_repeats=2,
                                      random_state=0).split(X, y)]
    est = MLPClassifierTorch((64,), max_iter=epochs, n_iter_no_change=epochs,
                             random_state=0)
    two = clone(est).set_params(n_threads=2)
    medians, times, _ = time_contenders({
        "one fit": lambda: clone(est).fit(X[splits[0]], y[splits[0]]),
        "ten splits stacked": lambda: fit_on_folds(
            [clone(est) for _ in splits], X, y, splits),
        "ten splits stacked, n_threads=2": lambda: fit_on_folds(
            [clone(two) for _ in splits], X, y, splits),
    }, rounds)
    return {"seconds": medians, "rounds": times,
            "ratio": medians["ten splits stacked"] / medians["one fit"]}


def one_fit(rounds, epochs):
    X, y = _digits()
    ours = MLPClassifierTorch((128,), max_iter=epochs, n_iter_no_change=epochs,
                              random_state=0)
    theirs = MLPClassifier((128,), max_iter=epochs, n_iter_no_change=epochs,
                           random_state=0)
    medians, times, _ = time_contenders({"sknets": lambda: clone(ours).fit(X, y),
                               "MLPClassifier": lambda: clone(theirs).fit(X, y)},
                              rounds)
    return {"seconds": medians, "rounds": times,
            "ratio": medians["sknets"] / medians["MLPClassifier"]}


def markdown(quiet, busy):
    lines = [MARKER, "", "## The training engine", "",
             "`python benchmarks/bench_engine.py [--busy]`: medians over "
             "alternating rounds in one process, 30 epochs per fit on digits "
             "(1,797 rows, 64 features). Busy: a CPU-bound process runs beside "
             "every timing.", ""]
    for label, res in (("quiet", quiet), ("busy", busy)):
        if res is None:
            continue
        grid, ten, one = res["digits_grid"], res["ten_splits"], res["one_fit"]
        lines += [f"**{label}** ({res['machine']['cpu']}, "
                  f"{res['machine']['cpu_count']} cores, {res['rounds']} rounds)",
                  "", "| case | seconds |", "| --- | --- |"]
        lines += [f"| digits 3x2 grid, 5-fold: {name} | {sec:.2f} |"
                  for name, sec in grid["seconds"].items()]
        lines += [f"| ten splits of (64,) as one stack | "
                  f"{ten['seconds']['ten splits stacked']:.2f} |",
                  f"| the same stack with n_threads=2 | "
                  f"{ten['seconds'].get('ten splits stacked, n_threads=2', nan):.2f} |",
                  f"| one fit of (64,) | {ten['seconds']['one fit']:.2f} |",
                  f"| one fit of (128,), sknets | {one['seconds']['sknets']:.3f} |",
                  f"| one fit of (128,), MLPClassifier | "
                  f"{one['seconds']['MLPClassifier']:.3f} |", "",
                  f"Fused grid: {grid['speedup_vs_sknets_n_jobs_1']:.2f}x "
                  "scikit-learn's search over MLPClassifierTorch with n_jobs=1, "
                  f"{grid['speedup_vs_sknets_n_jobs_2']:.2f}x with n_jobs=2, "
                  f"{grid['speedup_vs_mlpclassifier_n_jobs_2']:.2f}x over "
                  "MLPClassifier with n_jobs=2 (mean scores within "
                  f"{grid['max_mean_score_difference']:.4f}). Ten splits stacked "
                  f"cost {ten['ratio']:.2f} times one fit. One fit: "
                  f"{one['ratio']:.2f} times MLPClassifier's time.", ""]
    fashion = (quiet or {}).get("fashion")
    if fashion is not None:
        fused = min(fashion["median_s"]["fused n_jobs=1"],
                    fashion["median_s"]["fused n_jobs=2"])
        lines += [f"**{fashion['source']}**, quiet: the fused search takes "
                  f"{fused:.1f} s, scikit-learn's search "
                  f"{fashion['median_s']['scikit-learn n_jobs=1']:.1f} s with "
                  f"n_jobs=1 "
                  f"({fashion['median_s']['scikit-learn n_jobs=1'] / fused:.2f}x) "
                  f"and {fashion['median_s']['scikit-learn n_jobs=2']:.1f} s with "
                  f"n_jobs=2 "
                  f"({fashion['median_s']['scikit-learn n_jobs=2'] / fused:.2f}x); "
                  f"the stack runs at "
                  f"{fashion['fused n_jobs=1 fraction_of_sgemm']:.0%} of the "
                  "machine's sgemm rate.", ""]
    if quiet is not None and busy is not None:
        def pair(res):
            sec = res["ten_splits"]["seconds"]
            return sec["ten splits stacked"], sec.get(
                "ten splits stacked, n_threads=2", nan)
        (q1, q2), (b1, b2) = pair(quiet), pair(busy)
        lines += [
            "A digits stack trains on one thread (`fit_threads` counts a "
            "stack's work per model): ten (64,) models take "
            f"{q1:.2f} s on one thread and {q2:.2f} s on two on a quiet "
            f"machine, {b1:.2f} s and {b2:.2f} s beside a busy process, where "
            "the second thread spin-waits for the core the other process "
            "holds. The stacked step of ten (64,) models costs about 1.5 ms per "
            "batch of 200 rows, of which the batched matrix products are about "
            "0.35 ms: the rest is autograd, the loss, the L2 term and the "
            "optimizer call, each once per batch for all models.", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--busy", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    rounds, epochs = (1, 3) if args.quick else (args.rounds, 30)
    stop = multiprocessing.Event()
    spinner = None
    if args.busy:
        spinner = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
        spinner.start()
    try:
        results = {"machine": {**machine(), "cpu": cpu_model(),
                               "load": os.getloadavg()},
                   "busy": args.busy, "rounds": rounds,
                   "digits_grid": digits_grid(rounds, epochs),
                   "ten_splits": ten_splits(rounds, epochs),
                   "one_fit": one_fit(rounds, epochs)}
        if not args.busy:
            results["fashion"] = fashion_case(min(rounds, 2), args.quick)
    finally:
        stop.set()
        if spinner is not None:
            spinner.join()
    print(json.dumps({k: v for k, v in results.items() if k != "machine"},
                     indent=1, default=str))
    if args.quick:
        return
    out = PATH.parents[1] / "benchmarks" / "results"
    name = "engine_busy.json" if args.busy else "engine.json"
    (out / name).write_text(json.dumps(results, indent=2) + "\n")
    other = out / ("engine.json" if args.busy else "engine_busy.json")
    other = json.loads(other.read_text()) if other.exists() else None
    quiet, busy = (other, results) if args.busy else (results, other)
    write_section(MARKER, markdown(quiet, busy))
    print(f"wrote {out / name} and docs/performance.md")


if __name__ == "__main__":
    main()
