"""CNNClassifierTorch: a configurable convolutional classifier for images.

Also the named architectures of the studies sknets is built for
(``ARCHITECTURES``) and ``architecture_grid``, which turns a list of names
into a ``param_grid`` for ``GridSearchCV``.
"""


from collections.abc import Sequence

import numpy as np
from torch import nn

from ._base import BaseTorchClassifier, _shared_docs
from ._images import validate_images
from .training import ModuleSpec
from .training.params import constraints

__all__ = [
    "ARCHITECTURES",
    "RECIPES",
    "CNNClassifierTorch",
    "architecture_grid",
    "architecture_name",
]


def _architecture(conv_layers, hidden_layer_sizes=(), *, padding="valid",
                  conv_activation=None, activation="relu", pooling="max",
                  pool_size=2, pool_stride=None, conv_dropout=0.0, dropout=0.0):
    # Every preset sets every architecture parameter, so a preset means the
    # same network whatever estimator GridSearchCV clones it from.
    return {
        "conv_layers": conv_layers,
        "hidden_layer_sizes": hidden_layer_sizes,
        "padding": padding,
        "conv_activation": conv_activation,
        "activation": activation,
        "pooling": pooling,
        "pool_size": pool_size,
        "pool_stride": pool_stride,
        "conv_dropout": conv_dropout,
        "dropout": dropout,
    }


# Seed 004's Keras networks: 3x3 'valid' convolutions with ReLU, each followed
# by pooling; a single Dropout(0.5) before the output layer, which is the end
# of the last conv block when there is no dense hidden layer.
_BASIC = {"conv_layers": ((32, 3), (64, 3)), "conv_dropout": (0.0, 0.5)}

ARCHITECTURES = {
    # Seed 002: strided 'valid' convolutions with ReLU, no pooling, sigmoid
    # dense layers.
    "arch1": _architecture(((16, 5, 2), (8, 3, 1)), (), pooling=None,
                           conv_activation="relu", activation="logistic"),
    "arch2": _architecture(((32, 5, 2), (16, 3, 1), (8, 3, 1)), (256,),
                           pooling=None, conv_activation="relu",
                           activation="logistic"),
    "arch3": _architecture(((32, 5, 2), (16, 3, 1), (8, 3, 1), (4, 3, 1)), (72,),
                           pooling=None, conv_activation="relu",
                           activation="logistic"),
    "arch4": _architecture(
        ((32, 5, 2), (16, 3, 1), (8, 3, 1), (4, 3, 1), (2, 3, 1)), (),
        pooling=None, conv_activation="relu", activation="logistic"),
    # Seed 004.
    "basic": _architecture(**_BASIC),
    "short": _architecture(((32, 3),), conv_dropout=0.5),
    "long": _architecture(((32, 3), (64, 3), (128, 3), (512, 3)), (128,),
                          pool_stride=1, dropout=0.5),
    "min-filters": _architecture(((4, 3), (16, 3)), conv_dropout=(0.0, 0.5)),
    "max-filters": _architecture(((128, 3), (512, 3)), conv_dropout=(0.0, 0.5)),
    "pool5": _architecture(**_BASIC, pool_size=5, pool_stride=3),
    "avg-pool": _architecture(**_BASIC, pooling="avg", pool_size=3),
    "fc": _architecture(_BASIC["conv_layers"], (128, 32), dropout=(0.0, 0.5)),
    # LeNet-5 as seed 004 adapts it to 28x28 input.
    "lenet5": _architecture(((6, 3), (16, 3)), (120, 84), pooling="avg"),
    # Fashion-MNIST's recipe network (RECIPES['fashion']): the default CNN's
    # two 'same' convolutions, a wider dense layer and dropout before the
    # output.
    "fashion": _architecture(((32, 3), (64, 3)), (256,), padding="same",
                             dropout=0.3),
}

# Whole estimator settings (network and training) that reach a measured
# accuracy: CNNClassifierTorch(**RECIPES[name]). The figures are in
# docs/performance.md ("Fashion-MNIST recipe"), measured by
# benchmarks/bench_fashion_recipe.py.
RECIPES = {
    "fashion": {
        **ARCHITECTURES["fashion"],
        "batch_norm": True,
        "augment": {"shift": 0.08},
        "learning_rate": "onecycle",
        "learning_rate_init": 3e-3,
        "batch_size": 128,
        # 40 epochs scored 0.9389 but took 32 minutes on all 60,000 images:
        # over the 30-minute budget the recipe is held to.
        "max_iter": 30,
    },
}


def architecture_grid(names=None, **params):
    """A ``param_grid`` comparing named architectures.

    Parameters
    ----------
    names : str or sequence of str, default=None
        Keys of ``ARCHITECTURES``; None means all of them.
    **params : list
        Further parameters to vary with every architecture, each a list of
        values as in a ``param_grid`` (``learning_rate_init=[1e-3, 1e-2]``).
        They override the architectures' own values (``activation=['elu']``
        changes the dense layers of every preset).

    Returns
    -------
    param_grid : list of dict
        One dict per architecture, for ``GridSearchCV``.

    Examples
    --------
    >>> from sknets.cnn import architecture_grid
    >>> grid = architecture_grid(["basic", "lenet5"], learning_rate_init=[1e-3])
    >>> len(grid), grid[1]["conv_layers"], grid[1]["learning_rate_init"]
    (2, [((6, 3), (16, 3))], [0.001])
    """
    if names is None:
        names = list(ARCHITECTURES)
    elif isinstance(names, str):
        names = [names]
    unknown = [name for name in names if name not in ARCHITECTURES]
    if unknown:
        raise ValueError(f"Unknown architecture(s) {unknown}; the names are "
                         f"{sorted(ARCHITECTURES)}.")
    for key, values in params.items():
        if isinstance(values, str) or not hasattr(values, "__iter__"):
            raise ValueError(f"{key} must be a list of values to try, got "
                             f"{values!r}; write {key}=[{values!r}] for one value.")
    grid = []
    for name in names:
        entry = {key: [value] for key, value in ARCHITECTURES[name].items()}
        entry.update({key: list(values) for key, values in params.items()})
        grid.append(entry)
    return grid


def architecture_name(params):
    """The name of the preset whose architecture ``params`` describes.

    Parameters
    ----------
    params : dict
        Estimator parameters, e.g. ``search.cv_results_['params'][i]`` or
        ``estimator.get_params()``.

    Returns
    -------
    name : str or None
        The key of ``ARCHITECTURES`` whose every value ``params`` holds, or
        None.

    Examples
    --------
    >>> from sknets.cnn import ARCHITECTURES, architecture_name
    >>> architecture_name({**ARCHITECTURES["lenet5"], "alpha": 0.0})
    'lenet5'
    """
    for name, architecture in ARCHITECTURES.items():
        if all(key in params and params[key] == value
               for key, value in architecture.items()):
            return name
    return None


@_shared_docs
class CNNClassifierTorch(BaseTorchClassifier):
    """Convolutional neural network classifier for images, trained with PyTorch.

    A stack of convolutional blocks (``Conv2d -> [BatchNorm2d] -> activation
    -> [pooling] -> [Dropout]``) followed by a dense head as in
    :class:`MLPClassifierTorch` (``Linear -> [BatchNorm1d] -> activation ->
    [Dropout]`` per hidden layer, then the output layer). Every training
    parameter and fitted attribute is that of :class:`MLPClassifierTorch`;
    the parameters below the dense head's describe the convolutions.

    X may be flat (n_samples, n_features) or images: (n_samples, height,
    width) or (n_samples, channels, height, width), channels first. Flat X is
    reshaped to ``image_shape``, or, when that is None, to a square
    one-channel image when n_features is a perfect square (784 gives 28x28,
    64 gives 8x8) and to a 1 x n_features strip otherwise. The same data,
    flat or as images, gives the same model.

    With ``clip_kernels=True`` (the default), any image of at least one pixel
    trains: a kernel or pooling window larger than the map it slides over is
    clipped to the map. An architecture written for 28x28 images thus also
    runs on 8x8 ones, with smaller windows in its last layers.
    ``clip_kernels=False`` keeps the stack exactly as written and makes a
    layer whose window no longer fits a ValueError naming that layer.

    Parameters
    ----------
    conv_layers : sequence of tuple, default=((32, 3), (64, 3))
        One ``(out_channels, kernel_size)`` or ``(out_channels, kernel_size,
        stride)`` per conv block; kernel_size and stride are an int or a
        (height, width) pair, the stride defaults to 1. ``()`` gives no
        convolution (a dense network on the pixels).

    hidden_layer_sizes : int or sequence of int, default=(128,)
        Widths of the dense hidden layers after the conv blocks; ``()`` goes
        straight from the flattened feature maps to the output layer.

    activation : str, default='relu'
        Activation of the dense hidden layers, and of the conv blocks when
        ``conv_activation`` is None.

        - 'identity', no-op, f(x) = x
        - 'logistic' (alias 'sigmoid'), f(x) = 1 / (1 + exp(-x))
        - 'tanh', f(x) = tanh(x)
        - 'relu', f(x) = max(0, x)
        - 'leaky_relu', f(x) = max(0.01 x, x)
        - 'elu', 'gelu', 'selu', as in torch.nn.

    image_shape : tuple of int or None, default=None
        ``(channels, height, width)`` or ``(height, width)`` of the images in
        flat X; its product must equal n_features. None infers the shape as
        described above. With image-shaped X it must match the images.

    padding : str, default='same'
        Padding of the convolutions.

        - 'same', zeros around the map so that a convolution of stride s
          outputs ``ceil(size / s)`` pixels per side (TensorFlow's rule).
        - 'valid', no padding: each convolution shrinks the map by
          ``kernel_size - 1`` before striding.

    conv_activation : str or None, default=None
        Activation of the conv blocks, one of the ``activation`` options;
        None means ``activation``. Seed studies use e.g. 'relu' here with
        'logistic' dense layers.

    pooling : str or None, default='max'
        Pooling after each convolution.

        - 'max', max pooling.
        - 'avg', average pooling.
        - None, no pooling.

    pool_size : int or tuple of int, default=2
        Pooling window, an int or a (height, width) pair.

    pool_stride : int or tuple of int or None, default=None
        Pooling stride; None means ``pool_size`` (non-overlapping windows).

    conv_dropout : float or sequence of float, default=0.0
        Dropout probability at the end of each conv block, or one probability
        per block: ``(0, 0.5)`` drops out only after the second of two blocks,
        i.e. just before the dense head.

    dropout : float or sequence of float, default=0.0
        Dropout probability after each dense hidden layer's activation, or
        one per dense hidden layer.

    batch_norm : bool, default=False
        Batch normalisation between each convolution or dense hidden layer and
        its activation. A last batch of a single sample is skipped in each
        epoch (batch normalisation cannot train on one sample).

    clip_kernels : bool, default=True
        Clip kernels and pooling windows larger than the map they slide over
        to the map's size. With False a window larger than its map (with
        'valid' padding, or any pooling window) raises a ValueError naming
        the layer.

    {training_parameters}

    Attributes
    ----------
    {fitted_attributes}

    image_shape_ : tuple of int
        ``(channels, height, width)`` of the images the model was fitted on.

    filters_ : ndarray or None
        The first conv layer's weights, of shape (out_channels, kernel_height,
        kernel_width) for one-channel images and (out_channels, channels,
        kernel_height, kernel_width) otherwise; None without conv layers.
        For plotting learned filters.

    See Also
    --------
    sknets.MLPClassifierTorch : The dense network, with the same training
        parameters.
    sknets.cnn.ARCHITECTURES : Named architectures of the seed studies.
    sknets.cnn.architecture_grid : A ``param_grid`` comparing them.

    Notes
    -----
    ``coefs_`` and ``intercepts_`` hold the dense head's layers only; the
    conv weights are in ``net_.module_.features`` (and the first layer's in
    ``filters_``).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sknets import CNNClassifierTorch
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifierTorch(max_iter=20, random_state=0).fit(X / 16, y)
    >>> clf.image_shape_, clf.filters_.shape
    ((1, 8, 8), (32, 3, 3))
    >>> round(clf.score(X / 16, y), 2) > 0.95
    True
    """

    _predict_chunk = 256

    _parameter_constraints: dict = constraints("cnn")

    def __init__(self, conv_layers: Sequence[tuple[int, int]] = ((32, 3), (64, 3)),
                 hidden_layer_sizes: int | Sequence[int] = (128,),
                 activation: str = "relu", *,
                 image_shape: tuple[int, ...] | None = None,
                 padding: str | int = "same", conv_activation: str | None = None,
                 pooling: str | None = "max", pool_size: int = 2,
                 pool_stride: int | None = None, conv_dropout: float = 0.0,
                 dropout: float | Sequence[float] = 0.0, batch_norm: bool = False,
                 clip_kernels: bool = True, solver: str = "adam", alpha: float = 0.0001,
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
        self.conv_layers = conv_layers
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.image_shape = image_shape
        self.padding = padding
        self.conv_activation = conv_activation
        self.pooling = pooling
        self.pool_size = pool_size
        self.pool_stride = pool_stride
        self.conv_dropout = conv_dropout
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.clip_kernels = clip_kernels
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

    # -- images ---------------------------------------------------------------

    # Images are validated flat (n_features_in_ is the number of values per
    # sample, whatever the layout) and reach the module as (N, C, H, W).

    def _validate_X(self, X, reset, ensure_all_finite=True):
        return validate_images(self, X, reset=reset, image_shape=self.image_shape,
                               dtype=np.dtype(self.dtype),
                               ensure_all_finite=ensure_all_finite)[0]

    def _validate_Xy(self, X, y, reset):
        X, y, _ = validate_images(self, X, y, reset=reset,
                                  image_shape=self.image_shape,
                                  dtype=np.dtype(self.dtype))
        return X, self._check_targets(y)

    # -- model ----------------------------------------------------------------

    def _module_spec(self, hidden_layer_sizes, n_outputs):
        return ModuleSpec.of(
            "cnn", image_shape=self.image_shape_, conv_layers=self.conv_layers,
            hidden_layer_sizes=hidden_layer_sizes, n_outputs=n_outputs,
            padding=self.padding, conv_activation=self.conv_activation,
            activation=self.activation, pooling=self.pooling,
            pool_size=self.pool_size, pool_stride=self.pool_stride,
            conv_dropout=self.conv_dropout, dropout=self.dropout,
            batch_norm=self.batch_norm, clip_kernels=self.clip_kernels,
            weight_init=self.weight_init,
        )

    def _update_fitted_attributes(self):
        super()._update_fitted_attributes()
        convs = [m for m in self.net_.module_.modules() if isinstance(m, nn.Conv2d)]
        self.filters_ = None
        if convs:
            weight = convs[0].weight.detach().cpu().numpy().copy()  # (O, C, kh, kw)
            self.filters_ = weight[:, 0] if weight.shape[1] == 1 else weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
