"""Intra-op threads per fit: one thread for small batches, torch's otherwise.

``n_threads=None`` (the default) trains a CPU fit whose batch forward pass
is below ``sknets.training.runtime.SMALL_BATCH_WORK`` multiply-adds on one
thread. This script times, in one process and in alternating rounds (median
of the rounds), fits with ``n_threads`` 1, 2 and None, and scikit-learn's
MLPClassifier on the same digits task, on a quiet machine and beside one
busy process (a Python loop holding one core):

- digits, (128,), 30 epochs, batch 'auto' (200): 1.9 M multiply-adds per batch;
- 20,000 random 784-feature rows, 784-128-64-10, batch 64 (7 M) and 256
  (28 M), 3 epochs.

Run ``python benchmarks/bench_threads.py`` (``--quick``: 1 round, nothing
recorded).
"""

import statistics
import subprocess
import sys
import time

import numpy as np
from _common import parse_rounds, publish
from bench_fused_search import machine
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier

from sknets import MLPClassifierTorch
from sknets.training.runtime import SMALL_BATCH_WORK

MARKER = "<!-- threads per fit: benchmarks/bench_threads.py -->"


def workloads():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    rng = np.random.RandomState(0)
    Xf = rng.rand(20000, 784).astype(np.float32)
    yf = rng.randint(0, 10, 20000)
    digits = {"hidden_layer_sizes": (128,), "max_iter": 30}
    fashion = {"hidden_layer_sizes": (128, 64), "max_iter": 3}
    return {
        "digits (128,), batch 200": (X, y, digits, True),
        "784-128-64-10, batch 64": (Xf, yf, {**fashion, "batch_size": 64}, False),
        "784-128-64-10, batch 256": (Xf, yf, {**fashion, "batch_size": 256}, False),
    }


def fit_seconds(make, X, y):
    start = time.perf_counter()
    make().fit(X, y)
    return time.perf_counter() - start


def contenders(params, with_sklearn):
    found = {f"sknets n_threads={n}": (lambda n=n: MLPClassifierTorch(
        **params, n_threads=n, random_state=0, tol=0, device="cpu"))
        for n in (None, 1, 2)}
    if with_sklearn:
        found["scikit-learn MLPClassifier"] = lambda: MLPClassifier(
            **params, random_state=0, tol=0)
    return found


def measure(rounds):
    results = {}
    for load in ("quiet", "one busy process"):
        busy = None
        if load != "quiet":
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.5)
        try:
            for name, (X, y, params, with_sklearn) in workloads().items():
                makes = contenders(params, with_sklearn)
                times = {c: [] for c in makes}
                for _ in range(rounds):
                    for c, make in makes.items():
                        times[c].append(fit_seconds(make, X, y))
                results[f"{load}: {name}"] = {c: statistics.median(t)
                                              for c, t in times.items()}
                print(load, name, results[f"{load}: {name}"], flush=True)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    return results


def markdown(results):
    m = results["machine"]
    lines = [MARKER, "", "## Threads per fit", "",
             f"On {m['cpu']} ({m['cpu_count']} CPUs), torch {m['torch']}; median of "
             f"{results['rounds']} alternating rounds of whole fits. "
             f"`n_threads=None` uses one thread below {SMALL_BATCH_WORK:,} "
             "multiply-adds per batch forward pass, torch's threads above.", "",
             "| load: workload | " + " | ".join(results["columns"]) + " |",
             "| --- |" + " ---: |" * len(results["columns"])]
    for row, values in results["times"].items():
        cells = [f"{values[c]:.3f}" if c in values else "" for c in results["columns"]]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += ["", "Seconds per fit. Beside a busy process two threads spin-wait for "
              "the core it holds; one thread does not. Above the threshold a "
              "second thread still pays on a quiet machine, so those fits keep "
              "torch's threads."]
    return "\n".join(lines) + "\n"


def main():
    args, rounds = parse_rounds(__doc__, rounds=5)
    times = measure(rounds)
    columns = list(dict.fromkeys(c for values in times.values() for c in values))
    results = {"machine": machine(), "rounds": rounds, "columns": columns,
               "times": times}
    publish(results, markdown(results), "threads", MARKER, args.quick)


if __name__ == "__main__":
    main()
