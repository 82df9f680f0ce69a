"""The solvers: a registry of optimizer builders, and their update in place."""

import torch
from torch.optim import adam as _adam
from torch.optim import rmsprop as _rmsprop
from torch.optim import sgd as _sgd

__all__ = ["SOLVERS", "OptimizerFactory"]


def _fused_if_supported(optimizer_class, params, **kwargs):
    # The fused kernels (CPU and CUDA, torch >= 2.4) update every parameter in
    # one call: about 15% off a small network's step on CPU.
    params = list(params)
    try:
        return optimizer_class(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return optimizer_class(params, **kwargs)


def _adam_settings(spec):
    return {"lr": spec.learning_rate_init, "betas": (spec.beta_1, spec.beta_2),
            "eps": spec.epsilon}


def _adamw_settings(spec):
    # Decoupled weight decay: alpha is AdamW's weight_decay, not a loss term.
    return {**_adam_settings(spec), "weight_decay": spec.weight_decay}


def _sgd_settings(spec):
    return {"lr": spec.learning_rate_init, "momentum": spec.momentum,
            "nesterov": spec.nesterov}


def _rmsprop_settings(spec):
    return {"lr": spec.learning_rate_init, "eps": spec.epsilon}


def _lbfgs_settings(spec):
    # One iteration per step() (an epoch of sknets.training.lbfgs's step),
    # the memory of scipy's L-BFGS-B that scikit-learn runs (10 pairs), a
    # strong-Wolfe line search (of at most 25 evaluations; max_eval counts
    # the step's first one too), and the unit initial step of quasi-Newton
    # methods (the schedule keeps lr at 1). The stopping rules (tol on the
    # gradient, max_fun, a stalled loss) are the step's, not torch's.
    return {"lr": spec.learning_rate_init, "max_iter": 1, "max_eval": 26,
            "history_size": 10, "line_search_fn": "strong_wolfe",
            "tolerance_grad": 0.0, "tolerance_change": 0.0}


# name -> (optimizer class, its settings from an OptimizerSpec, whether to try
# the fused kernels). The settings are also what a continued fit writes into
# an existing optimizer.
SOLVERS = {
    "adam": (torch.optim.Adam, _adam_settings, True),
    "adamw": (torch.optim.AdamW, _adamw_settings, True),
    "sgd": (torch.optim.SGD, _sgd_settings, False),
    "rmsprop": (torch.optim.RMSprop, _rmsprop_settings, False),
    "lbfgs": (torch.optim.LBFGS, _lbfgs_settings, False),
}


class OptimizerFactory:
    """Build the optimizer of an ``OptimizerSpec`` (skorch's ``optimizer``).

    skorch creates the optimizer as ``optimizer(params, lr=...)``; this
    picklable callable routes the call through the ``SOLVERS`` registry. The
    learning rate is then set by the schedule at every epoch.

    Parameters
    ----------
    spec : OptimizerSpec

    Examples
    --------
    >>> import torch
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.training.spec import ModuleSpec, TrainingSpec
    >>> spec = TrainingSpec.from_params(MLPClassifierTorch(solver="sgd").get_params(),
    ...     module=ModuleSpec.of("mlp"), n_samples=10, device="cpu", seed=0)
    >>> optimizer = OptimizerFactory(spec.optimizer)([torch.zeros(2)])
    >>> type(optimizer).__name__, optimizer.param_groups[0]["nesterov"]
    ('SGD', True)
    """

    def __init__(self, spec):
        self.spec = spec

    def __call__(self, params, lr=None):
        optimizer_class, settings, fused = SOLVERS[self.spec.solver]
        if fused:
            return _fused_if_supported(optimizer_class, params,
                                       **settings(self.spec))
        return optimizer_class(params, **settings(self.spec))

    def update(self, optimizer):
        """Write the spec's settings into ``optimizer``, keeping its state.

        Parameters
        ----------
        optimizer : torch.optim.Optimizer
            An optimizer of the spec's solver.
        """
        settings = SOLVERS[self.spec.solver][1](self.spec)
        settings.pop("lr")  # the schedule's
        for group in optimizer.param_groups:
            group.update(settings)


# Per solver: the state tensors torch's optimizer keeps per parameter.
SOLVER_STATE = {
    "adam": ("exp_avg", "exp_avg_sq"),
    "adamw": ("exp_avg", "exp_avg_sq"),
    "sgd": ("momentum_buffer",),
    "rmsprop": ("square_avg",),
}


def functional_update(solver, lists, *, lr, beta_1, beta_2, epsilon, weight_decay,
                      momentum, nesterov, fused, foreach):
    """One update of ``solver`` in place, through torch's functional optimizers.

    The same kernels, and so the same arithmetic, as ``torch.optim``'s
    ``step`` for the settings that ``SOLVERS`` builds; without its per-call
    bookkeeping (hooks, profiling records, rebuilding the lists).

    Parameters
    ----------
    solver : str
        A key of ``SOLVERS``.
    lists : dict of str -> list of torch.Tensor
        ``'p'`` (parameters), ``'g'`` (their gradients), ``'steps'`` (step
        counters; Adam and RMSprop) and the solver's ``SOLVER_STATE``
        tensors, aligned.
    lr, beta_1, beta_2, epsilon, weight_decay, momentum : float
        The settings, as in ``OptimizerSpec``.
    nesterov : bool
    fused, foreach : bool or None
        torch's implementation choice (None: torch's default).
    """
    p, g = lists["p"], lists["g"]
    if solver in ("adam", "adamw"):
        _adam.adam(
            p, g, lists["exp_avg"], lists["exp_avg_sq"], [], lists["steps"],
            fused=fused, foreach=foreach, decoupled_weight_decay=solver == "adamw",
            amsgrad=False, beta1=beta_1, beta2=beta_2, lr=lr,
            weight_decay=weight_decay, eps=epsilon, maximize=False)
    elif solver == "sgd":
        _sgd.sgd(
            p, g, lists["momentum_buffer"] if momentum > 0 else [None] * len(p),
            foreach=foreach, fused=fused, weight_decay=0.0, momentum=momentum,
            lr=lr, dampening=0.0, nesterov=nesterov, maximize=False)
    else:
        _rmsprop.rmsprop(
            p, g, lists["square_avg"], [], [], lists["steps"], foreach=foreach,
            lr=lr, alpha=0.99, eps=epsilon, weight_decay=0.0, momentum=0.0,
            centered=False)


# The param-group settings LeanStep passes on, and those it requires (any
# other value is stepped by torch's own step).
_REQUIRED = {
    "adam": {"amsgrad": False, "maximize": False, "differentiable": False,
             "capturable": False, "decoupled_weight_decay": False},
    "adamw": {"amsgrad": False, "maximize": False, "differentiable": False,
              "capturable": False},
    "sgd": {"dampening": 0, "weight_decay": 0, "maximize": False,
            "differentiable": False},
    "rmsprop": {"alpha": 0.99, "centered": False, "momentum": 0,
                "weight_decay": 0, "maximize": False, "differentiable": False,
                "capturable": False},
}
_CLASSES = {torch.optim.Adam: "adam", torch.optim.AdamW: "adamw",
            torch.optim.SGD: "sgd", torch.optim.RMSprop: "rmsprop"}


class LeanStep:
    """``optimizer.step()`` as one functional call on lists gathered once.

    A training loop builds it after the optimizer's first ``step`` (which
    creates the state) and calls it instead of ``step`` for the rest of the
    epoch. It reads the gradients, the learning rate and the settings at
    every call.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        A ``SOLVERS`` optimizer with one param group.
    solver : str
    """

    def __init__(self, optimizer, solver):
        self.group = group = optimizer.param_groups[0]
        self.solver = solver
        state = [optimizer.state.get(p, {}) for p in group["params"]]
        self.lists = {"p": list(group["params"]),
                      "g": [p.grad for p in group["params"]],
                      "steps": [s.get("step") for s in state],
                      **{k: [s.get(k) for s in state] for k in SOLVER_STATE[solver]}}

    @classmethod
    def of(cls, optimizer):
        """A LeanStep for ``optimizer``, or None where it must step itself.

        Parameters
        ----------
        optimizer : torch.optim.Optimizer

        Returns
        -------
        step : LeanStep or None
            None for an optimizer of another class, with several param
            groups, settings torch's functional update would need more for,
            or parameters without gradients or state yet.
        """
        solver = _CLASSES.get(type(optimizer))
        if solver is None or len(optimizer.param_groups) != 1:
            return None
        group = optimizer.param_groups[0]
        if any(group.get(k, v) != v for k, v in _REQUIRED[solver].items()):
            return None
        if any(p.grad is None for p in group["params"]):
            return None
        # The state the update needs must exist (torch's first step makes
        # it); plain SGD keeps none.
        needs = ([] if solver == "sgd" and group["momentum"] == 0
                 else list(SOLVER_STATE[solver]))
        if any(optimizer.state.get(p, {}).get(k) is None
               for p in group["params"] for k in needs):
            return None
        return cls(optimizer, solver)

    def __call__(self):
        """Update the parameters from their gradients, as ``step()`` would."""
        group = self.group
        self.lists["g"] = [p.grad for p in self.lists["p"]]
        beta_1, beta_2 = group.get("betas", (0.9, 0.999))
        with torch.no_grad():
            functional_update(
                self.solver, self.lists, lr=group["lr"], beta_1=beta_1,
                beta_2=beta_2, epsilon=group.get("eps", 0.0),
                weight_decay=group.get("weight_decay", 0.0),
                momentum=group.get("momentum", 0.0),
                nesterov=group.get("nesterov", False),
                fused=group.get("fused"), foreach=group.get("foreach"))
