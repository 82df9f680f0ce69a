"""Process-wide torch settings a fit or a prediction changes, then restores."""

from contextlib import contextmanager

import torch

__all__ = ["SMALL_BATCH_WORK", "batch_work", "fit_threads", "flush_denormal",
           "intra_op_threads"]

# Multiply-adds of one batch's forward pass below which a CPU fit trains on
# one intra-op thread: the step is then overhead-bound, a second thread
# gains nothing on a quiet machine, and a spinning OpenMP thread loses 2x
# when another process holds a core (benchmarks/bench_threads.py).
SMALL_BATCH_WORK = 4_000_000


def _flush_denormal_enabled():
    # torch has no getter: a float32 subnormal survives only when flushing is off.
    return torch.tensor([1e-40], dtype=torch.float32).mul(1.0).item() == 0.0


@contextmanager
def flush_denormal():
    """Flush float32 subnormal numbers to zero on the CPU inside the block.

    As training goes on, optimizer states and some weights decay into the
    subnormal range (below 1.2e-38), where CPU arithmetic is many times
    slower: without flushing, a CNN epoch on Fashion-MNIST grows from 15 s to
    58 s within nine epochs. TensorFlow flushes them by default; sknets does
    it during ``fit`` and ``predict`` and then restores the caller's setting.
    The results change by less than 1.2e-38 per value.

    Examples
    --------
    >>> from sknets.training import flush_denormal
    >>> import torch
    >>> with flush_denormal():
    ...     value = torch.tensor([1e-40]).mul(1.0).item()
    >>> value
    0.0
    """
    previous = _flush_denormal_enabled()
    torch.set_flush_denormal(True)  # returns False (a no-op) on unsupported CPUs
    try:
        yield
    finally:
        torch.set_flush_denormal(previous)


@contextmanager
def intra_op_threads(n_threads):
    """Run the block with ``n_threads`` torch intra-op threads, then restore.

    Parameters
    ----------
    n_threads : int or None
        None keeps torch's setting. In the worker processes of
        ``GridSearchCV(n_jobs=k)`` joblib has already set it to
        ``max(1, cpu_count // k)`` (through ``OMP_NUM_THREADS``), so parallel
        fits do not oversubscribe the cores.

    Examples
    --------
    >>> import torch
    >>> from sknets.training import intra_op_threads
    >>> with intra_op_threads(1):
    ...     inside = torch.get_num_threads()
    >>> inside
    1
    """
    previous = torch.get_num_threads()
    change = n_threads is not None and n_threads != previous
    if change:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(previous)


def batch_work(spec):
    """Multiply-adds of one training batch's forward pass under ``spec``.

    Parameters
    ----------
    spec : TrainingSpec
        A fit's spec.

    Returns
    -------
    work : float
        ``batch_size`` times the weights of the MLP's linear layers; infinity
        for other networks (convolutions are compute-bound: they keep
        torch's threads).
    """
    if spec.module.kind != "mlp":
        return float("inf")
    params = spec.module.kwargs
    sizes = [params["n_features"], *params["hidden_layer_sizes"],
             params["n_outputs"]]
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return float(spec.batch_size * weights)


def fit_threads(n_threads, specs):
    """The intra-op thread count a CPU fit (or a stack of fits) trains with.

    Parameters
    ----------
    n_threads : int or None
        The estimator's ``n_threads``; an int is used as it is.
    specs : list of TrainingSpec
        The fits that train together (one for a single fit).

    Returns
    -------
    n_threads : int or None
        1 when every fit is on the CPU and each one's batch work is below
        ``SMALL_BATCH_WORK``; else None (torch's setting, which joblib lowers
        in its workers). A stack counts per model: its batched products of
        small matrices gain 5% from a second thread on a quiet machine and
        lose 3x when another process holds a core (ten digits (64,) fits:
        0.47 s against 0.50 s quiet, 1.33 s busy; bench_engine.py).

    Examples
    --------
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.training import ModuleSpec, TrainingSpec
    >>> from sknets.training.runtime import fit_threads
    >>> spec = TrainingSpec.from_params(
    ...     MLPClassifierTorch().get_params(), n_samples=1000, device="cpu",
    ...     seed=0, module=ModuleSpec.of("mlp", n_features=64,
    ...                                  hidden_layer_sizes=(128,), n_outputs=10))
    >>> fit_threads(None, [spec]), fit_threads(2, [spec])
    (1, 2)
    """
    if n_threads is not None:
        return n_threads
    if any(not str(spec.device).startswith("cpu") for spec in specs):
        return None
    work = max((batch_work(spec) for spec in specs), default=0.0)
    return 1 if work < SMALL_BATCH_WORK else None
