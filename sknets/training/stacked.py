"""Stacked ops: the layers of M networks of one architecture, as one layer.

Each op holds a model axis (M) in front of its plain counterpart's tensors
(a linear layer's weight is (M, out, in)), is made from the M plain layers
(``of``) and gives model m's tensors back to a plain layer (``give_back``),
as HFTA's ops do. ``stack_network`` turns M plain networks, built by
``sknets.modules`` from their own ``ModuleSpec``, into one stacked network
layer by layer: the architecture is written once, in ``modules.dense_layers``,
and elementwise layers (activations, ``BinaryLogits``) are the plain modules
themselves. Inputs are (M, B, features); every op also takes the step's
``StepRows``: which models take part, and which of their rows are real (a
model whose fold is smaller has padded rows in its last batch).
"""

import torch
from torch import nn

from ..modules import reduce_loss

__all__ = [
    "StackedBatchNorm1d",
    "StackedDropout",
    "StackedLinear",
    "StackedLoss",
    "StackedNetwork",
    "StepRows",
    "stack_network",
]


class StepRows:
    """Which models and rows a stacked step trains.

    Parameters
    ----------
    models : torch.Tensor of int or None
        The models of the stack taking part (None: all of them).
    mask : torch.Tensor of shape (M', B) or None
        1 for the rows each model has, 0 for padding; None when every model
        has a full batch.
    n : torch.Tensor of shape (M',)
        Rows of each model in the batch (float).
    counts : list of int
        The same, as Python ints (the dropout streams draw that many rows).
    generator : torch.Generator or None
        The random stream of a stack whose models have no streams of their own.
    """

    def __init__(self, models, mask, n, counts, generator=None):
        self.models, self.mask, self.n = models, mask, n
        self.counts, self.generator = counts, generator

    def select(self, tensor):
        """The rows of ``tensor`` (model axis first) of the models taking part."""
        return tensor if self.models is None else tensor[self.models]

    def model_indices(self, n_models):
        """The indices of the models taking part, as a list."""
        return list(range(n_models)) if self.models is None else self.models.tolist()


class _StackedOp(nn.Module):
    # A layer with a model axis: forward(x, rows), give_back, keep.

    def keep(self, index):
        """Keep the models of ``index`` (a tensor of int) only."""
        for name, p in list(self._parameters.items()):
            self._parameters[name] = nn.Parameter(p.detach()[index])
        for name, b in list(self._buffers.items()):
            self._buffers[name] = b[index]


class _LinearFunction(torch.autograd.Function):
    # y = x W^T + b for each model: x (M, B, in), W (M, out, in), b (M, out).
    # The matrix products are oriented so that their widest dimension is the
    # output's: for a narrow layer (the 10 logits) y^T = W x^T is 4x faster
    # on the CPU than x W^T, and so is the weight gradient as G^T x.

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        if weight.shape[1] < 32:
            return torch.baddbmm(bias.unsqueeze(2), weight,
                                 x.transpose(1, 2)).transpose(1, 2).contiguous()
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = torch.bmm(grad, weight) if ctx.needs_input_grad[0] else None
        return grad_x, torch.bmm(grad.transpose(1, 2), x), grad.sum(1)


class StackedLinear(_StackedOp):
    """M ``nn.Linear`` layers: weight (M, out, in), bias (M, out).

    Parameters
    ----------
    layers : list of torch.nn.Linear
        Model m's layer; all of one shape.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sknets.training.stacked import StackedLinear, StepRows
    >>> layers = [nn.Linear(4, 3), nn.Linear(4, 3)]
    >>> op = StackedLinear(layers)
    >>> x = torch.ones(2, 5, 4)
    >>> out = op(x, StepRows(None, None, torch.full((2,), 5.0), [5, 5]))
    >>> torch.allclose(out[1], layers[1](x[1]))
    True
    """

    def __init__(self, layers):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]))
        self.bias = nn.Parameter(torch.stack([m.bias.detach() for m in layers]))

    def forward(self, x, rows):
        return _LinearFunction.apply(x, rows.select(self.weight),
                                     rows.select(self.bias))

    @torch.no_grad()
    def give_back(self, m, layer):
        """Copy model m's weight and bias into the plain ``layer``."""
        layer.weight.copy_(self.weight[m])
        layer.bias.copy_(self.bias[m])


class StackedBatchNorm1d(_StackedOp):
    """M ``nn.BatchNorm1d`` layers in training mode, each on its own rows.

    Batch statistics are each model's, over its real rows (the mask); the
    running statistics are updated as torch updates them (the unbiased
    variance, ``momentum``).

    Parameters
    ----------
    layers : list of torch.nn.BatchNorm1d
    """

    def __init__(self, layers):
        super().__init__()
        self.eps, self.momentum = layers[0].eps, layers[0].momentum
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]))
        self.bias = nn.Parameter(torch.stack([m.bias.detach() for m in layers]))
        self.register_buffer("running_mean",
                             torch.stack([m.running_mean for m in layers]))
        self.register_buffer("running_var",
                             torch.stack([m.running_var for m in layers]))
        self.register_buffer("num_batches_tracked",
                             torch.stack([m.num_batches_tracked for m in layers]))

    def forward(self, h, rows):
        if rows.mask is None:
            mean = h.mean(1, keepdim=True)  # (M', 1, H)
            var = h.var(1, unbiased=False, keepdim=True)
        else:
            w, n = rows.mask.unsqueeze(2), rows.n.view(-1, 1, 1)  # (M', B, 1)
            mean = (h * w).sum(1, keepdim=True) / n
            var = ((h - mean).pow(2) * w).sum(1, keepdim=True) / n
        with torch.no_grad():
            unbiased = var.squeeze(1) * (rows.n / (rows.n - 1)).view(-1, 1)
            momentum = self.momentum
            new_mean = ((1 - momentum) * rows.select(self.running_mean)
                        + momentum * mean.squeeze(1))
            new_var = ((1 - momentum) * rows.select(self.running_var)
                       + momentum * unbiased)
            if rows.models is None:
                self.running_mean.copy_(new_mean)
                self.running_var.copy_(new_var)
                self.num_batches_tracked.add_(1)
            else:
                self.running_mean.index_copy_(0, rows.models, new_mean)
                self.running_var.index_copy_(0, rows.models, new_var)
                self.num_batches_tracked.index_add_(
                    0, rows.models, torch.ones_like(rows.models))
        h = (h - mean) * torch.rsqrt(var + self.eps)
        return h * rows.select(self.weight).unsqueeze(1) + rows.select(
            self.bias).unsqueeze(1)

    @torch.no_grad()
    def give_back(self, m, layer):
        """Copy model m's parameters and running statistics into ``layer``."""
        layer.weight.copy_(self.weight[m])
        layer.bias.copy_(self.bias[m])
        layer.running_mean.copy_(self.running_mean[m])
        layer.running_var.copy_(self.running_var[m])
        layer.num_batches_tracked.copy_(self.num_batches_tracked[m])


class StackedDropout(_StackedOp):
    """Dropout with each model's own rate (0: none) and random stream.

    On the CPU each model draws its masks from its own stream, as its
    separate fit's ``nn.Dropout`` draws them (``bernoulli_`` of its batch's
    rows, divided by the keep rate): the same masks in the same order. With
    ``streams=None`` the masks come from the step's one generator.

    Parameters
    ----------
    rates : list of float
        Model m's dropout probability.
    streams : list of torch.Generator or None
        Model m's random stream, shared by every dropout op of the stack.
    """

    def __init__(self, rates, streams=None):
        super().__init__()
        self.rates, self.streams = list(rates), streams
        # the keep rate 1 - p, rounded to float32 from double as torch's
        # dropout rounds it
        self.register_buffer("keep_rate", torch.tensor([1 - p for p in rates],
                                                       dtype=torch.float32))

    def keep(self, index):
        super().keep(index)
        kept = index.tolist()
        self.rates = [self.rates[i] for i in kept]
        if self.streams is not None:
            self.streams = [self.streams[i] for i in kept]

    def forward(self, h, rows):
        if self.streams is None:  # one stream for the whole stack
            keep = rows.select(self.keep_rate).view(-1, 1, 1)
            drop = torch.rand(h.shape, generator=rows.generator, device=h.device)
            return h * ((drop < keep) / keep)
        noise = torch.ones_like(h)
        for j, i in enumerate(rows.model_indices(len(self.rates))):
            rate = self.rates[i]
            if rate > 0:
                count = rows.counts[j]
                noise[j, :count].bernoulli_(1 - rate, generator=self.streams[i])
                noise[j, :count].div_(1 - rate)
        return h * noise

    def give_back(self, m, layer):
        """Dropout has no state to give back."""


class StackedLoss(nn.Module):
    """Each model's own ``ClassificationLoss``, with a model axis.

    Models with the same loss function and label smoothing share one call;
    each model's class weights multiply its per-sample losses, and the mean
    over each model's rows is ``modules.reduce_loss``, the reduction of a
    single fit's loss.

    Parameters
    ----------
    criteria : list of ClassificationLoss
        Model m's criterion.
    n_classes : int
        Number of logits.
    """

    def __init__(self, criteria, n_classes):
        super().__init__()
        self.criteria = list(criteria)
        device = next((c.class_weight.device for c in self.criteria
                       if c.class_weight is not None), None)
        self.register_buffer("class_weight", torch.stack([
            torch.ones(n_classes, device=device) if c.class_weight is None
            else c.class_weight.float() for c in self.criteria]))
        self._groups()

    def _groups(self):
        self.groups = {}
        for i, c in enumerate(self.criteria):
            self.groups.setdefault((c.loss, c.label_smoothing), []).append(i)
        self.weighted = bool((self.class_weight != 1).any())

    def keep(self, index):
        """Keep the models of ``index`` only."""
        self.criteria = [self.criteria[i] for i in index.tolist()]
        self.class_weight = self.class_weight[index]
        self._groups()

    def forward(self, logits, y, rows, sample_weight=None):
        """Each model's mean loss over its rows, shape (M',).

        Parameters
        ----------
        logits : torch.Tensor of shape (M', B, C)
        y : torch.Tensor of shape (M', B)
        rows : StepRows
        sample_weight : torch.Tensor of shape (M', B) or None
            Weights of the rows (0 for padding).
        """
        if len(self.groups) == 1 and rows.models is None:  # one call for all
            per_sample = self.criteria[0].per_sample(logits, y)
            if self.weighted:
                per_sample = per_sample * self.class_weight.gather(1, y)
            return reduce_loss(per_sample, sample_weight, rows.mask, rows.n)
        models = rows.model_indices(len(self.criteria))
        position = {m: j for j, m in enumerate(models)}
        parts, order = [], []
        for members in self.groups.values():
            chosen = [position[i] for i in members if i in position]
            if not chosen:
                continue
            if len(chosen) == len(models):
                part = self.criteria[members[0]].per_sample(logits, y)
            else:
                sel = torch.tensor(chosen, device=logits.device)
                part = self.criteria[members[0]].per_sample(logits[sel], y[sel])
            parts.append(part)
            order += chosen
        if len(parts) == 1:
            per_sample = parts[0]
        else:
            per_sample = torch.cat(parts).index_select(
                0, torch.tensor(order, device=logits.device).argsort())
        if self.weighted:
            per_sample = per_sample * rows.select(self.class_weight).gather(1, y)
        return reduce_loss(per_sample, sample_weight, rows.mask, rows.n)


class StackedNetwork(nn.Module):
    """M networks of one architecture as one: ``forward(x, rows)``.

    Made by ``stack_network``; its parameters are in the order of each plain
    network's ``parameters()``, with the model axis in front.

    Parameters
    ----------
    layers : list of torch.nn.Module
        Stacked ops and shared elementwise modules, in forward order.
    positions : list of int or None
        For each layer, its index among the plain network's layers other
        than dropout (None for a stacked dropout, which has no single
        counterpart).
    """

    def __init__(self, layers, positions):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.positions = positions

    def forward(self, x, rows):
        for layer in self.layers:
            x = layer(x, rows) if isinstance(layer, _StackedOp) else layer(x)
        return x

    def keep(self, index):
        """Keep the models of ``index`` (a tensor of int) only."""
        for layer in self.layers:
            if isinstance(layer, _StackedOp):
                layer.keep(index)

    def give_back(self, m, module):
        """Copy model m's weights and statistics into its plain ``module``."""
        plain = _layers(module)
        for layer, j in zip(self.layers, self.positions, strict=True):
            if j is not None and isinstance(layer, _StackedOp):
                layer.give_back(m, plain[j])


def _layers(module, dropout=False):
    # The leaf layers of a plain network in forward order, its dropout
    # layers left out unless asked for.
    return [m for m in module.modules() if not list(m.children())
            and (dropout or not isinstance(m, nn.Dropout))]


# The stacked op of each plain layer type with state; every other leaf
# module (activations, BinaryLogits) must act elementwise on the last axis
# and is shared.
STACKED_OPS = {nn.Linear: StackedLinear, nn.BatchNorm1d: StackedBatchNorm1d}


def stack_network(modules, streams=None):
    """One ``StackedNetwork`` from M plain networks of one architecture.

    Parameters
    ----------
    modules : list of torch.nn.Module
        Networks built from ``ModuleSpec`` s that differ only in their
        dropout rates and initial weights.
    streams : list of torch.Generator or None, default=None
        Each model's dropout stream (see ``StackedDropout``).

    Returns
    -------
    network : StackedNetwork

    Raises
    ------
    ValueError
        When the networks' layers (dropout aside) differ.
    """
    plain = [_layers(m, dropout=True) for m in modules]
    # Each network's layers without its dropout, and the rate of the dropout
    # that follows each of them.
    kept, rates = [], []
    for layers in plain:
        positions, after = [], {}
        for k, layer in enumerate(layers):
            if isinstance(layer, nn.Dropout):
                after[positions[-1]] = layer.p
            else:
                positions.append(k)
        kept.append(positions)
        rates.append(after)
    if len({tuple(type(plain[i][k]).__name__ for k in kept[i])
            for i in range(len(plain))}) != 1:
        raise ValueError("stack_network needs networks of one architecture.")
    out, positions = [], []
    for j, k in enumerate(kept[0]):
        layer = plain[0][k]
        op = STACKED_OPS.get(type(layer))
        if op is not None:
            out.append(op([plain[i][kept[i][j]] for i in range(len(plain))]))
        elif list(layer.parameters()) or list(layer.buffers()):
            raise ValueError(f"No stacked op for {type(layer).__name__}.")
        else:
            out.append(layer)
        positions.append(j)
        model_rates = [rates[i].get(kept[i][j], 0.0) for i in range(len(plain))]
        if any(p > 0 for p in model_rates):
            out.append(StackedDropout(model_rates, streams))
            positions.append(None)
    device = next(modules[0].parameters()).device
    return StackedNetwork(out, positions).to(device)

