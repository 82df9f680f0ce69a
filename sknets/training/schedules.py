"""Learning-rate schedules: the one owner of the optimizer's learning rate."""

import math

from skorch.callbacks import Callback

__all__ = ["LEARNING_RATE_SCHEDULES", "PLATEAU_SCHEDULES", "LearningRateSchedule"]


def _constant(spec, epoch, t, reductions):
    return spec.learning_rate_init


def _invscaling(spec, epoch, t, reductions):
    # scikit-learn: effective_learning_rate = learning_rate_init / pow(t, power_t)
    # with t the number of samples seen, updated after every epoch.
    return spec.learning_rate_init / (t + 1) ** spec.power_t


def _adaptive(spec, epoch, t, reductions):
    # Divided by 5 each time the stopping monitor reports a plateau.
    return spec.learning_rate_init / 5.0 ** reductions


def _step(spec, epoch, t, reductions):
    return spec.learning_rate_init * spec.gamma ** (epoch // spec.step_size)


def _exponential(spec, epoch, t, reductions):
    return spec.learning_rate_init * spec.gamma ** epoch


def _cosine(spec, epoch, t, reductions):
    return spec.learning_rate_init * 0.5 * (
        1.0 + math.cos(math.pi * min(epoch, spec.max_iter) / spec.max_iter))


def _plateau(spec, epoch, t, reductions):
    # Lowered by the factor gamma each time the stopping monitor reports a
    # plateau of the monitored score (any solver).
    return spec.learning_rate_init * spec.gamma ** reductions


# torch's OneCycleLR defaults: a rise over the first 30% of the epochs from
# init / 25 to init, then cosine annealing down to init / 25e4.
_ONECYCLE_START, _ONECYCLE_DIV, _ONECYCLE_FINAL_DIV = 0.3, 25.0, 1e4


def _onecycle(spec, epoch, t, reductions):
    # torch's OneCycleLR (cosine) with one step per epoch and max_iter steps.
    top = spec.learning_rate_init
    low, final = top / _ONECYCLE_DIV, top / _ONECYCLE_DIV / _ONECYCLE_FINAL_DIV
    peak = _ONECYCLE_START * spec.max_iter - 1  # the epoch of the top rate
    last = spec.max_iter - 1
    epoch = min(epoch, last)

    def anneal(start, end, fraction):
        return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * fraction))

    if epoch <= peak:
        return anneal(low, top, epoch / peak if peak > 0 else 1.0)
    return anneal(top, final, (epoch - peak) / (last - peak) if last > peak else 1.0)


# Each maps (ScheduleSpec, epochs done, samples seen, plateaus met) to the
# learning rate of the next epoch.
LEARNING_RATE_SCHEDULES = {
    "constant": _constant,
    "invscaling": _invscaling,
    "adaptive": _adaptive,
    "step": _step,
    "exponential": _exponential,
    "cosine": _cosine,
    "plateau": _plateau,
    "onecycle": _onecycle,
}

# The schedules that answer a plateau by lowering the rate, not stopping.
PLATEAU_SCHEDULES = ("adaptive", "plateau")

# Below this rate 'adaptive' stops instead of dividing again (scikit-learn's);
# so does 'plateau'.
_ADAPTIVE_FLOOR = 1e-6


class LearningRateSchedule(Callback):
    """Set the optimizer's learning rate at the start of every epoch.

    The rate is a function of the spec and of the schedule's state: epochs
    done since the schedule (re)started, samples seen, and plateaus met
    (``reduce``). Nothing else writes the rate.

    Parameters
    ----------
    spec : ScheduleSpec
        The schedule; replaced by ``continue_net`` on every continued fit.

    Attributes
    ----------
    epoch_ : int
        Epochs done since the last ``restart``.
    t_ : int
        Training samples seen, across fits.
    reductions_ : int
        Plateaus that lowered the rate ('adaptive').

    Examples
    --------
    >>> import numpy as np
    >>> from sknets import MLPClassifierTorch
    >>> X, y = np.random.RandomState(0).rand(30, 4), np.arange(30) % 2
    >>> clf = MLPClassifierTorch(learning_rate="step", lr_step_size=2, lr_gamma=0.5,
    ...                          learning_rate_init=0.1, max_iter=5).fit(X, y)
    >>> [row["lr"] for row in clf.history_]
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """

    def __init__(self, spec):
        self.spec = spec

    def initialize(self):
        self.epoch_ = 0
        self.t_ = 0
        self.reductions_ = 0
        return self

    def restart(self):
        """Start the schedule over (a new optimizer, as in a warm-start fit)."""
        self.epoch_ = 0
        self.reductions_ = 0

    def rate(self):
        """The learning rate of the next epoch.

        During the first ``spec.warmup`` epochs the schedule's rate is
        scaled by ``(epoch + 1) / (warmup + 1)``: a linear warm-up.

        Returns
        -------
        lr : float
        """
        lr = self._base_rate()
        warmup = getattr(self.spec, "warmup", 0)
        if self.epoch_ < warmup:
            lr *= (self.epoch_ + 1) / (warmup + 1)
        return lr

    def _base_rate(self):
        return LEARNING_RATE_SCHEDULES[self.spec.name](
            self.spec, self.epoch_, self.t_, self.reductions_)

    def reduce(self):
        """Answer a plateau: lower the rate if the schedule does so.

        Returns
        -------
        lowered : bool
            True when the rate was lowered ('adaptive' divides it by 5,
            'plateau' multiplies it by ``lr_gamma``, while above 1e-6);
            False means the plateau should stop training.
        """
        # The floor to rounding: 1e-3 * 0.1 ** 3 is 1.0000000000000002e-06.
        if (self.spec.name not in PLATEAU_SCHEDULES
                or self._base_rate() <= _ADAPTIVE_FLOOR * (1 + 1e-9)):
            return False
        self.reductions_ += 1
        return True

    def on_epoch_begin(self, net, **kwargs):
        lr = self.rate()
        for group in net.optimizer_.param_groups:
            group["lr"] = lr

    def on_epoch_end(self, net, **kwargs):
        self.epoch_ += 1
        self.t_ += net.history[-1]["train_samples"]
