"""``compare`` on one validation split, for the tests of the runner's mechanics.

Resuming, interrupts, divergence, folders and the report's layout do not
depend on the protocol, and one split keeps those tests fast. The default
protocol (repeated K-fold) and what it adds have their own tests in
``test_compare.py`` and ``test_report.py``.
"""

from sknets.compare import compare as compare_default


def compare(*args, **kwargs):
    """``sknets.compare.compare`` with ``cv='holdout'`` unless told otherwise."""
    kwargs.setdefault("cv", "holdout")
    return compare_default(*args, **kwargs)
