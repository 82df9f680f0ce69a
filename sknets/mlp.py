"""MLPClassifierTorch: scikit-learn's MLPClassifier, trained by PyTorch."""

from collections.abc import Sequence

import numpy as np

from ._base import BaseTorchClassifier, _shared_docs
from .training import ModuleSpec

__all__ = ["MLPClassifierTorch"]


@_shared_docs
class MLPClassifierTorch(BaseTorchClassifier):
    """Multi-layer perceptron classifier trained with PyTorch.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`:
    the parameters it shares keep their names, defaults and meaning, and so do
    the fitted attributes. On top of them come the choices studies of neural
    networks compare (loss, more activations, dropout, batch normalisation,
    weight initialisation, more solvers and learning-rate schedules, class
    weights, device). Training runs on a skorch net kept as ``net_``.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        The width of each hidden layer. ``()`` gives a linear model (no hidden
        layer); an int gives one hidden layer.

    activation : str, default='relu'
        Activation of the hidden layers.

        - 'identity', no-op, f(x) = x
        - 'logistic' (alias 'sigmoid'), f(x) = 1 / (1 + exp(-x))
        - 'tanh', f(x) = tanh(x)
        - 'relu', f(x) = max(0, x)
        - 'leaky_relu', f(x) = max(0.01 x, x)
        - 'elu', 'gelu', 'selu', as in torch.nn.

    dropout : float or sequence of float, default=0.0
        Dropout probability after each hidden layer's activation, or one
        probability per hidden layer (``(0, 0.5)`` drops out only after the
        second of two hidden layers).

    batch_norm : bool, default=False
        Batch normalisation between each hidden linear layer and its
        activation. A last batch of a single sample is skipped in each epoch
        (batch normalisation cannot train on one sample).

    {training_parameters}

    Attributes
    ----------
    {fitted_attributes}

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The scikit-learn estimator this one
        replaces.
    sknets.CNNClassifierTorch : A convolutional network for images.

    Notes
    -----
    Differences from :class:`~sklearn.neural_network.MLPClassifier` are listed
    in the README, each with its reason. In short: float32 arithmetic by
    default, and scikit-learn's private attributes (``_optimizer``,
    ``_no_improvement_count``, ...) are not there. 'lbfgs', sparse X (kept
    sparse, densified batch by batch) and multi-label indicator targets work
    as in scikit-learn.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sknets import MLPClassifierTorch
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifierTorch(max_iter=30, random_state=0).fit(X / 16, y)
    >>> clf.predict(X[:3] / 16)
    array([0, 1, 2])
    >>> round(clf.score(X / 16, y), 2) > 0.95
    True
    """

    def __init__(self, hidden_layer_sizes: int | Sequence[int] = (100,),
                 activation: str = "relu", *, dropout: float | Sequence[float] = 0.0,
                 batch_norm: bool = False, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5,
                 max_iter: int = 200, max_fun: int = 15000, shuffle: bool = True,
                 random_state: int | np.random.RandomState | None = None,
                 tol: float = 1e-4, verbose: bool | int = False,
                 warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8,
                 n_iter_no_change: int | float = 10, lr_step_size: int = 10,
                 lr_gamma: float = 0.1, lr_warmup: int = 0,
                 max_grad_norm: float | None = None, label_smoothing: float = 0.0,
                 augment: str | dict | None = None, loss: str = "cross_entropy",
                 weight_init: str = "xavier_uniform",
                 class_weight: dict | str | None = None, device: str = "auto",
                 n_threads: int | None = None, dtype: str = "float32") -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.max_fun = max_fun
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.lr_step_size = lr_step_size
        self.lr_gamma = lr_gamma
        self.lr_warmup = lr_warmup
        self.max_grad_norm = max_grad_norm
        self.label_smoothing = label_smoothing
        self.augment = augment
        self.loss = loss
        self.weight_init = weight_init
        self.class_weight = class_weight
        self.device = device
        self.n_threads = n_threads
        self.dtype = dtype

    _sparse_input = True

    def _module_spec(self, hidden_layer_sizes, n_outputs):
        return ModuleSpec.of(
            "mlp", n_features=self.n_features_in_,
            hidden_layer_sizes=hidden_layer_sizes, n_outputs=n_outputs,
            activation=self.activation, dropout=self.dropout,
            batch_norm=self.batch_norm, weight_init=self.weight_init,
        )
