"""scikit-learn's callback protocol on both estimators: a task per fit, a
subtask per epoch."""

import warnings

import numpy as np
import pytest
from _stacks import count_stacks
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV as SklearnGridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from sknets import CNNClassifierTorch, MLPClassifierTorch
from sknets.model_selection import GridSearchCV

callback = pytest.importorskip("sklearn.callback")


class Recorder:
    """Records each hook's task and, at an epoch's end, the accuracy of the
    estimator as fitted so far."""

    def __init__(self, X=None, y=None):
        self.X, self.y, self.calls = X, y, []

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, *, X=None, metadata=None):
        self.calls.append(("begin", context.task_name, type(estimator).__name__,
                           metadata))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        score = None
        if self.X is not None and fitted_estimator is not None:
            score = fitted_estimator.score(self.X, self.y)
        self.calls.append(("end", context.task_name, type(estimator).__name__, score))

    def tasks(self, name):
        return [c for c in self.calls if c[1] == name]


class PropagatedRecorder(Recorder):
    max_propagation_depth = None


class StopAfter(Recorder):
    def __init__(self, n_epochs):
        super().__init__()
        self.n_epochs = n_epochs

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        super().on_fit_task_end(estimator, context)
        return context.task_name == "epoch" and len(self.tasks("epoch")) >= (
            2 * self.n_epochs)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16, y[:300]


def _fit(estimator, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **params)


def test_a_fit_is_a_task_with_a_subtask_per_epoch(digits):
    X, y = digits
    recorder = Recorder(X, y)
    clf = _fit(MLPClassifierTorch((16,), max_iter=4, random_state=0)
               .set_callbacks(recorder), X, y, sample_weight=np.ones(len(y)))
    kinds = [(c[0], c[1]) for c in recorder.calls]
    assert kinds == [("begin", "fit")] + [("begin", "epoch"), ("end", "epoch")] * 4 + [
        ("end", "fit")]
    assert recorder.calls[0][3]["sample_weight"].shape == (len(y),)
    # Each epoch's fitted estimator predicts with the weights of that epoch:
    # the last one's score is the final model's.
    scores = [c[3] for c in recorder.tasks("epoch") if c[0] == "end"]
    assert scores[-1] == recorder.calls[-1][3] == clf.score(X, y)
    assert scores[0] != scores[-1]


def test_lbfgs_and_partial_fit_and_the_cnn_report_their_epochs(digits):
    X, y = digits
    lbfgs = Recorder()
    _fit(MLPClassifierTorch((8,), solver="lbfgs", max_iter=3).set_callbacks(lbfgs),
         X, y)
    assert len(lbfgs.tasks("epoch")) == 6
    partial = Recorder()
    MLPClassifierTorch((8,)).set_callbacks(partial).partial_fit(X, y,
                                                                 classes=range(10))
    assert len(partial.tasks("epoch")) == 2 and len(partial.tasks("fit")) == 2
    cnn = Recorder()
    _fit(CNNClassifierTorch(image_shape=(8, 8), conv_layers=[(4, 3)], max_iter=2)
         .set_callbacks(cnn), X, y)
    assert len(cnn.tasks("epoch")) == 4


def test_a_callback_can_stop_training(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifierTorch((8,), max_iter=50, random_state=0).set_callbacks(
            StopAfter(3)).fit(X, y)
    assert clf.n_iter_ == 3
    assert clf.net_.monitor_.stop_reason_ == "A callback asked training to stop."


def test_callbacks_are_not_kept_in_the_trained_net(digits):
    X, y = digits
    clf = _fit(MLPClassifierTorch((8,), max_iter=2).set_callbacks(Recorder()), X, y)
    assert [name for name, _ in clf.net_.callbacks_] == ["lr_schedule", "convergence"]


def test_propagated_callbacks_reach_the_epochs_of_search_and_pipeline_fits(
        digits, monkeypatch):
    X, y = digits
    grid = {"learning_rate_init": [1e-3, 1e-2]}
    est = MLPClassifierTorch((8,), max_iter=2, random_state=0)
    recorder = PropagatedRecorder()
    stacks = count_stacks(monkeypatch)
    fused = _fit(GridSearchCV(est, grid, cv=3).set_callbacks(recorder), X, y)
    monkeypatch.undo()
    # 6 fits and the refit, 2 epochs each; trained as scikit-learn calls them.
    assert len(recorder.tasks("epoch")) == 2 * 2 * 7 and stacks == []
    plain = _fit(SklearnGridSearchCV(est, grid, cv=3), X, y)
    np.testing.assert_allclose(fused.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"], atol=1e-12)
    piped = PropagatedRecorder()
    _fit(make_pipeline(MinMaxScaler(), est).set_callbacks(piped), X, y)
    assert len(piped.tasks("epoch")) == 4


def test_progress_bar_and_scoring_monitor_work_on_a_fit(digits):
    pytest.importorskip("rich")
    X, y = digits
    monitor = callback.ScoringMonitor(scoring="accuracy")
    clf = _fit(MLPClassifierTorch((8,), max_iter=3, random_state=0).set_callbacks(
        callback.ProgressBar(), monitor), X, y)
    scores = monitor.get_logs().data_as_pandas["accuracy"]
    assert len(scores) == 4 and scores.iloc[-1] == pytest.approx(clf.score(X, y))


def test_an_object_that_is_not_a_callback_gets_scikit_learns_error():
    with pytest.raises(TypeError, match="FitCallback protocol"):
        MLPClassifierTorch().set_callbacks(object())
    with pytest.raises(TypeError, match="FitCallback protocol"):
        CNNClassifierTorch().set_callbacks(Recorder)  # a class, not an instance
