"""Training speed of sknets against hand-written PyTorch, skorch and scikit-learn.

On Fashion-MNIST's 60,000 training images (scikit-learn's digits, upscaled
to 28x28 and tiled to 60,000 rows, when the dataset is absent) it measures,
in one process and alternating the contenders round by round:

- seconds per epoch of a 784-128-64-10 MLP trained with Adam (lr 1e-3) at
  batch 64 and 256 by MLPClassifierTorch, a minimal hand-written PyTorch
  loop, a plain skorch NeuralNetClassifier and scikit-learn's MLPClassifier;
- seconds per epoch of the default CNNClassifierTorch and a hand-written loop
  of the same network;
- predict_proba on the 60,000 rows against a raw ``model(X)`` under
  ``torch.inference_mode``;
- an 8-candidate GridSearchCV with n_jobs=1 and n_jobs=2 (10 epochs per
  fit), against the ceiling the machine allows, and once with 4-epoch fits;
- the peak memory of a fit, in copies of X.

Each per-epoch figure is the wall time of a whole fit (validation and set-up
included) divided by its epochs; the table reports medians over rounds. It
prints the ratios against their targets, writes
``benchmarks/results/training.json`` and ``docs/performance.md``::

    python benchmarks/bench_training.py            # about 7.5 minutes on 2 cores
    python benchmarks/bench_training.py --quick    # a smoke run
"""

import argparse
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
import torch.nn.functional as F
from _common import cpu_model, mlp_flops, publish, sgemm_rate
from joblib import Parallel, delayed
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from skorch import NeuralNetClassifier
from torch import nn

import sknets
from sknets import CNNClassifierTorch, MLPClassifierTorch
from sknets.datasets import load_fashion_mnist

warnings.simplefilter("ignore", ConvergenceWarning)


def load_data(n_samples):
    try:
        X, y = load_fashion_mnist(return_X_y=True)
        source = "Fashion-MNIST (60,000 x 784)"
    except FileNotFoundError:
        digits = load_digits()
        images = np.kron(digits.images / 16, np.ones((3, 3)))  # (1797, 24, 24)
        images = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # (1797, 28, 28)
        reps = -(-60000 // len(images))
        X = np.tile(images.reshape(len(images), -1), (reps, 1))[:60000]
        y = np.tile(digits.target, reps)[:60000]
        source = "digits upscaled to 28x28, tiled to 60,000 rows"
    X = np.ascontiguousarray(X[:n_samples], dtype=np.float32)
    if n_samples < 60000:
        source += f", first {n_samples:,} rows"
    return X, y[:n_samples].astype(np.int64), source


def mlp_module():
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64),
                         nn.ReLU(), nn.Linear(64, 10))


def cnn_module():
    # CNNClassifierTorch's default network on 1 x 28 x 28 images.
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def hand_loop(make_module, X, y, batch_size, epochs):
    """The minimal PyTorch loop: one tensor, index batches, Adam."""
    torch.manual_seed(0)
    model = make_module()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(X))
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
    return (time.perf_counter() - start) / epochs


def timed_fit(estimator, X, y, epochs):
    start = time.perf_counter()
    estimator.fit(X, y)
    return (time.perf_counter() - start) / epochs


def sknets_mlp(X, y, batch_size, epochs):
    clf = MLPClassifierTorch((128, 64), batch_size=batch_size, max_iter=epochs,
                             n_iter_no_change=np.inf, random_state=0,
                             device="cpu")
    return timed_fit(clf, X, y, epochs)


def skorch_mlp(X, y, batch_size, epochs):
    # skorch's defaults (its Dataset and DataLoader, callbacks, history) with
    # the same network, optimizer and batch size, and no validation split.
    net = NeuralNetClassifier(mlp_module, criterion=nn.CrossEntropyLoss,
                              optimizer=torch.optim.Adam, lr=1e-3,
                              batch_size=batch_size, max_epochs=epochs,
                              train_split=None, verbose=0, device="cpu")
    return timed_fit(net, X, y, epochs)


def sklearn_mlp(X, y, batch_size, epochs):
    clf = MLPClassifier((128, 64), batch_size=batch_size, max_iter=epochs, tol=0,
                        n_iter_no_change=epochs + 1, random_state=0)
    return timed_fit(clf, X, y, epochs)


def sknets_cnn(X, y, batch_size, epochs):
    clf = CNNClassifierTorch(max_iter=epochs, n_iter_no_change=np.inf,
                             random_state=0, device="cpu")
    return timed_fit(clf, X, y, epochs)


def hand_cnn(X, y, batch_size, epochs):
    return hand_loop(cnn_module, X.reshape(-1, 1, 28, 28), y, batch_size, epochs)


def alternate(contenders, rounds, X, y, batch_size, epochs):
    """Median seconds per epoch of each contender, rotating the order."""
    for contender in contenders.values():
        # Untimed: the first fit in a process pays one-time start-up costs.
        contender(X[:2 * batch_size], y[:2 * batch_size], batch_size, 1)
    times = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(contenders[name](X, y, batch_size, epochs))
            print(f"  {name:<24} batch {batch_size:>3}: "
                  f"{times[name][-1]:.3f} s/epoch", flush=True)
    return {name: float(np.median(values)) for name, values in times.items()}


def predict_times(X, y, rounds):
    clf = MLPClassifierTorch((128, 64), max_iter=1, random_state=0,
                             device="cpu").fit(X[:5000], y[:5000])
    model, X_tensor = clf.net_.module_.eval(), torch.from_numpy(X)

    def raw():
        with torch.inference_mode():
            return model(X_tensor)

    results = {}
    for name, call in [("raw model(X)", raw),
                       ("predict_proba", lambda: clf.predict_proba(X))]:
        call()  # warm-up
        samples = []
        for _ in range(rounds * 3):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        results[name] = float(np.median(samples))
    return results


def _search_mlp(epochs, **params):
    # The estimator of the search, and of its ceiling measurement.
    return MLPClassifierTorch(batch_size=64, max_iter=epochs,
                              n_iter_no_change=np.inf, random_state=0,
                              device="cpu").set_params(**params)


def _search(X, y, epochs, n_jobs, grid):
    search = GridSearchCV(_search_mlp(epochs), grid, cv=2, n_jobs=n_jobs,
                          refit=False)
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start


def _fit_seconds(X, y, epochs, threads=None):
    warnings.simplefilter("ignore", ConvergenceWarning)  # also in a worker
    if threads is not None:
        torch.set_num_threads(threads)
    # A private copy, as GridSearchCV's fold indexing makes: a worker gets X
    # as a memory map of a shared file, whose pages are not huge pages.
    X, y = np.array(X), np.array(y)
    start = time.perf_counter()
    for width in (64, 128):
        _search_mlp(epochs, hidden_layer_sizes=(width,)).fit(X, y)
    return time.perf_counter() - start


def search_times(X, y, epochs, rounds, short_epochs):
    """Time an 8-candidate, 2-fold search with n_jobs=1 and n_jobs=2.

    Each fit trains ``epochs`` epochs on 30,000 rows, the low end of the
    seed studies (10 to 50 epochs per model). The final refit is left out
    (``refit=False``): it is one sequential fit, the same in both. The worker
    processes are started, and a small search run in them, before timing;
    that cold start is reported on its own. The two settings alternate in
    order round by round, and each is the median over rounds.

    ``ceiling`` is the speedup the machine allows for these fits alone: twice
    the time of a (64,) and a (128,) fit on all cores over the time of two
    one-thread workers doing the same side by side. One more round with
    ``short_epochs`` per fit shows how the fixed work of each fold (indexing
    the memory-mapped X, scoring) weighs on short fits.
    """
    grid = {"hidden_layer_sizes": [(64,), (128,)],
            "learning_rate_init": [1e-3, 3e-3], "alpha": [1e-4, 1e-3]}
    results = {"epochs": epochs}
    start = time.perf_counter()
    _search(X[:256], y[:256], 1, 2, {"alpha": [1e-4, 1e-3]})
    results["worker start-up"] = time.perf_counter() - start
    times = {1: [], 2: []}
    for r in range(rounds):
        for n_jobs in ((1, 2) if r % 2 == 0 else (2, 1)):
            times[n_jobs].append(_search(X, y, epochs, n_jobs, grid))
            print(f"  8 candidates x 2 folds, {epochs} epochs, n_jobs={n_jobs}: "
                  f"{times[n_jobs][-1]:.1f} s", flush=True)
    for n_jobs, values in times.items():
        results[f"n_jobs={n_jobs}"] = float(np.median(values))
        results[f"n_jobs={n_jobs} rounds"] = values
    half = results["rows per fit"] = len(X) // 2
    alone = _fit_seconds(X[:half], y[:half], epochs)
    side = Parallel(n_jobs=2)(delayed(_fit_seconds)(X[:half], y[:half], epochs, 1)
                              for _ in range(2))
    results["ceiling"] = 2 * alone / max(side)
    print(f"  two fits alone {alone:.2f} s, side by side {side[0]:.2f} "
          f"and {side[1]:.2f} s: ceiling {results['ceiling']:.2f}x", flush=True)
    short = {n_jobs: _search(X, y, short_epochs, n_jobs, grid) for n_jobs in (1, 2)}
    results["short fits"] = {"epochs": short_epochs, "n_jobs=1": short[1],
                             "n_jobs=2": short[2]}
    print(f"  {short_epochs} epochs per fit: {short[1]:.1f} s with n_jobs=1, "
          f"{short[2]:.1f} s with n_jobs=2", flush=True)
    return results


MEMORY_PROBE = r"""
import sys, warnings
sys.path.insert(0, sys.argv[1])
from _common import peak_rss_during
from bench_training import load_data
from sknets import MLPClassifierTorch
warnings.simplefilter("ignore")
X, y, _ = load_data(60000)
MLPClassifierTorch((4,), max_iter=1).fit(X[:50], y[:50])  # one-time start-up
extra = peak_rss_during(lambda: MLPClassifierTorch(
    (128, 64), max_iter=1, early_stopping=sys.argv[2] == "1", random_state=0,
    device="cpu").fit(X, y))
print(extra / X.nbytes)
"""


def memory_copies():
    """Peak memory of a fit above the memory before it, in copies of X."""
    if not Path("/proc/self/statm").exists():
        return {}
    results = {}
    for early_stopping in (False, True):
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, str(Path(__file__).parent),
             str(int(early_stopping))],
            capture_output=True, text=True, check=True)
        extra = float(out.stdout.strip().splitlines()[-1])
        results[f"early_stopping={early_stopping}"] = 1 + extra
    return results


def machine():
    return {"platform": platform.platform(),
            "processor": cpu_model() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "sklearn": sklearn.__version__, "sknets": sknets.__version__}


def e64_seconds(results):
    return results["mlp_batch64"]["sknets MLPClassifierTorch"]


def markdown(results):
    r, m = results["ratios"], results["machine"]
    rows = [
        ("MLP, batch 64: sknets / hand-written loop", r["mlp64_vs_hand"], "<= 1.10"),
        ("MLP, batch 256: sknets / hand-written loop", r["mlp256_vs_hand"], "<= 1.10"),
        ("MLP, batch 64: sknets / scikit-learn MLPClassifier",
         r["mlp64_vs_sklearn"], "<= 0.80"),
        ("CNN: sknets / hand-written loop", r["cnn_vs_hand"], "<= 1.10"),
        ("predict_proba, 60k rows: sknets / raw model(X)", r["predict_vs_raw"],
         "<= 1.20"),
        (f"8-candidate search, {results['search']['epochs']}-epoch fits: "
         "n_jobs=1 time / n_jobs=2 time",
         r["search_speedup"],
         ">= 1.60"),
    ]
    lines = [
        "# Performance", "",
        "Measured by `python benchmarks/bench_training.py` "
        f"({results['data']}) on {m['cpu_count']} CPU cores ({m['processor']}, "
        f"{m['platform']}), Python {m['python']}, torch {m['torch']} with "
        f"{m['torch_threads']} threads, scikit-learn {m['sklearn']}, sknets "
        f"{m['sknets']}. Every contender runs in the same process, alternating "
        "round by round; each figure is a median over rounds of the wall time "
        "of a whole fit divided by its epochs.", "",
        "| ratio | measured | target |", "| --- | --- | --- |",
    ]
    lines += [f"| {name} | **{value:.2f}x** | {target} |"
              for name, value, target in rows]
    lines += ["", "Seconds per epoch (784-128-64-10 MLP, Adam, lr 1e-3; default "
              "CNN, batch 200):", "", "| contender | batch 64 | batch 256 |",
              "| --- | --- | --- |"]
    e64, e256 = results["mlp_batch64"], results["mlp_batch256"]
    for name in e64:
        other = f"{e256[name]:.3f}" if name in e256 else ""
        lines.append(f"| {name} | {e64[name]:.3f} | {other} |")
    cnn = results["cnn"]
    lines += ["", "| CNN contender | s/epoch |", "| --- | --- |"]
    lines += [f"| {name} | {value:.2f} |" for name, value in cnn.items()]
    p, s = results["predict"], results["search"]
    short = s["short fits"]
    lines += [
        "", f"A batch-64 epoch of the sknets MLP does {results['mlp64_gflops']:.1f} "
        "GFLOP/s of matrix arithmetic (set-up and the last batch included), "
        f"**{100 * results['mlp64_fraction_of_sgemm']:.0f}%** of the machine's "
        f"sgemm rate ({results['sgemm_gflops']:.0f} GFLOP/s, a 1024x1024 product "
        "on all cores, measured in the same run): the rest of a step is "
        "per-operation overhead and memory-bound passes.",
        "", f"predict_proba on 60,000 rows: {p['predict_proba'] * 1000:.1f} ms "
        f"(raw forward pass {p['raw model(X)'] * 1000:.1f} ms). The 8-candidate, "
        f"2-fold search ({s['epochs']} epochs per fit on {s['rows per fit']:,} "
        "rows, without "
        "the final refit, one more fit the same in both), median over "
        f"{len(s['n_jobs=1 rounds'])} round(s): {s['n_jobs=1']:.1f} s with "
        f"n_jobs=1, {s['n_jobs=2']:.1f} s with n_jobs=2. The worker processes "
        "were started, and a small search run in them, beforehand "
        f"({s['worker start-up']:.1f} s, paid once per session: their first "
        "fit imports torch).", "",
        "What the machine allows: a (64,) and a (128,) fit on all cores, "
        "against two one-thread workers doing the same side by side, give a "
        f"ceiling of **{s['ceiling']:.2f}x** for the search, before joblib "
        "hands out the data and scikit-learn indexes and scores each fold. A "
        "single fit already draws on the second core through torch's intra-op "
        "threads, and two fits side by side each run slower than one alone. "
        "The work joblib and scikit-learn do per fold weighs more on short fits: with "
        f"{short['epochs']} epochs per fit (one round) the search took "
        f"{short['n_jobs=1']:.1f} s with n_jobs=1 and {short['n_jobs=2']:.1f} s "
        f"with n_jobs=2, **{short['n_jobs=1'] / short['n_jobs=2']:.2f}x**.", "",
    ]
    if r["search_speedup"] < 1.6:
        lines += [
            f"In this run the search speedup, {r['search_speedup']:.2f}x, is "
            "under its 1.60x target.", "",
        ]
    if results["memory"]:
        mem = results["memory"]
        lines += [
            "Peak memory of a fit on 60,000 x 784 float32, in copies of X "
            "(X itself included): "
            f"{mem['early_stopping=False']:.2f} without early stopping, "
            f"{mem['early_stopping=True']:.2f} with it (the validation rows are "
            "copied; the training rows are used in place).", "",
        ]
    lines += [
        "sknets' MLP carries scikit-learn's L2 penalty (alpha=1e-4), which the "
        "hand-written loop leaves out. The hand-written loops run with "
        "subnormals flushed to zero, as sknets does.", "",
        "## n_jobs on a GPU", "",
        "With `device='cuda'`, every worker of `GridSearchCV(n_jobs=k)` trains "
        "on the same GPU: that pays when one model leaves the GPU idle (small "
        "networks, small batches), and costs GPU memory k times. One model "
        "per GPU is the safe default (`n_jobs=1`); with several GPUs, run one "
        "worker per GPU (`device='cuda:N'`, or `CUDA_VISIBLE_DEVICES` per "
        "worker). A training set that fits in half the free GPU memory moves "
        "there once per fit; a larger one stays in pinned host memory and each "
        "batch is copied without blocking.", "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run on 6,000 samples, one round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n_samples, rounds = (6000, 1) if args.quick else (60000, args.rounds)
    torch.set_flush_denormal(True)  # sknets does it; the hand loops too
    X, y, source = load_data(n_samples)
    print(f"data: {source}, {X.shape}; {torch.get_num_threads()} torch threads")

    results = {"data": source, "machine": machine()}
    mlp = {"sknets MLPClassifierTorch": sknets_mlp,
           "hand-written PyTorch": lambda X, y, b, e: hand_loop(mlp_module, X, y,
                                                                b, e),
           "skorch NeuralNetClassifier": skorch_mlp}
    results["mlp_batch64"] = alternate(
        {**mlp, "scikit-learn MLPClassifier": sklearn_mlp}, rounds, X, y, 64, 2)
    results["mlp_batch256"] = alternate(mlp, rounds, X, y, 256, 2)
    results["cnn"] = alternate({"sknets CNNClassifierTorch": sknets_cnn,
                                "hand-written PyTorch": hand_cnn},
                               rounds, X, y, 200, 1)
    results["predict"] = predict_times(X, y, rounds)
    results["search"] = search_times(X, y, *((2, 1, 1) if args.quick
                                              else (10, rounds, 4)))
    results["memory"] = {} if args.quick else memory_copies()

    e64, e256, cnn = (results["mlp_batch64"], results["mlp_batch256"],
                      results["cnn"])
    rate = sgemm_rate()
    gflops = mlp_flops([784, 128, 64, 10], n_samples, 1) / e64_seconds(results) / 1e9
    results["sgemm_gflops"] = rate / 1e9
    results["mlp64_gflops"] = gflops
    results["mlp64_fraction_of_sgemm"] = gflops * 1e9 / rate
    results["ratios"] = {
        "mlp64_vs_hand": e64["sknets MLPClassifierTorch"]
        / e64["hand-written PyTorch"],
        "mlp256_vs_hand": e256["sknets MLPClassifierTorch"]
        / e256["hand-written PyTorch"],
        "mlp64_vs_sklearn": e64["sknets MLPClassifierTorch"]
        / e64["scikit-learn MLPClassifier"],
        "cnn_vs_hand": cnn["sknets CNNClassifierTorch"] / cnn["hand-written PyTorch"],
        "predict_vs_raw": results["predict"]["predict_proba"]
        / results["predict"]["raw model(X)"],
        "search_speedup": results["search"]["n_jobs=1"]
        / results["search"]["n_jobs=2"],
    }
    print()
    # The head section of docs/performance.md; the other scripts' are kept.
    publish(results, markdown(results), "training", None, args.quick)


if __name__ == "__main__":
    main()
