"""Plain torch modules built from estimator parameters.

Nothing here knows about scikit-learn: the estimators translate their
parameters into the arguments of these builders. Each string option lives in
one registry (``ACTIVATIONS``, ``WEIGHT_INITS``, ``LOSSES``), so adding an
option is a one-line change and the estimators' error messages list the keys.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "WEIGHT_INITS",
    "BinaryLogits",
    "ClassificationLoss",
    "MLPModule",
    "dense_layers",
    "init_weights",
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
    dropout : float, default=0.0
        Dropout probability after each hidden layer; 0 adds no dropout layer.
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
    for width in hidden_layer_sizes:
        layers.append(nn.Linear(n_in, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        n_in = width
    layers.append(nn.Linear(n_in, n_outputs))
    return layers


class BinaryLogits(nn.Module):
    """Turn one logit ``z`` into the two logits ``(0, z)``.

    A binary classifier keeps scikit-learn's single output unit (so its last
    coefficient matrix has one column) while every loss and ``predict_proba``
    see two classes: the softmax of ``(0, z)`` is ``(1 - sigmoid(z), sigmoid(z))``.
    """

    def forward(self, z):
        return torch.cat((torch.zeros_like(z), z), dim=1)  # (N, 1) -> (N, 2)


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
    dropout : float, default=0.0
        Dropout probability after each hidden layer.
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


def _cross_entropy(logits, y):
    return F.cross_entropy(logits, y, reduction="none")


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


LOSSES = {
    "cross_entropy": _cross_entropy,
    "mse": _mse,
    "mae": _mae,
    "l1": _mae,
    "hinge": _hinge,
}


class ClassificationLoss(nn.Module):
    """Mean per-sample loss between logits and integer targets.

    Parameters
    ----------
    loss : str, default='cross_entropy'
        A key of ``LOSSES``.
    class_weight : torch.Tensor of shape (n_classes,) or None, default=None
        Multiplies the loss of each sample by the weight of its class.

    Examples
    --------
    >>> import torch
    >>> from sknets.modules import ClassificationLoss
    >>> loss = ClassificationLoss("mse")
    >>> float(loss(torch.tensor([[0.0, 0.0]]), torch.tensor([1])))
    0.25
    """

    def __init__(self, loss="cross_entropy", class_weight=None):
        super().__init__()
        self.loss = loss
        self._per_sample = LOSSES[loss]
        self.register_buffer("class_weight", class_weight)

    def forward(self, logits, y):
        per_sample = self._per_sample(logits, y)  # (N,)
        if self.class_weight is not None:
            per_sample = per_sample * self.class_weight[y]
        return per_sample.mean()
