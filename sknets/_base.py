"""The estimator shared by MLPClassifierTorch and CNNClassifierTorch.

Parameters are declared once as data (``_parameter_constraints``), checked by
scikit-learn's ``_fit_context``; ``fit`` validates the data, encodes labels,
splits off a validation set, derives the ``TrainingSpec`` of the call (with
the network described by the subclass's ``_module_spec``) and trains the
skorch net that ``sknets.training`` builds or continues from it.
"""

import re
import warnings
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    type_of_target,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from typing_extensions import Self

from ._callbacks import CallbackSupportMixin, FitTask
from ._docs import DocLinkMixin
from ._images import check_not_sparse, host_tensor
from ._typing import ArrayLike
from .training import (
    SOLVERS,
    NoFiniteWeightsError,
    NonFiniteInput,
    SparseRows,
    TensorData,
    TrainingSpec,
    build_net,
    continue_net,
    fit_threads,
    flush_denormal,
    intra_op_threads,
)
from .training.params import constraints, shared_docs
from .training.spec import early_stopping_in_effect

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


@dataclass
class FitPlan:
    """A fit ready to train: the net, its data and its number of epochs.

    Made by ``BaseTorchClassifier._plan_fit``; trained by ``fit`` alone or
    with others by ``sknets.training.fused.train_together``, then turned into
    fitted attributes by ``_finish_fit``.

    Parameters
    ----------
    net : SknetsNet
        The built (or continued) net.
    train : TensorData
        The training rows.
    valid : TensorData or None
        The validation set scored every epoch.
    epochs : int
        Epochs of this call.
    n_epochs_before : int
        Epochs in the net's history before this call.
    """

    net: object
    train: object
    valid: object
    epochs: int
    n_epochs_before: int


def _fork_devices(device):
    # The CUDA device whose RNG a fit seeds and restores, besides the CPU's.
    return [torch.device(device).index or 0] if device.startswith("cuda") else []


def resolve_device(device):
    """The torch device string a fit runs on.

    Parameters
    ----------
    device : str
        'auto' (CUDA when available, else CPU), 'cpu', 'cuda', 'cuda:N' or
        'mps'.

    Returns
    -------
    device : str

    Examples
    --------
    >>> from sknets._base import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    """
    if not isinstance(device, str) or not _DEVICE_PATTERN.match(device):
        raise ValueError(
            f"device={device!r} is not a device sknets knows; use 'auto' (CUDA "
            "when available, else CPU), 'cpu', 'cuda' or 'cuda:N'."
        )
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on "
                "this machine; use device='auto' or device='cpu'."
            )
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)."
            )
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' was requested but MPS is not available; "
                         "use device='auto' or device='cpu'.")
    return device


# The attribute docs shared by the estimators' docstrings (the marker
# "{fitted_attributes}"); the training parameters' docs ("{training_parameters}")
# are the parameter table's (training.params.shared_docs).

_FITTED_ATTRIBUTES_DOC = """\
    classes_ : ndarray of shape (n_classes,)
        Class labels.

    loss_ : float
        The training loss of the last epoch (with the L2 penalty).

    best_loss_ : float or None
        The lowest training loss reached; None with early stopping.

    loss_curve_ : list of float
        The training loss of every epoch, across warm-start and partial_fit
        calls.

    validation_scores_ : list of float or None
        Validation accuracy of every epoch with early stopping, else None.

    best_validation_score_ : float or None
        Best validation accuracy with early stopping, else None.

    t_ : int
        Number of training samples seen.

    coefs_ : list of ndarray
        Weight matrix of each fully connected layer, element i of shape
        (units in layer i, units in layer i + 1), as in scikit-learn. In a
        CNN these are the layers of the dense head.

    intercepts_ : list of ndarray
        Bias vector of each fully connected layer, element i of shape
        (units in layer i + 1,).

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    n_iter_ : int
        Number of epochs run by the last call to fit or partial_fit.

    interrupted_ : bool
        Whether Ctrl-C stopped the last call to fit or partial_fit early. The
        estimator then keeps the weights of the last completed epoch; a search
        or a comparison must not score it as finished.

    n_layers_ : int
        Number of layers, input and output included (conv layers count as
        layers).

    n_outputs_ : int
        Number of output units: 1 for two classes, else n_classes.

    out_activation_ : str
        'logistic' for two classes, else 'softmax'.

    history_ : list of dict
        One dict per epoch with 'epoch', 'train_loss', 'train_accuracy', 'lr',
        'duration', and with early stopping 'valid_loss', 'valid_accuracy' and
        'valid_f1_macro'. ``pandas.DataFrame(clf.history_)`` makes a table.
        'train_accuracy' is the accuracy of the training batches' predictions
        as they were made during the epoch.

    net_ : skorch.NeuralNetClassifier
        The skorch net holding the module (``net_.module_``), optimizer and
        skorch history (with per-batch losses).
"""


def _shared_docs(cls):
    """Fill the shared sections into the docstring of estimator class ``cls``."""
    cls.__doc__ = cls.__doc__.replace(
        "    {training_parameters}\n", shared_docs()
    ).replace("    {fitted_attributes}\n", _FITTED_ATTRIBUTES_DOC)
    return cls


def _hidden_layer_sizes(value):
    # scikit-learn accepts an int (one hidden layer) or a sequence of ints.
    sizes = [value] if isinstance(value, Integral) else list(value)
    if not all(isinstance(s, Integral) and not isinstance(s, bool) for s in sizes):
        raise ValueError(
            f"hidden_layer_sizes must be an int or a sequence of ints, got {value!r}."
        )
    if any(s <= 0 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
    return tuple(int(s) for s in sizes)


class BaseTorchClassifier(DocLinkMixin, CallbackSupportMixin, ClassifierMixin,
                          BaseEstimator):
    """Base class of sknets' classifiers; not for direct use.

    Subclasses define ``__init__`` with every parameter and implement
    ``_module_spec(hidden_layer_sizes, n_outputs)``; they may override
    ``_validate_X`` and ``_validate_Xy`` to accept images.
    """

    _parameter_constraints: dict = constraints()

    # -- parameters ---------------------------------------------------------

    def _stochastic(self):
        # partial_fit's availability, as scikit-learn's MLPClassifier has it.
        if self.solver == "lbfgs":
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers: "
                "solver='lbfgs' minimises the loss over all the training rows "
                f"at once. Use one of {sorted(set(SOLVERS) - {'lbfgs'})}.")
        return True

    # -- data ---------------------------------------------------------------

    # Rows per forward pass when predicting on the CPU: large enough for
    # efficient matrix products, small enough that padding a single row to a
    # full chunk stays cheap. CNNs, ~40x costlier per row, use 256.
    _predict_chunk = 2048

    # Both return C-ordered arrays of the dtype parameter, in the shape the
    # module consumes;
    # the CNN overrides them to accept and reshape images.

    # Whether X may be a scipy sparse matrix (kept sparse on the host,
    # densified batch by batch: SparseRows); the CNN takes dense images.
    _sparse_input = False

    def _sparse_options(self, X):
        if not self._sparse_input:
            check_not_sparse(X)
            return {"accept_sparse": False}
        return {"accept_sparse": "csr", "accept_large_sparse": True}

    def _validate_X(self, X, reset, ensure_all_finite=True):
        options = self._sparse_options(X)
        if sp.issparse(X):  # finiteness is cheap to check on the stored values
            ensure_all_finite = True
        return validate_data(self, X, dtype=np.dtype(self.dtype), order="C",
                             reset=reset, ensure_all_finite=ensure_all_finite,
                             **options)

    def _validate_Xy(self, X, y, reset):
        X, y = validate_data(self, X, y, dtype=np.dtype(self.dtype), order="C",
                             reset=reset, multi_output=True,
                             **self._sparse_options(X))
        return X, self._check_targets(y)

    def _check_targets(self, y):
        # One label per sample, or a multi-label indicator matrix (a single
        # column is one label per sample, with scikit-learn's warning).
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but "
                             "the target y is None.")
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if y.ndim == 2 and type_of_target(y) != "multilabel-indicator":
            raise ValueError(
                "y has 2 dimensions but is not a multi-label indicator matrix "
                f"(type {type_of_target(y)!r}): give one label per sample (1-D y) "
                "or one column of 0/1 per label.")
        return y

    @property
    def _multilabel(self):
        # Fitted on a multi-label indicator matrix (its dtype is kept for
        # predict, as scikit-learn's checks expect).
        return getattr(self, "_multilabel_dtype", None) is not None

    # -- fitting --------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
            validation_data: tuple | None = None, *, progress: bool = False) -> Self:
        """Fit the model to data X and targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,)
            The target labels: ints, strings or any values ``np.unique`` sorts.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, as scikit-learn's MLPClassifier takes them:
            each batch's loss is the weighted mean of its samples' losses
            (times their ``class_weight``), the L2 term is divided by the
            batch's weight sum, and the early-stopping validation scores
            are weighted. A sample of weight zero is left out of training.
            None gives every sample weight 1.
        validation_data : tuple or None, default=None
            A fixed validation set ``(X_val, y_val)``, or ``(X_val, y_val,
            sample_weight_val)`` for weighted scores, scored every epoch into
            ``history_`` ('valid_loss', 'valid_accuracy', 'valid_f1_macro')
            without influencing training. With ``early_stopping=True`` it replaces
            the ``validation_fraction`` split: training stops, and the best
            weights are kept, on this set.
        progress : bool, default=False
            Show a progress bar over the epochs (tqdm), with the last
            training loss.

        Returns
        -------
        self : object
            The fitted estimator. ``interrupted_`` tells whether Ctrl-C
            stopped it before ``max_iter`` epochs or convergence.
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight,
                         validation_data=validation_data, progress=progress)

    @available_if(_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: ArrayLike, y: ArrayLike,
                    sample_weight: ArrayLike | None = None,
                    classes: ArrayLike | None = None) -> Self:
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,)
            The target labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights, as for ``fit``.
        classes : array-like of shape (n_classes,), default=None
            Every class across all calls to partial_fit. Required on the first
            call, ignored on later ones; ``y`` need not contain all of them.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        if _check_partial_fit_first_call(self, classes):
            # _check_partial_fit_first_call set classes_; start a new model.
            self.__dict__.pop("net_", None)
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def _encode_labels(self, y, incremental):
        first_pass = not hasattr(self, "net_")
        if y.ndim == 2:
            return self._encode_indicator(y, incremental, first_pass)
        if self._multilabel and not first_pass and (incremental or self.warm_start):
            raise ValueError("y has one label per sample, but the model was fitted "
                             "on a multi-label indicator matrix.")
        self._multilabel_dtype = None
        if incremental:
            classes = self.classes_
            unknown = np.setdiff1d(np.unique(y), classes)
            if unknown.size:
                raise ValueError(
                    f"y has labels {unknown.tolist()} that are not in classes_ "
                    f"{classes.tolist()}; pass every label in `classes` on the "
                    "first call to partial_fit."
                )
        elif first_pass or not self.warm_start:
            classes = np.unique(y)
        else:
            classes = self.classes_
            if not np.array_equal(np.unique(y), classes):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as "
                    f"in the previous call to fit. Previously got {classes}, `y` "
                    f"has {np.unique(y)}."
                )
        self.classes_ = classes
        return np.searchsorted(classes, y)

    def _encode_indicator(self, y, incremental, first_pass):
        # A multi-label indicator y: classes_ are its column numbers, as
        # scikit-learn's MLPClassifier sets them; the targets are its 0/1
        # values in the network's dtype.
        n_labels = y.shape[1] if y.ndim == 2 else 1
        continued = not first_pass and (incremental or self.warm_start)
        if continued and not self._multilabel:
            raise ValueError("y is a multi-label indicator matrix, but the model "
                             "was fitted with one label per sample.")
        if incremental:
            if len(self.classes_) != n_labels:
                raise ValueError(
                    f"y has {n_labels} label columns, but `classes` on the first "
                    f"call to partial_fit named {len(self.classes_)} labels.")
        elif continued and len(self.classes_) != n_labels:
            raise ValueError(
                "warm_start can only be used where `y` has the same labels as in "
                f"the previous call to fit: {len(self.classes_)} columns before, "
                f"{n_labels} now.")
        else:
            constant = [j for j in range(n_labels) if len(np.unique(y[:, j])) < 2]
            if constant:
                raise ValueError(
                    f"Column(s) {constant} of the multi-label y hold a single "
                    "value: a label that is always (or never) present cannot be "
                    "learned. Drop those columns, or give samples of both kinds.")
            self.classes_ = np.arange(n_labels)
        self._multilabel_dtype = y.dtype
        return y.astype(np.dtype(self.dtype))

    def _targets(self, y):
        # Every row of y in this fit's encoding (rows outside a fold are
        # never read).
        if self._multilabel:
            return y.astype(np.dtype(self.dtype))
        return np.searchsorted(self.classes_, y).clip(0, len(self.classes_) - 1)

    def _class_weights(self, y_enc, incremental, sample_weight=None):
        if self.class_weight is None:
            return None
        if self._multilabel:
            raise ValueError(
                "class_weight weighs the classes of one-label-per-sample "
                "targets; y is a multi-label indicator matrix. Weigh samples "
                "with sample_weight instead, or set class_weight=None.")
        if self.class_weight == "balanced":
            if incremental:
                raise ValueError(
                    "class_weight='balanced' is not supported with partial_fit: "
                    "the class frequencies of later calls are unknown. Pass a "
                    "dict {label: weight} instead."
                )
            with np.errstate(divide="ignore"):
                weights = compute_class_weight(
                    "balanced", classes=np.arange(len(self.classes_)), y=y_enc,
                    sample_weight=sample_weight,
                )
            # A class whose samples all weigh zero trains on nothing.
            weights[~np.isfinite(weights)] = 0.0
        else:
            unknown = [k for k in self.class_weight if k not in set(self.classes_)]
            if unknown:
                raise ValueError(
                    f"class_weight has labels {unknown} that are not in y; its keys "
                    f"must be among the classes {self.classes_.tolist()}."
                )
            weights = [self.class_weight.get(c, 1.0) for c in self.classes_]
        weights = np.asarray(weights, dtype=np.float32)
        # One class trains a binary network (see _training_spec): the second
        # output's class has no samples, and weight 1.
        return np.append(weights, 1.0) if len(weights) == 1 else weights

    def _split(self, y_enc, rng):
        # Positions of the training and validation rows among y_enc's, or
        # (None, None) without early stopping. The same call on the row
        # numbers gives scikit-learn's split, in its order; the training rows
        # are then used as indices into X, not copied.
        if not early_stopping_in_effect(self.get_params(deep=False)):
            return None, None
        try:
            # Stratified on the labels themselves (the same split as on their
            # codes): scikit-learn's message then names them. Multi-label
            # targets are not stratified, as in scikit-learn.
            train_rows, val_rows = train_test_split(
                np.arange(len(y_enc)), test_size=self.validation_fraction,
                stratify=None if self._multilabel else self.classes_[y_enc],
                random_state=rng,
            )
        except ValueError as exc:
            # scikit-learn's message first (users match on it), then ours.
            raise ValueError(
                f"{str(exc).rstrip('.')}. early_stopping=True cannot hold out a "
                "stratified validation set (validation_fraction="
                f"{self.validation_fraction}) from {len(y_enc)} samples of "
                f"{len(self.classes_)} classes. Set "
                "early_stopping=False, raise validation_fraction, or give at "
                "least 2 samples of every class."
            ) from exc
        if len(val_rows) < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        return train_rows, val_rows

    def _validation_set(self, validation_data):
        try:
            X_val, y_val, *w_val = validation_data
            if len(w_val) > 1:
                raise ValueError
        except (TypeError, ValueError) as exc:
            raise ValueError("validation_data must be a pair (X_val, y_val) or a "
                             "triple (X_val, y_val, sample_weight_val).") from exc
        X_val = self._validate_X(X_val, reset=False)
        y_val = np.asarray(y_val)
        w_val = self._validate_sample_weight(w_val[0], X_val) if w_val else None
        if self._multilabel:
            if (y_val.shape != (X_val.shape[0], len(self.classes_))
                    or not np.isin(y_val, (0, 1)).all()):
                raise ValueError(
                    "validation_data's y_val must be a 0/1 matrix with one row per "
                    f"row of X_val and {len(self.classes_)} label columns, got "
                    f"shape {y_val.shape}.")
            return X_val, y_val.astype(np.dtype(self.dtype)), w_val
        if y_val.ndim != 1 or len(y_val) != X_val.shape[0] or len(y_val) < 1:
            raise ValueError(
                f"validation_data's y_val must be 1-D with one label per row of "
                f"X_val ({X_val.shape[0]} rows), got shape {y_val.shape}."
            )
        unknown = np.setdiff1d(np.unique(y_val), self.classes_)
        if unknown.size:
            raise ValueError(f"validation_data's y_val has labels {unknown.tolist()} "
                             f"that are not in y's classes {self.classes_.tolist()}.")
        return X_val, np.searchsorted(self.classes_, y_val), w_val

    def _training_spec(self, n_samples, device, seed, class_weight=None,
                       progress=False):
        """The spec of one fit: every value training needs, from the parameters.

        ``fit``, ``partial_fit`` and ``persistence.load`` all derive it here.
        A network has one output (logistic) for 2 classes, and for one class
        as scikit-learn's MLPClassifier has: trained to give the class, and
        read only through it (``_logits``).
        """
        n_outputs = (len(self.classes_) if self._multilabel or len(self.classes_) > 2
                     else 1)
        return TrainingSpec.from_params(
            self.get_params(deep=False),
            module=self._module_spec(_hidden_layer_sizes(self.hidden_layer_sizes),
                                     n_outputs),
            n_samples=n_samples, device=device, seed=seed, class_weight=class_weight,
            epoch_progress=progress,
            predict_chunk=self._predict_chunk,
            multilabel=self._multilabel,
        )

    def _validate_sample_weight(self, sample_weight, X):
        # Weights of the dtype parameter, finite and non-negative, one per row
        # of X, not all zero (scikit-learn's checks and messages); None stays
        # None.
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, X, dtype=np.dtype(self.dtype),
                                    ensure_non_negative=True)

    def _fit(self, X, y, incremental, sample_weight=None, validation_data=None,
             progress=False):
        continued = "net_" in self.__dict__ and (self.warm_start or incremental)
        X, y = self._validate_Xy(X, y, reset=not continued)
        sample_weight = self._validate_sample_weight(sample_weight, X)
        if not continued:
            self.__dict__.pop("net_", None)
        device = resolve_device(self.device)
        with (torch.random.fork_rng(devices=_fork_devices(device)),
              flush_denormal()):
            # The plan seeds module initialisation and dropout; the caller's
            # global torch RNG state is restored afterwards.
            plan = self._plan_fit(X, y, device=device, incremental=incremental,
                                  continued=continued, sample_weight=sample_weight,
                                  validation_data=validation_data,
                                  progress=progress)
            # scikit-learn's callbacks (set_callbacks, or a meta-estimator's):
            # the fit is a task, each epoch a subtask.
            task = FitTask.start(self, X, y, sample_weight, plan.epochs)
            if task is not None:
                plan.net.callbacks_.append(("sklearn_callbacks",
                                            task.epochs(plan.net)))
            try:
                with intra_op_threads(fit_threads(self.n_threads, [plan.net.spec_])):
                    plan.net.partial_fit(plan.train, None, epochs=plan.epochs,
                                         valid_data=plan.valid)
            finally:
                if task is not None:
                    plan.net.callbacks_.pop()
        self._finish_fit(plan.net, plan.n_epochs_before, incremental)
        if task is not None:
            task.end()
        return self

    def _plan_fit(self, X, y, *, device, incremental=False, continued=False,
                  sample_weight=None, validation_data=None, progress=False,
                  rows=None, X_placed=None):
        """Everything a fit does before its epochs: the net and its data.

        Encodes the labels, draws the seed, splits off the validation set,
        derives the spec and builds (or continues) the net, after seeding
        torch's global RNG with the fit's seed: the caller forks it.
        ``fit`` trains the plan alone; a fused search trains many together
        (``sknets.training.fused``).

        Parameters
        ----------
        X : ndarray of shape (n_samples, ...)
            Validated float32 input.
        y : ndarray of shape (n_samples,)
            Labels, aligned with X.
        device : str
            The resolved device.
        incremental, continued : bool, default=False
            A ``partial_fit`` call; a net to continue.
        sample_weight : ndarray of shape (n_samples,) or None, default=None
            Validated float32 weights, aligned with X (all its rows, also
            when ``rows`` is given). Rows of weight zero are left out of the
            training rows; the validation rows keep theirs.
        validation_data : tuple or None, default=None
            As for ``fit``.
        progress : bool, default=False
            As for ``fit``.
        rows : ndarray of int or None, default=None
            The rows of X and y this fit trains on (a cross-validation fold);
            None means all. X is indexed, never copied.
        X_placed : torch.Tensor or None, default=None
            X already on the device, shared by the fits of a fused search.

        Returns
        -------
        plan : FitPlan
        """
        y_fit = y if rows is None else y[rows]
        w_fit = (sample_weight if rows is None or sample_weight is None
                 else sample_weight[rows])
        y_enc = self._encode_labels(y_fit, incremental)
        class_weight = self._class_weights(y_enc, incremental, w_fit)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        positions = np.arange(len(y_fit)) if rows is None else np.asarray(rows)
        w_val = None
        if validation_data is not None:
            train_local, (X_val, y_val, w_val) = None, self._validation_set(
                validation_data)
        else:
            train_local, val_local = self._split(y_enc, rng)
            X_val = None if val_local is None else X[positions[val_local]]
            y_val = None if val_local is None else y_enc[val_local]
            if val_local is not None and w_fit is not None:
                w_val = w_fit[val_local]
                if not w_val.sum() > 0:
                    raise ValueError(
                        "sample_weight is zero for every row of the early-stopping "
                        f"validation split ({len(val_local)} rows), so it cannot "
                        "be scored. Give more rows a positive weight, raise "
                        "validation_fraction or set early_stopping=False.")
        train_local = self._weighted_rows(train_local, w_fit)
        train_rows = None if train_local is None else positions[train_local]
        if rows is not None:
            if train_rows is None:
                train_rows = positions
            y_enc = self._targets(y)
        n_train = len(y_fit) if train_rows is None else len(train_rows)
        spec = self._training_spec(n_train, device, seed, class_weight, progress)
        torch.manual_seed(seed)
        if continued:
            net = self.net_
            continue_net(net, spec, restart=not incremental)
        else:
            net = build_net(spec)
        if X_placed is None:
            X_placed = self._place(X, device)
        train = TensorData(X_placed, torch.as_tensor(y_enc, device=device),
                           None if train_rows is None else
                           torch.as_tensor(train_rows, device=X_placed.device),
                           None if sample_weight is None else
                           torch.as_tensor(sample_weight, device=device))
        valid = None
        if X_val is not None:
            valid = TensorData(self._place(X_val, device),
                               torch.as_tensor(y_val, device=device),
                               weight=None if w_val is None else
                               torch.as_tensor(w_val, device=device))
        return FitPlan(net=net, train=train, valid=valid,
                       epochs=1 if incremental else spec.max_iter,
                       n_epochs_before=len(net.history))

    @staticmethod
    def _weighted_rows(train_local, weight):
        # The training rows (positions in the fit's rows; None is all of
        # them) less those of weight zero, which add nothing to any loss or
        # gradient: leaving them out is exactly removing them.
        if weight is None:
            return train_local
        local = np.arange(len(weight)) if train_local is None else train_local
        kept = local[weight[local] > 0]
        if len(kept) == len(local):
            return train_local
        if not len(kept):
            raise ValueError(
                "sample_weight is zero for every training row (the rows left "
                "after the early-stopping validation split), so there is "
                "nothing to train on. Give more rows a positive weight.")
        return kept

    def _finish_fit(self, net, n_epochs_before, incremental):
        # Keep the trained net only when it holds finished epochs with weights
        # that predict; otherwise leave the estimator as it was before the call
        # (unfitted after a first fit).
        monitor = net.monitor_
        n_iter = len(net.history) - n_epochs_before
        if monitor.unusable_:
            del net.history[n_epochs_before:]
            raise NoFiniteWeightsError(
                "Training diverged (the training or validation loss became "
                "non-finite) and neither the last epoch's weights nor the "
                "starting weights give finite outputs on the training data. "
                "Scale the input features "
                "(e.g. to [0, 1]), lower learning_rate_init (it is "
                f"{self.learning_rate_init:g}) or set batch_norm=True."
            )
        if not net.history:
            # A first fit interrupted before its first epoch completed.
            raise KeyboardInterrupt
        self.net_ = net
        self.n_iter_ = n_iter
        self.interrupted_ = bool(net.interrupted_)
        self._update_fitted_attributes()
        if net.interrupted_:
            warnings.warn(
                f"Training interrupted by user after {self.n_iter_} complete "
                "epoch(s); the estimator keeps the weights of the last completed "
                "epoch (the best one with early stopping).",
                UserWarning,
                stacklevel=4,
            )
        elif not incremental and monitor.stop_reason_ is None and (
                self.n_iter_ == self.max_iter or monitor.limit_ is not None):
            warnings.warn(self._not_converged(monitor.limit_), ConvergenceWarning,
                          stacklevel=4)
        return self

    def _not_converged(self, limit):
        # scikit-learn's wording for each solver.
        if self.solver != "lbfgs":
            return (f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                    "reached and the optimization hasn't converged yet.")
        limit = limit or f"the number of iterations reached max_iter={self.max_iter}"
        return (f"lbfgs failed to converge after {self.n_iter_} iteration(s): "
                f"{limit}. Increase max_iter and max_fun, or scale the data "
                "(e.g. with StandardScaler).")

    @classmethod
    def _place(cls, X, device):
        # The training data goes to the device once when it takes at most
        # half of the device's free memory (the rest is for activations);
        # otherwise it stays in pinned host memory and each batch is copied
        # (see BatchIterator).
        tensor = cls._to_tensor(X, "cpu")
        if device == "cpu" or isinstance(tensor, SparseRows):
            # Sparse rows stay on the host; batches are densified and copied.
            return tensor
        if device.startswith("cuda"):
            free, _ = torch.cuda.mem_get_info(torch.device(device))
            if tensor.nbytes > free // 2:
                return tensor.pin_memory()
        return tensor.to(device)

    @staticmethod
    def _to_tensor(X, device):
        if sp.issparse(X):
            return SparseRows(X)
        return host_tensor(X).to(device, non_blocking=True)

    def _update_fitted_attributes(self):
        net = self.net_
        monitor, schedule = net.monitor_, net.schedule_
        self.history_ = [
            {key: value for key, value in row.items()
             if key not in ("batches", "train_batch_count", "train_samples")}
            for row in net.history
        ]
        self.loss_curve_ = [row["train_loss"] for row in net.history]
        self.loss_ = self.loss_curve_[-1]
        self.t_ = schedule.t_
        if early_stopping_in_effect(self.get_params(deep=False)):
            # Epochs of an earlier warm-start fit without a validation split
            # have no score.
            self.validation_scores_ = [row["valid_accuracy"] for row in net.history
                                       if "valid_accuracy" in row]
            self.best_validation_score_ = monitor.best_validation_score_
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = monitor.best_loss_
        linear = [m for m in net.module_.modules() if isinstance(m, torch.nn.Linear)]
        self.coefs_ = [m.weight.detach().cpu().numpy().T.copy() for m in linear]
        self.intercepts_ = [m.bias.detach().cpu().numpy().copy() for m in linear]
        n_conv = sum(isinstance(m, torch.nn.Conv2d) for m in net.module_.modules())
        self.n_outputs_ = linear[-1].out_features
        self.n_layers_ = n_conv + len(linear) + 1
        self.out_activation_ = ("logistic" if self.n_outputs_ == 1 or self._multilabel
                                else "softmax")

    # -- prediction -----------------------------------------------------------

    def _logits(self, X):
        check_is_fitted(self)
        # NaN and infinity are looked for chunk by chunk during the forward
        # pass instead of in a separate pass over X.
        X = self._validate_X(X, reset=False, ensure_all_finite=False)
        tensor = self._to_tensor(X, "cpu")
        with flush_denormal(), intra_op_threads(self.n_threads):
            try:
                logits = self.net_.predict_logits(tensor, check_finite=True)
            except NonFiniteInput:
                # The exact check, with scikit-learn's message; a sum can also
                # overflow for large finite values, and then this passes.
                if not sp.issparse(X):  # sparse X was checked already
                    check_array(X.reshape(X.shape[0], -1), dtype=None,
                                input_name="X", estimator=self)
                logits = self.net_.predict_logits(tensor)
        # One class: its logit alone (probability 1; the network's second
        # output stands for no class).
        return logits[:, :1] if len(self.classes_) == 1 else logits

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Probability estimates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            float64 probabilities in the order of ``classes_``; each row sums
            to 1. The softmax of the network's output, whatever the loss
            (one column of ones when y had a single class). For a model
            fitted on a multi-label indicator y, each label's own probability
            (the logistic of its output; rows need not sum to 1).
        """
        logits = self._logits(X).double()
        if self._multilabel:
            return logits.sigmoid().cpu().numpy()
        return logits.softmax(dim=1).cpu().numpy()

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Log of probability estimates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``, computed stably.
        """
        logits = self._logits(X).double()
        if self._multilabel:
            # The log of each label's probability, as scikit-learn takes it
            # (exactly log(predict_proba), so both rank labels alike).
            with np.errstate(divide="ignore"):
                return np.log(logits.sigmoid().cpu().numpy())
        return logits.log_softmax(dim=1).cpu().numpy()

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels from ``classes_``; for a model fitted on a multi-label
            indicator y, an indicator matrix of y's dtype (a label is set
            where its probability exceeds 0.5).
        """
        logits = self._logits(X)
        if self._multilabel:
            return (logits > 0).cpu().numpy().astype(self._multilabel_dtype)
        return self.classes_[logits.argmax(dim=1).cpu().numpy()]

    def __sklearn_is_fitted__(self):
        # classes_ and n_features_in_ are set before training starts; the
        # estimator is fitted once it holds a trained net.
        return "net_" in self.__dict__

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self._sparse_input
        tags.input_tags.allow_nan = False
        tags.classifier_tags.multi_label = True
        # On a GPU, kernels that add in parallel (cuBLAS, cuDNN) round in a
        # varying order: two fits with one random_state can differ.
        device = self.device
        if device == "auto":
            device = resolve_device(device)
        tags.non_deterministic = isinstance(device, str) and device.startswith("cuda")
        return tags
