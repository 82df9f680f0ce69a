"""Mini-batches as index slices of two tensors: the lean data path of a fit."""

import math

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["BatchIterator", "SparseRows", "TensorData", "gather_rows"]


class SparseRows:
    """A scipy sparse matrix whose rows become dense tensors batch by batch.

    Training and prediction read X through ``index_select``, slices and
    ``.to(device)``; this class gives them those on a CSR matrix kept
    sparse on the host, so a wide sparse X (TF-IDF features) is never copied
    dense: each batch (or prediction chunk) of rows is densified on its own.

    Parameters
    ----------
    matrix : scipy.sparse matrix or array
        The rows; converted to CSR (a no-op for CSR input).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> import torch
    >>> from sknets.training import SparseRows
    >>> rows = SparseRows(sp.eye(4, format="csr", dtype="float32"))
    >>> rows.index_select(0, torch.tensor([2, 0]))
    tensor([[0., 0., 1., 0.],
            [1., 0., 0., 0.]])
    >>> len(rows[1:3]), rows.shape
    (2, torch.Size([4, 4]))
    """

    device = torch.device("cpu")

    def __init__(self, matrix):
        self.matrix = sp.csr_matrix(matrix)
        self.dtype = torch.from_numpy(np.zeros(0, dtype=self.matrix.dtype)).dtype

    @property
    def shape(self):
        """``(n_rows, n_features)`` as a ``torch.Size``."""
        return torch.Size(self.matrix.shape)

    def __len__(self):
        return self.matrix.shape[0]

    def dim(self):
        """2, as for the dense X it stands for."""
        return 2

    def _rows(self, key):
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        return self.matrix[key]

    def __getitem__(self, key):
        # Rows stay sparse until a batch is used.
        return SparseRows(self._rows(key))

    def index_select(self, dim, index):
        """Rows ``index`` as a dense (len(index), n_features) CPU tensor."""
        if dim != 0:
            raise ValueError("SparseRows selects rows only (dim=0).")
        return torch.from_numpy(self._rows(index).toarray())

    def to(self, device, non_blocking=False):
        """Every row as a dense tensor on ``device``."""
        return torch.from_numpy(self.matrix.toarray()).to(device,
                                                           non_blocking=non_blocking)


def gather_rows(X, index, out=None):
    """Rows ``index`` of ``X`` (a tensor or ``SparseRows``) as a dense tensor.

    Parameters
    ----------
    X : torch.Tensor or SparseRows
    index : torch.Tensor of int
    out : torch.Tensor or None, default=None
        Where to write them (a pinned buffer).

    Returns
    -------
    rows : torch.Tensor of shape (len(index), ...)
    """
    if isinstance(X, SparseRows):
        rows = X.index_select(0, index)
        return rows if out is None else out.copy_(rows)
    if out is None:
        return X.index_select(0, index)
    return torch.index_select(X, 0, index, out=out)


class TensorData(torch.utils.data.Dataset):
    """Features, encoded targets and sample weights as tensors, and the rows to use.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, ...)
        float32 features.
    y : torch.Tensor of shape (n_samples,)
        int64 class indices.
    indices : torch.Tensor of shape (n_used,) or None, default=None
        The rows that form the dataset (a training split taken without
        copying X); None means all of them.
    weight : torch.Tensor of shape (n_samples,) or None, default=None
        float32 sample weights, aligned with ``y`` (indexed by the same
        rows); None means every sample weighs 1.

    Examples
    --------
    >>> import torch
    >>> from sknets.training import TensorData
    >>> data = TensorData(torch.zeros(5, 2), torch.arange(5), torch.tensor([4, 1]))
    >>> len(data), data[0][1].item()
    (2, 4)
    """

    def __init__(self, X, y, indices=None, weight=None):
        self.X = X
        self.y = y
        self.indices = indices
        self.weight = weight

    def __len__(self):
        return len(self.y) if self.indices is None else len(self.indices)

    def __getitem__(self, index):
        if self.indices is not None:
            index = self.indices[index]
        return self.X[index], self.y[index]


class _HostBatches:
    # Gathers rows of a host tensor into one of two pinned buffers and copies
    # it to the device asynchronously; a buffer is refilled only once its
    # previous copy has finished.

    def __init__(self, X, batch_size, device):
        self.X, self.device = X, torch.device(device)
        cuda = self.device.type == "cuda"
        self.buffers = [torch.empty((batch_size, *X.shape[1:]), dtype=X.dtype,
                                    pin_memory=cuda) for _ in range(2)]
        self.copied = [None, None]  # CUDA events, one per buffer
        self.turn = 0

    def __call__(self, idx):
        self.turn ^= 1
        k = self.turn
        if self.copied[k] is not None:
            self.copied[k].synchronize()
        out = self.buffers[k][:len(idx)]  # (B, ...)
        gather_rows(self.X, idx, out=out)
        batch = out.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            self.copied[k] = torch.cuda.Event()
            self.copied[k].record()
        return batch


class BatchIterator:
    """Mini-batches as index slices of a ``TensorData``.

    One random permutation per epoch, then each batch is ``(X[idx], y[idx],
    weight[idx])`` for a slice ``idx`` of it (the weights None when the data
    has none): no per-sample ``__getitem__``, no collation, no worker
    processes. When X lives on the host and ``device`` is an accelerator (a
    training set too large for the device), each batch is gathered into a
    pinned buffer and copied to the device without blocking.

    Parameters
    ----------
    dataset : TensorData
        The data to iterate over; ``y`` lives on ``device``.
    batch_size : int
        Number of samples per batch; the last batch may be smaller.
    shuffle : bool, default=False
        Whether to draw a new permutation every epoch.
    seed : int or None, default=None
        Seed of the permutations; None uses torch's global generator.
    drop_single : bool, default=False
        Drop a last batch of a single sample (batch normalisation cannot
        train on one sample).
    device : str or None, default=None
        Where batches are used; None means where X is.

    Examples
    --------
    >>> import torch
    >>> from sknets.training import BatchIterator, TensorData
    >>> data = TensorData(torch.zeros(5, 2), torch.arange(5))
    >>> [len(yb) for _, yb, _ in BatchIterator(data, batch_size=2)]
    [2, 2, 1]
    """

    def __init__(self, dataset, batch_size, shuffle=False, seed=None,
                 drop_single=False, device=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_single = drop_single
        self.device = dataset.X.device if device is None else torch.device(device)
        self.generator = None
        if seed is not None:
            self.generator = torch.Generator(device=dataset.X.device)
            self.generator.manual_seed(int(seed))

    def __len__(self):
        n_batches = math.ceil(len(self.dataset) / self.batch_size)
        if self.drop_single and len(self.dataset) % self.batch_size == 1:
            n_batches -= 1
        return n_batches

    def _order(self, n, device):
        # The rows of one epoch, in order: a permutation of the dataset's rows.
        rows = self.dataset.indices
        if not self.shuffle:
            return torch.arange(n, device=device) if rows is None else rows
        order = torch.randperm(n, generator=self.generator, device=device)
        return order if rows is None else rows[order]

    def _stop(self, n):
        return n - 1 if self.drop_single and n % self.batch_size == 1 else n

    def epoch_rows(self):
        """The rows of X the next epoch trains on, in batch order.

        Draws the epoch's permutation as iterating would: a fused search
        gives each stacked model the batches of its own separate fit.

        Returns
        -------
        rows : torch.Tensor of shape (n_used,)
            Row indices into ``dataset.X``, on X's device; batch ``b`` is
            ``rows[b * batch_size:(b + 1) * batch_size]``.
        """
        n = len(self.dataset)
        return self._order(n, self.dataset.X.device)[:self._stop(n)]

    def __iter__(self):
        X, y, w = self.dataset.X, self.dataset.y, self.dataset.weight
        n = len(self.dataset)
        stop = self._stop(n)
        if X.device != self.device:
            gather = _HostBatches(X, self.batch_size, self.device)
            order = self._order(n, X.device)
            for start in range(0, stop, self.batch_size):
                idx = order[start:start + self.batch_size]
                idx_y = idx.to(y.device, non_blocking=True)
                yield gather(idx), y[idx_y], None if w is None else w[idx_y]
            return
        if (not self.shuffle and self.dataset.indices is None
                and not isinstance(X, SparseRows)):
            for start in range(0, stop, self.batch_size):
                end = min(start + self.batch_size, stop)
                # views, no copy
                yield X[start:end], y[start:end], None if w is None else w[start:end]
            return
        order = self._order(n, X.device)
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            # index_select: half the time of X[idx] for a batch of rows
            yield (gather_rows(X, idx), y.index_select(0, idx),  # (B, ...), (B,)
                   None if w is None else w.index_select(0, idx))
