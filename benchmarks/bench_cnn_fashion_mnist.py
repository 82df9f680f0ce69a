"""Accuracy and wall time of the default CNNClassifierTorch on Fashion-MNIST.

Trains ``CNNClassifierTorch()`` with its default architecture and training
parameters (only ``max_iter`` and ``random_state`` set) on the 60,000
training images, scores the 10,000 test images, prints a per-epoch table and
writes ``benchmarks/results/cnn_fashion_mnist.json``.

The IDX files come from ``--data-dir``, else where ``load_fashion_mnist``
looks: ``$SKNETS_DATA``, ``~/.sknets/data``, then the Debian package's
location (``apt-get install dataset-fashion-mnist``)::

    python benchmarks/bench_cnn_fashion_mnist.py --max-iter 10
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import sklearn
import torch

import sknets
from sknets import CNNClassifierTorch
from sknets.datasets import load_fashion_mnist


def machine():
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "sknets": sknets.__version__,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", default=str(
        Path(__file__).parent / "results" / "cnn_fashion_mnist.json"))
    args = parser.parse_args()

    try:
        X_train, y_train = load_fashion_mnist(args.data_dir, return_X_y=True)
        X_test, y_test = load_fashion_mnist(args.data_dir, kind="test",
                                            return_X_y=True)
    except FileNotFoundError as error:
        raise SystemExit(str(error)) from None

    clf = CNNClassifierTorch(max_iter=args.max_iter,
                             random_state=args.random_state, device=args.device)
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    accuracy = clf.score(X_test, y_test)
    predict_seconds = time.perf_counter() - start

    print("epoch  train_loss  train_acc  seconds")
    for row in clf.history_:
        print(f"{row['epoch']:5d}  {row['train_loss']:10.4f}  "
              f"{row['train_accuracy']:9.4f}  {row['duration']:7.1f}")
    print(f"test accuracy {accuracy:.4f} after {clf.n_iter_} epochs; fit "
          f"{fit_seconds:.0f} s, predicting 10,000 images {predict_seconds:.2f} s")

    result = {
        "benchmark": "default CNNClassifierTorch on Fashion-MNIST",
        "params": {k: repr(v) for k, v in clf.get_params().items()},
        "n_train": len(X_train),
        "n_test": len(X_test),
        "epochs": clf.n_iter_,
        "test_accuracy": accuracy,
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "seconds_per_epoch": float(np.median([r["duration"] for r in clf.history_])),
        "history": clf.history_,
        "device": str(clf.net_.device),
        "machine": machine(),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
