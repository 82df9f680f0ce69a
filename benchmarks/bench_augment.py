"""What does training-time augmentation cost a CNN epoch on this machine?

Times one epoch of ``CNNClassifierTorch()`` (its defaults, batch 200) on
10,000 Fashion-MNIST training images, without augmentation and with
``augment='light'`` and ``augment='strong'`` (elastic distortion included),
in one process, alternating round by round, medians over rounds; and the
augmentation alone (``Augmenter`` on every batch of the epoch)::

    python benchmarks/bench_augment.py          # about 3 minutes on 2 cores
    python benchmarks/bench_augment.py --quick  # a smoke run

Without Fashion-MNIST (``apt-get install dataset-fashion-mnist``) it uses
digits upscaled to 28x28 and tiled. It prints the table and writes
``benchmarks/results/augment.json`` and its section of
``docs/performance.md``. The target is at most 15% of an epoch.
"""

import statistics
import time

import torch
from _common import parse_rounds, publish
from bench_fused_search import fashion, machine

from sknets import CNNClassifierTorch
from sknets.training import Augmenter, AugmentSpec

MARKER = "<!-- augmentation: benchmarks/bench_augment.py -->"
SETTINGS = (None, "light", "strong")


def epoch_time(X, y, augment):
    clf = CNNClassifierTorch(max_iter=1, random_state=0, augment=augment,
                             device="cpu")
    tic = time.perf_counter()
    clf.fit(X, y)
    return time.perf_counter() - tic


def augment_only(X, augment, batch):
    # The augmentation of every batch of one epoch, alone.
    spec = AugmentSpec.of(augment)
    augmenter = Augmenter(spec, (1, 28, 28), seed=0, device="cpu")
    images = torch.from_numpy(X).view(-1, 1, 28, 28)
    tic = time.perf_counter()
    for start in range(0, len(images), batch):
        augmenter(images[start:start + batch])
    return time.perf_counter() - tic


def main():
    args, rounds = parse_rounds(__doc__)
    X, y, source = fashion(2000 if args.quick else 10000)
    epoch_time(X[:400], y[:400], "light")  # warm-up
    times = {str(s): [] for s in SETTINGS}
    alone = {str(s): [] for s in SETTINGS[1:]}
    for _ in range(rounds):
        for setting in SETTINGS:
            times[str(setting)].append(epoch_time(X, y, setting))
        for setting in SETTINGS[1:]:
            alone[str(setting)].append(augment_only(X, setting, 200))
    median = {k: statistics.median(v) for k, v in times.items()}
    median_alone = {k: statistics.median(v) for k, v in alone.items()}
    base = median["None"]
    m = machine()
    lines = [
        MARKER, "", "## Augmentation", "",
        f"Measured by `python benchmarks/bench_augment.py` on {m['cpu']} "
        f"({m['cpu_count']} cores), torch {m['torch']} with "
        f"{m['torch_threads']} threads: "
        f"one epoch of `CNNClassifierTorch()` (batch 200) on {len(X):,} rows "
        f"of {source}, medians over {rounds} alternating round(s). The target "
        "is at most 15% of an epoch.", "",
        "| augment | s/epoch | overhead | augmentation alone |",
        "| --- | --- | --- | --- |",
        f"| None | {base:.2f} | | |",
    ]
    for setting in SETTINGS[1:]:
        t = median[str(setting)]
        lines.append(f"| '{setting}' | {t:.2f} | **{(t - base) / base:+.1%}** | "
                     f"{median_alone[str(setting)]:.2f} s "
                     f"({median_alone[str(setting)] / base:.1%}) |")
    text = "\n".join(lines) + "\n"
    publish({"machine": m, "rows": len(X), "source": source, "rounds": rounds,
             "epoch_s": times, "augment_alone_s": alone}, text, "augment", MARKER,
            args.quick)


if __name__ == "__main__":
    main()
