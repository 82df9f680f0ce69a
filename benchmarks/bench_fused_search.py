"""Fused searches against scikit-learn's GridSearchCV, in one process.

Three grids, each timed with the contenders alternating round by round
(medians over rounds reported):

- **digits**: the default grid of ``sknets compare`` (widths (64,), (128,),
  (64, 64) x learning rates 1e-3, 1e-2: 6 candidates), 5-fold, with the
  command's 60 epochs and the estimator's default stopping rules;
- **Fashion-MNIST**: 30,000 training rows, a 784-128-64-10 MLP at batch 64,
  learning rate x alpha (8 candidates) x 2 folds, 5 epochs per fit (the
  digits, upscaled to 28x28 and tiled, when the dataset is absent). The
  fused run's arithmetic rate is given as a fraction of the machine's sgemm
  rate, measured in the same run;
- **seed 001**: 3 MLPs with batch norm and dropout 0.5 x 4 learning rates,
  batch 64, 3 epochs on 10,000 Fashion-MNIST rows, chosen by macro-F1 on a
  validation split.

The contenders: ``sknets.model_selection.GridSearchCV`` (fuse=True) and
scikit-learn's ``GridSearchCV`` of the same estimator, each with n_jobs=1 and
n_jobs=2. No refit: it is one ordinary fit in every contender. A last probe
measures the peak memory of the fused Fashion-MNIST search in a fresh process.
It writes ``benchmarks/results/fused_search.json`` and the "Fused searches"
section of ``docs/performance.md``::

    python benchmarks/bench_fused_search.py           # about 10 minutes on 2 cores
    python benchmarks/bench_fused_search.py --quick   # a smoke run
"""

import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
import torch
from _common import cpu_model, mlp_flops, parse_rounds, publish, sgemm_rate
from sklearn import model_selection as sk
from sklearn.datasets import load_digits
from sklearn.model_selection import ShuffleSplit

import sknets
from sknets import MLPClassifierTorch
from sknets.datasets import load_fashion_mnist
from sknets.model_selection import GridSearchCV

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- fused searches: benchmarks/bench_fused_search.py -->"


def machine():
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "sklearn": sklearn.__version__, "sknets": sknets.__version__}


def fashion(n_rows):
    # Pixels in [0, 1], as load_fashion_mnist gives them.
    try:
        X, y = load_fashion_mnist(return_X_y=True)
        source = "Fashion-MNIST"
    except (FileNotFoundError, OSError, ValueError):
        digits = load_digits()
        images = torch.nn.functional.interpolate(
            torch.tensor(digits.images[:, None] / 16, dtype=torch.float32),
            size=(28, 28), mode="bilinear").reshape(len(digits.images), -1).numpy()
        reps = -(-n_rows // len(images))
        X, y = np.tile(images, (reps, 1)), np.tile(digits.target, reps)
        source = "digits upscaled to 28x28 (Fashion-MNIST not installed)"
    return np.ascontiguousarray(X[:n_rows], dtype=np.float32), y[:n_rows], source


def time_contenders(contenders, rounds):
    times = {name: [] for name in contenders}
    searches = {}
    for _ in range(rounds):
        for name, run in contenders.items():
            tic = time.perf_counter()
            searches[name] = run()
            times[name].append(time.perf_counter() - tic)
    return {name: statistics.median(t) for name, t in times.items()}, times, searches


FUSED = ("fused n_jobs=1", "fused n_jobs=2")
PLAIN = ("scikit-learn n_jobs=1", "scikit-learn n_jobs=2")


def contenders(estimator, grid, cv, X, y, scoring=None):
    def fused(n_jobs):
        return lambda: GridSearchCV(estimator, grid, cv=cv, refit=False,
                                    scoring=scoring, n_jobs=n_jobs).fit(X, y)

    def plain(n_jobs):
        return lambda: sk.GridSearchCV(estimator, grid, cv=cv, refit=False,
                                       scoring=scoring, n_jobs=n_jobs).fit(X, y)

    return {FUSED[0]: fused(1), FUSED[1]: fused(2),
            PLAIN[0]: plain(1), PLAIN[1]: plain(2)}


def agreement(searches):
    plain = searches[PLAIN[0]].cv_results_
    best = int(np.argmin(plain["rank_test_score"]))
    diff, same = 0.0, True
    for name in FUSED:
        fused = searches[name].cv_results_
        diff = max(diff, float(np.abs(fused["mean_test_score"]
                                      - plain["mean_test_score"]).max()))
        same = same and int(np.argmin(fused["rank_test_score"])) == best
    return {"max_score_difference": diff, "same_best": same,
            "best": str(plain["params"][best]),
            "best_score": float(plain["mean_test_score"][best])}


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
            **{f"{name} gflops": flops / median[name] / 1e9 for name in FUSED},
            **{f"{name} fraction_of_sgemm": flops / median[name] / rate
               for name in FUSED}}


def seed001_case(rounds, quick):
    # Seed 001's study: 3 MLPs with batch norm and dropout 0.5 x 4 learning
    # rates, batch 64, chosen by validation macro-F1 (a 20% split).
    n_rows = 2000 if quick else 10000
    X, y, source = fashion(n_rows)
    grid = {"hidden_layer_sizes": [(1024, 512, 256, 128), (512, 256, 128, 64),
                                   (128, 64)],
            "learning_rate_init": [5e-3, 4e-3, 3e-3, 1e-3]}
    epochs = 1 if quick else 3
    estimator = MLPClassifierTorch(batch_norm=True, dropout=0.5, batch_size=64,
                                   max_iter=epochs, random_state=0)
    cv = ShuffleSplit(n_splits=1, test_size=0.2, random_state=0)
    median, times, searches = time_contenders(
        contenders(estimator, grid, cv, X, y, scoring="f1_macro"), rounds)
    return {"median_s": median, "times_s": times, **agreement(searches),
            "rows": n_rows, "source": source, "epochs": epochs, "fits": 12}


MEMORY_PROBE = r"""
import sys, warnings
sys.path.insert(0, sys.argv[1])
from _common import peak_rss_during
from bench_fused_search import fashion
from sknets import MLPClassifierTorch
from sknets.model_selection import GridSearchCV
warnings.simplefilter("ignore")
X, y, _ = fashion(int(sys.argv[2]))
estimator = MLPClassifierTorch((128, 64), batch_size=64, max_iter=1, random_state=0)
grid = {"learning_rate_init": [1e-4, 3e-4, 1e-3, 3e-3], "alpha": [1e-4, 1e-2]}
GridSearchCV(estimator, grid, cv=2, refit=False).fit(X[:200], y[:200])  # start-up
extra = peak_rss_during(
    lambda: GridSearchCV(estimator, grid, cv=2, refit=False).fit(X, y))
print(extra, X.nbytes)
"""


def memory_case(quick):
    """Peak memory of the fused Fashion-MNIST search (n_jobs=1), in copies of X.

    The models' own state, for each of the 16 fits: its net's weights, the
    stack's copy of them, their gradients and Adam's two moments (5 x the
    weights), and the weight snapshots its stopping rules keep (2 x).
    """
    if not Path("/proc/self/statm").exists():
        return {}
    n_rows = 3000 if quick else 30000
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(ROOT / "benchmarks"),
                          str(n_rows)], capture_output=True, text=True, check=True)
    extra, x_bytes = map(int, out.stdout.split()[-2:])
    weights = sum(a * b + b for a, b in ((784, 128), (128, 64), (64, 10))) * 4
    state = 16 * 7 * weights
    return {"x_bytes": x_bytes, "peak_extra_bytes": extra, "model_state_bytes": state,
            "copies_of_x": 1 + extra / x_bytes,
            "copies_of_x_beyond_model_state": 1 + (extra - state) / x_bytes}


def markdown(results):
    m, d, f, s1 = (results["machine"], results["digits"], results["fashion"],
                   results["seed001"])
    mem = results["memory"]

    def ratio(case, plain, fused):
        return case["median_s"][plain] / case["median_s"][fused]

    rows = []
    cases = (("digits, compare's grid, 5-fold", d, (">= 3", ">= 2")),
             ("Fashion-MNIST, 8 candidates x 2 folds", f, (">= 2", ">= 1.3")),
             ("seed 001's grid, 10,000 rows", s1, ("", "")))
    for label, case, targets in cases:
        for plain, fused, target in zip(PLAIN, FUSED, targets, strict=True):
            rows.append((f"{label}: {plain} / {fused}",
                         ratio(case, plain, fused), target or "(none)"))
    lines = [
        MARKER, "", "## Fused searches", "",
        f"Measured by `python benchmarks/bench_fused_search.py` on {m['cpu']} "
        f"({m['cpu_count']} cores), torch {m['torch']} with {m['torch_threads']} "
        f"threads, scikit-learn {m['sklearn']}. The contenders alternate round by "
        f"round; figures are medians over {results['rounds']} rounds of a whole "
        "search without its refit. \"fused\" is `sknets.model_selection."
        "GridSearchCV`; \"scikit-learn\" is scikit-learn's `GridSearchCV` of the "
        "same `MLPClassifierTorch`. Each is compared at equal `n_jobs`: one "
        "process, or two worker processes of one thread each.", "",
        "| speed-up | measured | target |", "| --- | --- | --- |",
        *[f"| {name} | **{value:.2f}x** | {target} |" for name, value, target in rows],
        "", "| grid | " + " | ".join(FUSED + PLAIN)
        + " | max score difference | same best |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, case in (("digits, 6 candidates x 5 folds, "
                        f"max_iter={d['max_iter']}", d),
                       (f"{f['source']}, {f['rows']:,} rows, 8 x 2, "
                        f"{f['epochs']} epochs, batch 64", f),
                       (f"seed 001: {s1['source']}, {s1['rows']:,} rows, 12 x 1 "
                        f"validation split, {s1['epochs']} epochs, batch 64", s1)):
        t = case["median_s"]
        lines.append(f"| {name} | " + " | ".join(
            f"{t[c]:.1f} s" for c in FUSED + PLAIN)
            + f" | {case['max_score_difference']:.4f} | {case['same_best']} |")
    lines += [
        "", "Seed 001's grid is 3 MLPs (784-1024-512-256-128-10, "
        "784-512-256-128-64-10, 784-128-64-10) with batch norm and dropout 0.5 "
        "x learning rates 0.005, 0.004, 0.003, 0.001, scored by macro-F1 on a "
        f"20% validation split; the best candidate is {s1['best']} "
        f"(macro-F1 {s1['best_score']:.4f}). A fused model draws its dropout "
        "masks from its separate fit's own random stream, so they are the same "
        "masks.", "",
        f"The fused Fashion-MNIST search does "
        f"{f[FUSED[0] + ' gflops']:.1f} GFLOP/s of matrix arithmetic in one "
        f"process, **{100 * f[FUSED[0] + ' fraction_of_sgemm']:.0f}%** of the "
        f"machine's sgemm rate ({f['sgemm_gflops']:.0f} GFLOP/s, a 1024x1024 "
        "product on all cores, measured in the same run; the goal is 50%), and "
        f"{f[FUSED[1] + ' gflops']:.1f} GFLOP/s "
        f"({100 * f[FUSED[1] + ' fraction_of_sgemm']:.0f}%) with two workers.", "",
    ]
    if mem:
        lines += [
            f"Peak memory of the fused Fashion-MNIST search (n_jobs=1) above the "
            f"memory before it, with X ({mem['x_bytes'] / 2**20:.0f} MiB) counted "
            f"once: **{mem['copies_of_x']:.2f}** copies of X; "
            f"**{mem['copies_of_x_beyond_model_state']:.2f}** after the models' "
            f"own state ({mem['model_state_bytes'] / 2**20:.0f} MiB: for each of "
            "the 16 fits its weights, the stack's copy, gradients, Adam's two "
            "moments and two weight snapshots). The target is 1.5.", ""]
    return "\n".join(lines) + "\n"


def main():
    args, rounds = parse_rounds(__doc__)
    # Warm the worker processes and torch once, outside the timings.
    X, y = load_digits(return_X_y=True)
    small = MLPClassifierTorch((8,), max_iter=1)
    sk.GridSearchCV(small, {"alpha": [1e-4, 1e-3]}, cv=2, n_jobs=2).fit(X, y)
    GridSearchCV(small, {"alpha": [1e-4, 1e-3]}, cv=2, n_jobs=2).fit(X, y)
    results = {"machine": machine(), "rounds": rounds,
               "digits": digits_case(rounds, args.quick),
               "fashion": fashion_case(rounds, args.quick),
               "seed001": seed001_case(rounds, args.quick),
               "memory": memory_case(args.quick)}
    publish(results, markdown(results), "fused_search", MARKER, args.quick)


if __name__ == "__main__":
    main()
