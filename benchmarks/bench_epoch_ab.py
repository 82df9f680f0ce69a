"""Seconds per epoch of this sknets against another checkout of it, in one process.

Both packages are imported side by side (the other one under the name
``sknets_baseline``) and fit the same networks on the same data, alternating
which goes first round by round; the script prints the median seconds per
epoch of each and their ratio (this / baseline). Use it to check that a
change to the training engine costs no speed::

    git worktree add /tmp/sknets-before HEAD~1
    python benchmarks/bench_epoch_ab.py /tmp/sknets-before/sknets
    python benchmarks/bench_epoch_ab.py /tmp/sknets-before/sknets --quick

The workloads are those of ``bench_training.py``: a 784-128-64-10 MLP with
Adam at batch 64 and 256 on 60,000 rows, and the default CNN on 10,000 rows
(the data are random: an epoch's time does not depend on the values).
"""

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

import sknets

warnings.simplefilter("ignore", ConvergenceWarning)


def _import_as(name, package_dir):
    spec = importlib.util.spec_from_file_location(
        name, Path(package_dir) / "__init__.py",
        submodule_search_locations=[str(package_dir)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _workloads(quick):
    rng = np.random.RandomState(0)
    n_mlp, n_cnn = (6000, 1000) if quick else (60000, 10000)
    X = rng.rand(n_mlp, 784).astype(np.float32)
    y = rng.randint(0, 10, n_mlp)
    images = X[:n_cnn].reshape(-1, 28, 28)
    epochs = 2 if quick else 3
    return [
        ("MLP (128, 64), batch 64", "MLPClassifierTorch",
         dict(hidden_layer_sizes=(128, 64), batch_size=64), X, y, epochs),
        ("MLP (128, 64), batch 256", "MLPClassifierTorch",
         dict(hidden_layer_sizes=(128, 64), batch_size=256), X, y, epochs),
        ("default CNN, batch 200", "CNNClassifierTorch", {}, images, y[:n_cnn],
         epochs),
    ]


def _seconds_per_epoch(package, name, params, X, y, epochs):
    cls = getattr(package, name)
    clf = cls(**params, max_iter=epochs, n_iter_no_change=np.inf, random_state=0,
              device="cpu")
    start = time.perf_counter()
    clf.fit(X, y)
    return (time.perf_counter() - start) / epochs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", help="the other checkout's sknets/ folder")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small data, 2 rounds")
    args = parser.parse_args()
    baseline = _import_as("sknets_baseline", args.baseline)
    contenders = {"this": sknets, "baseline": baseline}
    rounds = 2 if args.quick else args.rounds
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines()
                  if line.startswith("Model name")), "unknown CPU")
    print(f"{model}; this = {Path(sknets.__file__).parent}, baseline = "
          f"{Path(baseline.__file__).parent}; {rounds} rounds, medians")
    for label, name, params, X, y, epochs in _workloads(args.quick):
        times = {key: [] for key in contenders}
        _seconds_per_epoch(sknets, name, params, X[:500], y[:500], 1)  # warm-up
        for round_ in range(rounds):
            order = list(contenders) if round_ % 2 == 0 else list(contenders)[::-1]
            for key in order:
                times[key].append(_seconds_per_epoch(contenders[key], name, params,
                                                     X, y, epochs))
        this, base = (statistics.median(times[k]) for k in ("this", "baseline"))
        ratios = [a / b for a, b in zip(times["this"], times["baseline"],
                                        strict=True)]
        print(f"{label}: this {this:.3f} s/epoch, baseline {base:.3f} s/epoch, "
              f"ratio {this / base:.3f} (per round {min(ratios):.3f}-"
              f"{max(ratios):.3f})", flush=True)


if __name__ == "__main__":
    main()
