"""Stopping rules, best-weight restore and the divergence guard."""

import copy
import math
import warnings

import numpy as np
import torch
from skorch.callbacks import Callback

__all__ = ["ConvergenceMonitor", "DivergenceWarning", "NoFiniteWeightsError"]


class DivergenceWarning(UserWarning):
    """Warning raised when the training or validation loss becomes NaN or inf.

    Training then stops and the weights roll back to the last weights whose
    forward pass over the training data gives finite outputs and a finite
    loss (the weights of an earlier epoch, or those the fit started from);
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


class NoFiniteWeightsError(ValueError):
    """Training diverged and no weights at hand give finite outputs.

    Raised by ``fit`` and ``partial_fit`` when neither the last epoch's
    weights nor those the call started from give a finite forward pass on
    the training data. A first fit leaves the estimator unfitted; a continued
    one keeps the weights it started from.

    Examples
    --------
    >>> from sknets.training import NoFiniteWeightsError
    >>> issubclass(NoFiniteWeightsError, ValueError)
    True
    """


def _snapshot(module):
    # A copy of the weights and buffers: tensors are cloned directly (a
    # deepcopy of the state dict costs ~20x more per tensor, every epoch).
    return {name: value.detach().clone() if isinstance(value, torch.Tensor)
            else copy.deepcopy(value) for name, value in module.state_dict().items()}


class ConvergenceMonitor(Callback):
    """scikit-learn's stopping rules, best-weight restore and divergence guard.

    After each epoch, as scikit-learn's ``MLPClassifier`` does: without a
    validation split, an epoch whose training loss is not below
    ``best_loss_ - tol`` counts as no improvement; with one, an epoch whose
    validation accuracy is not above ``best_validation_score_ + tol`` does
    (the 'plateau' schedule watches the validation accuracy of
    ``validation_data`` too). More than ``n_iter_no_change`` such epochs in a
    row are a plateau: the net's schedule is asked to lower the rate
    ('adaptive' and 'plateau' do), and otherwise training stops.

    A training loss that is NaN or infinite stops training at once. The
    weights roll back to the last epoch's weights if a forward pass over the
    training data with them gives finite outputs and loss, else to the
    weights the call started from if those pass the same check; the
    optimizer starts over. If neither passes, ``unusable_`` is set and the
    estimator raises ``NoFiniteWeightsError``.

    Parameters
    ----------
    spec : StoppingSpec
        The rules; replaced by ``continue_net`` on every continued fit.

    Attributes
    ----------
    best_loss_ : float
        Lowest training loss, across fits (as in scikit-learn).
    best_validation_score_ : float
        Best validation accuracy of the current fit.
    no_improvement_count_ : int
        Epochs in a row without improvement.
    stop_reason_ : str or None
        Why the last fit stopped before ``max_iter``, converged.
    limit_ : str or None
        The limit other than ``max_iter`` that stopped the last fit before
        it converged ('lbfgs': ``max_fun``).
    diverged_ : bool
        Whether the last fit diverged.
    unusable_ : bool
        Whether divergence left no weights that give finite outputs.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets import MLPClassifierTorch
    >>> X, y = np.random.RandomState(0).rand(30, 4), np.arange(30) % 2
    >>> clf = MLPClassifierTorch(tol=1.0, n_iter_no_change=2, max_iter=50).fit(X, y)

    The first epoch improves on infinity; the next three improve by less
    than ``tol``, which is more than ``n_iter_no_change``:

    >>> monitor = clf.net_.monitor_
    >>> clf.n_iter_, monitor.stop_reason_.startswith("Training loss did not improve")
    (4, True)
    """

    def __init__(self, spec):
        self.spec = spec

    def initialize(self):
        self.best_loss_ = np.inf
        self.best_validation_score_ = -np.inf
        self.no_improvement_count_ = 0
        self.stop_reason_ = None
        self.limit_ = None
        self.diverged_ = False
        self.unusable_ = False
        self.best_state_ = None
        self.start_state_ = None
        self.last_state_ = None
        return self

    def start_fit(self):
        """Forget the previous fit's validation record (a new split)."""
        self.best_validation_score_ = -np.inf
        self.best_state_ = None
        if self.spec.early_stopping:
            self.no_improvement_count_ = 0

    def on_train_begin(self, net, **kwargs):
        self.stop_reason_ = None
        self.limit_ = None
        self.diverged_ = False
        self.unusable_ = False
        self.start_state_ = _snapshot(net.module_)
        self.last_state_ = None

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        row = net.history[-1]
        loss = row["train_loss"]
        if not math.isfinite(loss):
            self._diverged(net, f"the training loss became {loss}", dataset_train)
            return
        # The validation loss is the epoch's final weights' forward pass: when
        # it is not finite, those weights are unusable although the training
        # loss (measured before the last updates) was finite.
        valid_loss = row.get("valid_loss")
        if valid_loss is not None and not math.isfinite(valid_loss):
            self._diverged(net, f"the validation loss became {valid_loss}",
                           dataset_train)
            return
        self.last_state_ = _snapshot(net.module_)
        if not self.spec.early_stopping:
            improved = loss <= self.best_loss_ - self.spec.tol
            self.best_loss_ = min(self.best_loss_, loss)
        if self._watches_validation(row):
            score = row["valid_accuracy"]
            improved = score >= self.best_validation_score_ + self.spec.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                if self.spec.early_stopping:
                    self.best_state_ = self.last_state_
        self.no_improvement_count_ = 0 if improved else self.no_improvement_count_ + 1
        if self.no_improvement_count_ > self.spec.n_iter_no_change:
            self._plateau(net)

    def _watches_validation(self, row):
        # The validation accuracy with early stopping, and for the 'plateau'
        # schedule whenever the epoch was validated (validation_data); else
        # the training loss.
        return self.spec.early_stopping or (
            getattr(self.spec, "plateau", False) and "valid_accuracy" in row)

    def _plateau(self, net):
        monitored = ("Validation score" if self._watches_validation(net.history[-1])
                     else "Training loss")
        message = (f"{monitored} did not improve more than tol={self.spec.tol:f} "
                   f"for {self.spec.n_iter_no_change} consecutive epochs.")
        if net.schedule_.reduce():
            self.no_improvement_count_ = 0
            if self.spec.verbose:
                print(f"{message} Setting learning rate to "
                      f"{net.schedule_.rate():f}")
            return
        if self.spec.verbose:
            print(f"{message} Stopping.")
        self.stop_reason_ = message
        net.stop_training_ = True

    def _diverged(self, net, what, dataset_train):
        lr = net.optimizer_.param_groups[0]["lr"]
        net.history.record("diverged", True)
        self.diverged_ = True
        self.stop_reason_ = what
        net.stop_training_ = True
        # The last epoch's weights were never used for a full forward pass
        # (the loss was measured along the way, weights changing per batch),
        # so each candidate is checked before it is kept.
        for state in (self.last_state_, self.start_state_):
            if state is not None and net.forward_is_finite(state, dataset_train):
                break
        else:
            self.unusable_ = True
            net.module_.load_state_dict(self.start_state_)
        net.initialize_optimizer()  # its moments hold NaN/inf
        self.last_state_ = None
        if self.unusable_:
            return
        warnings.warn(
            f"Training diverged at epoch {len(net.history)}: {what}. The weights "
            "were rolled back to the last weights "
            "with finite outputs on the training data. Try a lower "
            f"learning_rate_init (it is {lr:g}), scaled input features, or "
            "batch_norm=True.",
            DivergenceWarning,
            stacklevel=2,
        )

    def on_train_end(self, net, **kwargs):
        if not self.diverged_:
            if self.spec.early_stopping and self.best_state_ is not None:
                net.module_.load_state_dict(self.best_state_)
            elif getattr(net, "interrupted_", False):
                net.module_.load_state_dict(
                    self.start_state_ if self.last_state_ is None
                    else self.last_state_)
        # The snapshots serve one call only: not kept (nor pickled) with the
        # fitted model.
        self.best_state_ = self.start_state_ = self.last_state_ = None
