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
from dataclasses import replace

import torch

from .optimizers import SOLVER_STATE, functional_update
from .params import STACKABLE_PARAMS, stackable_fields
from .stacked import StackedLinear, StackedLoss, StepRows, stack_network
from .steps import Member, add_l2_gradient, clip_gradients, run_epochs

__all__ = ["STACKABLE_PARAMS", "fusion_key", "train_together"]

def fusion_key(spec):
    """What must be equal for two fits to train in one stack, or None.

    Parameters
    ----------
    spec : TrainingSpec
        A fit's spec.

    Returns
    -------
    key : TrainingSpec or None
        The spec with the fields of the stackable parameters cleared (see
        ``params.stackable_fields``): fits with equal keys can be stacked.
        None means the fit trains on its own (a network kind that is not
        stacked, per-epoch output, float64, augmentation, solver='lbfgs' or
        multi-label targets).

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
            or spec.dtype != "float32" or spec.augment is not None
            or spec.optimizer.solver == "lbfgs" or spec.multilabel):
        return None
    return _cleared(spec, stackable_fields())


def _cleared(spec, fields):
    # The spec with the named fields (dotted: 'optimizer.beta_1', and
    # 'module.dropout' for an argument of the ModuleSpec) set to None.
    top, nested = {}, {}
    for name in fields:
        part, _, rest = name.partition(".")
        if rest:
            nested.setdefault(part, set()).add(rest)
        else:
            top[part] = None
    for part, names in nested.items():
        value = getattr(spec, part)
        if part == "module":
            top[part] = (value.kind, tuple((k, v) for k, v in value.params
                                           if k not in names))
        else:
            top[part] = replace(value, **dict.fromkeys(names))
    return replace(spec, **top)


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
        # One group of every model, whose step counters agree: the update of
        # a full step is then one call on the whole stacked tensors (the
        # same kernel, elementwise, as on each model's views).
        self.whole = None
        direct = self.fused and self.solver in ("adam", "adamw")
        if len(self.groups) == 1 and (direct or self.solver == "sgd") and all(
                bool((s == s[0]).all()) for s in self.steps):
            self.whole = {"p": list(params), "steps": [s[0] for s in self.steps],
                          **{k: [s[k] for s in self.state] for k in names}}

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
        direct = self.fused and self.solver in ("adam", "adamw")
        if active is None and self.whole is not None:
            lists = {**self.whole, "g": list(grads)}
            (lr, settings), _, _ = self.groups[0]
            if direct:
                for steps in self.steps:
                    steps.add_(1)
                self._fused_adam(lists, lr, *settings)
            else:
                self._call(lists, lr, *settings)
            return
        per_model = [g.unbind(0) for g in grads]
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


class _StackedStep:
    # run_epochs' step for a stack: the members' networks as one
    # StackedNetwork (stacked.py), their criteria as one StackedLoss, their
    # optimizers as one _StackedOptimizer. Each model gathers its own rows of
    # X by index, in its own BatchIterator's order.

    def __init__(self, members, X, streams=None):
        self.members = list(members)
        self.X = X
        device = X.device
        nets = [m.net for m in self.members]
        specs = [net.spec_ for net in nets]
        self.iterators = [m.net.get_iterator(m.train, training=True)
                          for m in self.members]
        self.model_params = [list(net.module_.parameters()) for net in nets]
        generators = None
        if streams is not None and device.type == "cpu":
            generators = []
            for state in streams:
                stream = torch.Generator()
                stream.set_state(state)
                generators.append(stream)
        self.network = stack_network([net.module_ for net in nets], generators)
        self.network.train()
        n_outputs = specs[0].module.kwargs["n_outputs"]
        self.loss = StackedLoss([net.criterion_ for net in nets],
                                max(n_outputs, 2)).to(device)
        self.Y = torch.stack([m.train.y for m in self.members])  # (M, N)
        # Sample weights (M, N), when any fit has them (ones for the others).
        weights = [m.train.weight for m in self.members]
        self.W = None if all(w is None for w in weights) else torch.stack([
            torch.ones_like(self.Y[0], dtype=torch.float32) if w is None else w
            for w in weights])
        self.alpha = torch.tensor([s.alpha for s in specs], device=device)
        # Each model's gradient-norm bound (inf: not clipped).
        self.max_norm = torch.tensor([math.inf if s.max_grad_norm is None
                                      else s.max_grad_norm for s in specs],
                                     device=device)
        self._flags()
        fused = bool(nets[0].optimizer_.param_groups[0].get("fused"))
        self.optimizer = _StackedOptimizer(
            specs[0].optimizer.solver, [s.optimizer for s in specs], self.params,
            fused)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(specs[0].seed)
        self.batch_size = specs[0].batch_size

    def _flags(self):
        # What the steps need, decided once per stack, not per batch (the
        # parameters are new tensors after keep()).
        self.params = list(self.network.parameters())
        self.penalty = bool((self.alpha > 0).any())
        # alpha as a number when every model has the same
        self.alpha_value = (float(self.alpha[0])
                            if bool((self.alpha == self.alpha[0]).all()) else None)
        self.clipped = bool(torch.isfinite(self.max_norm).any())
        self.penalized = [op.weight for op in self.network.layers
                          if isinstance(op, StackedLinear)]

    def epoch(self, rates):
        self.optimizer.set_rates(self.params, rates)
        return _train_epoch(self)

    def sync(self):
        # The stack's weights and statistics into each net's module, which
        # validation, the monitor and the fitted estimator read.
        for i, m in enumerate(self.members):
            self.network.give_back(i, m.net.module_)

    def leave(self, i):
        member = self.members[i]
        if not member.net.monitor_.diverged_:
            self._optimizer_to_member(i)
        member.net.notify("on_train_end", X=member.train, y=None)

    def keep(self, kept):
        index = torch.tensor(kept, dtype=torch.long, device=self.X.device)
        self.members = [self.members[i] for i in kept]
        self.iterators = [self.iterators[i] for i in kept]
        self.model_params = [self.model_params[i] for i in kept]
        self.network.keep(index)
        self.loss.keep(index)
        self.Y = self.Y[index]
        if self.W is not None:
            self.W = self.W[index]
        self.alpha = self.alpha[index]
        self.max_norm = self.max_norm[index]
        self.optimizer.keep(index)
        self._flags()

    def _optimizer_to_member(self, i):
        # Model i's optimizer state into its net's optimizer, as its separate
        # fit leaves it (a warm-start fit or partial_fit continues from it).
        optimizer = self.members[i].net.optimizer_
        for k, p in enumerate(self.model_params[i]):
            state = self.optimizer.model_state(k, i)
            if state:
                optimizer.state[p] = state


def _epoch_rows(stack):
    # Each model's rows of the epoch, padded with -1 to S full batches.
    orders = [iterator.epoch_rows() for iterator in stack.iterators]
    size = stack.batch_size
    n_used = [len(o) for o in orders]
    n_steps = -(-max(n_used) // size)
    padded = orders[0].new_full((len(orders), n_steps * size), -1)
    for i, order in enumerate(orders):
        padded[i, :len(order)] = order
    return padded, n_used, n_steps, size


def _train_epoch(stack):
    # One stacked pass: per batch one forward, one backward and one optimizer
    # step for every model taking part. Returns each model's epoch totals.
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
    full = StepRows(None, None, all_n[0], [size] * n_models, stack.generator)
    full_losses, full_correct = [], []
    for step in range(n_steps):
        start = step * size
        counts = all_counts[step]  # rows of each model
        idx = padded[:, start:start + size]  # (M, B)
        rows = full
        if step >= full_steps:
            active = [i for i, u in enumerate(n_used) if u > start]
            models = None
            n = all_n[step]
            if len(active) < n_models:
                models = torch.tensor(active, device=device)
                idx, counts, n = idx[models], counts[models], n[models]
            mask = (idx >= 0).to(torch.float32)  # (M', B)
            idx = idx.clamp(min=0)
            rows = StepRows(models, mask, n,
                            [min(size, n_used[i] - start) for i in active],
                            stack.generator)
        Xb = stack.X.index_select(0, idx.reshape(-1)).view(
            *idx.shape, *stack.X.shape[1:])  # (M', B, F)
        yb = rows.select(stack.Y).gather(1, idx)  # (M', B)
        wb = total = None
        if stack.W is not None:  # sample weights: each model's weighted mean
            wb = rows.select(stack.W).gather(1, idx)
            if rows.mask is not None:
                wb = wb * rows.mask
            total = wb.sum(1)  # (M',) each batch's weight sum
        params = stack.params
        for p in params:
            p.grad = None  # backward's gradient is then taken over, not added
        logits = stack.network(Xb, rows)  # (M', B, C)
        losses = stack.loss(logits, yb, rows, wb)  # (M',)
        losses.sum().backward()
        losses = losses.detach()
        if stack.penalty:
            # scikit-learn divides the L2 term by the batch's size, or its
            # weight sum
            if stack.alpha_value is not None and rows is full and total is None:
                scale = stack.alpha_value / size  # the same for every model
            else:
                scale = rows.select(stack.alpha) / (rows.n if total is None
                                                    else total)
            losses = losses + add_l2_gradient(stack.penalized, scale, stacked=True,
                                              models=rows.models)
        if stack.clipped:
            clip_gradients([p.grad for p in params], stack.max_norm, stacked=True)
        stack.optimizer.step([p.grad for p in params],
                             None if rows.models is None
                             else set(rows.models.tolist()))
        with torch.no_grad():
            hits = logits.argmax(2) == yb
            if rows is full:  # summed once per epoch
                full_losses.append(losses)
                full_correct.append(hits.sum(1))
                continue
            if rows.mask is not None:
                hits = hits & (rows.mask > 0)
            batch_loss = losses.double() * counts.double()
            batch_correct = hits.sum(1)
            if rows.models is None:
                loss_sum += batch_loss
                correct += batch_correct
            else:
                loss_sum.index_add_(0, rows.models, batch_loss)
                correct.index_add_(0, rows.models, batch_correct)
    if full_losses:  # the full steps' totals: size rows of every model each
        loss_sum += torch.stack(full_losses).double().sum(0) * size
        correct += torch.stack(full_correct).sum(0)
    n_batches = [len(iterator) for iterator in stack.iterators]
    return list(zip(loss_sum.tolist(), correct.tolist(), n_used, n_batches,
                    strict=True))


def train_together(plans, streams=None):
    """Train the nets of ``plans`` together, as their separate fits would.

    Every plan's net must have the same ``fusion_key``; each trains for its
    own number of epochs with its own schedule, stopping rules, batch order
    and optimizer settings, and leaves the stack once it stops. On return
    each net holds its history, weights, optimizer state, schedule and
    monitor state as ``SknetsNet.partial_fit`` leaves them. The epochs are
    ``steps.run_epochs``', as a single fit's are.

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
    X = plans[0].train.X
    if any(p.train.X is not X for p in plans):
        raise ValueError("train_together needs every plan to share one X tensor.")
    keys = {fusion_key(p.net.spec_) for p in plans}
    if len(keys) != 1 or None in keys:
        raise ValueError("train_together needs plans with one fusion_key.")
    members = [Member(p.net, p.train, p.valid, p.epochs) for p in plans]
    for m in members:
        m.net.check_training_readiness()
        m.net.notify("on_train_begin", X=m.train, y=None)
    stack = _StackedStep(members, X, streams)
    try:
        run_epochs(members, stack)
    except KeyboardInterrupt:
        for m in stack.members:
            m.net.notify("on_train_end", X=m.train, y=None)
        raise
