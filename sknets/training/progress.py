"""Progress output: a line per epoch, tqdm bars over batches and epochs, and
the epoch listeners that show a fit's progress in a caller's own display."""

import contextlib
import contextvars

from skorch.callbacks import Callback

__all__ = ["BatchProgressBar", "EpochLogger", "EpochProgressBar", "epoch_listener",
           "no_epoch_listeners", "notify_epoch", "progress_callbacks"]

_LISTENERS: contextvars.ContextVar = contextvars.ContextVar("sknets_epoch_listeners",
                                                           default=())


@contextlib.contextmanager
def epoch_listener(listener):
    """Call ``listener(done, total)`` after each epoch trained in the block.

    Every fit trained in this thread inside the block (one by one, or as one
    stack: its epochs then count once) calls it once per epoch with the
    epochs done and the most epochs any of its members may train.

    Parameters
    ----------
    listener : callable

    Examples
    --------
    >>> from sknets.training.progress import epoch_listener, notify_epoch
    >>> seen = []
    >>> with epoch_listener(lambda done, total: seen.append((done, total))):
    ...     notify_epoch(1, 3)
    >>> notify_epoch(2, 3)  # outside the block: nobody listens
    >>> seen
    [(1, 3)]
    """
    token = _LISTENERS.set((*_LISTENERS.get(), listener))
    try:
        yield
    finally:
        _LISTENERS.reset(token)


@contextlib.contextmanager
def no_epoch_listeners():
    """Hide the fits trained in the block from this thread's epoch listeners."""
    token = _LISTENERS.set(())
    try:
        yield
    finally:
        _LISTENERS.reset(token)


def notify_epoch(done, total):
    """Tell this thread's epoch listeners that ``done`` of ``total`` epochs ran."""
    for listener in _LISTENERS.get():
        listener(done, total)


class EpochLogger(Callback):
    """Print one line per epoch: losses, accuracies and time.

    Examples
    --------
    The line reads ``Iteration 3, loss = 0.21436, train acc 0.9412, valid loss
    0.26300, valid acc 0.9222, valid f1 0.9213, lr 0.001, 0.04s``.
    """

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        parts = [f"Iteration {row['epoch']}, loss = {row['train_loss']:.8f}",
                 f"train acc {row['train_accuracy']:.4f}"]
        if "valid_loss" in row:
            parts += [f"valid loss {row['valid_loss']:.5f}",
                      f"valid acc {row['valid_accuracy']:.4f}",
                      f"valid f1 {row['valid_f1_macro']:.4f}"]
        parts += [f"lr {row['lr']:.3g}", f"{row['duration']:.2f}s"]
        print(", ".join(parts), flush=True)


class BatchProgressBar(Callback):
    """A tqdm bar over the batches of each epoch."""

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        from tqdm.auto import tqdm

        n_batches = len(net.get_iterator(dataset_train, training=True))
        self.bar_ = tqdm(total=n_batches, desc=f"epoch {len(net.history)}",
                         leave=False, unit="batch")

    def on_batch_end(self, net, **kwargs):
        self.bar_.update()

    def on_epoch_end(self, net, **kwargs):
        self.bar_.close()


class EpochProgressBar(Callback):
    """A tqdm bar over the epochs of a fit, showing the last training loss."""

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=net.max_epochs, desc="epochs", leave=False,
                         unit="epoch")

    def on_epoch_end(self, net, **kwargs):
        self.bar_.set_postfix(loss=f"{net.history[-1]['train_loss']:.4f}")
        self.bar_.update()

    def on_train_end(self, net, **kwargs):
        self.bar_.close()


def progress_callbacks(verbose, epoch_progress):
    """The progress callbacks a fit shows.

    Parameters
    ----------
    verbose : int
        1 prints a line per epoch; 2 adds a bar over each epoch's batches.
    epoch_progress : bool
        Show a bar over the epochs of the fit.

    Returns
    -------
    callbacks : list of (str, Callback)

    Examples
    --------
    >>> [name for name, _ in progress_callbacks(2, False)]
    ['epoch_logger', 'progress_bar']
    """
    callbacks = []
    if verbose:
        callbacks.append(("epoch_logger", EpochLogger()))
    if verbose >= 2:
        callbacks.append(("progress_bar", BatchProgressBar()))
    if epoch_progress:
        callbacks.append(("epoch_progress", EpochProgressBar()))
    return callbacks
