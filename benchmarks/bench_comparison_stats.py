"""How sure sknets' comparisons are: the corrected test by simulation at full size,
and `sknets compare` on digits with five seeds.

1. The simulation of ``tests/test_comparison.py`` with many more studies:
   studies whose candidates differ only in random_state (5 SGD classifiers,
   5-fold x 2, 1000 rows), where any claim of a difference is false, and a
   two-value study with a planted difference of 0.02 accuracy. It reports the
   share of null studies with any false claim for the corrected test and for
   a naive t-test over the same split scores (the same adjustment, variance
   / k), and the share of planted effects found.
2. The README's main job (``sknets compare``: digits, the default grid and
   protocol) with ``--random-state`` 0 to 4: no effect may have evidence in
   one direction for one seed and the other for another, and each seed's
   best must be tied with the best in every other seed. Also the wall time
   of each run.

Run ``python benchmarks/bench_comparison_stats.py`` (``--quick``: 60 studies
and 2 seeds, nothing recorded).
"""

import contextlib
import io
import math
import sys
import tempfile
import time
from pathlib import Path

from _common import parse_rounds, publish
from bench_fused_search import machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sknets.cli import _parser, _settings, run_compare  # noqa: E402
from tests.test_comparison import ALPHA, simulate  # noqa: E402

MARKER = "<!-- how sure a comparison is: benchmarks/bench_comparison_stats.py -->"


def seed_study(seed, output):
    # The CLI's own settings and runner, as `sknets compare --random-state S`.
    args = _parser().parse_args(["compare", "--random-state", str(seed), "--output",
                                 str(output), "--quiet"])
    settings = {**_settings(args), "quiet": True}
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        result = run_compare(settings)
    seconds = time.perf_counter() - start
    frame = result.results
    best = frame.loc[0, "candidate"]
    effects = result.comparison.effects
    return {"seed": seed, "seconds": seconds, "best": best,
            "best_params": str(result.best_params_),
            "tied": sorted(frame.loc[frame["tied_with_best"], "candidate"]),
            "evidence": [[row["param"], str(row["value"]), str(row["reference"]),
                          math.copysign(1, row["difference"])]
                         for _, row in effects.iterrows() if row["evidence"]]}


def contradictions(studies):
    """Effects with evidence in opposite directions, and bests not tied."""
    found = []
    signs = {}
    for study in studies:
        for param, value, reference, sign in study["evidence"]:
            for key, s in ((param, value, reference), sign), \
                    ((param, reference, value), -sign):
                if signs.get(key, s) != s:
                    found.append(f"{key} changes direction at seed {study['seed']}")
                signs[key] = s
    for a in studies:
        for b in studies:
            if a["best"] not in b["tied"]:
                found.append(f"seed {a['seed']}'s best is not tied with the best "
                             f"of seed {b['seed']}")
    return found


def markdown(results):
    sim = results["simulation"]
    lines = [MARKER, "", "## How sure a comparison is", "",
             f"On {results['machine']['cpu']} ({results['machine']['cpu_count']} "
             "CPUs).", "",
             f"**Simulation** ({sim['studies']} studies per case, 5 SGD "
             "classifiers differing only in random_state, 5-fold x 2, 1000 rows; "
             f"alpha {ALPHA}):", "",
             "| | share of studies |", "| --- | ---: |",
             "| null: any false claim, corrected test | "
             f"{sim['false_corrected']:.3f} |",
             f"| null: any false claim, naive t-test | {sim['false_naive']:.3f} |",
             f"| planted 0.02 accuracy found | {sim['found']:.3f} |", "",
             f"(a share's standard error at alpha is "
             f"{math.sqrt(ALPHA * (1 - ALPHA) / sim['studies']):.3f}; "
             f"{sim['seconds']:.0f} s)", "",
             "**`sknets compare` on digits, seeds "
             f"{', '.join(str(s['seed']) for s in results['seeds'])}** (default "
             "grid, 5-fold x 2):", "",
             "| seed | best | tied with it | effects with evidence | time (s) |",
             "| ---: | --- | ---: | --- | ---: |"]
    for s in results["seeds"]:
        effects = "; ".join(f"{p}={v} vs {r}: {'+' if d > 0 else '-'}"
                            for p, v, r, d in s["evidence"]) or "none"
        lines.append(f"| {s['seed']} | {s['best_params']} | {len(s['tied'])} | "
                     f"{effects} | {s['seconds']:.1f} |")
    lines += ["", "Contradictions between seeds: "
              + ("; ".join(results["contradictions"]) or "none") + "."]
    return "\n".join(lines) + "\n"


def main():
    args, _ = parse_rounds(__doc__)
    n_studies, seeds = (60, [0, 1]) if args.quick else (500, [0, 1, 2, 3, 4])
    start = time.perf_counter()
    false_corrected, false_naive, found = simulate(n_studies, seed=1000)
    sim = {"studies": n_studies, "false_corrected": false_corrected,
           "false_naive": false_naive, "found": found,
           "seconds": time.perf_counter() - start}
    print(sim, flush=True)
    studies = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            studies.append(seed_study(seed, Path(tmp) / f"seed{seed}"))
            print(studies[-1], flush=True)
    results = {"machine": machine(), "simulation": sim, "seeds": studies,
               "contradictions": contradictions(studies)}
    publish(results, markdown(results), "comparison_stats", MARKER, args.quick)


if __name__ == "__main__":
    main()
