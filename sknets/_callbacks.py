"""scikit-learn's callback protocol (``sklearn.callback``, 1.9) for the estimators.

A fit is one task with one subtask per epoch: ``set_callbacks`` takes
scikit-learn's callbacks (``ProgressBar``, ``ScoringMonitor`` or any
``FitCallback``), and callbacks that a search, a ``Pipeline`` or another
meta-estimator propagates reach every epoch too. ``on_fit_task_end`` of an
epoch may ask training to stop; the fit then ends as converged would, with
``stop_reason_`` saying so. scikit-learn before 1.9 has no callback API: the
estimators then have no ``set_callbacks``.
"""

from skorch.callbacks import Callback

try:
    from sklearn.callback import AutoPropagatedCallback, CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9
    AutoPropagatedCallback = None

    class CallbackSupportMixin:  # type: ignore[no-redef]
        """Stands for scikit-learn's mixin where it has none (before 1.9)."""


__all__ = ["CallbackSupportMixin", "FitTask", "propagates_callbacks"]


def propagates_callbacks(context):
    """Whether a search's callback context hands callbacks down to its fits.

    Parameters
    ----------
    context : CallbackContext or None
        The ``callback_ctx`` of a scikit-learn ``_fit_and_score`` call.

    Returns
    -------
    bool
        True when one of its callbacks is auto-propagated: the fit must then
        run as scikit-learn calls it, so that its epochs reach the callback.
    """
    if context is None or AutoPropagatedCallback is None:
        return False
    return any(isinstance(c, AutoPropagatedCallback)
               for c in getattr(context, "_callbacks", []))


class FitTask:
    """One fit in scikit-learn's callback protocol: its task and epochs.

    Made by the estimator's fit once X and y are validated; None of it runs
    when the estimator has no callbacks (its own or a meta-estimator's).

    Parameters
    ----------
    estimator : BaseTorchClassifier
        The estimator being fitted.
    X, y : array-like
        The validated training data, passed to the hooks.
    sample_weight : ndarray or None
        Passed as the hooks' metadata.
    max_epochs : int
        The most epochs of this call (the task's subtasks).
    """

    def __init__(self, estimator, X, y, sample_weight, max_epochs):
        self.estimator = estimator
        self.hooks = {"X": X, "y": y, "metadata": None if sample_weight is None
                      else {"sample_weight": sample_weight}}
        self.context = estimator._init_callback_context(max_subtasks=max_epochs)
        self.context.call_on_fit_task_begin(estimator=estimator, **self.hooks)

    @classmethod
    def start(cls, estimator, X, y, sample_weight, max_epochs):
        """The fit's task, begun, or None without callbacks.

        Parameters
        ----------
        estimator, X, y, sample_weight, max_epochs
            As for the class.

        Returns
        -------
        task : FitTask or None
        """
        if not hasattr(estimator, "_init_callback_context") or not (
                getattr(estimator, "_skl_callbacks", None)
                or hasattr(estimator, "_parent_callback_ctx")):
            return None
        return cls(estimator, X, y, sample_weight, max_epochs)

    def epochs(self, net):
        """The skorch callback that makes each epoch of ``net`` a subtask.

        Parameters
        ----------
        net : SknetsNet

        Returns
        -------
        callback : skorch.callbacks.Callback
        """
        return _EpochTasks(self, net)

    def end(self):
        """End the fit's task, with the fitted estimator."""
        self.context.call_on_fit_task_end(
            estimator=self.estimator, **self.hooks,
            reconstruction_attributes=lambda: {})


class _EpochTasks(Callback):
    # A subtask per epoch: begun before its training pass, ended after the
    # monitor has judged it (the weights it ends with are the epoch's).

    def __init__(self, task, net):
        self.task, self.net, self.current = task, net, None

    def _attributes(self):
        # A copy of the estimator that predicts with the net as it is now.
        return {"net_": self.net}

    def on_epoch_begin(self, net, **kwargs):
        self.current = self.task.context.subcontext(task_name="epoch")
        self.current.call_on_fit_task_begin(
            estimator=self.task.estimator, **self.task.hooks,
            reconstruction_attributes=self._attributes)

    def on_epoch_end(self, net, **kwargs):
        current, self.current = self.current, None
        stop = current.call_on_fit_task_end(
            estimator=self.task.estimator, **self.task.hooks,
            reconstruction_attributes=self._attributes)
        if stop and not net.stop_training_:
            net.stop_training_ = True
            net.monitor_.stop_reason_ = "A callback asked training to stop."

    def on_train_end(self, net, **kwargs):
        # An interrupted epoch ends as an empty task.
        if self.current is not None:
            self.current.call_on_fit_task_end(estimator=self.task.estimator)
            self.current = None
