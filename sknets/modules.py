"""Plain torch modules built from estimator parameters.

Nothing here knows about scikit-learn: the estimators translate their
parameters into the arguments of these builders. Each string option lives in
one registry (``ACTIVATIONS``, ``WEIGHT_INITS``, ``LOSSES``), so adding an
option is a one-line change and the estimators' error messages list the keys.
"""

import math
from collections import OrderedDict
from numbers import Integral, Real

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "NETWORKS",
    "POOLINGS",
    "WEIGHT_INITS",
    "BinaryLogits",
    "build_module",
    "CNNModule",
    "ClassificationLoss",
    "MLPModule",
    "conv_blocks",
    "dense_layers",
    "init_weights",
    "loss_function",
    "per_layer",
    "reduce_loss",
]

ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "selu": nn.SELU,
}

# The nonlinearity name torch's Kaiming initialisers use for each activation.
_KAIMING_NONLINEARITY = {
    "identity": "linear",
    "logistic": "sigmoid",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": "leaky_relu",
    "elu": "relu",
    "gelu": "relu",
    "selu": "linear",
}


def _xavier_uniform(layer, activation):
    # scikit-learn's own scheme: weights and biases uniform in +-bound, with
    # the smaller factor 2 for logistic units (Glorot & Bengio, 2010).
    fan_in = layer.weight[0].numel()
    fan_out = layer.weight.shape[0] * layer.weight[0, 0].numel()
    factor = 2.0 if activation in ("logistic", "sigmoid") else 6.0
    bound = math.sqrt(factor / (fan_in + fan_out))
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.uniform_(layer.bias, -bound, bound)


def _xavier_normal(layer, activation):
    nn.init.xavier_normal_(layer.weight)
    nn.init.zeros_(layer.bias)


def _kaiming_uniform(layer, activation):
    nn.init.kaiming_uniform_(
        layer.weight, nonlinearity=_KAIMING_NONLINEARITY[activation]
    )
    nn.init.zeros_(layer.bias)


def _kaiming_normal(layer, activation):
    nn.init.kaiming_normal_(
        layer.weight, nonlinearity=_KAIMING_NONLINEARITY[activation]
    )
    nn.init.zeros_(layer.bias)


def _torch_default(layer, activation):
    layer.reset_parameters()


WEIGHT_INITS = {
    "xavier_uniform": _xavier_uniform,
    "xavier_normal": _xavier_normal,
    "kaiming_uniform": _kaiming_uniform,
    "kaiming_normal": _kaiming_normal,
    "torch": _torch_default,
}


def init_weights(module, weight_init="xavier_uniform", activation="relu"):
    """Initialise every linear and convolutional layer of ``module`` in place.

    Parameters
    ----------
    module : torch.nn.Module
        The module whose ``Linear`` and ``Conv2d`` layers are initialised.
        Batch-norm layers keep torch's initialisation (weight 1, bias 0).
    weight_init : str, default='xavier_uniform'
        A key of ``WEIGHT_INITS``.
    activation : str, default='relu'
        A key of ``ACTIVATIONS``; it sets the gain of the initialisers that use
        one.

    Returns
    -------
    module : torch.nn.Module
        The same module.

    Examples
    --------
    >>> from sknets.modules import MLPModule, init_weights
    >>> module = init_weights(MLPModule(4, (8,), 3), "kaiming_normal")
    >>> float(module[0].bias.detach().abs().sum())
    0.0
    """
    init = WEIGHT_INITS[weight_init]
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            init(layer, activation)
    return module


def per_layer(value, n_layers, name):
    """One value per layer from a scalar or a sequence of ``n_layers`` values.

    Parameters
    ----------
    value : float or sequence of float
        A value shared by every layer, or one value per layer.
    n_layers : int
        Number of layers.
    name : str
        The parameter's name, for the error message.

    Returns
    -------
    values : list of float
        ``n_layers`` values.

    Examples
    --------
    >>> from sknets.modules import per_layer
    >>> per_layer(0.5, 2, "dropout"), per_layer((0, 0.5), 2, "dropout")
    ([0.5, 0.5], [0.0, 0.5])
    """
    if isinstance(value, Real):
        values = [float(value)] * n_layers
    else:
        values = [float(v) for v in value]
        if len(values) != n_layers:
            raise ValueError(
                f"{name}={tuple(value)!r} gives {len(values)} value(s) but there "
                f"are {n_layers} layer(s) to apply it to; give one value per "
                "layer or a single number for all of them."
            )
    if any(not 0 <= v < 1 for v in values):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}.")
    return values


def dense_layers(n_in, hidden_layer_sizes, n_outputs, activation="relu", dropout=0.0,
                 batch_norm=False):
    """The layers of a fully connected stack, ending with the output layer.

    Each hidden layer is ``Linear -> [BatchNorm1d] -> activation -> [Dropout]``,
    the order of the seed studies' networks; the output layer is a plain
    ``Linear`` producing ``n_outputs`` logits.

    Parameters
    ----------
    n_in : int
        Number of input features.
    hidden_layer_sizes : sequence of int
        Width of each hidden layer; empty for a linear model.
    n_outputs : int
        Number of output units.
    activation : str, default='relu'
        A key of ``ACTIVATIONS``.
    dropout : float or sequence of float, default=0.0
        Dropout probability after each hidden layer, or one probability per
        hidden layer; 0 adds no dropout layer.
    batch_norm : bool, default=False
        Whether to add batch normalisation after each hidden linear layer.

    Returns
    -------
    layers : list of torch.nn.Module

    Examples
    --------
    >>> from sknets.modules import dense_layers
    >>> [type(m).__name__ for m in dense_layers(4, (8,), 3, dropout=0.5)]
    ['Linear', 'ReLU', 'Dropout', 'Linear']
    """
    layers = []
    rates = per_layer(dropout, len(hidden_layer_sizes), "dropout")
    for width, rate in zip(hidden_layer_sizes, rates, strict=True):
        layers.append(nn.Linear(n_in, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(ACTIVATIONS[activation]())
        if rate > 0:
            layers.append(nn.Dropout(rate))
        n_in = width
    layers.append(nn.Linear(n_in, n_outputs))
    return layers


class BinaryLogits(nn.Module):
    """Turn one logit ``z`` into the two logits ``(0, z)``.

    A binary classifier keeps scikit-learn's single output unit (so its last
    coefficient matrix has one column) while every loss and ``predict_proba``
    see two classes: the softmax of ``(0, z)`` is ``(1 - sigmoid(z), sigmoid(z))``.

    Examples
    --------
    >>> import torch
    >>> from sknets.modules import BinaryLogits
    >>> BinaryLogits()(torch.tensor([[2.0]])).softmax(dim=1)[0, 1].item() == (
    ...     torch.sigmoid(torch.tensor(2.0)).item())
    True
    """

    def forward(self, z):
        return torch.cat((torch.zeros_like(z), z), dim=-1)  # (..., 1) -> (..., 2)


class MLPModule(nn.Sequential):
    """A multi-layer perceptron producing one logit per class.

    Parameters
    ----------
    n_features : int
        Number of input features.
    hidden_layer_sizes : sequence of int
        Width of each hidden layer; empty for a linear model.
    n_outputs : int
        Number of output units: 1 for a binary problem (see ``BinaryLogits``),
        else the number of classes.
    activation : str, default='relu'
        A key of ``ACTIVATIONS``.
    dropout : float or sequence of float, default=0.0
        Dropout probability after each hidden layer, or one per hidden layer.
    batch_norm : bool, default=False
        Batch normalisation after each hidden linear layer.

    Examples
    --------
    >>> import torch
    >>> from sknets.modules import MLPModule
    >>> MLPModule(4, (8, 8), 1)(torch.zeros(5, 4)).shape
    torch.Size([5, 2])
    """

    def __init__(self, n_features, hidden_layer_sizes, n_outputs, activation="relu",
                 dropout=0.0, batch_norm=False):
        layers = dense_layers(n_features, hidden_layer_sizes, n_outputs, activation,
                              dropout, batch_norm)
        if n_outputs == 1:
            layers.append(BinaryLogits())
        super().__init__(*layers)


POOLINGS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def _pair(value, name):
    if isinstance(value, Integral) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (not isinstance(value, str) and hasattr(value, "__len__") and len(value) == 2
          and all(isinstance(v, Integral) and not isinstance(v, bool) for v in value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, "
                         f"got {value!r}.")
    if min(pair) < 1:
        raise ValueError(f"{name} must be positive, got {value!r}.")
    return pair


def conv_specs(conv_layers):
    """Normalise ``conv_layers`` to ``(out_channels, kernel, stride)`` triples.

    Parameters
    ----------
    conv_layers : sequence of tuple
        Each entry is ``(out_channels, kernel_size)`` or
        ``(out_channels, kernel_size, stride)``; kernel_size and stride are an
        int or a pair of ints (height, width). The stride defaults to 1.

    Returns
    -------
    specs : list of tuple
        ``(out_channels, (kh, kw), (sh, sw))`` for each layer.

    Examples
    --------
    >>> from sknets.modules import conv_specs
    >>> conv_specs([(16, 5, 2), (8, (3, 1))])
    [(16, (5, 5), (2, 2)), (8, (3, 1), (1, 1))]
    """
    if isinstance(conv_layers, str) or not hasattr(conv_layers, "__len__"):
        raise ValueError(
            "conv_layers must be a sequence of (out_channels, kernel_size[, stride]) "
            f"tuples, got {conv_layers!r}."
        )
    specs = []
    for i, layer in enumerate(conv_layers):
        name = f"conv_layers[{i}]={layer!r}"
        if (isinstance(layer, str) or not hasattr(layer, "__len__")
                or len(layer) not in (2, 3)):
            raise ValueError(
                f"{name} is not a conv layer: each entry is (out_channels, "
                "kernel_size) or (out_channels, kernel_size, stride), e.g. (32, 3)."
            )
        out_channels = layer[0]
        if (not isinstance(out_channels, Integral) or isinstance(out_channels, bool)
                or out_channels < 1):
            raise ValueError(f"{name}: out_channels must be a positive int.")
        kernel = _pair(layer[1], f"{name}: kernel_size")
        stride = _pair(layer[2] if len(layer) == 3 else 1, f"{name}: stride")
        specs.append((int(out_channels), kernel, stride))
    return specs


def _fit_window(window, size, clip_kernels, describe):
    # A window larger than the map it slides over is clipped to the map, or,
    # with clip_kernels=False, an error naming the layer.
    if all(w <= n for w, n in zip(window, size, strict=True)):
        return window
    if clip_kernels:
        return tuple(min(w, n) for w, n in zip(window, size, strict=True))
    raise ValueError(
        f"{describe} gets a {size[0]}x{size[1]} map, smaller than its "
        f"{window[0]}x{window[1]} window: the stack shrinks the image below one "
        "pixel. Use padding='same', fewer conv layers, smaller kernels, strides or "
        "pool sizes, or clip_kernels=True to clip windows to the map."
    )


def _same_padding(size, kernel, stride):
    # TensorFlow's rule: output ceil(size / stride), the padding split evenly
    # with any odd pixel at the end.
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_blocks(image_shape, conv_layers, padding="same", activation="relu",
                pooling="max", pool_size=2, pool_stride=None, dropout=0.0,
                batch_norm=False, clip_kernels=True):
    """The convolutional blocks of a CNN and the shape of their output.

    Each block is ``Conv2d -> [BatchNorm2d] -> activation -> [pooling] ->
    [Dropout]``, the order of the seed studies' networks.

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)`` of the input.
    conv_layers : sequence of tuple
        ``(out_channels, kernel_size[, stride])`` per block, see ``conv_specs``.
    padding : {'same', 'valid'}, default='same'
        'valid' convolves without padding, so each layer shrinks the map by
        ``kernel - 1`` (before striding); 'same' pads with zeros so that the
        output is ``ceil(size / stride)`` (TensorFlow's rule, which works for
        any stride).
    activation : str, default='relu'
        A key of ``ACTIVATIONS``.
    pooling : {'max', 'avg'} or None, default='max'
        Pooling after each convolution; None adds none.
    pool_size : int or pair of int, default=2
        Pooling window.
    pool_stride : int or pair of int or None, default=None
        Pooling stride; None means ``pool_size`` (non-overlapping windows).
    dropout : float or sequence of float, default=0.0
        Dropout probability at the end of each block, or one per block.
    batch_norm : bool, default=False
        Batch normalisation after each convolution.
    clip_kernels : bool, default=True
        Clip a kernel or pooling window larger than the map it slides over to
        the map's size, so that any image of at least one pixel goes through
        the stack. With False, a window larger than its map is a ValueError
        that names the layer.

    Returns
    -------
    layers : list of torch.nn.Module
    output_shape : tuple of int
        ``(channels, height, width)`` after the last block.

    Examples
    --------
    >>> from sknets.modules import conv_blocks
    >>> layers, shape = conv_blocks((1, 28, 28), [(32, 3), (64, 3)], "valid")
    >>> shape
    (64, 5, 5)
    >>> conv_blocks((1, 8, 8), [(16, 5, 2), (8, 3)], "valid", pooling=None)[1]
    (8, 1, 1)
    """
    if padding not in ("same", "valid"):
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}.")
    if pooling is not None and pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {sorted(POOLINGS)} or None, got "
                         f"{pooling!r}.")
    specs = conv_specs(conv_layers)
    rates = per_layer(dropout, len(specs), "conv_dropout")
    pool = _pair(pool_size, "pool_size")
    pool_step = pool if pool_stride is None else _pair(pool_stride, "pool_stride")
    channels, height, width = image_shape
    size = (height, width)
    layers = []
    for i, ((out_channels, kernel, stride), rate) in enumerate(
            zip(specs, rates, strict=True)):
        if padding == "valid" or clip_kernels:
            # With 'same' padding an oversized kernel only sees zeros beyond
            # the map; it is clipped, or kept as written.
            kernel = _fit_window(kernel, size, clip_kernels,
                                 f"conv_layers[{i}]={conv_layers[i]!r}")
        if padding == "valid":
            pads = ((0, 0), (0, 0))
            size = tuple((n - k) // s + 1
                         for n, k, s in zip(size, kernel, stride, strict=True))
        else:
            pads = tuple(_same_padding(n, k, s)
                         for n, k, s in zip(size, kernel, stride, strict=True))
            size = tuple(-(-n // s) for n, s in zip(size, stride, strict=True))
        (top, bottom), (left, right) = pads
        if top == bottom and left == right:
            conv_padding = (top, left)
        else:
            layers.append(nn.ZeroPad2d((left, right, top, bottom)))
            conv_padding = (0, 0)
        layers.append(nn.Conv2d(channels, out_channels, kernel, stride,
                                padding=conv_padding))
        channels = out_channels
        if batch_norm:
            layers.append(nn.BatchNorm2d(channels))
        layers.append(ACTIVATIONS[activation]())
        if pooling is not None:
            window = _fit_window(pool, size, clip_kernels,
                                 f"the pooling after conv_layers[{i}]")
            layers.append(POOLINGS[pooling](window, pool_step))
            size = tuple((n - w) // s + 1
                         for n, w, s in zip(size, window, pool_step, strict=True))
        if rate > 0:
            layers.append(nn.Dropout(rate))
    return layers, (channels, *size)


class CNNModule(nn.Sequential):
    """A convolutional network producing one logit per class.

    Three parts, reachable by name: ``features`` (the conv blocks of
    ``conv_blocks``), ``flatten`` and ``classifier`` (the dense head of
    ``dense_layers``).

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)`` of the input.
    conv_layers : sequence of tuple
        ``(out_channels, kernel_size[, stride])`` per conv block.
    hidden_layer_sizes : sequence of int
        Widths of the dense hidden layers; empty to go straight to the output.
    n_outputs : int
        1 for a binary problem (see ``BinaryLogits``), else the number of
        classes.
    padding, pooling, pool_size, pool_stride, batch_norm, clip_kernels
        As in ``conv_blocks``.
    conv_activation : str, default='relu'
        Activation of the conv blocks.
    activation : str, default='relu'
        Activation of the dense hidden layers.
    conv_dropout : float or sequence of float, default=0.0
        Dropout at the end of each conv block (or one rate per block).
    dropout : float or sequence of float, default=0.0
        Dropout after each dense hidden layer (or one rate per layer).

    Attributes
    ----------
    feature_shape : tuple of int
        ``(channels, height, width)`` of the conv stack's output.

    Examples
    --------
    >>> import torch
    >>> from sknets.modules import CNNModule
    >>> module = CNNModule((1, 28, 28), [(32, 3), (64, 3)], (128,), 10)
    >>> module.feature_shape, module(torch.zeros(2, 1, 28, 28)).shape
    ((64, 7, 7), torch.Size([2, 10]))
    """

    def __init__(self, image_shape, conv_layers, hidden_layer_sizes, n_outputs, *,
                 padding="same", conv_activation="relu", activation="relu",
                 pooling="max", pool_size=2, pool_stride=None, conv_dropout=0.0,
                 dropout=0.0, batch_norm=False, clip_kernels=True):
        features, shape = conv_blocks(
            image_shape, conv_layers, padding, conv_activation, pooling, pool_size,
            pool_stride, conv_dropout, batch_norm, clip_kernels,
        )
        head = dense_layers(math.prod(shape), hidden_layer_sizes, n_outputs,
                            activation, dropout, batch_norm)
        if n_outputs == 1:
            head.append(BinaryLogits())
        super().__init__(OrderedDict(
            features=nn.Sequential(*features),
            flatten=nn.Flatten(),
            classifier=nn.Sequential(*head),
        ))
        self.feature_shape = shape


def _cross_entropy(logits, y, label_smoothing=0.0):
    return F.cross_entropy(logits, y, reduction="none",
                           label_smoothing=label_smoothing)


def _one_hot_error(logits, y, power):
    # MSE / MAE between the softmax output and one-hot targets, averaged over
    # classes as torch's MSELoss / L1Loss do.
    proba = logits.softmax(dim=1)  # (N, C)
    error = (proba - F.one_hot(y, logits.shape[1]).to(proba.dtype)).abs()
    return error.pow(power).mean(dim=1)  # (N,)


def _mse(logits, y):
    return _one_hot_error(logits, y, 2)


def _mae(logits, y):
    return _one_hot_error(logits, y, 1)


def _hinge(logits, y):
    return F.multi_margin_loss(logits, y, reduction="none")


def _multilabel_cross_entropy(logits, y):
    # Multi-label targets (N, L) of 0/1: one logistic output per label and
    # the binary cross-entropy summed over labels, as scikit-learn's
    # MLPClassifier sums its log loss over outputs.
    return F.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(-1)


def count_correct(logits, y):
    """The number of rows whose prediction is right, as a tensor.

    One class per row (``y`` of shape (N,)): the arg-max logit is ``y``.
    Multi-label rows (``y`` of shape (N, L)): every label's logit is on the
    side of 0 that ``y`` is (exact match, scikit-learn's subset accuracy).

    Parameters
    ----------
    logits : torch.Tensor of shape (N, C)
    y : torch.Tensor of shape (N,) or (N, C)

    Returns
    -------
    n_correct : torch.Tensor of shape ()

    Examples
    --------
    >>> import torch
    >>> from sknets.modules import count_correct
    >>> int(count_correct(torch.tensor([[1.0, -2.0]]), torch.tensor([[1.0, 0.0]])))
    1
    """
    if y.dim() == logits.dim():
        return ((logits > 0) == (y > 0.5)).all(-1).sum()
    return (logits.argmax(-1) == y).sum()


LOSSES = {
    "cross_entropy": _cross_entropy,
    "mse": _mse,
    "mae": _mae,
    "l1": _mae,
    "hinge": _hinge,
}


def loss_function(loss, label_smoothing=0.0):
    """The per-sample loss ``f(logits, y) -> (N,)`` of a ``LOSSES`` key.

    The one place where ``label_smoothing`` (cross-entropy only) is bound;
    the criterion of a single fit and the fused stack both call it.

    Examples
    --------
    >>> import torch
    >>> from sknets.modules import loss_function
    >>> f = loss_function("cross_entropy", 0.1)
    >>> f(torch.zeros(2, 3), torch.tensor([0, 1])).shape
    torch.Size([2])
    """
    per_sample = LOSSES[loss]
    if not label_smoothing:
        return per_sample
    return lambda logits, y: per_sample(logits, y, label_smoothing)


class ClassificationLoss(nn.Module):
    """Mean per-sample loss between logits and integer targets.

    Called as ``loss(logits, y)`` it is the mean over samples; called as
    ``loss(logits, y, sample_weight)`` it is the weighted mean, as
    scikit-learn's MLPClassifier computes it: ``sum(w * loss) / sum(w)``.

    Parameters
    ----------
    loss : str, default='cross_entropy'
        A key of ``LOSSES``.
    class_weight : torch.Tensor of shape (n_classes,) or None, default=None
        Multiplies the loss of each sample by the weight of its class (and
        by its sample weight: the two combine multiplicatively; the mean is
        over the sample weights alone).
    label_smoothing : float, default=0.0
        Label smoothing of the 'cross_entropy' loss (torch's formula); the
        other losses take none.
    multilabel : bool, default=False
        Targets are multi-label indicator rows (N, L) of 0/1: the loss of a
        sample is the binary cross-entropy of its L logistic outputs, summed
        (``loss`` must be 'cross_entropy', without class weights).

    Examples
    --------
    >>> import torch
    >>> from sknets.modules import ClassificationLoss
    >>> loss = ClassificationLoss("mse")
    >>> float(loss(torch.tensor([[0.0, 0.0]]), torch.tensor([1])))
    0.25
    """

    def __init__(self, loss="cross_entropy", class_weight=None, label_smoothing=0.0,
                 multilabel=False):
        super().__init__()
        self.loss = loss
        self.label_smoothing = label_smoothing
        self.multilabel = multilabel
        self._per_sample = (_multilabel_cross_entropy if multilabel
                            else loss_function(loss, label_smoothing))
        self.register_buffer("class_weight", class_weight)

    def per_sample(self, logits, y):
        """The loss of each sample, before class weights.

        Parameters
        ----------
        logits : torch.Tensor of shape (..., N, C)
        y : torch.Tensor of shape (..., N)

        Returns
        -------
        loss : torch.Tensor of shape (..., N)
        """
        if logits.dim() == 2 or self.multilabel:
            return self._per_sample(logits, y)
        return self._per_sample(logits.reshape(-1, logits.shape[-1]),
                                y.reshape(-1)).view(y.shape)

    def forward(self, logits, y, sample_weight=None):
        per_sample = self.per_sample(logits, y)  # (N,)
        if self.class_weight is not None:
            per_sample = per_sample * self.class_weight[y]
        return reduce_loss(per_sample, sample_weight)


def reduce_loss(per_sample, sample_weight=None, mask=None, n=None):
    """The mean loss over the last axis: of one fit, or of each stacked model.

    Parameters
    ----------
    per_sample : torch.Tensor of shape (..., N)
        Per-sample losses (class weights applied).
    sample_weight : torch.Tensor of shape (..., N) or None, default=None
        The weighted mean ``sum(w * loss) / sum(w)``, as scikit-learn's
        MLPClassifier takes it; padded rows of a stack must have weight 0.
    mask : torch.Tensor of shape (..., N) or None, default=None
        1 for real rows, 0 for padding (without sample weights).
    n : torch.Tensor of shape (...) or None, default=None
        The number of real rows (the sum of ``mask``), when known.

    Returns
    -------
    loss : torch.Tensor of shape (...)

    Examples
    --------
    >>> import torch
    >>> from sknets.modules import reduce_loss
    >>> loss = torch.tensor([[1.0, 3.0], [2.0, 8.0]])
    >>> reduce_loss(loss, mask=torch.tensor([[1.0, 1.0], [1.0, 0.0]])).tolist()
    [2.0, 2.0]
    """
    if sample_weight is not None:
        if mask is not None:
            sample_weight = sample_weight * mask
        return (per_sample * sample_weight).sum(-1) / sample_weight.sum(-1)
    if mask is None:
        return per_sample.mean(-1)
    total = (per_sample * mask).sum(-1)
    return total / (mask.sum(-1) if n is None else n)


def _mlp(n_features, hidden_layer_sizes, n_outputs, activation="relu", dropout=0.0,
         batch_norm=False, weight_init="xavier_uniform"):
    module = MLPModule(n_features, hidden_layer_sizes, n_outputs,
                       activation=activation, dropout=dropout,
                       batch_norm=batch_norm)
    return init_weights(module, weight_init, activation)


def _cnn(image_shape, conv_layers, hidden_layer_sizes, n_outputs, *,
         activation="relu", conv_activation=None, weight_init="xavier_uniform",
         **blocks):
    conv_activation = conv_activation or activation
    module = CNNModule(image_shape, conv_layers, hidden_layer_sizes, n_outputs,
                       conv_activation=conv_activation, activation=activation,
                       **blocks)
    init_weights(module.features, weight_init, conv_activation)
    init_weights(module.classifier, weight_init, activation)
    return module


# The networks a ModuleSpec names, each built and initialised from keyword
# arguments (see MLPModule and CNNModule; conv_activation=None means the
# dense head's activation).
NETWORKS = {"mlp": _mlp, "cnn": _cnn}


def build_module(spec):
    """Build and initialise the network a ``ModuleSpec`` describes.

    Parameters
    ----------
    spec : sknets.training.ModuleSpec
        ``kind`` names a builder of ``NETWORKS``; ``params`` are its
        arguments.

    Returns
    -------
    module : torch.nn.Module

    Raises
    ------
    MemoryError
        When the network's weights do not fit in memory; the message gives
        their number and size, and the parameters that set them.

    Examples
    --------
    >>> from sknets.modules import build_module
    >>> from sknets.training import ModuleSpec
    >>> build_module(ModuleSpec.of("mlp", n_features=4, hidden_layer_sizes=(8,),
    ...                            n_outputs=3))[0]
    Linear(in_features=4, out_features=8, bias=True)
    """
    try:
        return NETWORKS[spec.kind](**spec.kwargs)
    except (RuntimeError, MemoryError) as exc:
        if isinstance(exc, RuntimeError) and not (
                isinstance(exc, torch.OutOfMemoryError) or "allocate" in str(exc)):
            raise
        with torch.device("meta"):
            n_weights = sum(p.numel() for p in
                            NETWORKS[spec.kind](**spec.kwargs).parameters())
        raise MemoryError(
            f"The network has {n_weights:,} weights ({n_weights * 4 / 2**30:.1f} "
            "GiB as float32, before gradients and optimizer state), more than "
            "this machine can allocate. Use smaller layers (hidden_layer_sizes, "
            "conv_layers) or a smaller input (image_size, pooling)."
        ) from None
