"""solver='lbfgs': full-batch L-BFGS, one iteration per epoch of ``run_epochs``.

scikit-learn's ``MLPClassifier(solver='lbfgs')`` minimises the training loss
plus ``0.5 * alpha * sum(||W||^2) / n_samples`` (the weight sum with sample
weights) over all the training rows at once, with scipy's L-BFGS-B:
``max_iter`` counts iterations, ``max_fun`` loss evaluations, and ``tol`` is
its gradient tolerance. ``FullBatchStep`` is the same method as
``run_epochs``' step, so history, callbacks, verbose lines, interrupts and
the divergence guard are a stochastic fit's: torch's ``LBFGS`` (10 pairs of
memory as L-BFGS-B keeps, a strong-Wolfe line search) makes one iteration per
epoch, and the step applies scipy's stopping rules after it.
"""

import math

import torch

from ..modules import count_correct
from .batches import BatchIterator
from .steps import add_l2_gradient

__all__ = ["FullBatchStep"]

# scipy's L-BFGS-B stops when the relative decrease of the loss falls to
# factr * eps (factr=1e7, its default, which scikit-learn keeps).
_FTOL = 1e7 * 2.220446049250313e-16

# Rows per forward pass of an evaluation: the objective is the sum over
# chunks, so memory stays bounded on large (or sparse) training sets.
_CHUNK = 4096


class FullBatchStep:
    """``run_epochs``' step for ``solver='lbfgs'``: one L-BFGS iteration.

    Every evaluation of the objective runs over the whole training set, in
    chunks, through the net's criterion and ``add_l2_gradient``: the loss a
    stochastic fit's batches use. An evaluation is reused when the optimizer
    asks again for the same weights (torch's ``LBFGS`` starts each ``step``
    from the point its line search accepted), so ``max_fun`` counts distinct
    evaluations, as scipy does.

    After each iteration, as L-BFGS-B: training has converged when the
    largest absolute gradient entry is at most ``tol`` or the relative
    decrease of the loss is at most ``2.2e-9``; it stops unconverged when
    the evaluations reach ``max_fun``. The net's monitor then reads
    ``stop_reason_`` (converged) or ``limit_`` (max_fun) from this step.

    Parameters
    ----------
    net : SknetsNet
        The net; its optimizer must be torch's ``LBFGS``.
    data : TensorData
        The training rows.

    Attributes
    ----------
    n_evaluations : int
        Distinct loss evaluations so far in this fit.
    """

    def __init__(self, net, data):
        self.net = net
        self.data = data
        self.iterator = BatchIterator(data, batch_size=_CHUNK, device=net.device)
        self.params = list(net.module_.parameters())
        w = data.weight
        if w is not None and data.indices is not None:
            w = w[data.indices.to(w.device)]
        # The denominator of the mean loss and of the L2 term.
        self.total = float(len(data)) if w is None else float(w.sum())
        self.n_evaluations = 0
        self._cached = None  # (flat weights, loss, gradients, n_correct)
        self._previous_loss = None

    def _flat(self):
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    def _evaluate(self):
        # The loss at the current weights, its gradient left in p.grad.
        flat = self._flat()
        cached = self._cached
        if cached is not None and torch.equal(cached[0], flat):
            for p, g in zip(self.params, cached[2], strict=True):
                p.grad = g.clone()
            return cached[1]
        net, module = self.net, self.net.module_
        for p in self.params:
            p.grad = None
        module.train()
        loss = torch.zeros((), dtype=torch.float64, device=flat.device)
        correct = 0
        for Xb, yb, wb in self.iterator:
            logits = module(Xb)  # (B, C)
            share = (len(yb) if wb is None else wb.sum()) / self.total
            part = net.criterion_(logits, yb, wb) * share
            part.backward()
            loss += part.detach().double()
            correct += count_correct(logits.detach(), yb)
        alpha = getattr(net, "alpha", 0.0)
        if alpha > 0:
            loss += add_l2_gradient(net.penalized_weights_, alpha / self.total)
        self.n_evaluations += 1
        self._cached = (flat, loss, [p.grad.clone() for p in self.params],
                        int(correct))
        return loss

    def epoch(self, rates):
        """One L-BFGS iteration; the loss and hits at the accepted weights.

        Parameters
        ----------
        rates : list of float
            Unused: L-BFGS chooses its own step lengths.

        Returns
        -------
        stats : list of tuple
            ``[(loss_sum, n_correct, n_seen, n_batches)]``.
        """
        net = self.net
        # The line search may use what is left of max_fun, and at most 25.
        left = net.spec_.optimizer.max_fun - self.n_evaluations
        net.optimizer_.param_groups[0]["max_eval"] = 1 + max(1, min(25, left))
        net.optimizer_.step(self._evaluate)
        loss = self._evaluate()  # reused: no new evaluation in general
        value = float(loss)
        self._stop_rules(value)
        n = len(self.data)
        return [(value * n, self._cached[3], n, len(self.iterator))]

    def _stop_rules(self, loss):
        net, monitor = self.net, self.net.monitor_
        tol = monitor.spec.tol
        gradient = max(float(p.grad.abs().max()) for p in self.params)
        previous, self._previous_loss = self._previous_loss, loss
        if not math.isfinite(loss):
            return  # the monitor's divergence guard takes over
        if gradient <= tol:
            monitor.stop_reason_ = (
                f"Converged: the largest gradient entry ({gradient:.3g}) is at most "
                f"tol={tol:g}.")
        elif previous is not None and (previous - loss) <= _FTOL * max(
                abs(previous), abs(loss), 1.0):
            monitor.stop_reason_ = (
                "Converged: the relative reduction of the loss is at most "
                f"{_FTOL:.2g}.")
        elif self.n_evaluations >= net.spec_.optimizer.max_fun:
            monitor.limit_ = (
                f"the loss was evaluated max_fun={net.spec_.optimizer.max_fun} "
                "times")
        else:
            return
        if monitor.spec.verbose:
            print(monitor.stop_reason_ or f"Stopping: {monitor.limit_}.")
        net.stop_training_ = True

    def sync(self):
        pass  # the net's own module trained

    def leave(self, i):
        pass

    def keep(self, index):
        pass
