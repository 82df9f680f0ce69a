"""What the benchmark scripts share: the machine's figures and docs/performance.md.

docs/performance.md is written in sections, one per benchmark script. The
first section (up to the first marker) is ``bench_training.py``'s; every
other one starts with its script's marker line, ``<!-- name: script -->``,
and runs to the next marker. A script rewrites its own section and keeps the
others as they are.
"""

import argparse
import json
import platform
import re
import subprocess
import time
import warnings
from pathlib import Path

import torch
from sklearn.exceptions import ConvergenceWarning

PATH = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
_MARKER = re.compile(r"^<!-- [^>]*: benchmarks/[\w.]+ -->$", re.MULTILINE)


def _split(text):
    # [(marker or None for the head, body), ...] in file order.
    starts = [m.start() for m in _MARKER.finditer(text)]
    parts = [(None, text[:starts[0]] if starts else text)]
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        line = text[start:text.index("\n", start) if "\n" in text[start:] else end]
        parts.append((line, text[start:end]))
    return parts


def write_section(marker, text, path=PATH):
    """Replace the section starting with ``marker`` (None: the head) by ``text``.

    A new section is appended at the end; ``text`` of a marked section starts
    with its marker line.
    """
    current = path.read_text() if path.exists() else "# Performance\n\n"
    parts = _split(current)
    replaced = False
    for i, (name, _) in enumerate(parts):
        if name == marker:
            parts[i] = (name, text)
            replaced = True
    if not replaced:
        parts.append((marker, text))
    path.write_text("\n".join(body.strip("\n") + "\n" for _, body in parts
                              if body.strip()))


def publish(results, text, name, marker, quick):
    """Print ``text``; unless ``quick``, record it and ``results``.

    Writes ``benchmarks/results/<name>.json`` and the script's section of
    docs/performance.md (``marker``; None is the head section).
    """
    print(text)
    if quick:
        return
    out = PATH.parents[1] / "benchmarks" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    write_section(marker, text)
    print(f"wrote {out} and docs/performance.md")


def parse_rounds(doc, rounds=3):
    """The ``--quick`` / ``--rounds`` options every timing script takes.

    Silences ConvergenceWarning (the fits stop at ``max_iter`` on purpose).

    Returns
    -------
    args : argparse.Namespace
    rounds : int
        1 with ``--quick``, else ``--rounds``.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=rounds)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    return args, 1 if args.quick else args.rounds


def cpu_model():
    """The CPU's model name, as ``lscpu`` gives it."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return platform.processor()
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def sgemm_rate():
    """The machine's float32 matrix-product rate in FLOP/s (1024x1024, all threads)."""
    a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
    for _ in range(5):
        a @ b
    rates = []
    for _ in range(5):
        tic = time.perf_counter()
        for _ in range(20):
            a @ b
        rates.append(2 * 1024 ** 3 * 20 / (time.perf_counter() - tic))
    return max(rates)


def mlp_flops(sizes, n_rows, epochs):
    """Matrix FLOPs of training an MLP of layer ``sizes`` on ``n_rows`` rows.

    Forward and weight gradients for every layer, input gradients for all but
    the first: 2 flops per multiply-add.
    """
    layers = list(zip(sizes[:-1], sizes[1:], strict=True))
    per_row = sum(6 * a * b for a, b in layers) - 2 * layers[0][0] * layers[0][1]
    return per_row * n_rows * epochs


def peak_rss_during(run):
    """Peak resident memory while ``run()`` runs, above the memory before it.

    Sampled every 2 ms from ``/proc/self/statm`` (Linux).

    Returns
    -------
    extra : int
        Bytes.
    """
    import threading

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)

    before = rss()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        run()
    finally:
        done.set()
        thread.join()
    return max(peak[0], rss()) - before
