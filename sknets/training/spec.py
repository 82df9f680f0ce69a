"""The training spec: every value a fit needs, derived once per call.

An estimator's parameters are read in one place, ``TrainingSpec.from_params``,
at the start of every ``fit`` and ``partial_fit`` (and by ``persistence.load``).
The net, its loss, optimizer, schedule and stopping rules are then built or
reconfigured from the spec alone, on a first fit and on a continued one alike:
no part of the engine reads the estimator.
"""

import math
import warnings
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch

from .augment import AugmentSpec

__all__ = [
    "ModuleSpec",
    "OptimizerSpec",
    "ScheduleSpec",
    "StoppingSpec",
    "TrainingSpec",
    "freeze",
    "resolve_batch_size",
]

# scikit-learn applies these two schedules only with solver='sgd'; with any
# other solver the rate stays constant.
SGD_ONLY_SCHEDULES = ("invscaling", "adaptive")


def freeze(value):
    """An immutable copy of a parameter value: lists and arrays become tuples.

    Parameters
    ----------
    value : object
        A parameter value: a number, string, None, or a (nested) sequence.

    Returns
    -------
    frozen : object
        ``value`` with every list, tuple and ndarray turned into a tuple and
        numpy scalars into Python ones, so that two specs compare by value.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.training.spec import freeze
    >>> freeze([np.int64(32), [3, 1]])
    (32, (3, 1))
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def early_stopping_in_effect(params):
    """Whether a fit holds out a validation split and stops on it.

    ``early_stopping=True`` with a stochastic solver; 'lbfgs' ignores it, as
    in scikit-learn.

    Parameters
    ----------
    params : dict
        The estimator's parameters.

    Returns
    -------
    bool

    Examples
    --------
    >>> from sknets.training.spec import early_stopping_in_effect
    >>> early_stopping_in_effect({"early_stopping": True, "solver": "lbfgs"})
    False
    """
    return bool(params["early_stopping"]) and params["solver"] != "lbfgs"


def _check_full_batch(params, module):
    # L-BFGS needs one deterministic objective: its line search compares
    # losses of the same function at different weights.
    kwargs = module.kwargs

    def any_rate(value):  # a rate or one rate per layer
        return any(np.atleast_1d(np.asarray(value, dtype=float)) != 0)

    random = [name for name, on in (
        ("dropout", any_rate(kwargs.get("dropout", 0.0))),
        ("conv_dropout", any_rate(kwargs.get("conv_dropout", 0.0))),
        ("batch_norm", bool(params.get("batch_norm", False))),
        ("augment", params.get("augment") is not None),
        ("max_grad_norm", params.get("max_grad_norm") is not None),
    ) if on]
    if random:
        raise ValueError(
            "solver='lbfgs' minimises one full-batch objective, which "
            f"{', '.join(random)} would change from one evaluation to the next "
            "(or clip). Use a stochastic solver ('adam', 'sgd') with them, or "
            "reset them (dropout=0, batch_norm=False, augment=None, "
            "max_grad_norm=None).")


def _augment_shape(module):
    # The images augmentation moves: the CNN's image_shape, or an MLP's
    # rows read as a square one-channel image.
    kwargs = module.kwargs
    if kwargs.get("image_shape") is not None:
        return tuple(kwargs["image_shape"])
    n_features = kwargs.get("n_features")
    side = math.isqrt(n_features) if n_features else 0
    if side * side != n_features or side < 2:
        raise ValueError(
            f"augment moves images, but the {n_features} features of X are not a "
            "square one-channel image. Use CNNClassifierTorch with image_shape "
            "for other images, or set augment=None.")
    return (1, side, side)


def resolve_batch_size(batch_size, n_samples):
    """The training batch size for ``n_samples`` rows, as scikit-learn sets it.

    Parameters
    ----------
    batch_size : int or 'auto'
        The parameter: 'auto' means ``min(200, n_samples)``.
    n_samples : int or None
        Rows in the training set; None (a net rebuilt without data) skips
        the clipping.

    Returns
    -------
    batch_size : int

    Examples
    --------
    >>> from sknets.training.spec import resolve_batch_size
    >>> resolve_batch_size("auto", 50), resolve_batch_size(64, 1000)
    (50, 64)
    """
    if batch_size == "auto":
        return 200 if n_samples is None else min(200, n_samples)
    if n_samples is None:
        return int(batch_size)
    if batch_size > n_samples:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than sample size. It is "
            "going to be clipped",
            stacklevel=4,
        )
    return int(np.clip(batch_size, 1, n_samples))


@dataclass(frozen=True)
class ModuleSpec:
    """The network: a builder of ``sknets.modules.NETWORKS`` and its arguments.

    Parameters
    ----------
    kind : str
        A key of ``NETWORKS`` ('mlp' or 'cnn').
    params : tuple of (str, object)
        The builder's keyword arguments, frozen and sorted by name.
    """

    kind: str
    params: tuple

    @classmethod
    def of(cls, kind, **params):
        """A spec from keyword arguments, frozen.

        Parameters
        ----------
        kind : str
            A key of ``NETWORKS``.
        **params : dict
            The builder's arguments.

        Returns
        -------
        spec : ModuleSpec
        """
        return cls(kind, tuple(sorted((k, freeze(v)) for k, v in params.items())))

    @property
    def kwargs(self):
        """The builder's arguments as a dict."""
        return dict(self.params)

    def changed(self, other):
        """Names of the arguments whose values differ from ``other``'s.

        Parameters
        ----------
        other : ModuleSpec

        Returns
        -------
        names : list of str
        """
        mine, theirs = self.kwargs, other.kwargs
        return sorted(k for k in mine.keys() | theirs.keys()
                      if mine.get(k) != theirs.get(k))


@dataclass(frozen=True)
class OptimizerSpec:
    """The solver and its settings (see ``sknets.training.optimizers.SOLVERS``).

    Parameters
    ----------
    solver : str
        A key of ``SOLVERS``.
    learning_rate_init, momentum, beta_1, beta_2, epsilon : float
        As the estimators' parameters.
    nesterov : bool
        Nesterov's momentum for 'sgd' (only with momentum > 0).
    weight_decay : float
        AdamW's decoupled weight decay (``alpha`` with 'adamw', else 0).
    max_fun : int, default=15000
        'lbfgs' only: the most loss evaluations of a fit.
    """

    solver: str
    learning_rate_init: float
    momentum: float
    nesterov: bool
    beta_1: float
    beta_2: float
    epsilon: float
    weight_decay: float
    max_fun: int = 15000


@dataclass(frozen=True)
class ScheduleSpec:
    """The learning-rate schedule (see ``sknets.training.schedules``).

    Parameters
    ----------
    name : str
        The schedule in effect: a key of ``LEARNING_RATE_SCHEDULES``.
        'invscaling' and 'adaptive' asked for with a solver other than 'sgd'
        become 'constant', as in scikit-learn.
    learning_rate_init, power_t, gamma : float
        The initial rate, the 'invscaling' exponent, the decay factor of
        'step', 'exponential' and 'plateau'.
    step_size, max_iter : int
        Epochs between two 'step' decays; the 'cosine' and 'onecycle'
        period.
    warmup : int, default=0
        Epochs of linear warm-up in front of any schedule.
    """

    name: str
    learning_rate_init: float
    power_t: float
    step_size: int
    gamma: float
    max_iter: int
    warmup: int = 0


@dataclass(frozen=True)
class StoppingSpec:
    """The stopping rules (see ``sknets.training.stopping``).

    Parameters
    ----------
    tol : float
        Minimum improvement.
    n_iter_no_change : int or float
        Epochs without improvement tolerated (``inf``: never stop early).
    early_stopping : bool
        Monitor the validation accuracy (and restore the best epoch's
        weights) instead of the training loss.
    verbose : bool
        Print why training stopped or the rate was lowered.
    plateau : bool, default=False
        The 'plateau' schedule is in effect: it watches the validation
        accuracy whenever the epoch was validated (``validation_data``),
        also without early stopping.
    """

    tol: float
    n_iter_no_change: float
    early_stopping: bool
    verbose: bool
    plateau: bool = False


@dataclass(frozen=True)
class TrainingSpec:
    """Everything one fit needs, as values.

    Parameters
    ----------
    module : ModuleSpec
        The network.
    loss : str
        A key of ``sknets.modules.LOSSES``.
    class_weight : tuple of float or None
        One weight per class, in the order of ``classes_``.
    alpha : float
        L2 penalty added to the loss (0 with 'adamw', which decays weights
        itself).
    optimizer : OptimizerSpec
    schedule : ScheduleSpec
    stopping : StoppingSpec
    batch_size : int
        Training batch size, already clipped to the data.
    shuffle : bool
        Draw a new batch order every epoch.
    seed : int
        Seed of the batch order (and, set by the caller, of initialisation
        and dropout).
    drop_single : bool
        Drop a last batch of one sample (batch normalisation).
    device : str
        The resolved torch device.
    max_iter : int
        Epochs of a ``fit``.
    verbose : int
        1 prints a line per epoch, 2 adds a progress bar over batches.
    epoch_progress : bool
        Show a progress bar over epochs (set by ``sknets.compare``).
    predict_chunk : int
        Rows per forward pass when predicting on the CPU.
    dtype : str
        'float32' or 'float64': the precision of the network and its data.
    label_smoothing : float
        Cross-entropy's label smoothing (0 without).
    augment : AugmentSpec or None
        Training-time augmentation of each batch; None without.
    augment_shape : tuple of int or None
        (channels, height, width) of the images augmentation moves.
    max_grad_norm : float or None
        The total gradient norm each step is clipped to; None does not clip.
    multilabel : bool, default=False
        y is a multi-label indicator matrix: one logistic output per label
        and the binary cross-entropy summed over labels.
    """

    module: ModuleSpec
    loss: str
    class_weight: tuple | None
    alpha: float
    optimizer: OptimizerSpec
    schedule: ScheduleSpec
    stopping: StoppingSpec
    batch_size: int
    shuffle: bool
    seed: int
    drop_single: bool
    device: str
    max_iter: int
    verbose: int
    epoch_progress: bool
    predict_chunk: int
    dtype: str = "float32"
    label_smoothing: float = 0.0
    max_grad_norm: float | None = None
    augment: AugmentSpec | None = None
    augment_shape: tuple | None = None
    multilabel: bool = False

    @property
    def torch_dtype(self):
        """The torch dtype of ``dtype``."""
        return getattr(torch, self.dtype)

    @classmethod
    def from_params(cls, params, *, module, n_samples, device, seed,
                    class_weight=None, epoch_progress=False, predict_chunk=2048,
                    multilabel=False):
        """Derive the spec of one fit from an estimator's parameters.

        Parameters
        ----------
        params : dict
            ``estimator.get_params()``, already validated.
        module : ModuleSpec
            The network, from the estimator's architecture parameters.
        n_samples : int or None
            Rows in the training set (None: no clipping of the batch size).
        device : str
            The resolved torch device.
        seed : int
            Seed of this fit.
        class_weight : sequence of float or None, default=None
            Per-class loss weights, in the order of ``classes_``.
        epoch_progress : bool, default=False
            Show a progress bar over epochs.
        predict_chunk : int, default=2048
            Rows per CPU forward pass when predicting.
        multilabel : bool, default=False
            y is a multi-label indicator matrix.

        Returns
        -------
        spec : TrainingSpec

        Examples
        --------
        >>> from sknets import MLPClassifierTorch
        >>> from sknets.training.spec import ModuleSpec, TrainingSpec
        >>> params = MLPClassifierTorch(learning_rate="adaptive").get_params()
        >>> spec = TrainingSpec.from_params(params,
        ...     module=ModuleSpec.of("mlp"), n_samples=50, device="cpu", seed=0)
        >>> spec.batch_size, spec.schedule.name
        (50, 'constant')
        """
        p = params
        solver = p["solver"]
        lbfgs = solver == "lbfgs"
        if lbfgs:
            _check_full_batch(p, module)
        # L-BFGS takes the whole training set as one batch.
        batch_size = (n_samples or 1) if lbfgs else resolve_batch_size(
            p["batch_size"], n_samples)
        batch_norm = bool(p.get("batch_norm", False))
        if batch_norm and batch_size == 1:
            raise ValueError(
                "batch_norm=True needs batches of at least 2 samples; increase "
                "batch_size (or the number of training samples) or set "
                "batch_norm=False."
            )
        schedule = p["learning_rate"]
        if (schedule in SGD_ONLY_SCHEDULES and solver != "sgd") or lbfgs:
            schedule = "constant"
        # L-BFGS's first trial step is the unit one (scaled by its first
        # gradient): learning_rate_init is not used, as in scikit-learn.
        rate = 1.0 if lbfgs else float(p["learning_rate_init"])
        adamw = solver == "adamw"
        label_smoothing = float(p.get("label_smoothing", 0.0))
        if label_smoothing > 0 and p["loss"] != "cross_entropy":
            raise ValueError(
                f"label_smoothing={label_smoothing:g} smooths the targets of the "
                f"cross-entropy loss, but loss={p['loss']!r}. Set "
                "loss='cross_entropy' or label_smoothing=0.")
        if multilabel and (p["loss"] != "cross_entropy" or label_smoothing > 0):
            raise ValueError(
                "y is a multi-label indicator matrix, which trains one logistic "
                "output per label with the binary cross-entropy; "
                f"loss={p['loss']!r} and label_smoothing={label_smoothing:g} "
                "apply to one class per sample. Set loss='cross_entropy' and "
                "label_smoothing=0.")
        max_grad_norm = p.get("max_grad_norm")
        augment = AugmentSpec.of(p.get("augment"))
        augment_shape = None if augment is None else _augment_shape(module)
        return cls(
            module=module,
            loss=p["loss"],
            class_weight=None if class_weight is None else tuple(
                float(w) for w in class_weight),
            alpha=0.0 if adamw else float(p["alpha"]),
            optimizer=OptimizerSpec(
                solver=solver,
                learning_rate_init=rate,
                momentum=float(p["momentum"]),
                nesterov=bool(p["nesterovs_momentum"] and p["momentum"] > 0),
                beta_1=float(p["beta_1"]),
                beta_2=float(p["beta_2"]),
                epsilon=float(p["epsilon"]),
                weight_decay=float(p["alpha"]) if adamw else 0.0,
                max_fun=int(p.get("max_fun", 15000)),
            ),
            schedule=ScheduleSpec(
                name=schedule,
                learning_rate_init=rate,
                power_t=float(p["power_t"]),
                step_size=int(p["lr_step_size"]),
                gamma=float(p["lr_gamma"]),
                max_iter=int(p["max_iter"]),
                warmup=int(p.get("lr_warmup", 0)),
            ),
            stopping=StoppingSpec(
                tol=float(p["tol"]),
                # scikit-learn's lbfgs stops on its own rules (the step's):
                # n_iter_no_change and early_stopping are not used.
                n_iter_no_change=(math.inf if lbfgs else p["n_iter_no_change"]
                                  if isinstance(p["n_iter_no_change"], Integral)
                                  else float(p["n_iter_no_change"])),
                early_stopping=early_stopping_in_effect(p),
                verbose=bool(p["verbose"]),
                plateau=schedule == "plateau",
            ),
            batch_size=batch_size,
            shuffle=bool(p["shuffle"]),
            seed=int(seed),
            drop_single=batch_norm,
            device=device,
            max_iter=int(p["max_iter"]),
            verbose=int(p["verbose"]),
            epoch_progress=bool(epoch_progress),
            predict_chunk=int(predict_chunk),
            dtype=str(p.get("dtype", "float32")),
            label_smoothing=label_smoothing,
            max_grad_norm=None if max_grad_norm is None else float(max_grad_norm),
            augment=augment,
            augment_shape=augment_shape,
            multilabel=bool(multilabel),
        )
