"""Which stacks a fused fit trains: the sizes of its ``train_together`` calls."""

from sknets.model_selection import _search


def count_stacks(monkeypatch):
    """Record the number of fits of every stack trained from now on.

    Returns
    -------
    sizes : list of int
        Filled in as stacks train.
    """
    sizes = []
    together = _search.train_together

    def counting(plans, streams=None):
        sizes.append(len(plans))
        return together(plans, streams)

    monkeypatch.setattr(_search, "train_together", counting)
    return sizes
