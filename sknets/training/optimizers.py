"""The solvers: a registry of optimizer builders, and their update in place."""

import torch

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


# name -> (optimizer class, its settings from an OptimizerSpec, whether to try
# the fused kernels). The settings are also what a continued fit writes into
# an existing optimizer.
SOLVERS = {
    "adam": (torch.optim.Adam, _adam_settings, True),
    "adamw": (torch.optim.AdamW, _adamw_settings, True),
    "sgd": (torch.optim.SGD, _sgd_settings, False),
    "rmsprop": (torch.optim.RMSprop, _rmsprop_settings, False),
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
