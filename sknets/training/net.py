"""The skorch net that trains one network: sknets' lean epoch and prediction.

``build.py`` assembles it from a ``TrainingSpec``.
"""


import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from torch import nn

from ..modules import count_correct
from .batches import SparseRows
from .lbfgs import FullBatchStep
from .optimizers import LeanStep
from .steps import Member, add_l2_gradient, clip_gradients, run_epochs

__all__ = ["NonFiniteInput", "SknetsNet"]

# The most values of a densified prediction chunk of sparse X.
_DENSE_VALUES = 1 << 22


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


def _macro_f1(y_true, y_pred, n_classes, sample_weight=None):
    # Macro-F1 over the classes present in y_true or y_pred, as scikit-learn's
    # f1_score(average="macro", sample_weight=...) computes it.
    cells = y_true * n_classes + y_pred
    counts = torch.bincount(cells, minlength=n_classes ** 2)
    confusion = counts if sample_weight is None else torch.bincount(
        cells, weights=sample_weight.double(), minlength=n_classes ** 2)
    confusion = confusion.reshape(n_classes, n_classes).double()  # (true, pred)
    counts = counts.reshape(n_classes, n_classes)
    present = (counts.sum(1) + counts.sum(0)) > 0
    tp = confusion.diagonal()
    support, predicted = confusion.sum(1), confusion.sum(0)
    f1 = 2 * tp / (support + predicted).clamp(min=torch.finfo(torch.float64).tiny)
    return float(f1[present].mean())


def _multilabel_macro_f1(y_true, y_pred, sample_weight=None):
    # Multi-label rows (N, L) of 0/1 and predictions (N, L) of bool: the mean
    # over labels of each label's F1, as f1_score(average="macro") computes
    # it (0 for a label neither true nor predicted).
    true = y_true > 0.5
    w = (torch.ones(len(true), dtype=torch.float64, device=true.device)
         if sample_weight is None else sample_weight.double())[:, None]
    tp = ((true & y_pred) * w).sum(0)
    support, predicted = (true * w).sum(0), (y_pred * w).sum(0)
    f1 = 2 * tp / (support + predicted).clamp(min=torch.finfo(torch.float64).tiny)
    return float(f1.mean())


class SknetsNet(NeuralNetClassifier):
    """skorch's ``NeuralNetClassifier`` with sknets' lean training epoch.

    The estimators build it in ``fit`` and keep it as ``net_``. Compared with
    skorch's own loop, a training epoch does no per-batch history, no
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
    predict_chunk : int, default=256
        Rows per forward pass when predicting on the CPU (see
        ``predict_logits``).
    max_grad_norm : float or None, default=None
        Clip each step's gradient (the L2 term's included) to this total
        norm over all parameters; None does not clip.

    Attributes
    ----------
    spec_ : TrainingSpec
        The spec of the last fit (set by ``build_net`` and ``continue_net``).
    schedule_ : LearningRateSchedule
        The learning-rate schedule and its state.
    monitor_ : ConvergenceMonitor
        The stopping rules and their state.

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

    def __init__(self, *args, alpha=0.0, predict_chunk=256, max_grad_norm=None,
                 **kwargs):
        self.alpha = alpha
        self.predict_chunk = predict_chunk
        self.max_grad_norm = max_grad_norm
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

    def fit_loop(self, X, y=None, epochs=None, valid_data=None, **fit_params):
        """Run ``epochs`` epochs over the ``TensorData`` ``X``.

        The epochs are ``steps.run_epochs``'s, with this net's single-model
        step (``run_single_epoch``), or one L-BFGS iteration per epoch for
        ``solver='lbfgs'`` (``lbfgs.FullBatchStep``).

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
        if epochs > 0:
            # skorch's partial_fit swallows an interrupt and runs
            # on_train_end; interrupted_ says that it happened.
            if self.spec_.optimizer.solver == "lbfgs":
                step = FullBatchStep(self, X)
            else:
                step = _SingleStep(self, self.get_iterator(X, training=True))
            run_epochs([Member(self, X, valid_data, epochs)], step)
        else:
            self.stop_training_ = self.interrupted_ = False
        return self

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """One pass of optimisation over ``iterator``.

        Parameters
        ----------
        iterator : BatchIterator
            The training batches.
        training : bool
            Must be True; validation goes through ``_validation_epoch``.
        prefix : str
            Unused (the history keys are ``run_epochs``').
        step_fn : None
            Unused; kept for skorch's signature.
        **fit_params : dict
            Unused.

        Returns
        -------
        stats : tuple
            ``(loss_sum, n_correct, n_seen, n_batches)``, the loss summed over
            samples.
        """
        module, optimizer = self.module_, self.optimizer_
        batch_hooks = [
            cb for _, cb in self.callbacks_
            if type(cb).on_batch_end is not Callback.on_batch_end
        ]
        module.train()
        penalized = self.penalized_weights_ if self.alpha > 0 else []
        sums = _EpochSums()
        # After the optimizer's first step of the epoch (torch's own, which
        # creates its state), the update is one functional call on lists
        # gathered once (LeanStep). Gradients are set to None, not zeroed:
        # backward then hands its gradient tensors over without a pass.
        step, params = None, list(module.parameters())
        max_grad_norm = getattr(self, "max_grad_norm", None)
        augment = getattr(self, "augmenter_", None)
        for Xb, yb, wb in iterator:
            for p in params:
                p.grad = None
            if augment is not None:  # training batches only
                Xb = augment(Xb)
            logits = module(Xb)  # (B, C)
            loss = self.criterion_(logits, yb, wb)
            loss.backward()
            loss = loss.detach()
            if penalized:
                loss = loss + add_l2_gradient(
                    penalized, self.alpha / (len(yb) if wb is None else wb.sum()))
            if max_grad_norm is not None:
                clip_gradients([p.grad for p in params], max_grad_norm)
            if step is None:
                optimizer.step()
                step = LeanStep.of(optimizer) or optimizer.step
            else:
                step()
            # Kept as tensors: no device synchronisation inside the loop.
            sums.add(loss, count_correct(logits.detach(), yb), len(yb))
            for cb in batch_hooks:
                cb.on_batch_end(self, batch=(Xb, yb), training=True, loss=loss,
                                y_pred=logits)
        loss_sum, n_correct = sums.totals()
        return loss_sum, n_correct, sums.n_seen, sums.n_batches

    @torch.no_grad()
    def forward_is_finite(self, state, data):
        """Load ``state`` and check its forward pass over ``data``.

        Parameters
        ----------
        state : dict
            A state dict of ``module_``.
        data : TensorData
            The training data.

        Returns
        -------
        finite : bool
            Whether every output and the loss are finite (in evaluation
            mode, as predictions are made).
        """
        self.module_.load_state_dict(state)
        X = data.X if data.indices is None else data.X[data.indices]  # (N, ...)
        y = data.y if data.indices is None else data.y[
            data.indices.to(data.y.device)]
        logits = self.predict_logits(X)  # (N, C)
        return bool(torch.isfinite(logits).all()
                    and torch.isfinite(self.criterion_(logits, y)))

    def predict_logits(self, X, batch_size=None, check_finite=False):
        """Logits of ``X`` in fixed-size chunks, under ``torch.inference_mode``.

        Every chunk has exactly ``batch_size`` rows (the last one is padded
        with zeros): matrix kernels then take the same path for every row, so
        a sample's output does not depend on which other samples are predicted
        with it (float32 kernels chosen by batch shape differ in the last bits).

        Parameters
        ----------
        X : torch.Tensor of shape (n_samples, ...) or SparseRows
            float32 input, on the net's device or on the host; sparse rows
            are densified chunk by chunk.
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
            if isinstance(X, SparseRows):
                # Each chunk is densified: at most 4M values (16 MB in float32).
                batch_size = max(1, min(batch_size, _DENSE_VALUES // X.shape[1]))
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
        # Loss, accuracy and macro-F1, weighted by the sample weights of the
        # validation rows when they have any (as scikit-learn scores them).
        logits = self.predict_logits(data.X)  # (N, C)
        w = data.weight
        multilabel = data.y.dim() == 2
        with torch.inference_mode():
            loss = self.criterion_(logits, data.y, w)
            pred = logits > 0 if multilabel else logits.argmax(1)
            hits = ((pred == (data.y > 0.5)).all(1) if multilabel
                    else pred == data.y).double()
            accuracy = hits.mean() if w is None else (hits * w).sum() / w.sum()
            f1 = (_multilabel_macro_f1(data.y, pred, w) if multilabel
                  else _macro_f1(data.y, pred, logits.shape[1], w))
        self.history.record("valid_loss", float(loss))
        self.history.record("valid_accuracy", float(accuracy))
        self.history.record("valid_f1_macro", f1)


class _SingleStep:
    # run_epochs' step for one net: its lean pass of batches.

    def __init__(self, net, iterator):
        self.net, self.iterator = net, iterator

    def epoch(self, rates):
        return [self.net.run_single_epoch(self.iterator, training=True,
                                          prefix="train", step_fn=None)]

    def sync(self):
        pass  # the net's own module trained

    def leave(self, i):
        pass  # skorch's partial_fit ends the training

    def keep(self, index):
        pass


class _EpochSums:
    # The epoch's loss (weighted by batch size) and correct predictions, kept
    # on the device without synchronising; per-batch tensors are folded into
    # the running sums every _FOLD batches, so memory stays flat however many
    # batches an epoch has.
    _FOLD = 256

    def __init__(self):
        self.losses, self.correct, self.sizes = [], [], []
        self.loss_sum = self.n_correct = None
        self.n_seen = self.n_batches = 0

    def add(self, loss, correct, size):
        self.losses.append(loss)
        self.correct.append(correct)
        self.sizes.append(size)
        self.n_seen += size
        self.n_batches += 1
        if len(self.losses) == self._FOLD:
            self._fold()

    def _fold(self):
        losses = torch.stack(self.losses).double()  # (k,)
        sizes = torch.tensor(self.sizes, dtype=torch.float64, device=losses.device)
        loss_sum, correct = losses @ sizes, torch.stack(self.correct).sum()
        if self.loss_sum is not None:
            loss_sum, correct = loss_sum + self.loss_sum, correct + self.n_correct
        self.loss_sum, self.n_correct = loss_sum, correct
        self.losses, self.correct, self.sizes = [], [], []

    def totals(self):
        # The one synchronisation of the epoch.
        if self.losses:
            self._fold()
        return float(self.loss_sum), int(self.n_correct)
