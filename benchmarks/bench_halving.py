"""Successive halving against the full grid, on seed 001's study.

Seed 001's grid: 3 MLPs (784-1024-512-256-128-10, 784-512-256-128-64-10,
784-128-64-10) with batch norm and dropout 0.5 x learning rates 0.005,
0.004, 0.003, 0.001, batch 64, 9 epochs, on 10,000 Fashion-MNIST rows (the
digits, upscaled to 28x28 and tiled, when the dataset is absent), chosen by
macro-F1 on a 20% validation split; 20% of the rows are held out for the
test. Each round runs ``compare`` with ``search='grid'`` and with
``search='halving'`` (factor 3: rungs of 1, 3 and 9 epochs), alternating;
the figures are medians over rounds of the whole call (training, scoring,
report). It writes ``benchmarks/results/halving.json`` and the "Successive
halving" section of ``docs/performance.md``::

    python benchmarks/bench_halving.py           # about 6 minutes on 2 cores
    python benchmarks/bench_halving.py --quick   # a smoke run
"""

import json
import statistics
import tempfile
import time
from pathlib import Path

from _common import parse_rounds, publish
from bench_fused_search import fashion, machine

from sknets import MLPClassifierTorch
from sknets.compare import compare, halving_rungs
from sknets.persistence import _decode

MARKER = "<!-- successive halving: benchmarks/bench_halving.py -->"
GRID = {"hidden_layer_sizes": [(1024, 512, 256, 128), (512, 256, 128, 64), (128, 64)],
        "learning_rate_init": [5e-3, 4e-3, 3e-3, 1e-3]}


def run(search, X, y, epochs):
    estimator = MLPClassifierTorch(batch_norm=True, dropout=0.5, batch_size=64,
                                   max_iter=epochs, random_state=0)
    with tempfile.TemporaryDirectory() as out:
        tic = time.perf_counter()
        result = compare(estimator, GRID, X, y, output_dir=out, verbose=False,
                         search=search)
        seconds = time.perf_counter() - tic
        records = [json.loads(p.read_text())
                   for p in (Path(out) / "models").glob("*.json")]
    best = result.results.iloc[0]
    first_rung = []  # the candidates by their first rung's score, best first
    if search == "halving":
        first_rung = [_decode(r["params"], "params") for r in sorted(
            records, key=lambda r: -sum(r["rungs"][0]["scores"]["f1_macro"]))]
    return seconds, {
        "first_rung_order": [{k: str(v) for k, v in p.items()} for p in first_rung],
        "best": {k: str(v) for k, v in result.best_params_.items()},
        "validation_f1_macro": float(best["mean_f1_macro"]),
        "test_accuracy": float(result.evaluation.accuracy),
        "test_f1_macro": float(result.evaluation.f1_macro),
        "epochs_trained": int(sum(sum(r["epochs"]) for r in records)),
    }


def markdown(results):
    grid, halving = results["grid"], results["halving"]
    rungs = ", ".join(f"{n} x {e}" for e, n in results["rungs"])
    m = results["machine"]
    lines = [
        MARKER, "", "## Successive halving", "",
        f"Measured by `python benchmarks/bench_halving.py` on {m['cpu']} "
        f"({m['cpu_count']} cores), torch {m['torch']} with {m['torch_threads']} "
        f"threads: `compare` on seed 001's grid (12 candidates: 3 MLPs with batch "
        f"norm and dropout 0.5 x 4 learning rates, batch 64, {results['epochs']} "
        f"epochs), {results['source']}, {results['rows']:,} rows, holdout with a 20% "
        "validation split, ranked by macro-F1. Each figure is a median over "
        f"{results['rounds']} alternating round(s) of the whole call (training, "
        "scoring, the report).", "",
        "| search | time | epochs trained | best candidate | validation macro-F1 "
        "| test accuracy |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in (("full grid", grid), ("halving, factor 3", halving)):
        best = ", ".join(f"{k}={v}" for k, v in r["best"].items())
        lines.append(f"| {name} | {r['median_s']:.1f} s | {r['epochs_trained']} | "
                     f"{best} | {r['validation_f1_macro']:.4f} | "
                     f"{r['test_accuracy']:.4f} |")
    lines += ["", f"Halving's rungs (candidates x epochs in all): {rungs}. It was "
              f"**{grid['median_s'] / halving['median_s']:.2f}x** faster than the "
              f"full grid and trained {halving['epochs_trained']} epochs against "
              f"{grid['epochs_trained']}; the chosen candidate is "
              f"{'the same' if grid['best'] == halving['best'] else 'another'}."]
    order = halving["first_rung_order"]
    if grid["best"] != halving["best"] and grid["best"] in order:
        rank = order.index(grid["best"]) + 1
        lines += ["", f"The full grid's best ranked {rank} of {len(order)} after "
                  f"the first rung's {results['rungs'][0][0]} epoch(s), and the "
                  f"first rung keeps {results['rungs'][1][1]}: it was stopped "
                  "there. Successive halving assumes that early scores rank the "
                  "candidates as their final ones do; here the largest network, "
                  "with dropout 0.5, learns slowest at first and best in the "
                  "end. Use it where early scores are telling (learning rates "
                  "of one network); compare architectures with the full grid."]
    return "\n".join(lines) + "\n"


def main():
    args, rounds = parse_rounds(__doc__)
    n_rows, epochs = (2000, 3) if args.quick else (10000, 9)
    X, y, source = fashion(n_rows)
    times = {"grid": [], "halving": []}
    outcome = {}
    for _ in range(rounds):
        for search in times:
            seconds, outcome[search] = run(search, X, y, epochs)
            times[search].append(seconds)
            print(search, f"{seconds:.1f} s", outcome[search], flush=True)
    results = {"machine": machine(), "rounds": rounds, "rows": n_rows,
               "epochs": epochs, "source": source,
               "rungs": halving_rungs(12, epochs, 3),
               **{search: {"median_s": statistics.median(times[search]),
                           "times_s": times[search], **outcome[search]}
                  for search in times}}
    publish(results, markdown(results), "halving", MARKER, args.quick)


if __name__ == "__main__":
    main()
