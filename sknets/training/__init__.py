"""The training engine: one module per concern.

- ``spec``: ``TrainingSpec``, every value a fit needs, derived from the
  estimator's parameters once per ``fit``/``partial_fit``.
- ``net``: ``SknetsNet``, skorch's net with a lean epoch and prediction.
- ``build``: ``build_net`` and ``continue_net``, which build a net from a
  spec or apply a new spec to a fitted one.
- ``batches``: ``TensorData`` and ``BatchIterator``, batches as index slices;
  ``SparseRows``, a sparse X densified batch by batch.
- ``lbfgs``: ``FullBatchStep``, solver='lbfgs' as one iteration per epoch.
- ``optimizers``: the ``SOLVERS`` registry and ``OptimizerFactory``.
- ``schedules``: ``LEARNING_RATE_SCHEDULES`` and ``LearningRateSchedule``,
  the one owner of the learning rate.
- ``stopping``: ``ConvergenceMonitor`` (stopping rules, best weights,
  divergence guard), ``DivergenceWarning`` and ``NoFiniteWeightsError``.
- ``progress``: per-epoch lines and progress bars.
- ``runtime``: thread count and subnormal flushing during fit and predict.
- ``augment``: ``AugmentSpec`` and ``Augmenter``, training-time moves of
  each batch's images.

``docs/architecture.md`` shows how they fit together.
"""

from .augment import AUGMENT_PRESETS, Augmenter, AugmentSpec
from .batches import BatchIterator, SparseRows, TensorData
from .build import build_net, continue_net
from .net import NonFiniteInput, SknetsNet
from .optimizers import SOLVERS, OptimizerFactory
from .progress import BatchProgressBar, EpochLogger, EpochProgressBar
from .runtime import fit_threads, flush_denormal, intra_op_threads
from .schedules import LEARNING_RATE_SCHEDULES, LearningRateSchedule
from .spec import (
    ModuleSpec,
    OptimizerSpec,
    ScheduleSpec,
    StoppingSpec,
    TrainingSpec,
)
from .stopping import ConvergenceMonitor, DivergenceWarning, NoFiniteWeightsError

__all__ = [
    "AUGMENT_PRESETS",
    "LEARNING_RATE_SCHEDULES",
    "SOLVERS",
    "AugmentSpec",
    "Augmenter",
    "BatchIterator",
    "BatchProgressBar",
    "ConvergenceMonitor",
    "DivergenceWarning",
    "EpochLogger",
    "EpochProgressBar",
    "LearningRateSchedule",
    "ModuleSpec",
    "NoFiniteWeightsError",
    "NonFiniteInput",
    "OptimizerFactory",
    "OptimizerSpec",
    "ScheduleSpec",
    "SknetsNet",
    "SparseRows",
    "StoppingSpec",
    "TensorData",
    "TrainingSpec",
    "build_net",
    "continue_net",
    "fit_threads",
    "flush_denormal",
    "intra_op_threads",
]
