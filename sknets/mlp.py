"""MLPClassifierTorch: scikit-learn's MLPClassifier, trained by PyTorch."""

from ._base import BaseTorchClassifier
from .modules import MLPModule, init_weights

__all__ = ["MLPClassifierTorch"]


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

    solver : str, default='adam'
        The optimizer.

        - 'adam', Adam with ``beta_1``, ``beta_2``, ``epsilon``.
        - 'sgd', stochastic gradient descent with ``momentum`` and
          ``nesterovs_momentum``.
        - 'adamw', Adam with decoupled weight decay: ``alpha`` is AdamW's
          ``weight_decay`` instead of an L2 term in the loss.
        - 'rmsprop', RMSprop with ``epsilon``.

        'lbfgs' is not available (mini-batch training only).

    alpha : float, default=0.0001
        Strength of the L2 penalty, as in scikit-learn: the training loss of
        each batch adds ``0.5 * alpha * sum(||W||^2) / batch_size`` over the
        weight matrices (not the biases).

    batch_size : int or 'auto', default='auto'
        Size of the mini-batches; 'auto' means ``min(200, n_samples)``. Values
        larger than the number of samples are clipped with a warning. 1 gives
        pure stochastic gradient descent.

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

    learning_rate_init : float, default=0.001
        The initial learning rate.

    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.

    max_iter : int, default=200
        Maximum number of epochs.

    shuffle : bool, default=True
        Whether to shuffle the samples every epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, the batch order and the
        validation split. An int makes fits on the CPU reproducible.

    tol : float, default=1e-4
        Tolerance of the stopping rule: see ``n_iter_no_change``.

    verbose : bool or int, default=False
        True (or 1) prints one line per epoch with losses, accuracies,
        learning rate and time; 2 also shows a progress bar over batches.

    warm_start : bool, default=False
        Reuse the previous solution as initialisation in ``fit`` (a new
        optimizer is created, as in scikit-learn).

    momentum : float, default=0.9
        Momentum of the 'sgd' solver.

    nesterovs_momentum : bool, default=True
        Whether 'sgd' uses Nesterov's momentum (when momentum > 0).

    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the training data,
        score its accuracy every epoch, stop when it has not improved by
        ``tol`` for more than ``n_iter_no_change`` epochs, and restore the
        weights of the best epoch.

    validation_fraction : float, default=0.1
        Fraction of the training data held out when ``early_stopping=True``.

    beta_1 : float, default=0.9
        Exponential decay of Adam's first-moment estimates.

    beta_2 : float, default=0.999
        Exponential decay of Adam's second-moment estimates.

    epsilon : float, default=1e-8
        Numerical-stability term of Adam and RMSprop.

    n_iter_no_change : int or np.inf, default=10
        Number of epochs without an improvement of ``tol`` (of the training
        loss, or of the validation accuracy with early stopping) after which
        training stops. ``np.inf`` never stops early.

    lr_step_size : int, default=10
        Epochs between two decays of the 'step' schedule.

    lr_gamma : float, default=0.1
        Decay factor of the 'step' and 'exponential' schedules.

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

    dropout : float, default=0.0
        Dropout probability after each hidden layer's activation.

    batch_norm : bool, default=False
        Batch normalisation between each hidden linear layer and its
        activation. A last batch of a single sample is skipped in each epoch
        (batch normalisation cannot train on one sample).

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

    class_weight : dict, 'balanced' or None, default=None
        Multiplies each sample's loss by the weight of its class. 'balanced'
        uses ``n_samples / (n_classes * np.bincount(y))``; a dict maps labels
        to weights (missing labels weigh 1).

    device : str, default='auto'
        Where to train and predict: 'auto' (CUDA when available, else CPU),
        'cpu', 'cuda' or 'cuda:N'.

    Attributes
    ----------
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
        Weight matrix of each layer, element i of shape (units in layer i,
        units in layer i + 1), as in scikit-learn.

    intercepts_ : list of ndarray
        Bias vector of each layer, element i of shape (units in layer i + 1,).

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string feature names.

    n_iter_ : int
        Number of epochs run by the last call to fit or partial_fit.

    n_layers_ : int
        Number of layers, input and output included.

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

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The scikit-learn estimator this one
        replaces.
    sknets.CNNClassifierTorch : A convolutional network for images.

    Notes
    -----
    Differences from :class:`~sklearn.neural_network.MLPClassifier` are listed
    in the README, each with its reason. In short: no 'lbfgs' solver, no
    ``max_fun``, no ``sample_weight`` in ``fit``, no multi-label targets,
    float32 arithmetic, and sparse input is refused.

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

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        lr_step_size=10,
        lr_gamma=0.1,
        loss="cross_entropy",
        dropout=0.0,
        batch_norm=False,
        weight_init="xavier_uniform",
        class_weight=None,
        device="auto",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
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
        self.loss = loss
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.weight_init = weight_init
        self.class_weight = class_weight
        self.device = device

    def _build_module(self, hidden_layer_sizes, n_outputs):
        module = MLPModule(
            self.n_features_in_, hidden_layer_sizes, n_outputs,
            activation=self.activation, dropout=self.dropout,
            batch_norm=self.batch_norm,
        )
        return init_weights(module, self.weight_init, self.activation)
