"""The training engine: fast batches, the skorch net, and sknets' callbacks.

skorch supplies the machinery (module, criterion and optimizer set-up, the
epoch loop's callback protocol, history, pickling across devices); this module
trims its per-batch work to what a hand-written loop pays and adds the
callbacks that give scikit-learn's semantics (stopping rules, learning-rate
schedules, best-weight restore) and the progress output.
"""

import copy
import math
import time
import warnings
from contextlib import contextmanager

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from torch import nn

__all__ = [
    "LEARNING_RATE_SCHEDULES",
    "SOLVERS",
    "BatchIterator",
    "ConvergenceMonitor",
    "DivergenceWarning",
    "EpochLogger",
    "LearningRateSchedule",
    "NonFiniteInput",
    "SknetsNet",
    "TensorData",
    "flush_denormal",
    "intra_op_threads",
    "make_net",
]


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


class DivergenceWarning(UserWarning):
    """Warning raised when the training loss becomes NaN or infinite.

    Training then stops and the weights roll back to the last finite epoch;
    the epoch is marked ``'diverged'`` in ``history_``.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sknets import DivergenceWarning, MLPClassifierTorch
    >>> X, y = np.random.RandomState(0).rand(40, 3) * 1e4, np.arange(40) % 2
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     clf = MLPClassifierTorch(solver="sgd", learning_rate_init=1e6,
    ...                              max_iter=3, random_state=0).fit(X, y)
    >>> any(issubclass(w.category, DivergenceWarning) for w in caught)
    True
    >>> clf.history_[-1]["diverged"]
    True
    """


class NonFiniteInput(ValueError):
    """A chunk of prediction input sums to NaN or infinity.

    Raised by ``SknetsNet.predict_logits(check_finite=True)``; the estimators
    catch it and run scikit-learn's exact check, whose message users see.

    Examples
    --------
    >>> from sknets.training import NonFiniteInput
    >>> issubclass(NonFiniteInput, ValueError)
    True
    """


class TensorData(torch.utils.data.Dataset):
    """Features and encoded targets held as two tensors, and the rows to use.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, ...)
        float32 features.
    y : torch.Tensor of shape (n_samples,)
        int64 class indices.
    indices : torch.Tensor of shape (n_used,) or None, default=None
        The rows that form the dataset (a training split taken without
        copying X); None means all of them.

    Examples
    --------
    >>> import torch
    >>> from sknets.training import TensorData
    >>> data = TensorData(torch.zeros(5, 2), torch.arange(5), torch.tensor([4, 1]))
    >>> len(data), data[0][1].item()
    (2, 4)
    """

    def __init__(self, X, y, indices=None):
        self.X = X
        self.y = y
        self.indices = indices

    def __len__(self):
        return len(self.y) if self.indices is None else len(self.indices)

    def __getitem__(self, index):
        if self.indices is not None:
            index = self.indices[index]
        return self.X[index], self.y[index]


class _HostBatches:
    # Gathers rows of a host tensor into one of two pinned buffers and copies
    # it to the device asynchronously; a buffer is refilled only once its
    # previous copy has finished.

    def __init__(self, X, batch_size, device):
        self.X, self.device = X, torch.device(device)
        cuda = self.device.type == "cuda"
        self.buffers = [torch.empty((batch_size, *X.shape[1:]), dtype=X.dtype,
                                    pin_memory=cuda) for _ in range(2)]
        self.copied = [None, None]  # CUDA events, one per buffer
        self.turn = 0

    def __call__(self, idx):
        self.turn ^= 1
        k = self.turn
        if self.copied[k] is not None:
            self.copied[k].synchronize()
        out = self.buffers[k][:len(idx)]  # (B, ...)
        torch.index_select(self.X, 0, idx, out=out)
        batch = out.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            self.copied[k] = torch.cuda.Event()
            self.copied[k].record()
        return batch


class BatchIterator:
    """Mini-batches as index slices of a ``TensorData``.

    One random permutation per epoch, then each batch is ``X[idx]`` for a slice
    ``idx`` of it: no per-sample ``__getitem__``, no collation, no worker
    processes. When X lives on the host and ``device`` is an accelerator (a
    training set too large for the device), each batch is gathered into a
    pinned buffer and copied to the device without blocking.

    Parameters
    ----------
    dataset : TensorData
        The data to iterate over; ``y`` lives on ``device``.
    batch_size : int
        Number of samples per batch; the last batch may be smaller.
    shuffle : bool, default=False
        Whether to draw a new permutation every epoch.
    seed : int or None, default=None
        Seed of the permutations; None uses torch's global generator.
    drop_single : bool, default=False
        Drop a last batch of a single sample (batch normalisation cannot
        train on one sample).
    device : str or None, default=None
        Where batches are used; None means where X is.

    Examples
    --------
    >>> import torch
    >>> from sknets.training import BatchIterator, TensorData
    >>> data = TensorData(torch.zeros(5, 2), torch.arange(5))
    >>> [len(yb) for _, yb in BatchIterator(data, batch_size=2)]
    [2, 2, 1]
    """

    def __init__(self, dataset, batch_size, shuffle=False, seed=None,
                 drop_single=False, device=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_single = drop_single
        self.device = dataset.X.device if device is None else torch.device(device)
        self.generator = None
        if seed is not None:
            self.generator = torch.Generator(device=dataset.X.device)
            self.generator.manual_seed(int(seed))

    def __len__(self):
        n_batches = math.ceil(len(self.dataset) / self.batch_size)
        if self.drop_single and len(self.dataset) % self.batch_size == 1:
            n_batches -= 1
        return n_batches

    def _order(self, n, device):
        # The rows of one epoch, in order: a permutation of the dataset's rows.
        rows = self.dataset.indices
        if not self.shuffle:
            return torch.arange(n, device=device) if rows is None else rows
        order = torch.randperm(n, generator=self.generator, device=device)
        return order if rows is None else rows[order]

    def __iter__(self):
        X, y = self.dataset.X, self.dataset.y
        n = len(self.dataset)
        stop = n - 1 if self.drop_single and n % self.batch_size == 1 else n
        if X.device != self.device:
            gather = _HostBatches(X, self.batch_size, self.device)
            order = self._order(n, X.device)
            for start in range(0, stop, self.batch_size):
                idx = order[start:start + self.batch_size]
                yield gather(idx), y[idx.to(y.device, non_blocking=True)]
            return
        if not self.shuffle and self.dataset.indices is None:
            for start in range(0, stop, self.batch_size):
                end = min(start + self.batch_size, stop)
                yield X[start:end], y[start:end]  # views, no copy
            return
        order = self._order(n, X.device)
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield X[idx], y[idx]  # (B, ...), (B,)


def _macro_f1(y_true, y_pred, n_classes):
    # Macro-F1 over the classes present in y_true or y_pred, as scikit-learn's
    # f1_score(average="macro") computes it.
    confusion = torch.bincount(y_true * n_classes + y_pred, minlength=n_classes ** 2)
    confusion = confusion.reshape(n_classes, n_classes).double()  # (true, pred)
    tp = confusion.diagonal()
    support, predicted = confusion.sum(1), confusion.sum(0)
    present = (support + predicted) > 0
    f1 = 2 * tp / (support + predicted).clamp(min=1)
    return float(f1[present].mean())


class SknetsNet(NeuralNetClassifier):
    """skorch's ``NeuralNetClassifier`` with sknets' lean training epoch.

    The estimators build it in ``fit`` and keep it as ``net_``. Compared with
    skorch's own loop, a training epoch does no per-batch history writes, no
    per-batch device synchronisation and no closure-based optimizer step (none
    of sknets' solvers needs one); callbacks that implement ``on_batch_end``
    are still called. Validation runs in large batches under
    ``torch.inference_mode``.

    Parameters
    ----------
    *args, **kwargs
        As for ``skorch.NeuralNetClassifier``.
    alpha : float, default=0.0
        L2 penalty, added to the training loss as scikit-learn does:
        ``0.5 * alpha * sum(||W||^2) / batch_size`` over the weights (not the
        biases) of linear and convolutional layers.
    drop_single : bool, default=False
        Passed to ``BatchIterator``: drop a last training batch of one sample.
    predict_chunk : int, default=256
        Rows per forward pass when predicting on the CPU (see
        ``predict_logits``).

    Examples
    --------
    Every fitted estimator keeps its net as ``net_``:

    >>> import numpy as np
    >>> from sknets import MLPClassifierTorch
    >>> X, y = np.random.RandomState(0).rand(30, 4), np.arange(30) % 3
    >>> net = MLPClassifierTorch(max_iter=2, random_state=0).fit(X, y).net_
    >>> type(net).__name__, len(net.history), net.history[-1]["train_batch_count"]
    ('SknetsNet', 2, 1)
    """

    def __init__(self, *args, alpha=0.0, drop_single=False, predict_chunk=256,
                 **kwargs):
        self.alpha = alpha
        self.drop_single = drop_single
        self.predict_chunk = predict_chunk
        super().__init__(*args, **kwargs)

    def get_default_callbacks(self):
        # skorch's defaults read per-batch history that this net does not write.
        return []

    def initialize_module(self):
        super().initialize_module()
        self._collect_penalized_weights()
        return self

    def _collect_penalized_weights(self):
        self.penalized_weights_ = [
            m.weight for m in self.module_.modules()
            if isinstance(m, (nn.Linear, nn.Conv2d))
        ]

    def __getstate__(self):
        # The list aliases module_'s parameters; pickled on its own it would
        # come back as copies, so it is rebuilt from module_ on unpickling.
        state = super().__getstate__()
        state.pop("penalized_weights_", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "module_" in self.__dict__:
            self._collect_penalized_weights()

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = self.criterion_(y_pred, y_true)
        if training and self.alpha > 0:
            penalty = sum(w.pow(2).sum() for w in self.penalized_weights_)
            loss = loss + (0.5 * self.alpha / len(y_true)) * penalty
        return loss

    @torch.no_grad()
    def _add_penalty_gradient(self, weights, batch_size):
        # The gradient of 0.5 * scale * ||W||^2 is scale * W: added to the
        # gradients directly, in one fused call, instead of through autograd.
        scale = self.alpha / batch_size
        torch._foreach_add_([w.grad for w in weights], weights, alpha=scale)
        norms = torch.stack(torch._foreach_norm(weights))
        return 0.5 * scale * norms.pow(2).sum()

    def fit_loop(self, X, y=None, epochs=None, valid_data=None, **fit_params):
        """Run ``epochs`` epochs over the ``TensorData`` ``X``.

        Parameters
        ----------
        X : TensorData
            Training data.
        y : None
            Unused; the targets are in ``X``.
        epochs : int or None, default=None
            Number of epochs; None means ``max_epochs``.
        valid_data : TensorData or None, default=None
            Validation data scored after every epoch.
        **fit_params : dict
            Ignored (skorch passes its routing arguments here).

        Returns
        -------
        self : SknetsNet
        """
        self.check_training_readiness()
        epochs = self.max_epochs if epochs is None else epochs
        iterator = self.get_iterator(X, training=True)
        on_epoch_kwargs = {"dataset_train": X, "dataset_valid": valid_data}
        self.stop_training_ = False
        self.interrupted_ = False
        try:
            for _ in range(epochs):
                tic = time.perf_counter()
                self.notify("on_epoch_begin", **on_epoch_kwargs)
                self.history.record("lr", self.optimizer_.param_groups[0]["lr"])
                self.run_single_epoch(iterator, training=True, prefix="train",
                                      step_fn=None)
                if valid_data is not None:
                    self._validation_epoch(valid_data)
                self.history.record("duration", time.perf_counter() - tic)
                self.notify("on_epoch_end", **on_epoch_kwargs)
                if self.stop_training_:
                    break
        except KeyboardInterrupt:
            # skorch's partial_fit swallows the interrupt and runs
            # on_train_end; the epoch in progress is dropped from the history
            # and ConvergenceMonitor rolls the weights back to the last
            # completed epoch.
            self.interrupted_ = True
            if self.history and "duration" not in self.history[-1]:
                self.history.pop()
            raise
        return self

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """One pass of optimisation over ``iterator``; records loss and accuracy.

        Parameters
        ----------
        iterator : BatchIterator
            The training batches.
        training : bool
            Must be True; validation goes through ``_validation_epoch``.
        prefix : str
            History key prefix, ``'train'``.
        step_fn : None
            Unused; kept for skorch's signature.
        **fit_params : dict
            Unused.
        """
        module, optimizer = self.module_, self.optimizer_
        batch_hooks = [
            cb for _, cb in self.callbacks_
            if type(cb).on_batch_end is not Callback.on_batch_end
        ]
        module.train()
        penalized = self.penalized_weights_ if self.alpha > 0 else []
        losses, sizes, correct = [], [], []
        for Xb, yb in iterator:
            optimizer.zero_grad(set_to_none=True)
            logits = module(Xb)  # (B, C)
            loss = self.criterion_(logits, yb)
            loss.backward()
            loss = loss.detach()
            if penalized:
                loss = loss + self._add_penalty_gradient(penalized, len(yb))
            optimizer.step()
            # Kept as tensors: no device synchronisation inside the loop.
            losses.append(loss)
            correct.append((logits.detach().argmax(1) == yb).sum())
            sizes.append(len(yb))
            for cb in batch_hooks:
                cb.on_batch_end(self, batch=(Xb, yb), training=True, loss=loss,
                                y_pred=logits)
        batch_losses = torch.stack(losses).double().cpu()
        n_seen = sum(sizes)
        batch_sizes = torch.tensor(sizes, dtype=torch.float64)
        self.history.record(prefix + "_loss",
                            float(batch_losses @ batch_sizes) / n_seen)
        self.history.record(prefix + "_accuracy",
                            float(torch.stack(correct).sum()) / n_seen)
        self.history.record(prefix + "_batch_count", len(sizes))
        self.history.record(prefix + "_samples", n_seen)
        for loss, size in zip(batch_losses.tolist(), sizes, strict=True):
            self.history.new_batch()
            self.history.record_batch(prefix + "_loss", loss)
            self.history.record_batch(prefix + "_batch_size", size)

    def predict_logits(self, X, batch_size=None, check_finite=False):
        """Logits of ``X`` in fixed-size chunks, under ``torch.inference_mode``.

        Every chunk has exactly ``batch_size`` rows (the last one is padded
        with zeros): matrix kernels then take the same path for every row, so
        a sample's output does not depend on which other samples are predicted
        with it (float32 kernels chosen by batch shape differ in the last bits).

        Parameters
        ----------
        X : torch.Tensor of shape (n_samples, ...)
            float32 input, on the net's device or on the host.
        batch_size : int or None, default=None
            Rows per forward pass; None means ``predict_chunk`` (set by the
            estimator: 2048 rows for an MLP, 256 for a CNN) on the CPU and
            4096 on an accelerator.
        check_finite : bool, default=False
            Raise ``NonFiniteInput`` when a chunk of X holds NaN or infinity,
            found from the sum of the chunk (or of the first layer's output
            when that is a Linear layer) while it is in cache: cheaper than a
            separate pass over X. The sum of large finite values can overflow,
            so the caller confirms with an exact check.

        Returns
        -------
        logits : torch.Tensor of shape (n_samples, n_classes)
        """
        device = torch.device(self.device)
        if batch_size is None:
            batch_size = (getattr(self, "predict_chunk", 256)
                          if device.type == "cpu" else 4096)
        module = self.module_
        module.eval()
        # What to check for NaN/infinity: a NaN or infinite input value makes
        # every output of a first Linear layer non-finite (inf * 0 is NaN), and
        # that output is far smaller than the input; other first layers (a
        # convolution can skip pixels) get the input checked.
        first, rest = None, module
        if (check_finite and isinstance(module, nn.Sequential) and len(module) > 1
                and isinstance(module[0], nn.Linear)):
            first, rest = module[0], nn.Sequential(*list(module)[1:])
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(X), batch_size):
                chunk = X[start:start + batch_size].to(device, non_blocking=True)
                n = len(chunk)
                if n < batch_size:
                    chunk = torch.cat([chunk, chunk.new_zeros(
                        (batch_size - n, *chunk.shape[1:]))])
                checked = chunk if first is None else first(chunk)  # (B, H)
                if check_finite and not torch.isfinite(checked.sum()):
                    raise NonFiniteInput
                chunks.append((rest(checked) if first is not None
                               else module(chunk))[:n])  # (B, C)
        return torch.cat(chunks)

    def _validation_epoch(self, data):
        logits = self.predict_logits(data.X)  # (N, C)
        with torch.inference_mode():
            loss = self.criterion_(logits, data.y)
            pred = logits.argmax(1)
            accuracy = (pred == data.y).double().mean()
        self.history.record("valid_loss", float(loss))
        self.history.record("valid_accuracy", float(accuracy))
        self.history.record("valid_f1_macro",
                            _macro_f1(data.y, pred, logits.shape[1]))


def _snapshot(module):
    return copy.deepcopy(module.state_dict())


class ConvergenceMonitor(Callback):
    """scikit-learn's stopping rules, best-weight restore and divergence guard.

    After each epoch, as scikit-learn's ``MLPClassifier`` does: without a
    validation split, an epoch whose training loss is not below
    ``best_loss_ - tol`` counts as no improvement; with one, an epoch whose
    validation accuracy is not above ``best_validation_score_ + tol`` does.
    More than ``n_iter_no_change`` such epochs in a row stop training, or, with
    ``learning_rate='adaptive'`` and the sgd solver, divide the learning rate
    by 5 until it falls below 1e-6.

    A training loss that is NaN or infinite stops training at once and rolls
    the weights back to the last epoch with a finite loss.

    Parameters
    ----------
    tol : float
        Minimum improvement.
    n_iter_no_change : int or float
        Number of epochs without improvement that is tolerated.
    early_stopping : bool
        Whether the validation accuracy (True) or the training loss (False)
        is monitored. With True the best epoch's weights are restored when
        training ends.
    adaptive : bool
        Whether to divide the learning rate by 5 instead of stopping.
    verbose : bool
        Whether to print why training stopped.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets import MLPClassifierTorch
    >>> X, y = np.random.RandomState(0).rand(30, 4), np.arange(30) % 2
    >>> clf = MLPClassifierTorch(tol=1.0, n_iter_no_change=2, max_iter=50).fit(X, y)
    >>> monitor = dict(clf.net_.callbacks_)["convergence"]

    The first epoch improves on infinity; the next three improve by less
    than ``tol``, which is more than ``n_iter_no_change``:

    >>> clf.n_iter_, monitor.stop_reason_.startswith("Training loss did not improve")
    (4, True)
    """

    def __init__(self, tol, n_iter_no_change, early_stopping, adaptive, verbose):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.adaptive = adaptive
        self.verbose = verbose

    def initialize(self):
        self.best_loss_ = np.inf
        self.best_validation_score_ = -np.inf
        self.no_improvement_count_ = 0
        self.stop_reason_ = None
        self.diverged_ = False
        self.best_state_ = None
        self.last_good_state_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.stop_reason_ = None
        self.diverged_ = False
        self.best_state_ = None
        self.last_good_state_ = _snapshot(net.module_)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        loss = row["train_loss"]
        if not math.isfinite(loss):
            self._diverged(net, loss)
            return
        self.last_good_state_ = _snapshot(net.module_)
        if self.early_stopping:
            score = row["valid_accuracy"]
            improved = score >= self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self.best_state_ = self.last_good_state_
        else:
            improved = loss <= self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, loss)
        self.no_improvement_count_ = 0 if improved else self.no_improvement_count_ + 1
        if self.no_improvement_count_ > self.n_iter_no_change:
            self._no_improvement(net)

    def _no_improvement(self, net):
        monitored = "Validation score" if self.early_stopping else "Training loss"
        message = (f"{monitored} did not improve more than tol={self.tol:f} for "
                   f"{self.n_iter_no_change} consecutive epochs.")
        optimizer = net.optimizer_
        lr = optimizer.param_groups[0]["lr"]
        if self.adaptive and lr > 1e-6:
            for group in optimizer.param_groups:
                group["lr"] = lr / 5.0
            self.no_improvement_count_ = 0
            if self.verbose:
                print(f"{message} Setting learning rate to {lr / 5.0:f}")
            return
        if self.verbose:
            print(f"{message} Stopping.")
        self.stop_reason_ = message
        net.stop_training_ = True

    def _diverged(self, net, loss):
        net.module_.load_state_dict(self.last_good_state_)
        net.history.record("diverged", True)
        self.diverged_ = True
        self.stop_reason_ = f"training loss became {loss}"
        net.stop_training_ = True
        lr = net.optimizer_.param_groups[0]["lr"]
        warnings.warn(
            f"Training diverged at epoch {len(net.history)}: the training loss "
            f"became {loss}. The weights were rolled back to the last epoch with "
            f"a finite loss. Try a lower learning_rate_init (it is {lr:g}), "
            "scaled input features, or batch_norm=True.",
            DivergenceWarning,
            stacklevel=2,
        )

    def on_train_end(self, net, **kwargs):
        if self.early_stopping and self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
        elif getattr(net, "interrupted_", False):
            net.module_.load_state_dict(self.last_good_state_)


def _constant(lr_init, epoch, t, est):
    return lr_init


def _invscaling(lr_init, epoch, t, est):
    # scikit-learn: effective_learning_rate = learning_rate_init / pow(t, power_t)
    # with t the number of samples seen, updated after every epoch.
    return lr_init / (t + 1) ** est.power_t


def _step(lr_init, epoch, t, est):
    return lr_init * est.lr_gamma ** (epoch // est.lr_step_size)


def _exponential(lr_init, epoch, t, est):
    return lr_init * est.lr_gamma ** epoch


def _cosine(lr_init, epoch, t, est):
    return lr_init * 0.5 * (1.0 + math.cos(math.pi * min(epoch, est.max_iter)
                                           / est.max_iter))


# Each maps (learning_rate_init, epochs done, samples seen, estimator) to the
# learning rate of the next epoch. 'adaptive' keeps the rate constant; the
# ConvergenceMonitor divides it when progress stalls.
LEARNING_RATE_SCHEDULES = {
    "constant": _constant,
    "invscaling": _invscaling,
    "adaptive": _constant,
    "step": _step,
    "exponential": _exponential,
    "cosine": _cosine,
}

# scikit-learn applies these two only with solver='sgd'.
SGD_ONLY_SCHEDULES = ("invscaling", "adaptive")


class LearningRateSchedule(Callback):
    """Set the optimizer's learning rate after every epoch.

    Parameters
    ----------
    estimator : BaseTorchClassifier
        Supplies ``learning_rate``, ``learning_rate_init``, ``power_t``,
        ``lr_step_size``, ``lr_gamma`` and ``max_iter``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets import MLPClassifierTorch
    >>> X, y = np.random.RandomState(0).rand(30, 4), np.arange(30) % 2
    >>> clf = MLPClassifierTorch(learning_rate="step", lr_step_size=2, lr_gamma=0.5,
    ...                          learning_rate_init=0.1, max_iter=5).fit(X, y)
    >>> [row["lr"] for row in clf.history_]
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def initialize(self):
        self.epoch_ = 0
        self.t_ = 0
        return self

    def restart(self):
        """Start the schedule over (a new optimizer, as in a warm-start fit)."""
        self.epoch_ = 0

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        est = self.estimator
        self.epoch_ += 1
        self.t_ += net.history[-1]["train_samples"]
        name = est.learning_rate
        if name in SGD_ONLY_SCHEDULES and est.solver != "sgd":
            return
        if name == "adaptive":
            return  # ConvergenceMonitor owns the rate
        lr = LEARNING_RATE_SCHEDULES[name](est.learning_rate_init, self.epoch_,
                                           self.t_, est)
        for group in net.optimizer_.param_groups:
            group["lr"] = lr


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


def _fused_if_supported(optimizer_class, params, **kwargs):
    # The fused kernels (CPU and CUDA, torch >= 2.4) update every parameter in
    # one call: about 15% off a small network's step on CPU.
    params = list(params)
    try:
        return optimizer_class(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return optimizer_class(params, **kwargs)


def _adam(params, est):
    return _fused_if_supported(torch.optim.Adam, params, lr=est.learning_rate_init,
                               betas=(est.beta_1, est.beta_2), eps=est.epsilon)


def _adamw(params, est):
    # Decoupled weight decay: alpha is AdamW's weight_decay, not a loss term.
    return _fused_if_supported(torch.optim.AdamW, params,
                               lr=est.learning_rate_init,
                               betas=(est.beta_1, est.beta_2), eps=est.epsilon,
                               weight_decay=est.alpha)


def _sgd(params, est):
    return torch.optim.SGD(params, lr=est.learning_rate_init, momentum=est.momentum,
                           nesterov=bool(est.nesterovs_momentum and est.momentum > 0))


def _rmsprop(params, est):
    return torch.optim.RMSprop(params, lr=est.learning_rate_init, eps=est.epsilon)


SOLVERS = {"adam": _adam, "adamw": _adamw, "sgd": _sgd, "rmsprop": _rmsprop}


class _OptimizerFactory:
    # skorch creates the optimizer as ``optimizer(params, lr=...)``; this
    # picklable callable routes the call through the SOLVERS registry.
    def __init__(self, estimator):
        self.estimator = estimator

    def __call__(self, params, lr=None):
        return SOLVERS[self.estimator.solver](params, self.estimator)


def make_net(estimator, module, criterion, batch_size, device, seed, drop_single):
    """Assemble the skorch net that trains ``module`` for ``estimator``.

    Parameters
    ----------
    estimator : BaseTorchClassifier
        The estimator whose parameters set the solver, schedule, stopping
        rules and output.
    module : torch.nn.Module
        The initialised network.
    criterion : torch.nn.Module
        The loss, see ``sknets.modules.ClassificationLoss``.
    batch_size : int
        Training batch size.
    device : str
        torch device of the module and the data.
    seed : int
        Seed of the batch order.
    drop_single : bool
        Drop a last training batch of one sample (for batch normalisation).

    Returns
    -------
    net : SknetsNet
        The initialised net.

    Examples
    --------
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.modules import ClassificationLoss, MLPModule
    >>> net = make_net(MLPClassifierTorch(), MLPModule(4, (8,), 3),
    ...                ClassificationLoss(), batch_size=16, device="cpu", seed=0,
    ...                drop_single=False)
    >>> net.initialized_, [name for name, _ in net.callbacks_]
    (True, ['lr_schedule', 'convergence'])
    """
    alpha = 0.0 if estimator.solver == "adamw" else estimator.alpha
    callbacks = [
        ("lr_schedule", LearningRateSchedule(estimator)),
        ("convergence", ConvergenceMonitor(
            tol=estimator.tol,
            n_iter_no_change=estimator.n_iter_no_change,
            early_stopping=estimator.early_stopping,
            adaptive=(estimator.learning_rate == "adaptive"
                      and estimator.solver == "sgd"),
            verbose=bool(estimator.verbose),
        )),
    ]
    if estimator.verbose:
        callbacks.append(("epoch_logger", EpochLogger()))
    if estimator.verbose and int(estimator.verbose) >= 2:
        callbacks.append(("progress_bar", BatchProgressBar()))
    if getattr(estimator, "_epoch_progress", False):
        # Set by sknets.compare on its own copies of the estimator.
        callbacks.append(("epoch_progress", EpochProgressBar()))
    net = SknetsNet(
        module,
        criterion=criterion,
        optimizer=_OptimizerFactory(estimator),
        lr=estimator.learning_rate_init,
        max_epochs=estimator.max_iter,
        batch_size=batch_size,
        iterator_train=BatchIterator,
        iterator_train__shuffle=bool(estimator.shuffle),
        iterator_train__seed=seed,
        iterator_train__drop_single=drop_single,
        iterator_train__device=device,
        train_split=None,
        callbacks=callbacks,
        device=device,
        alpha=alpha,
        predict_chunk=estimator._predict_chunk,
        verbose=0,
    )
    return net.initialize()
