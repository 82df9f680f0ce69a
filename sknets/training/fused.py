"""Train many networks of one architecture together, as one stacked network.

A search fits one architecture many times, with other learning rates,
penalties, losses, seeds and folds. For the small networks of such studies a
fit's time goes to per-step overhead (autograd, the optimizer, Python), not
to arithmetic. ``train_together`` stacks the weights of M such nets along a
leading model dimension and trains them with batched matrix products: one
forward, one backward and one optimizer step per batch for all M.

Each net is built by ``build_net`` from its own ``TrainingSpec``, as for its
separate fit, so its initial weights, batch order (its own generator),
learning-rate schedule and stopping rules (its own ``LearningRateSchedule``
and ``ConvergenceMonitor``) are those of the separate fit; its history and
fitted state are written to the net as the separate fit writes them. Only
the arithmetic is batched, so results are equivalent, not bit-identical:
batched and single matrix products round differently. On the CPU each
model draws its dropout masks from its separate fit's own random stream, so
they are its separate fit's masks; on other devices they come from one
generator for the whole stack.
"""

import math
import time

import torch

from ..modules import ACTIVATIONS, loss_function, per_layer
from .optimizers import SOLVER_STATE, functional_update

__all__ = ["STACKABLE_PARAMS", "fusion_key", "train_together"]

# Estimator parameters whose values may differ between the nets of a stack:
# each net keeps its own. Every other parameter must be equal.
STACKABLE_PARAMS = frozenset({
    "learning_rate_init", "alpha", "beta_1", "beta_2", "epsilon", "momentum",
    "nesterovs_momentum", "learning_rate", "power_t", "lr_step_size", "lr_gamma",
    "loss", "class_weight", "random_state", "weight_init", "dropout", "max_iter",
    "tol", "n_iter_no_change", "early_stopping", "validation_fraction", "shuffle",
    "lr_warmup", "max_grad_norm", "label_smoothing",
})

# Network arguments that may differ within a stack (the rest of the
# ModuleSpec must be equal).
_STACKABLE_MODULE_ARGS = frozenset({"dropout", "weight_init"})


def fusion_key(spec):
    """What must be equal for two fits to train in one stack, or None.

    Parameters
    ----------
    spec : TrainingSpec
        A fit's spec.

    Returns
    -------
    key : tuple or None
        Fits with equal keys can be stacked; None means the fit trains on its
        own (a network kind that is not stacked, per-epoch output, float64
        or augmentation).

    Examples
    --------
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.training import ModuleSpec, TrainingSpec
    >>> from sknets.training.fused import fusion_key
    >>> def spec(**params):
    ...     return TrainingSpec.from_params(
    ...         MLPClassifierTorch(**params).get_params(), n_samples=100,
    ...         device="cpu", seed=0, module=ModuleSpec.of(
    ...             "mlp", n_features=4, hidden_layer_sizes=(8,), n_outputs=3))
    >>> fusion_key(spec(alpha=1.0)) == fusion_key(spec(alpha=0.1))
    True
    >>> fusion_key(spec(batch_size=10)) == fusion_key(spec(batch_size=20))
    False
    """
    if (spec.module.kind != "mlp" or spec.verbose or spec.epoch_progress
            or spec.dtype != "float32" or spec.augment is not None):
        return None
    module = tuple((k, v) for k, v in spec.module.params
                   if k not in _STACKABLE_MODULE_ARGS)
    return (spec.module.kind, module, spec.optimizer.solver, spec.batch_size,
            spec.drop_single, spec.device)


def _column(values, device, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype, device=device)


class _StackedLinear(torch.autograd.Function):
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


def _settings(spec):
    return (spec.beta_1, spec.beta_2, spec.epsilon, spec.weight_decay,
            spec.momentum, spec.nesterov)


class _StackedOptimizer:
    # Each model's update of stacked parameters (M, ...), through torch's own
    # functional optimizers on per-model views: the same kernels, and so the
    # same arithmetic, as the separate fit's optimizer. Models with equal
    # settings and learning rate share one call.

    def __init__(self, solver, specs, params, fused):
        self.solver, self.specs, self.fused = solver, list(specs), fused
        self.state = [{name: torch.zeros_like(p) for name in SOLVER_STATE[solver]}
                      for p in params]
        self.steps = [torch.zeros(len(specs), dtype=torch.float32,
                                  device=p.device if fused else "cpu")
                      for p in params]

    def keep(self, index):
        self.specs = [self.specs[i] for i in index.tolist()]
        self.state = [{k: v[index] for k, v in s.items()} for s in self.state]
        self.steps = [s[index.to(s.device)] for s in self.steps]

    def set_rates(self, params, rates):
        """Group the models sharing one call in every step of the coming epoch.

        The per-model views of the parameters and of the optimizer state are
        taken here, once per epoch, not in every step.
        """
        names = SOLVER_STATE[self.solver]
        self.views = [
            {"p": [t[i] for t in params], "steps": [s[i] for s in self.steps],
             **{k: [s[k][i] for s in self.state] for k in names}}
            for i in range(len(self.specs))
        ]
        groups = {}
        for i, (spec, lr) in enumerate(zip(self.specs, rates, strict=True)):
            groups.setdefault((lr, _settings(spec)), []).append(i)
        self.groups = [(key, models, self._lists(models))
                       for key, models in groups.items()]

    def _lists(self, models):
        return {k: [v for i in models for v in self.views[i][k]]
                for k in self.views[0]}

    @torch.no_grad()
    def step(self, grads, active=None):
        """Update every model (or those in ``active``) from stacked ``grads``.

        The gradients are backward's own tensors of this step (set to None
        before it, so that backward hands them over without a pass); each
        call takes per-model views of them.
        """
        per_model = [g.unbind(0) for g in grads]
        direct = self.fused and self.solver in ("adam", "adamw")
        if direct:
            # The step counters of every model at once (torch's functional
            # form adds 1 to each model's counter of each parameter, one
            # tensor at a time).
            rows = None if active is None else torch.tensor(
                sorted(active), device=self.steps[0].device)
            for steps in self.steps:
                if rows is None:
                    steps.add_(1)
                else:
                    steps.index_add_(0, rows, torch.ones_like(rows, dtype=steps.dtype))
        for (lr, settings), models, lists in self.groups:
            if active is not None:
                models = [i for i in models if i in active]
                if not models:
                    continue
                lists = self._lists(models)
            lists["g"] = [g[i] for i in models for g in per_model]
            if direct:
                self._fused_adam(lists, lr, *settings)
            else:
                self._call(lists, lr, *settings)

    def _fused_adam(self, lists, lr, beta_1, beta_2, epsilon, weight_decay, momentum,
                    nesterov):
        # torch's fused Adam kernel, the one the separate fit's optimizer
        # runs, on counters already advanced by step().
        update = torch._fused_adamw_ if self.solver == "adamw" else torch._fused_adam_
        update(lists["p"], lists["g"], lists["exp_avg"], lists["exp_avg_sq"], [],
               lists["steps"], amsgrad=False, lr=lr, beta1=beta_1, beta2=beta_2,
               weight_decay=weight_decay, eps=epsilon, maximize=False,
               grad_scale=None, found_inf=None)

    def _call(self, lists, lr, beta_1, beta_2, epsilon, weight_decay, momentum,
              nesterov):
        functional_update(
            self.solver, lists, lr=lr, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, weight_decay=weight_decay, momentum=momentum,
            nesterov=nesterov, fused=self.fused or None,
            foreach=None if self.fused else True)

    def model_state(self, k, i):
        # Model i's state of parameter k, as torch's optimizer keeps it.
        state = {name: value[i].clone() for name, value in self.state[k].items()}
        if self.solver == "sgd":
            if self.specs[i].momentum == 0:
                return {}
            return state
        state["step"] = self.steps[k][i].clone()
        return state


def _leaves(tensors):
    # The stacked parameters, as leaves that backward computes gradients of.
    for t in tensors:
        t.requires_grad_()
    return tensors


class _Member:
    # One net of the stack and what its epochs need.

    def __init__(self, plan):
        self.plan = plan
        self.net = plan.net
        self.spec = plan.net.spec_
        self.iterator = self.net.get_iterator(plan.train, training=True)
        self.epochs_done = 0
        self.model_params = list(self.net.module_.parameters())
        self.bn = [m for m in self.net.module_.modules()
                   if isinstance(m, torch.nn.BatchNorm1d)]


class _Stack:
    # The stacked MLP: parameters (M, ...) in the layout of each net's own
    # parameters, in the order of module_.parameters().

    def __init__(self, members, X, streams=None):
        self.members = members
        first = members[0].spec.module.kwargs
        self.X = X
        device = X.device
        self.hidden = tuple(first["hidden_layer_sizes"])
        self.batch_norm = bool(first["batch_norm"])
        self.binary = first["n_outputs"] == 1
        self.activation = ACTIVATIONS[first["activation"]]()
        self.params = _leaves([
            torch.stack([m.model_params[k].detach() for m in members])
            for k in range(len(members[0].model_params))
        ])
        # Per layer: dropout rate of each model (and its keep rate 1 - p,
        # rounded to float32 from double as torch's dropout rounds it); BN
        # running statistics.
        self.rates = [
            [per_layer(m.spec.module.kwargs["dropout"], len(self.hidden),
                       "dropout")[i] for m in members]
            for i in range(len(self.hidden))
        ]
        self.keep_rate = [_column([1 - p for p in rates], device)
                          for rates in self.rates]
        self.streams = None
        if streams is not None and device.type == "cpu":
            self.streams = []
            for state in streams:
                stream = torch.Generator()
                stream.set_state(state)
                self.streams.append(stream)
        self.running = [
            (torch.stack([m.bn[i].running_mean for m in members]),
             torch.stack([m.bn[i].running_var for m in members]),
             torch.stack([m.bn[i].num_batches_tracked for m in members]))
            for i in range(len(self.hidden))
        ] if self.batch_norm else []
        if self.batch_norm:
            bn = members[0].bn[0]
            self.bn_eps, self.bn_momentum = bn.eps, bn.momentum
        self.Y = torch.stack([m.plan.train.y for m in members])  # (M, N)
        # Sample weights (M, N), when any fit has them (ones for the others).
        weights = [m.plan.train.weight for m in members]
        self.W = None if all(w is None for w in weights) else torch.stack([
            torch.ones_like(self.Y[0], dtype=torch.float32) if w is None else w
            for w in weights])
        specs = [m.spec for m in members]
        self._group_losses()
        n_classes = 2 if self.binary else first["n_outputs"]
        self.class_weight = _column(
            [s.class_weight or (1.0,) * n_classes for s in specs], device)
        self.alpha = _column([s.alpha for s in specs], device)
        # Each model's gradient-norm bound (inf: not clipped).
        self.max_norm = _column([math.inf if s.max_grad_norm is None
                                 else s.max_grad_norm for s in specs], device)
        self._flags()
        fused = bool(members[0].net.optimizer_.param_groups[0].get("fused"))
        self.optimizer = _StackedOptimizer(
            specs[0].optimizer.solver, [s.optimizer for s in specs], self.params,
            fused)
        # Linear weights get the L2 penalty: every other parameter with 2 dims.
        self.penalized = [k for k, p in enumerate(self.params) if p.dim() == 3]

    def keep(self, index):
        # Drop the stopped models from the stack.
        self.members = [self.members[i] for i in index.tolist()]
        self.params = _leaves([p.detach()[index] for p in self.params])
        kept = index.tolist()
        self.rates = [[rates[i] for i in kept] for rates in self.rates]
        self.keep_rate = [k[index] for k in self.keep_rate]
        if self.streams is not None:
            self.streams = [self.streams[i] for i in kept]
        self.running = [tuple(t[index] for t in r) for r in self.running]
        self.Y = self.Y[index]
        if self.W is not None:
            self.W = self.W[index]
        self.class_weight = self.class_weight[index]
        self.alpha = self.alpha[index]
        self.max_norm = self.max_norm[index]
        self.optimizer.keep(index)
        self._flags()
        self._group_losses()

    def _group_losses(self):
        # The models of each (loss, label smoothing): one call each.
        self.losses = {}
        for i, m in enumerate(self.members):
            self.losses.setdefault((m.spec.loss, m.spec.label_smoothing),
                                   []).append(i)

    def _flags(self):
        # What the steps of the stack need, decided once, not per batch.
        self.has_dropout = [any(p > 0 for p in rates) for rates in self.rates]
        self.penalty = bool((self.alpha > 0).any())
        self.clipped = bool(torch.isfinite(self.max_norm).any())
        self.weighted = bool((self.class_weight != 1).any())

    def _batch_norm(self, h, layer, params, rows, mask, n):
        weight, bias = params
        if mask is None:
            mean = h.mean(1, keepdim=True)  # (M, 1, H)
            var = h.var(1, unbiased=False, keepdim=True)
        else:
            w = mask.unsqueeze(2)  # (M, B, 1)
            mean = (h * w).sum(1, keepdim=True) / n.view(-1, 1, 1)
            var = ((h - mean).pow(2) * w).sum(1, keepdim=True) / n.view(-1, 1, 1)
        with torch.no_grad():
            running_mean, running_var, tracked = self.running[layer]
            unbiased = var.squeeze(1) * (n / (n - 1)).view(-1, 1)
            momentum = self.bn_momentum
            new_mean = running_mean if rows is None else running_mean[rows]
            new_var = running_var if rows is None else running_var[rows]
            new_mean = (1 - momentum) * new_mean + momentum * mean.squeeze(1)
            new_var = (1 - momentum) * new_var + momentum * unbiased
            if rows is None:
                running_mean.copy_(new_mean)
                running_var.copy_(new_var)
                tracked.add_(1)
            else:
                running_mean.index_copy_(0, rows, new_mean)
                running_var.index_copy_(0, rows, new_var)
                tracked.index_add_(0, rows, torch.ones_like(rows))
        h = (h - mean) * torch.rsqrt(var + self.bn_eps)
        return h * weight.unsqueeze(1) + bias.unsqueeze(1)

    def _dropout_noise(self, h, layer, rows, generator):
        # The factor dropout multiplies layer's output by, (M', B, H).
        keep = self.keep_rate[layer] if rows is None else self.keep_rate[layer][rows]
        if self.streams is None:  # one stream for the whole stack
            drop = torch.rand(h.shape, generator=generator, device=h.device)
            return (drop < keep.view(-1, 1, 1)) / keep.view(-1, 1, 1)
        # Each model's own stream, drawn as its separate fit's Dropout draws
        # (bernoulli_ of its batch's rows, divided by the keep rate): the
        # same masks, in the same order.
        noise = torch.ones_like(h)
        models = range(len(self.members)) if rows is None else rows.tolist()
        for j, i in enumerate(models):
            rate = self.rates[layer][i]
            if rate > 0:
                count = self.batch_rows[i]
                noise[j, :count].bernoulli_(1 - rate, generator=self.streams[i])
                noise[j, :count].div_(1 - rate)
        return noise

    def forward(self, Xb, rows, mask, n, generator):
        # Xb: (M', B, F) for the models in rows (all when None).
        params = self.params if rows is None else [p[rows] for p in self.params]
        h, k = Xb, 0
        for layer in range(len(self.hidden)):
            weight, bias = params[k], params[k + 1]
            h = _StackedLinear.apply(h, weight, bias)
            k += 2
            if self.batch_norm:
                h = self._batch_norm(h, layer, params[k:k + 2], rows, mask, n)
                k += 2
            h = self.activation(h)
            if self.has_dropout[layer]:
                h = h * self._dropout_noise(h, layer, rows, generator)
        logits = _StackedLinear.apply(h, params[k], params[k + 1])  # (M', B, C)
        if self.binary:
            logits = torch.cat((torch.zeros_like(logits), logits), dim=2)
        return logits

    def per_sample_loss(self, logits, yb, rows):
        # (M', B): each model's loss function of its rows, times class weight.
        index = None if rows is None else {int(r): j for j, r in
                                           enumerate(rows.tolist())}
        n_models, size, n_classes = logits.shape
        parts = []
        for (name, smoothing), models in self.losses.items():
            if index is not None:
                models = [index[i] for i in models if i in index]
                if not models:
                    continue
            if len(models) == n_models:
                sel_logits, sel_y = logits, yb
            else:
                sel = torch.tensor(models, device=logits.device)
                sel_logits, sel_y = logits[sel], yb[sel]
            loss = loss_function(name, smoothing)(sel_logits.reshape(-1, n_classes),
                                                  sel_y.reshape(-1))
            parts.append((models, loss.view(len(models), size)))
        if len(parts) == 1 and len(parts[0][0]) == n_models:
            per_sample = parts[0][1]
        else:
            order = [i for models, _ in parts for i in models]
            per_sample = torch.cat([p for _, p in parts]).index_select(
                0, torch.tensor(order, device=logits.device).argsort())
        if not self.weighted:
            return per_sample
        weight = self.class_weight if rows is None else self.class_weight[rows]
        return per_sample * weight.gather(1, yb)

    @torch.no_grad()
    def clip_gradients(self):
        # Each model's gradient scaled to at most its max_grad_norm, as
        # torch's clip_grad_norm_ scales a single model's (the L2 term's
        # gradient included).
        grads = [p.grad for p in self.params]
        norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1)
                             for g in grads], dim=1)  # (M, n_params)
        total = torch.linalg.vector_norm(norms, dim=1)  # (M,)
        coef = (self.max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *[1] * (g.dim() - 1)))

    def to_members(self):
        # Write the stack's weights and statistics into each net's module.
        with torch.no_grad():
            for i, m in enumerate(self.members):
                for p, stacked in zip(m.model_params, self.params, strict=True):
                    p.copy_(stacked[i])
                for bn, (mean, var, tracked) in zip(m.bn, self.running, strict=True):
                    bn.running_mean.copy_(mean[i])
                    bn.running_var.copy_(var[i])
                    bn.num_batches_tracked.copy_(tracked[i])

    def optimizer_to_member(self, i):
        # Model i's optimizer state into its net's optimizer, as its separate
        # fit leaves it (a warm-start fit or partial_fit continues from it).
        member = self.members[i]
        optimizer = member.net.optimizer_
        for k, p in enumerate(member.model_params):
            state = self.optimizer.model_state(k, i)
            if state:
                optimizer.state[p] = state


def _epoch_rows(stack):
    # Each model's rows of the epoch, padded with -1 to S full batches.
    orders = [m.iterator.epoch_rows() for m in stack.members]
    size = stack.members[0].spec.batch_size
    n_used = [len(o) for o in orders]
    n_steps = -(-max(n_used) // size)
    padded = orders[0].new_full((len(orders), n_steps * size), -1)
    for i, order in enumerate(orders):
        padded[i, :len(order)] = order
    return padded, n_used, n_steps, size


def _train_epoch(stack, generator):
    padded, n_used, n_steps, size = _epoch_rows(stack)
    device = stack.X.device
    n_models = len(stack.members)
    # Rows of each model in each step, and the steps where every model has a
    # full batch: decided once per epoch.
    starts = torch.arange(n_steps, device=device).unsqueeze(1) * size
    all_counts = (torch.tensor(n_used, device=device) - starts).clamp(0, size)
    all_n = all_counts.to(torch.float32)  # (S, M)
    full_steps = min(n_used) // size
    loss_sum = torch.zeros(n_models, dtype=torch.float64, device=device)
    correct = torch.zeros(n_models, dtype=torch.int64, device=device)
    for step in range(n_steps):
        start = step * size
        counts, n = all_counts[step], all_n[step]  # rows of each model
        stack.batch_rows = [min(size, max(0, u - start)) for u in n_used]
        rows = None
        idx = padded[:, start:start + size]  # (M, B)
        if step >= full_steps:
            active = [i for i, u in enumerate(n_used) if u > start]
            if len(active) < n_models:
                rows = torch.tensor(active, device=device)
                idx, counts, n = idx[rows], counts[rows], n[rows]
            mask = (idx >= 0).to(torch.float32)  # (M', B)
            idx = idx.clamp(min=0)
        else:
            mask = None
        Xb = stack.X.index_select(0, idx.reshape(-1)).view(
            *idx.shape, *stack.X.shape[1:])  # (M', B, F)
        Y = stack.Y if rows is None else stack.Y[rows]
        yb = Y.gather(1, idx)  # (M', B)
        wb = total = None
        if stack.W is not None:  # sample weights: each model's weighted mean
            W = stack.W if rows is None else stack.W[rows]
            wb = W.gather(1, idx) if mask is None else W.gather(1, idx) * mask
            total = wb.sum(1)  # (M',) each batch's weight sum
        for p in stack.params:
            p.grad = None  # backward's gradient is then taken over, not added
        logits = stack.forward(Xb, rows, mask, n, generator)
        per_sample = stack.per_sample_loss(logits, yb, rows)
        if wb is not None:
            losses = (per_sample * wb).sum(1) / total
        elif mask is None:
            losses = per_sample.mean(1)  # (M',)
        else:
            losses = (per_sample * mask).sum(1) / n
        losses.sum().backward()
        losses = losses.detach()
        if stack.penalty:
            alpha = stack.alpha if rows is None else stack.alpha[rows]
            with torch.no_grad():
                # the L2 term's gradient, added directly; scikit-learn
                # divides by the batch's size, or its weight sum
                scale = alpha / (n if total is None else total)
                for k in stack.penalized:
                    p = stack.params[k]
                    w = p.detach() if rows is None else p.detach()[rows]
                    if rows is None:  # one pass over the weights, no temporary
                        p.grad.addcmul_(scale.view(-1, 1, 1), w)
                    else:
                        p.grad.index_add_(0, rows, scale.view(-1, 1, 1) * w)
                    norm = torch.linalg.vector_norm(w, dim=(1, 2))
                    losses = losses + 0.5 * scale * norm.square()
        if stack.clipped:
            stack.clip_gradients()
        stack.optimizer.step([p.grad for p in stack.params],
                             None if rows is None else set(rows.tolist()))
        with torch.no_grad():
            hits = logits.argmax(2) == yb
            if mask is not None:
                hits = hits & (mask > 0)
            batch_loss = losses.double() * counts.double()
            batch_correct = hits.sum(1)
            if rows is None:
                loss_sum += batch_loss
                correct += batch_correct
            else:
                loss_sum.index_add_(0, rows, batch_loss)
                correct.index_add_(0, rows, batch_correct)
    n_batches = [len(m.iterator) for m in stack.members]
    return loss_sum.tolist(), correct.tolist(), n_used, n_batches


def _begin_epoch(member, on_epoch):
    net = member.net
    net.notify("on_epoch_begin", **on_epoch)
    lr = net.optimizer_.param_groups[0]["lr"]
    net.history.record("lr", lr)
    return lr


def train_together(plans, streams=None):
    """Train the nets of ``plans`` together, as their separate fits would.

    Every plan's net must have the same ``fusion_key``; each trains for its
    own number of epochs with its own schedule, stopping rules, batch order
    and optimizer settings, and leaves the stack once it stops. On return
    each net holds its history, weights, optimizer state, schedule and
    monitor state as ``SknetsNet.partial_fit`` leaves them.

    Parameters
    ----------
    plans : list of FitPlan
        Fits planned by the estimators (``_plan_fit``), all on the same X
        tensor: each model gathers its own rows by index.
    streams : list of torch.Tensor or None, default=None
        For each plan, the CPU random state its separate fit would train
        from (``torch.get_rng_state()`` after its plan): on the CPU each
        model then draws its dropout masks from its own stream, exactly as
        its separate fit draws them. Without them (and on other devices) the
        masks come from one stream for the whole stack.

    Raises
    ------
    KeyboardInterrupt
        After every net still training has been marked ``interrupted_`` and
        keeps the weights of its last completed epoch.
    """
    members = [_Member(plan) for plan in plans]
    X = plans[0].train.X
    if any(p.train.X is not X for p in plans):
        raise ValueError("train_together needs every plan to share one X tensor.")
    if len({fusion_key(m.spec) for m in members}) != 1 or fusion_key(
            members[0].spec) is None:
        raise ValueError("train_together needs plans with one fusion_key.")
    for m in members:
        m.net.check_training_readiness()
        m.net.stop_training_ = False
        m.net.interrupted_ = False
        m.net.notify("on_train_begin", X=m.plan.train, y=None)
    stack = _Stack(members, X, streams)
    generator = torch.Generator(device=X.device)
    generator.manual_seed(members[0].spec.seed)
    try:
        while stack.members:
            tic = time.perf_counter()
            kwargs = [{"dataset_train": m.plan.train, "dataset_valid": m.plan.valid}
                      for m in stack.members]
            stack.optimizer.set_rates(
                stack.params, [_begin_epoch(m, kw) for m, kw in
                               zip(stack.members, kwargs, strict=True)])
            losses, correct, n_seen, n_batches = _train_epoch(stack, generator)
            stack.to_members()
            share = (time.perf_counter() - tic) / len(stack.members)
            keep = []
            for i, m in enumerate(stack.members):
                net = m.net
                net.history.record("train_loss", losses[i] / n_seen[i])
                net.history.record("train_accuracy", correct[i] / n_seen[i])
                net.history.record("train_batch_count", n_batches[i])
                net.history.record("train_samples", n_seen[i])
                tic_valid = time.perf_counter()
                if m.plan.valid is not None:
                    net._validation_epoch(m.plan.valid)
                net.history.record("duration",
                                   share + time.perf_counter() - tic_valid)
                net.notify("on_epoch_end", **kwargs[i])
                m.epochs_done += 1
                if net.stop_training_ or m.epochs_done >= m.plan.epochs:
                    if not net.monitor_.diverged_:
                        stack.optimizer_to_member(i)
                    net.notify("on_train_end", X=m.plan.train, y=None)
                else:
                    keep.append(i)
            if not keep:
                break
            if len(keep) < len(stack.members):
                stack.keep(torch.tensor(keep, dtype=torch.long, device=X.device))
    except KeyboardInterrupt:
        for m in stack.members:
            net = m.net
            net.interrupted_ = True
            if net.history and "duration" not in net.history[-1]:
                net.history.pop()
            net.notify("on_train_end", X=m.plan.train, y=None)
        raise
