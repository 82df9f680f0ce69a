"""Image layouts shared by the CNN and the image transformers.

X arrives flat (n_samples, n_features), as (n_samples, height, width) or as
(n_samples, channels, height, width). It is validated flat, so that
``n_features_in_`` counts the values per sample whatever the layout, and
handed on as (n_samples, channels, height, width).
"""

import math
import warnings
from numbers import Integral

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_array, validate_data


def host_tensor(array):
    """A CPU tensor sharing ``array``'s memory, read-only arrays included.

    Read-only arrays (memmaps, pandas' values) are never written to through
    it, so torch's warning about them is silenced here, the one place that
    wraps arrays.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not")
        return torch.from_numpy(array)


def check_not_sparse(X):
    """Raise the TypeError sknets gives for sparse input."""
    if sp.issparse(X):
        raise TypeError(
            "sparse input is not supported: sknets trains on dense float32 "
            "tensors. Convert X with X.toarray() (if it fits in memory) or "
            "reduce its dimension first, e.g. with TruncatedSVD."
        )


def _ndim(X):
    if hasattr(X, "ndim"):
        return X.ndim
    try:
        return np.asarray(X).ndim
    except (TypeError, ValueError):  # e.g. ragged lists: validate_data explains
        return 2


def channels_first(shape, name):
    """``(H, W)`` or ``(C, H, W)`` of positive ints as ``(C, H, W)``."""
    if (isinstance(shape, str) or not hasattr(shape, "__len__")
            or len(shape) not in (2, 3)
            or not all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0
                       for v in shape)):
        raise ValueError(f"{name} must be (channels, height, width) or (height, "
                         f"width) with positive ints, got {shape!r}.")
    shape = tuple(int(v) for v in shape)
    return (1, *shape) if len(shape) == 2 else shape


def infer_image_shape(n_features, image_dims, image_shape):
    """The (C, H, W) of the samples, from the parameter or from X.

    Parameters
    ----------
    n_features : int
        Values per sample.
    image_dims : tuple or None
        ``X.shape[1:]`` of image-shaped X, None for flat X.
    image_shape : tuple or None
        The estimator's ``image_shape`` parameter.
    """
    if image_shape is not None:
        shape = channels_first(image_shape, "image_shape")
        if math.prod(shape) != n_features:
            raise ValueError(
                f"image_shape={image_shape!r} holds {math.prod(shape)} values per "
                f"sample but X has {n_features} features; give the (channels, "
                "height, width) whose product is n_features, or image_shape=None "
                "to infer it."
            )
        if image_dims is not None and shape != channels_first(image_dims,
                                                              "X.shape[1:]"):
            raise ValueError(
                f"image_shape={image_shape!r} does not match the images in X, of "
                f"shape {image_dims}; set image_shape=None to use X's own shape, "
                "or reshape X."
            )
        return shape
    if image_dims is not None:
        return channels_first(image_dims, "X.shape[1:]")
    side = math.isqrt(n_features)
    if side * side == n_features:
        return (1, side, side)
    return (1, 1, n_features)


def validate_images(estimator, X, y=None, *, reset, image_shape=None,
                    ensure_all_finite=True, dtype=np.float32):
    """Validate X (and y) as scikit-learn does, and shape X as images.

    On ``reset`` the estimator's ``image_shape_`` is set; otherwise image-shaped
    X must match it (an estimator without ``image_shape_``, a stateless
    transformer never fitted, reads X's own shape). ``ensure_all_finite=False``
    leaves the NaN/infinity check to the caller (prediction checks chunk by
    chunk).

    Returns
    -------
    X : ndarray of shape (n_samples, channels, height, width)
        Of ``dtype`` (float32 unless the estimator asks for another),
        C-ordered.
    y : ndarray or None
    ndim : int
        Dimensions of the X given (2, 3 or 4), to return output in kind.
    """
    check_not_sparse(X)
    image_dims = None
    ndim = _ndim(X)
    if ndim > 2:
        X = check_array(X, allow_nd=True, dtype=dtype, order="C",
                        ensure_all_finite=False, input_name="X", estimator=estimator)
        if X.ndim > 4:
            raise ValueError(
                f"X has {X.ndim} dimensions (shape {X.shape}); "
                f"{type(estimator).__name__} takes (n_samples, n_features), "
                "(n_samples, height, width) or (n_samples, channels, height, "
                "width) arrays. Reshape X to one of these."
            )
        image_dims = X.shape[1:]
        X = X.reshape(len(X), -1)  # (N, C*H*W), a view
    if y is None:
        X = validate_data(estimator, X, dtype=dtype, order="C", reset=reset,
                          ensure_all_finite=ensure_all_finite)
    else:
        X, y = validate_data(estimator, X, y, dtype=dtype, order="C",
                             reset=reset, multi_output=True)
    if reset:
        estimator.image_shape_ = infer_image_shape(X.shape[1], image_dims,
                                                   image_shape)
    elif not hasattr(estimator, "image_shape_"):
        # A stateless transformer used without fit: X's own shape.
        return (X.reshape(len(X), *infer_image_shape(X.shape[1], image_dims,
                                                     image_shape)), y, ndim)
    elif (image_dims is not None and
          channels_first(image_dims, "X.shape[1:]") != estimator.image_shape_):
        raise ValueError(
            f"X holds images of shape {image_dims} but {type(estimator).__name__} "
            f"was fitted on images of shape {estimator.image_shape_} (channels, "
            "height, width)."
        )
    return X.reshape(len(X), *estimator.image_shape_), y, ndim


def as_layout(images, ndim):
    """(N, C, H, W) images in the layout of an input of ``ndim`` dimensions."""
    n, channels = images.shape[:2]
    if ndim == 2:
        return images.reshape(n, -1)
    if ndim == 3 and channels == 1:
        return images.reshape(n, *images.shape[2:])
    return images
