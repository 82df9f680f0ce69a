"""Process-wide torch settings a fit or a prediction changes, then restores."""

from contextlib import contextmanager

import torch

__all__ = ["flush_denormal", "intra_op_threads"]


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
