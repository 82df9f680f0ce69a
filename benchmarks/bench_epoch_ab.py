"""Seconds per epoch of this sknets against another checkout of it, in one process.

Both packages are imported side by side (the other one under the name
``sknets_baseline``) and train the same networks on the same data one epoch
at a time (warm-start fits), alternating which goes first epoch by epoch;
the script prints the median of each one's epoch durations (from
``history_``, without the fit's set-up) and their ratio (this / baseline),
with the median and range of the ratios of epochs run side by side. Use it
to check that a change to the training engine costs no speed::

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
    return [
        ("MLP (128, 64), batch 64", "MLPClassifierTorch",
         dict(hidden_layer_sizes=(128, 64), batch_size=64), X, y),
        ("MLP (128, 64), batch 256", "MLPClassifierTorch",
         dict(hidden_layer_sizes=(128, 64), batch_size=256), X, y),
        ("default CNN, batch 200", "CNNClassifierTorch", {}, images, y[:n_cnn]),
    ]


def _epoch(model, X, y):
    # One more epoch of a warm-started model; its own duration (history_),
    # without the fit's set-up.
    model.fit(X, y)
    return model.history_[-1]["duration"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", help="the other checkout's sknets/ folder")
    parser.add_argument("--rounds", type=int, default=15,
                        help="epochs per contender and workload")
    parser.add_argument("--quick", action="store_true", help="small data, 3 rounds")
    parser.add_argument("--only", help="run the workloads whose label contains this")
    args = parser.parse_args()
    baseline = _import_as("sknets_baseline", args.baseline)
    contenders = {"this": sknets, "baseline": baseline}
    rounds = 3 if args.quick else args.rounds
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines()
                  if line.startswith("Model name")), "unknown CPU")
    print(f"{model}; this = {Path(sknets.__file__).parent}, baseline = "
          f"{Path(baseline.__file__).parent}; {rounds} rounds, medians")
    for label, name, params, X, y in _workloads(args.quick):
        if args.only and args.only not in label:
            continue
        times = {key: [] for key in contenders}
        models = {key: getattr(package, name)(
            **params, max_iter=1, warm_start=True, n_iter_no_change=np.inf,
            random_state=0, device="cpu") for key, package in contenders.items()}
        for key in contenders:
            _epoch(models[key], X, y)  # warm-up: the first epoch is not counted
        for round_ in range(rounds):
            order = list(contenders) if round_ % 2 == 0 else list(contenders)[::-1]
            for key in order:
                times[key].append(_epoch(models[key], X, y))
        this, base = (statistics.median(times[k]) for k in contenders)
        ratios = [a / b for a, b in zip(times["this"], times["baseline"],
                                        strict=True)]
        print(f"{label}: this {this:.3f} s/epoch, baseline {base:.3f} s/epoch, "
              f"ratio {this / base:.3f} (per epoch pair: median "
              f"{statistics.median(ratios):.3f}, range {min(ratios):.3f}-"
              f"{max(ratios):.3f}; {len(ratios)} pairs)", flush=True)


if __name__ == "__main__":
    main()
