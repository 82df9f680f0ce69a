"""The epoch driver and the parts of a training step shared by every fit.

A fit trains alone (``SknetsNet``: a single-model step) or in a stack
(``fused.train_together``: a stacked step). Both run their epochs through
``run_epochs``, so that the history keys, callbacks, timing, stopping and
interrupt handling exist once, and both steps call ``add_l2_gradient`` and
``clip_gradients``, which take an optional model axis in front of every
tensor.
"""

import time

import torch

from .progress import notify_epoch

__all__ = ["Member", "add_l2_gradient", "clip_gradients", "run_epochs"]


@torch.no_grad()
def add_l2_gradient(weights, scale, *, stacked=False, models=None):
    """Add the gradient of ``0.5 * scale * ||W||^2`` to each weight's gradient.

    scikit-learn's L2 term: ``scale`` is ``alpha`` divided by the batch's size
    (or its weight sum). The gradient, ``scale * W``, is added directly
    instead of through autograd.

    Parameters
    ----------
    weights : list of torch.Tensor
        The penalised weights, with their ``grad`` set; with ``stacked``,
        each has a model axis in front.
    scale : float or torch.Tensor
        A number (or a 0-d tensor, read without a device synchronisation);
        with ``stacked``, one value per model taking part, shape (M',), or
        one number for all of them.
    stacked : bool, default=False
        Whether the tensors have a model axis.
    models : torch.Tensor of int or None, default=None
        With ``stacked``: the models taking part (None: all).

    Returns
    -------
    term : torch.Tensor
        The L2 term, to add to the loss: a scalar, or shape (M',).

    Examples
    --------
    >>> import torch
    >>> from sknets.training.steps import add_l2_gradient
    >>> w = torch.ones(2, 2, requires_grad=True)
    >>> w.grad = torch.zeros(2, 2)
    >>> float(add_l2_gradient([w], 0.5)), w.grad[0, 0].item()
    (1.0, 0.5)
    """
    if not stacked:
        grads = [w.grad for w in weights]
        if torch.is_tensor(scale):
            torch._foreach_add_(grads, torch._foreach_mul(weights, scale))
        else:
            torch._foreach_add_(grads, weights, alpha=scale)
        norms = torch.stack(torch._foreach_norm(weights))
        return 0.5 * scale * norms.pow(2).sum()
    if models is None and not torch.is_tensor(scale):
        # one scale for every model: one fused call, as for a single fit
        torch._foreach_add_([p.grad for p in weights], weights, alpha=scale)
        return 0.5 * scale * sum(torch.linalg.vector_norm(
            p.detach().flatten(1), dim=1).square() for p in weights)
    term = 0.0
    for p in weights:
        w = p.detach() if models is None else p.detach()[models]
        factor = scale.view(-1, *[1] * (w.dim() - 1))
        if models is None:  # one pass over the weights, no temporary
            p.grad.addcmul_(factor, w)
        else:
            p.grad.index_add_(0, models, factor * w)
        term = term + 0.5 * scale * torch.linalg.vector_norm(
            w.flatten(1), dim=1).square()
    return term


@torch.no_grad()
def clip_gradients(grads, max_norm, *, stacked=False):
    """Scale each model's gradient to a total norm of at most ``max_norm``.

    torch's ``clip_grad_norm_`` rule (the factor ``max_norm / (norm + 1e-6)``,
    at most 1) over all of a model's gradients.

    Parameters
    ----------
    grads : list of torch.Tensor
        The gradients, scaled in place; with ``stacked``, each has a model
        axis in front.
    max_norm : float or torch.Tensor
        The bound; with ``stacked``, one per model (shape (M,), ``inf`` for a
        model that is not clipped).
    stacked : bool, default=False
        Whether the tensors have a model axis.

    Examples
    --------
    >>> import torch
    >>> from sknets.training.steps import clip_gradients
    >>> g = torch.full((4,), 2.0)
    >>> clip_gradients([g], 1.0)
    >>> round(float(g.norm()), 4)
    1.0
    """
    if not stacked:
        grads = [g.unsqueeze(0) for g in grads]  # views: scaled in place
    norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1)
                         for g in grads], dim=1)  # (M, n_params)
    total = torch.linalg.vector_norm(norms, dim=1)  # (M,)
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *[1] * (g.dim() - 1)))


class Member:
    """One net trained by ``run_epochs`` and what its epochs need.

    Parameters
    ----------
    net : SknetsNet
        The net; its callbacks, history, schedule and monitor are used.
    train, valid : TensorData, TensorData or None
        Its training and validation data.
    epochs : int
        Epochs to train at most (its callbacks may stop it earlier).
    """

    def __init__(self, net, train, valid, epochs):
        self.net, self.train, self.valid, self.epochs = net, train, valid, epochs
        self.epochs_done = 0

    @property
    def epoch_kwargs(self):
        """What skorch's epoch callbacks receive."""
        return {"dataset_train": self.train, "dataset_valid": self.valid}


def _begin_epoch(member):
    net = member.net
    net.notify("on_epoch_begin", **member.epoch_kwargs)
    lr = net.optimizer_.param_groups[0]["lr"]  # set by the schedule
    net.history.record("lr", lr)
    return lr


def run_epochs(members, step):
    """Train ``members`` epoch by epoch with ``step`` until each one stops.

    Per epoch, for every member still training: ``on_epoch_begin`` (the
    schedule sets the rate), the training pass of ``step``, the history
    (``lr``, ``train_loss``, ``train_accuracy``, ``train_batch_count``,
    ``train_samples``, the validation scores, ``duration``: the member's share
    of the pass plus its validation), ``on_epoch_end`` (the monitor decides).
    A member stops when its net sets ``stop_training_`` or after its
    ``epochs``.

    Parameters
    ----------
    members : list of Member
    step : object
        ``epoch(rates)`` trains one pass for the members still training and
        returns, for each, ``(loss_sum, n_correct, n_seen, n_batches)``;
        ``sync()`` puts the weights where validation reads them;
        ``leave(i)`` and ``keep(index)`` are told which members stop.

    Raises
    ------
    KeyboardInterrupt
        After every member still training has been marked ``interrupted_``
        and the epoch in progress has been dropped from its history.
    """
    active = list(members)
    for m in active:
        m.net.stop_training_ = False
        m.net.interrupted_ = False
    total = max((m.epochs for m in active), default=0)
    done = 0
    try:
        while active:
            tic = time.perf_counter()
            stats = step.epoch([_begin_epoch(m) for m in active])
            step.sync()
            share = (time.perf_counter() - tic) / len(active)
            keep = []
            for i, (m, (loss_sum, n_correct, n_seen, n_batches)) in enumerate(
                    zip(active, stats, strict=True)):
                net = m.net
                net.history.record("train_loss", loss_sum / n_seen)
                net.history.record("train_accuracy", n_correct / n_seen)
                net.history.record("train_batch_count", n_batches)
                net.history.record("train_samples", n_seen)
                tic_valid = time.perf_counter()
                if m.valid is not None:
                    net._validation_epoch(m.valid)
                net.history.record("duration",
                                   share + time.perf_counter() - tic_valid)
                net.notify("on_epoch_end", **m.epoch_kwargs)
                m.epochs_done += 1
                if net.stop_training_ or m.epochs_done >= m.epochs:
                    step.leave(i)
                else:
                    keep.append(i)
            if len(keep) < len(active):
                if keep:
                    step.keep(keep)
                active = [active[i] for i in keep]
            done += 1
            notify_epoch(done, total)
    except KeyboardInterrupt:
        # The epoch in progress is dropped from the history; the monitor
        # rolls the weights back to the last completed epoch.
        for m in active:
            net = m.net
            net.interrupted_ = True
            if net.history and "duration" not in net.history[-1]:
                net.history.pop()
        raise
