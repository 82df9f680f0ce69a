"""Build a net from a ``TrainingSpec``, or apply a new spec to a fitted one.

``build_net`` makes a new net; ``continue_net`` applies a new spec to a fitted
net (a warm-start ``fit`` or a ``partial_fit``): each setting takes effect, or
a clear ``ValueError`` says why it cannot. ``persistence.load`` rebuilds saved
nets through ``build_net`` too.
"""

import torch

from ..modules import ClassificationLoss, build_module
from .augment import Augmenter
from .batches import BatchIterator
from .net import SknetsNet
from .optimizers import OptimizerFactory
from .progress import progress_callbacks
from .schedules import LearningRateSchedule
from .stopping import ConvergenceMonitor

__all__ = ["build_net", "continue_net"]


def _criterion(spec):
    class_weight = None if spec.class_weight is None else torch.tensor(
        spec.class_weight, dtype=spec.torch_dtype)
    return ClassificationLoss(spec.loss, class_weight, spec.label_smoothing,
                              multilabel=spec.multilabel)


def _callbacks(net, spec):
    return ([("lr_schedule", net.schedule_), ("convergence", net.monitor_)]
            + progress_callbacks(spec.verbose, spec.epoch_progress))


def _set_loop(net, spec, restart=True):
    # Values skorch keeps as plain attributes (the prefixed ones included).
    net.max_epochs = spec.max_iter
    net.batch_size = spec.batch_size
    net.iterator_train__shuffle = spec.shuffle
    net.iterator_train__seed = spec.seed
    net.iterator_train__drop_single = spec.drop_single
    net.iterator_train__device = spec.device
    net.alpha = spec.alpha
    net.max_grad_norm = spec.max_grad_norm
    # The augmentation's random stream carries on across partial_fit calls;
    # a new fit (or new settings) starts a new one from the fit's seed.
    previous = getattr(net, "augmenter_", None)
    if spec.augment is None:
        net.augmenter_ = None
    elif (restart or previous is None or previous.spec != spec.augment
          or previous.image_shape != spec.augment_shape):
        net.augmenter_ = Augmenter(spec.augment, spec.augment_shape,
                                   seed=spec.seed + 1, device=spec.device)
    net.predict_chunk = spec.predict_chunk
    net.optimizer = OptimizerFactory(spec.optimizer)
    net.lr = spec.optimizer.learning_rate_init


def build_net(spec, module=None):
    """A new, initialised net that trains the network of ``spec``.

    Parameters
    ----------
    spec : TrainingSpec
        Everything the fit needs.
    module : torch.nn.Module or None, default=None
        The network, when the caller built it already (``load`` fills in
        saved weights); None builds it from ``spec.module``.

    Returns
    -------
    net : SknetsNet

    Examples
    --------
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.training import ModuleSpec, TrainingSpec, build_net
    >>> spec = TrainingSpec.from_params(
    ...     MLPClassifierTorch().get_params(), n_samples=16, device="cpu", seed=0,
    ...     module=ModuleSpec.of("mlp", n_features=4, hidden_layer_sizes=(8,),
    ...                          n_outputs=3))
    >>> net = build_net(spec)
    >>> net.initialized_, net.module_[0].weight.shape, net.batch_size
    (True, torch.Size([8, 4]), 16)
    """
    if module is None:
        # Initialised in float32 and then cast: a float64 net starts from
        # the float32 net's weights.
        module = build_module(spec.module).to(spec.torch_dtype)
    schedule = LearningRateSchedule(spec.schedule)
    monitor = ConvergenceMonitor(spec.stopping)
    net = SknetsNet(
        module,
        criterion=_criterion(spec),
        optimizer=OptimizerFactory(spec.optimizer),
        iterator_train=BatchIterator,
        train_split=None,
        callbacks=[("lr_schedule", schedule), ("convergence", monitor)],
        device=spec.device,
        verbose=0,
    )
    _set_loop(net, spec)
    net.initialize()
    net.schedule_, net.monitor_, net.spec_ = schedule, monitor, spec
    net.callbacks_ = _callbacks(net, spec)
    return net


def _move(net, device):
    # e.g. a model unpickled on a machine without CUDA, trained further.
    net.device = device
    net.module_.to(device)
    net.criterion_.to(device)
    for state in net.optimizer_.state.values():
        for key, value in state.items():
            if torch.is_tensor(value) and value.dim() > 0:
                state[key] = value.to(device)


def _continued_module(net, before, after):
    # A network spec that changed keeps the trained weights when they fit the
    # new network exactly (another activation, dropout or pooling type); else
    # the change cannot take effect without starting over.
    changed = after.changed(before)
    if "weight_init" in changed:
        raise ValueError(
            f"weight_init changed from {before.kwargs.get('weight_init')!r} to "
            f"{after.kwargs.get('weight_init')!r} since the last fit, but a "
            "continued fit keeps the trained weights, so it cannot take effect. "
            "Set warm_start=False (or start partial_fit on a new estimator) to "
            "train new weights."
        )
    with torch.device("meta"):
        module = build_module(after)
    trained = net.module_.state_dict()
    new = module.state_dict()
    # Matched in order: a dropout layer added or removed renumbers the layers
    # of a Sequential, not the weights.
    if [t.shape for t in trained.values()] != [t.shape for t in new.values()]:
        was, now = before.kwargs, after.kwargs
        changes = ", ".join(f"{name} changed from {was.get(name)!r} to "
                            f"{now.get(name)!r}" for name in changed)
        raise ValueError(
            f"{changes} since the last fit, and the trained weights do not fit "
            "the new network. Set warm_start=False (or start "
            "partial_fit on a new estimator) to train a new network, or restore "
            "the previous value."
        )
    module = module.to_empty(device=net.device)
    module.load_state_dict(dict(zip(new, trained.values(), strict=True)))
    net.module = net.module_ = module
    net._collect_penalized_weights()


def continue_net(net, spec, *, restart):
    """Apply ``spec`` to a fitted net before it trains again.

    Every setting takes effect: the loss, penalty, batches, stopping rules,
    schedule and progress output are replaced; a changed network spec keeps
    the trained weights when they fit the new network and raises otherwise.

    Parameters
    ----------
    net : SknetsNet
        A net made by ``build_net``.
    spec : TrainingSpec
        The spec of the coming fit.
    restart : bool
        True for a warm-start ``fit``: a new optimizer (as scikit-learn
        creates), the schedule starts over, and the validation record is
        forgotten. False for ``partial_fit``: the optimizer keeps its state
        (and gets the new settings) unless the solver changed.

    Raises
    ------
    ValueError
        When the network spec changed in a way the weights cannot follow
        (``hidden_layer_sizes``, conv layers, ``batch_norm``, ...), or
        ``weight_init`` changed.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets import MLPClassifierTorch
    >>> X, y = np.random.RandomState(0).rand(30, 4), np.arange(30) % 2
    >>> clf = MLPClassifierTorch((8,), max_iter=2, warm_start=True).fit(X, y)
    >>> clf.set_params(hidden_layer_sizes=(16,)).fit(X, y)
    Traceback (most recent call last):
    ...
    ValueError: hidden_layer_sizes changed from (8,) to (16,) since the last fit, ...
    """
    before = net.spec_
    if spec.dtype != before.dtype:
        raise ValueError(
            f"dtype changed from {before.dtype!r} to {spec.dtype!r} since the last "
            "fit; a continued fit keeps the trained weights and optimizer state "
            "in their precision. Set warm_start=False (or start partial_fit on a "
            "new estimator) to train in the new precision, or restore the "
            "previous value.")
    if str(net.device) != spec.device:
        _move(net, spec.device)
    swapped = spec.module != before.module
    if swapped:
        _continued_module(net, before.module, spec.module)
    net.criterion = net.criterion_ = _criterion(spec).to(spec.device)
    _set_loop(net, spec, restart)
    if restart or spec.optimizer.solver != before.optimizer.solver:
        net.initialize_optimizer()
    else:
        if swapped:  # the same state, for the new module's parameters
            state = net.optimizer_.state_dict()
            net.initialize_optimizer()
            net.optimizer_.load_state_dict(state)
        net.optimizer.update(net.optimizer_)
    net.schedule_.spec, net.monitor_.spec = spec.schedule, spec.stopping
    if restart:
        net.schedule_.restart()
        net.monitor_.start_fit()
    net.callbacks_ = _callbacks(net, spec)
    net.spec_ = spec
