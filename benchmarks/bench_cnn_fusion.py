"""Would stacking CNNs pay on this machine? Grouped convolutions against separate steps.

A fused search trains MLPs of one architecture as one stacked network. For
CNNs the stacked network would run each convolution with ``groups=M`` (the M
models' images as M input channel groups) and each dense layer as a batched
matrix product. This measures one training step (forward, backward, Adam) of
M default ``CNNClassifierTorch`` networks on 28x28 images at batch 200, done
both ways, in one process, alternating, medians over rounds::

    python benchmarks/bench_cnn_fusion.py          # about a minute on 2 cores
    python benchmarks/bench_cnn_fusion.py --quick  # a smoke run

It prints the table and writes ``benchmarks/results/cnn_fusion.json`` and its
section of ``docs/performance.md``.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from _common import publish
from bench_fused_search import machine
from torch import nn

MARKER = "<!-- cnn fusion: benchmarks/bench_cnn_fusion.py -->"
BATCH = 200


def cnn():
    # CNNClassifierTorch's default network on 1 x 28 x 28 images.
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


class GroupedCNN(nn.Module):
    """M default CNNs as one network: grouped convolutions, batched dense layers."""

    def __init__(self, m):
        super().__init__()
        self.m = m
        self.conv1 = nn.Conv2d(m, 32 * m, 3, padding=1, groups=m)
        self.conv2 = nn.Conv2d(32 * m, 64 * m, 3, padding=1, groups=m)
        self.w1 = nn.Parameter(torch.randn(m, 64 * 7 * 7, 128) * 0.02)
        self.b1 = nn.Parameter(torch.zeros(m, 1, 128))
        self.w2 = nn.Parameter(torch.randn(m, 128, 10) * 0.1)
        self.b2 = nn.Parameter(torch.zeros(m, 1, 10))

    def forward(self, x):  # x: (B, M, 28, 28), model m's batch in channel m
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)  # (B, 64 M, 7, 7)
        h = h.reshape(len(x), self.m, -1).transpose(0, 1)  # (M, B, 3136)
        h = F.relu(torch.baddbmm(self.b1, h, self.w1))
        return torch.baddbmm(self.b2, h, self.w2)  # (M, B, 10)


def separate_step(models, optimizers, X, y):
    for model, optimizer, xb, yb in zip(models, optimizers, X, y, strict=True):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()


def grouped_step(model, optimizer, X, y):
    optimizer.zero_grad(set_to_none=True)
    logits = model(X.transpose(0, 1).squeeze(2))  # (M, B, 10)
    F.cross_entropy(logits.reshape(-1, 10), y.reshape(-1)).backward()
    optimizer.step()


def measure(m, rounds, steps):
    torch.manual_seed(0)
    X = torch.rand(m, BATCH, 1, 28, 28)
    y = torch.randint(0, 10, (m, BATCH))
    models = [cnn() for _ in range(m)]
    optimizers = [torch.optim.Adam(p.parameters(), fused=True) for p in models]
    grouped = GroupedCNN(m)
    grouped_optimizer = torch.optim.Adam(grouped.parameters(), fused=True)
    contenders = {
        "separate": lambda: separate_step(models, optimizers, X, y),
        "grouped": lambda: grouped_step(grouped, grouped_optimizer, X, y),
    }
    for run in contenders.values():
        run()
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            tic = time.perf_counter()
            for _ in range(steps):
                run()
            times[name].append((time.perf_counter() - tic) / steps)
    median = {name: statistics.median(t) for name, t in times.items()}
    return {"models": m, "seconds_per_step": median, "times_s": times,
            "separate_over_grouped": median["separate"] / median["grouped"]}


def markdown(results):
    mach = results["machine"]
    lines = [
        MARKER, "", "## Stacked CNNs", "",
        f"Measured by `python benchmarks/bench_cnn_fusion.py` on {mach['cpu']} "
        f"({mach['cpu_count']} cores, torch {mach['torch']} with "
        f"{mach['torch_threads']} threads): one training step (forward, backward, "
        "Adam) of M default CNNs at batch 200, as M separate steps or as one "
        "network with grouped convolutions and batched dense layers; medians over "
        f"{results['rounds']} rounds.", "",
        "| models | M separate steps | one grouped step | separate / grouped |",
        "| --- | --- | --- | --- |",
    ]
    for case in results["cases"]:
        t = case["seconds_per_step"]
        lines.append(f"| {case['models']} | {1e3 * t['separate']:.0f} ms | "
                     f"{1e3 * t['grouped']:.0f} ms | "
                     f"**{case['separate_over_grouped']:.2f}x** |")
    ratios = [case["separate_over_grouped"] for case in results["cases"]]
    best = max(results["cases"], key=lambda case: case["separate_over_grouped"])
    if max(ratios) < 1:
        lines += ["", f"Stacking is slower here ({min(ratios):.2f}x to "
                  f"{max(ratios):.2f}x): the CPU's grouped convolutions run slower "
                  "per model than ordinary ones, and a CNN step is dominated by "
                  "convolution arithmetic, which stacking does not reduce. So a "
                  "fused search trains CNN candidates as ordinary fits, in the same "
                  "search and spread over its `n_jobs` workers.", ""]
    elif max(ratios) < 1.2:
        lines += ["", f"Stacking gains at most {max(ratios):.2f}x "
                  f"({best['models']} models): too little for a second training "
                  "path, so a fused search trains CNN candidates as ordinary fits, "
                  "spread over its `n_jobs` workers.", ""]
    else:
        lines += ["", f"Stacking would gain {max(ratios):.2f}x "
                  f"({best['models']} models) here; fused searches do not stack "
                  "CNNs yet and train them as ordinary fits.", ""]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rounds, steps = (1, 1) if args.quick else (args.rounds, 3)
    results = {"machine": machine(), "rounds": rounds,
               "cases": [measure(m, rounds, steps) for m in (2, 4, 8)]}
    publish(results, markdown(results), "cnn_fusion", MARKER, args.quick)


if __name__ == "__main__":
    main()
