"""The estimators' parameters, declared once.

Each ``Param`` gives a parameter's constraint (scikit-learn's
``_param_validation``), the shared text of its docs, the ``TrainingSpec``
fields it sets and whether fits that differ in it can train in one stack.
Derived from the table: the estimators' ``_parameter_constraints``
(``constraints``), the training parameters' docs (``shared_docs``),
``STACKABLE_PARAMS`` and ``fusion_key`` (``sknets.training.fused``), which
compares specs with the stackable parameters' fields cleared
(``stackable_fields``). ``TrainingSpec.from_params`` sets the fields the
table names; ``tests/test_params.py`` checks every row against it and fits
every stackable parameter's ``examples`` stacked against separate fits, so a
new option cannot fall out of step.
"""

from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

from ..modules import ACTIVATIONS, LOSSES, POOLINGS, WEIGHT_INITS
from .augment import AUGMENT_PRESETS
from .optimizers import SOLVERS
from .schedules import LEARNING_RATE_SCHEDULES

__all__ = ["PARAMETERS", "STACKABLE_PARAMS", "Param", "constraints", "shared_docs",
           "stackable_fields"]


@dataclass(frozen=True)
class Param:
    """One estimator parameter.

    Parameters
    ----------
    name : str
        The parameter's name.
    constraint : list
        Its constraint, in scikit-learn's ``_parameter_constraints`` form.
    spec : tuple of str, default=()
        The ``TrainingSpec`` fields it sets: ``'alpha'``, ``'optimizer.beta_1'``,
        ``'module.dropout'`` (an argument of the ``ModuleSpec``); empty for a
        parameter that acts before the spec (the validation split, threads,
        warm start).
    stackable : bool, default=False
        Fits that differ in it can train in one stack (each model keeps its
        own value).
    examples : tuple, default=()
        Two values that a stackable parameter's guard test fits stacked and
        separately.
    context : dict, default={}
        Other parameters the examples need to take effect (e.g.
        ``solver='sgd'`` for ``momentum``).
    only : str or None, default=None
        The network kind ('cnn') whose estimator alone has it.
    doc : str or None, default=None
        Its numpydoc entry, shared by the estimators; None where each
        estimator documents it (the architecture).
    """

    name: str
    constraint: list
    spec: tuple = ()
    stackable: bool = False
    examples: tuple = ()
    context: dict = field(default_factory=dict)
    only: str | None = None
    doc: str | None = None


PARAMETERS = (
    Param(
        'solver',
        [StrOptions(set(SOLVERS))],
        spec=('optimizer.solver',),
        doc="""\
    solver : str, default='adam'
        The optimizer.

        - 'adam', Adam with ``beta_1``, ``beta_2``, ``epsilon``.
        - 'sgd', stochastic gradient descent with ``momentum`` and
          ``nesterovs_momentum``.
        - 'adamw', Adam with decoupled weight decay: ``alpha`` is AdamW's
          ``weight_decay`` instead of an L2 term in the loss.
        - 'rmsprop', RMSprop with ``epsilon``.
        - 'lbfgs', full-batch L-BFGS as scikit-learn runs it (good on small
          data sets): one iteration per epoch on all the training rows,
          ``max_iter`` iterations and ``max_fun`` loss evaluations at most,
          converged when no gradient entry exceeds ``tol``. The batch,
          learning-rate, momentum and early-stopping parameters are not
          used, ``partial_fit`` is unavailable, and dropout, batch_norm,
          augment and max_grad_norm are refused (they change the objective
          between evaluations).
""",
    ),
    Param(
        'alpha',
        [Interval(Real, 0, None, closed="left")],
        spec=('alpha', 'optimizer.weight_decay'),
        stackable=True,
        examples=(0.0001, 0.1),
        doc="""\
    alpha : float, default=0.0001
        Strength of the L2 penalty, as in scikit-learn: the training loss of
        each batch adds ``0.5 * alpha * sum(||W||^2) / batch_size`` over the
        weight matrices (not the biases).
""",
    ),
    Param(
        'batch_size',
        [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        spec=('batch_size',),
        doc="""\
    batch_size : int or 'auto', default='auto'
        Size of the mini-batches; 'auto' means ``min(200, n_samples)``. Values
        larger than the number of samples are clipped with a warning. 1 gives
        pure stochastic gradient descent.
""",
    ),
    Param(
        'learning_rate',
        [StrOptions(set(LEARNING_RATE_SCHEDULES))],
        spec=('schedule.name', 'stopping.plateau'),
        stackable=True,
        examples=('constant', 'exponential'),
        doc="""\
    learning_rate : str, default='constant'
        Learning-rate schedule.

        - 'constant', ``learning_rate_init`` throughout.
        - 'invscaling', ``learning_rate_init / (t + 1) ** power_t`` after each
          epoch, t the number of samples seen (scikit-learn's schedule; only
          with solver='sgd', as there).
        - 'adaptive', constant while training improves; each time it stalls
          for more than ``n_iter_no_change`` epochs the rate is divided by 5,
          and training stops once it is below 1e-6 (only with solver='sgd', as
          in scikit-learn).
        - 'step', multiplied by ``lr_gamma`` every ``lr_step_size`` epochs
          (torch's StepLR).
        - 'exponential', multiplied by ``lr_gamma`` every epoch.
        - 'cosine', cosine annealing from ``learning_rate_init`` to 0 over
          ``max_iter`` epochs.
        - 'plateau', constant while the monitored score improves; each time
          it stalls for more than ``n_iter_no_change`` epochs the rate is
          multiplied by ``lr_gamma``, and training stops once it is below
          1e-6 (any solver; torch's ReduceLROnPlateau). The monitored score
          is the validation accuracy with early stopping or ``fit``'s
          ``validation_data``, else the training loss. For a rate that
          follows the training's progress instead of a fixed plan.
        - 'onecycle', torch's OneCycleLR per epoch: up from
          ``learning_rate_init / 25`` to ``learning_rate_init`` over the
          first 30% of ``max_iter``, then cosine annealing down to
          ``learning_rate_init / 25e4``. For fast training with a high peak
          rate.
""",
    ),
    Param(
        'lr_warmup',
        [Interval(Integral, 0, None, closed="left")],
        spec=('schedule.warmup',),
        stackable=True,
        examples=(0, 2),
        doc="""\
    lr_warmup : int, default=0
        Epochs of linear warm-up in front of any schedule: epoch ``e <
        lr_warmup`` trains at ``(e + 1) / (lr_warmup + 1)`` of the
        schedule's rate. For high rates or batch normalisation, whose first
        updates can otherwise diverge.
""",
    ),
    Param(
        'learning_rate_init',
        [Interval(Real, 0, None, closed="neither")],
        spec=('optimizer.learning_rate_init', 'schedule.learning_rate_init'),
        stackable=True,
        examples=(0.001, 0.01),
        doc="""\
    learning_rate_init : float, default=0.001
        The initial learning rate.
""",
    ),
    Param(
        'power_t',
        [Interval(Real, 0, None, closed="left")],
        spec=('schedule.power_t',),
        stackable=True,
        examples=(0.5, 0.25),
        context={'solver': 'sgd', 'learning_rate': 'invscaling'},
        doc="""\
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
""",
    ),
    Param(
        'max_iter',
        [Interval(Integral, 1, None, closed="left")],
        spec=('max_iter', 'schedule.max_iter'),
        stackable=True,
        examples=(3, 2),
        doc="""\
    max_iter : int, default=200
        Maximum number of epochs ('lbfgs': of iterations).
""",
    ),
    Param(
        'max_fun',
        [Interval(Integral, 1, None, closed="left")],
        spec=('optimizer.max_fun',),
        doc="""    max_fun : int, default=15000
        'lbfgs' only: the most loss evaluations (each over all the training
        rows) of a fit; reaching it stops training with a ConvergenceWarning.
""",
    ),
    Param(
        'shuffle',
        ["boolean"],
        spec=('shuffle',),
        stackable=True,
        examples=(True, False),
        doc="""\
    shuffle : bool, default=True
        Whether to shuffle the samples every epoch.
""",
    ),
    Param(
        'random_state',
        ["random_state"],
        spec=('seed',),
        stackable=True,
        examples=(0, 1),
        doc="""\
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, the batch order and the
        validation split. An int makes fits on the CPU reproducible.
""",
    ),
    Param(
        'tol',
        [Interval(Real, 0, None, closed="left")],
        spec=('stopping.tol',),
        stackable=True,
        examples=(0.0001, 0.5),
        doc="""\
    tol : float, default=1e-4
        Tolerance of the stopping rule: see ``n_iter_no_change``. With
        'lbfgs', the largest gradient entry at which training has converged.
""",
    ),
    Param(
        'verbose',
        ["verbose"],
        spec=('verbose', 'stopping.verbose'),
        doc="""\
    verbose : bool or int, default=False
        True (or 1) prints one line per epoch with losses, accuracies,
        learning rate and time; 2 also shows a progress bar over batches.
""",
    ),
    Param(
        'warm_start',
        ["boolean"],
        spec=(),
        doc="""\
    warm_start : bool, default=False
        Reuse the previous solution as initialisation in ``fit`` (a new
        optimizer is created, as in scikit-learn).
""",
    ),
    Param(
        'momentum',
        [Interval(Real, 0, 1, closed="both")],
        spec=('optimizer.momentum', 'optimizer.nesterov'),
        stackable=True,
        examples=(0.9, 0.0),
        context={'solver': 'sgd', 'learning_rate_init': 0.05},
        doc="""\
    momentum : float, default=0.9
        Momentum of the 'sgd' solver.
""",
    ),
    Param(
        'nesterovs_momentum',
        ["boolean"],
        spec=('optimizer.nesterov',),
        stackable=True,
        examples=(True, False),
        context={'solver': 'sgd', 'momentum': 0.9, 'learning_rate_init': 0.05},
        doc="""\
    nesterovs_momentum : bool, default=True
        Whether 'sgd' uses Nesterov's momentum (when momentum > 0).
""",
    ),
    Param(
        'early_stopping',
        ["boolean"],
        spec=('stopping.early_stopping',),
        stackable=True,
        examples=(False, True),
        doc="""\
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the training data,
        score its accuracy every epoch, stop when it has not improved by
        ``tol`` for more than ``n_iter_no_change`` epochs, and restore the
        weights of the best epoch.
""",
    ),
    Param(
        'validation_fraction',
        [Interval(Real, 0, 1, closed="left")],
        spec=(),
        stackable=True,
        examples=(0.1, 0.2),
        context={'early_stopping': True},
        doc="""\
    validation_fraction : float, default=0.1
        Fraction of the training data held out when ``early_stopping=True``.
""",
    ),
    Param(
        'beta_1',
        [Interval(Real, 0, 1, closed="left")],
        spec=('optimizer.beta_1',),
        stackable=True,
        examples=(0.9, 0.8),
        doc="""\
    beta_1 : float, default=0.9
        Exponential decay of Adam's first-moment estimates.
""",
    ),
    Param(
        'beta_2',
        [Interval(Real, 0, 1, closed="left")],
        spec=('optimizer.beta_2',),
        stackable=True,
        examples=(0.999, 0.99),
        doc="""\
    beta_2 : float, default=0.999
        Exponential decay of Adam's second-moment estimates.
""",
    ),
    Param(
        'epsilon',
        [Interval(Real, 0, None, closed="neither")],
        spec=('optimizer.epsilon',),
        stackable=True,
        examples=(1e-08, 0.0001),
        doc="""\
    epsilon : float, default=1e-8
        Numerical-stability term of Adam and RMSprop.
""",
    ),
    Param(
        'n_iter_no_change',
        [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        spec=('stopping.n_iter_no_change',),
        stackable=True,
        examples=(10, 1),
        context={'tol': 0.5},
        doc="""\
    n_iter_no_change : int or np.inf, default=10
        Number of epochs without an improvement of ``tol`` (of the training
        loss, or of the validation accuracy with early stopping) after which
        training stops. ``np.inf`` never stops early.
""",
    ),
    Param(
        'lr_step_size',
        [Interval(Integral, 1, None, closed="left")],
        spec=('schedule.step_size',),
        stackable=True,
        examples=(1, 2),
        context={'learning_rate': 'step'},
        doc="""\
    lr_step_size : int, default=10
        Epochs between two decays of the 'step' schedule.
""",
    ),
    Param(
        'lr_gamma',
        [Interval(Real, 0, 1, closed="right")],
        spec=('schedule.gamma',),
        stackable=True,
        examples=(0.5, 0.1),
        context={'learning_rate': 'step', 'lr_step_size': 1},
        doc="""\
    lr_gamma : float, default=0.1
        Decay factor of the 'step', 'exponential' and 'plateau' schedules.
""",
    ),
    Param(
        'max_grad_norm',
        [Interval(Real, 0, None, closed="neither"), None],
        spec=('max_grad_norm',),
        stackable=True,
        examples=(None, 0.5),
        doc="""\
    max_grad_norm : float or None, default=None
        Clip the gradient of each step (the L2 term included) to this total
        norm over all parameters (torch's ``clip_grad_norm_``). For training
        whose loss spikes or diverges on rare large gradients.
""",
    ),
    Param(
        'augment',
        [None, StrOptions(set(AUGMENT_PRESETS)), dict],
        spec=('augment', 'augment_shape'),
        doc="""\
    augment : None, 'light', 'strong' or dict, default=None
        Move each training image at random, batch by batch, on the training
        device: shifts, rotations, zooms and optionally elastic distortion
        (``sknets.training.augment``). A dict sets the magnitudes: 'shift'
        (largest translation, a fraction of the image), 'rotate' (degrees),
        'scale' (largest relative zoom), 'elastic' (largest displacement in
        pixels) and 'elastic_sigma' (its smoothness); 'light' is
        ``{'shift': 0.08, 'rotate': 8, 'scale': 0.08}`` and 'strong' adds
        elastic distortion of 1.5 pixels to larger moves. Only training
        batches are moved, never predictions or validation scores; the moves
        are reproducible with ``random_state``. An MLP's rows must be square
        one-channel images. For small image datasets, where a network
        memorises the training images.
""",
    ),
    Param(
        'label_smoothing',
        [Interval(Real, 0, 1, closed="left")],
        spec=('label_smoothing',),
        stackable=True,
        examples=(0.0, 0.1),
        doc="""\
    label_smoothing : float, default=0.0
        With ``loss='cross_entropy'``: the targets put ``1 - label_smoothing``
        on the true class and spread ``label_smoothing`` evenly over all
        classes (torch's formula). Against over-confident predictions.
""",
    ),
    Param(
        'loss',
        [StrOptions(set(LOSSES))],
        spec=('loss',),
        stackable=True,
        examples=('cross_entropy', 'mse'),
        doc="""\
    loss : str, default='cross_entropy'
        The training loss. Whatever the loss, ``predict_proba`` is the
        softmax of the network's output.

        - 'cross_entropy', the log-loss of the softmax output.
        - 'mse', mean squared error between the softmax output and one-hot
          targets (torch's MSELoss).
        - 'mae' (alias 'l1'), mean absolute error between the softmax output
          and one-hot targets (torch's L1Loss).
        - 'hinge', the multi-class hinge loss of the raw outputs (torch's
          MultiMarginLoss).
""",
    ),
    Param(
        'weight_init',
        [StrOptions(set(WEIGHT_INITS))],
        spec=('module.weight_init',),
        stackable=True,
        examples=('xavier_uniform', 'kaiming_normal'),
        doc="""\
    weight_init : str, default='xavier_uniform'
        Initialisation of the weights.

        - 'xavier_uniform', scikit-learn's own scheme: weights and biases
          uniform in ``+-sqrt(6 / (fan_in + fan_out))`` (factor 2 instead of 6
          for logistic units).
        - 'xavier_normal', Glorot normal weights, zero biases.
        - 'kaiming_uniform', He uniform weights for the activation, zero
          biases.
        - 'kaiming_normal', He normal weights for the activation, zero biases.
        - 'torch', PyTorch's default initialisation of each layer.
""",
    ),
    Param(
        'class_weight',
        [dict, StrOptions({"balanced"}), None],
        spec=('class_weight',),
        stackable=True,
        examples=(None, 'balanced'),
        doc="""\
    class_weight : dict, 'balanced' or None, default=None
        Multiplies each sample's loss by the weight of its class. 'balanced'
        uses ``n_samples / (n_classes * np.bincount(y))``; a dict maps labels
        to weights (missing labels weigh 1).
""",
    ),
    Param(
        'device',
        [str],
        spec=('device',),
        doc="""\
    device : str, default='auto'
        Where to train and predict: 'auto' (CUDA when available, else CPU),
        'cpu', 'cuda' or 'cuda:N'.
""",
    ),
    Param(
        'n_threads',
        [Interval(Integral, 1, None, closed="left"), None],
        spec=(),
        doc="""\
    n_threads : int or None, default=None
        torch's intra-op CPU threads during ``fit`` and ``predict``, restored
        afterwards. None fits to the work: a CPU fit whose batch forward pass
        is small (below ``sknets.training.runtime.SMALL_BATCH_WORK``
        multiply-adds, such as a digits MLP) trains on one thread, because a
        second one gains nothing there and spin-waits when another process
        holds a core; larger fits and predictions keep torch's setting, which
        in the worker processes of ``GridSearchCV(n_jobs=k)`` joblib has set
        to ``max(1, cpu_count // k)``, so parallel fits do not oversubscribe
        the cores. Set it with joblib's threading backend, whose workers
        share one thread pool.
""",
    ),
    Param(
        'dtype',
        [StrOptions({"float32", "float64"})],
        spec=('dtype',),
        doc="""\
    dtype : {'float32', 'float64'}, default='float32'
        Floating-point precision of the network, its training and its input.
        'float32' is what torch's kernels are fast at. 'float64' takes about
        twice the time and memory and rounds as scikit-learn's MLPClassifier
        does on float64 data: a fit with integer sample weights then equals
        a fit on the repeated rows to 1e-7 (full batches). A fused search
        trains float64 fits one by one.
""",
    ),
    Param(
        'hidden_layer_sizes',
        [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        spec=('module.hidden_layer_sizes',),
    ),
    Param(
        'activation',
        [StrOptions(set(ACTIVATIONS))],
        spec=('module.activation',),
    ),
    Param(
        'dropout',
        [Interval(Real, 0, 1, closed="left"), "array-like"],
        spec=('module.dropout',),
        stackable=True,
        examples=(0.0, 0.3),
    ),
    Param(
        'batch_norm',
        ["boolean"],
        spec=('module.batch_norm', 'drop_single'),
    ),
    Param(
        'conv_layers',
        ["array-like"],
        spec=('module.conv_layers',),
        only='cnn',
    ),
    Param(
        'image_shape',
        ["array-like", None],
        spec=('module.image_shape',),
        only='cnn',
    ),
    Param(
        'padding',
        [StrOptions({"same", "valid"})],
        spec=('module.padding',),
        only='cnn',
    ),
    Param(
        'conv_activation',
        [StrOptions(set(ACTIVATIONS)), None],
        spec=('module.conv_activation',),
        only='cnn',
    ),
    Param(
        'pooling',
        [StrOptions(set(POOLINGS)), None],
        spec=('module.pooling',),
        only='cnn',
    ),
    Param(
        'pool_size',
        [Interval(Integral, 1, None, closed="left"), "array-like"],
        spec=('module.pool_size',),
        only='cnn',
    ),
    Param(
        'pool_stride',
        [Interval(Integral, 1, None, closed="left"), "array-like",
                        None],
        spec=('module.pool_stride',),
        only='cnn',
    ),
    Param(
        'conv_dropout',
        [Interval(Real, 0, 1, closed="left"), "array-like"],
        spec=('module.conv_dropout',),
        only='cnn',
    ),
    Param(
        'clip_kernels',
        ["boolean"],
        spec=('module.clip_kernels',),
        only='cnn',
    ),
)

STACKABLE_PARAMS = frozenset(p.name for p in PARAMETERS if p.stackable)


def constraints(kind=None):
    """The ``_parameter_constraints`` of the estimator of network ``kind``.

    Parameters
    ----------
    kind : str or None, default=None
        None for the parameters every estimator has; 'cnn' adds the CNN's.

    Returns
    -------
    constraints : dict
    """
    return {p.name: p.constraint for p in PARAMETERS if p.only in (None, kind)}


def shared_docs():
    """The numpydoc entries of the parameters every estimator shares.

    Returns
    -------
    doc : str
        The entries in the table's order, separated by blank lines.
    """
    return "\n".join(p.doc for p in PARAMETERS if p.doc is not None)


def stackable_fields():
    """The ``TrainingSpec`` fields set by stackable parameters.

    Returns
    -------
    fields : frozenset of str
        Dotted names, as in ``Param.spec``.
    """
    return frozenset(f for p in PARAMETERS if p.stackable for f in p.spec)
