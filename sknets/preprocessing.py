"""Image transformers: the seed studies' resize, invert, scale and dilate steps.

Each works on flat rows (n_samples, n_pixels), on (n_samples, height, width)
or on (n_samples, channels, height, width) images, and returns float32 data
in the layout it was given, so a Pipeline keeps the image shape through to
CNNClassifierTorch. Flat rows are read as images as the CNN reads them:
``image_shape``, or a square one-channel image when the pixel count is a
perfect square.
"""

import math
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from typing_extensions import Self

from ._docs import DocLinkMixin
from ._images import as_layout, check_not_sparse, host_tensor, validate_images
from ._typing import ArrayLike

__all__ = [
    "DilateImages",
    "ImageFlattener",
    "ImageResizer",
    "InvertImages",
    "PixelScaler",
]


def _size_pair(size, name):
    if isinstance(size, Integral) and not isinstance(size, bool) and size > 0:
        return (int(size), int(size))
    if (not isinstance(size, str) and hasattr(size, "__len__") and len(size) == 2
            and all(isinstance(v, Integral) and v > 0 for v in size)):
        return (int(size[0]), int(size[1]))
    raise ValueError(f"{name} must be a positive int or a (height, width) pair of "
                     f"positive ints, got {size!r}.")


class _ImageTransformer(DocLinkMixin, TransformerMixin, BaseEstimator):
    # Subclasses implement _fit(images) and _transform(images) on float32
    # (N, C, H, W) arrays. A stateless one (_stateless = True) learns nothing
    # in fit but X's layout, and transforms without being fitted (scikit-
    # learn's requires_fit tag).

    _stateless = False

    def _image_shape_param(self):
        return getattr(self, "image_shape", None)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> Self:
        """Learn what the transformation needs from X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, \
width) or (n_samples, channels, height, width)
            Images, flat or not.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        images, _, _ = validate_images(self, X, reset=True,
                                       image_shape=self._image_shape_param())
        self._fit(images)
        return self

    def _fit(self, images):
        pass

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Transform X, returning float32 data in the layout of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, \
width) or (n_samples, channels, height, width)
            Images of the shape seen in ``fit``.

        Returns
        -------
        X_new : ndarray
            float32, flat if X was flat, images if X was images.
        """
        if not self._stateless:
            check_is_fitted(self)
        images, _, ndim = validate_images(self, X, reset=False,
                                          image_shape=self._image_shape_param())
        output = as_layout(self._transform(images), ndim)
        if output.ndim > 2 and _container(self) != "default":
            raise ValueError(
                f"{type(self).__name__} was set to output "
                f"{_container(self)!r} containers, which hold flat rows, but X "
                f"holds images of shape {X.shape[1:]}. Give flat rows (with "
                "image_shape), or set_output(transform='default').")
        return output

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.sparse = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.requires_fit = not self._stateless
        return tags


def _container(transformer):
    # The container set_output asked for: 'default', 'pandas' or 'polars'.
    config = getattr(transformer, "_sklearn_output_config", {})
    dense = config.get("transform")
    if dense is None:
        from sklearn import get_config
        dense = get_config()["transform_output"]
    return dense


def _max_value(images, max_value):
    if max_value != "auto":
        return float(max_value)
    # 8-bit pixels when anything exceeds 1.5, else pixels in [0, 1]: the margin
    # absorbs rounding (a resized [0, 1] image can hold 1.0000001).
    return 255.0 if images.size and float(images.max()) > 1.5 else 1.0


class ImageResizer(ClassNamePrefixFeaturesOutMixin, _ImageTransformer):
    """Resize images with bilinear interpolation, as torchvision does.

    Stateless: ``transform`` needs no ``fit``. Its output features are named
    ``imageresizer0``, ``imageresizer1``, ... (``get_feature_names_out``).

    Parameters
    ----------
    size : int or (height, width), default=(28, 28)
        The output size.
    image_shape : tuple or None, default=None
        (channels, height, width) or (height, width) of flat input rows; None
        reads a perfect-square pixel count as a square one-channel image.
    antialias : bool, default=True
        Low-pass filter when shrinking, so that thin strokes survive.

    Attributes
    ----------
    image_shape_ : tuple of int
        (channels, height, width) of the images seen in ``fit``.
    n_features_in_ : int
        Values per input sample.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.preprocessing import ImageResizer
    >>> X = np.ones((2, 56, 56))
    >>> ImageResizer((28, 28)).fit_transform(X).shape
    (2, 28, 28)
    >>> ImageResizer(14).fit_transform(X.reshape(2, -1)).shape
    (2, 196)
    """

    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "image_shape": ["array-like", None],
        "antialias": ["boolean"],
    }

    _stateless = True

    def __init__(self, size: int | tuple[int, int] = (28, 28),
                 image_shape: tuple[int, ...] | None = None,
                 antialias: bool = True) -> None:
        self.size = size
        self.image_shape = image_shape
        self.antialias = antialias

    def _fit(self, images):
        _size_pair(self.size, "size")

    @property
    def _n_features_out(self):
        # Values per output sample (get_feature_names_out names them).
        return self.image_shape_[0] * math.prod(_size_pair(self.size, "size"))

    def _transform(self, images):
        size = _size_pair(self.size, "size")
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(images), 4096):
                chunk = host_tensor(images[start:start + 4096])  # (B, C, H, W)
                chunks.append(F.interpolate(chunk, size=size, mode="bilinear",
                                            align_corners=False,
                                            antialias=self.antialias).numpy())
        if not chunks:
            return np.empty((0, images.shape[1], *size), dtype=np.float32)
        return np.concatenate(chunks)


class InvertImages(OneToOneFeatureMixin, _ImageTransformer):
    """Invert pixel values: dark strokes on light paper become light on dark.

    Parameters
    ----------
    max_value : 'auto' or float, default='auto'
        Pixels become ``max_value - x``. 'auto' uses 255 when the training
        data has values above 1.5 (8-bit images), else 1.
    image_shape : tuple or None, default=None
        (channels, height, width) or (height, width) of flat input rows; None
        reads a perfect-square pixel count as a square one-channel image.

    Attributes
    ----------
    max_value_ : float
        The value used.
    image_shape_ : tuple of int
        (channels, height, width) of the images seen in ``fit``.
    n_features_in_ : int
        Values per input sample.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.preprocessing import InvertImages
    >>> InvertImages().fit_transform(np.array([[0.0, 0.25, 1.0, 1.0]]))
    array([[1.  , 0.75, 0.  , 0.  ]], dtype=float32)
    """

    _parameter_constraints: dict = {
        "max_value": [StrOptions({"auto"}), Real],
        "image_shape": ["array-like", None],
    }

    def __init__(self, max_value: float | str | None = "auto",
                 image_shape: tuple[int, ...] | None = None) -> None:
        self.max_value = max_value
        self.image_shape = image_shape

    def _fit(self, images):
        self.max_value_ = _max_value(images, self.max_value)

    def _transform(self, images):
        return np.float32(self.max_value_) - images


class PixelScaler(OneToOneFeatureMixin, _ImageTransformer):
    """Scale pixels to [0, 1], or standardise them per channel.

    Parameters
    ----------
    method : {'unit', 'standard'}, default='unit'
        - 'unit', divide by ``max_value``: 8-bit pixels land in [0, 1].
        - 'standard', then subtract each channel's training mean and divide
          by its standard deviation (torchvision's ``Normalize`` with the
          dataset's statistics).
    max_value : 'auto' or float, default='auto'
        The pixel value that maps to 1. 'auto' uses 255 when the training
        data has values above 1.5, else 1.
    image_shape : tuple or None, default=None
        (channels, height, width) or (height, width) of flat input rows, so
        that 'standard' finds each channel's pixels (flat RGB rows from
        ``load_image_folder(grayscale=False)``: ``(3, height, width)``);
        None reads a perfect-square pixel count as a square one-channel image.

    Attributes
    ----------
    max_value_ : float
        The value used.
    mean_, std_ : ndarray of shape (channels,) or None
        Per-channel statistics of the scaled training pixels ('standard').
    image_shape_ : tuple of int
        (channels, height, width) of the images seen in ``fit``.
    n_features_in_ : int
        Values per input sample.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.preprocessing import PixelScaler
    >>> PixelScaler().fit_transform(np.array([[0, 51, 255, 255]]))
    array([[0. , 0.2, 1. , 1. ]], dtype=float32)
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"unit", "standard"})],
        "max_value": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "image_shape": ["array-like", None],
    }

    def __init__(self, method: str = "unit", max_value: float | str | None = "auto",
                 image_shape: tuple[int, ...] | None = None) -> None:
        self.method = method
        self.max_value = max_value
        self.image_shape = image_shape

    def _fit(self, images):
        self.max_value_ = _max_value(images, self.max_value)
        self.mean_ = self.std_ = None
        if self.method == "standard":
            scaled = images / np.float32(self.max_value_)  # (N, C, H, W)
            self.mean_ = scaled.mean(axis=(0, 2, 3), dtype=np.float64)
            std = scaled.std(axis=(0, 2, 3), dtype=np.float64)
            self.std_ = np.where(std > 0, std, 1.0)

    def _transform(self, images):
        scaled = images / np.float32(self.max_value_)
        if self.method == "standard":
            shape = (1, -1, 1, 1)
            scaled -= self.mean_.astype(np.float32).reshape(shape)
            scaled /= self.std_.astype(np.float32).reshape(shape)
        return scaled


class DilateImages(OneToOneFeatureMixin, _ImageTransformer):
    """Grey dilation: each pixel becomes the maximum of its neighbourhood.

    Thickens light strokes on a dark background (after ``InvertImages``), as
    in the Bangla-digit study. Stateless: ``transform`` needs no ``fit``.

    Parameters
    ----------
    size : int or (height, width), default=2
        The neighbourhood, a rectangle of ones as in ``cv2.dilate(image,
        np.ones(size))``: an odd side is centred on the pixel, an even side
        reaches one pixel further up (left) than down (right), so strokes
        grow down and right.
    image_shape : tuple or None, default=None
        (channels, height, width) or (height, width) of flat input rows; None
        reads a perfect-square pixel count as a square one-channel image.

    Attributes
    ----------
    image_shape_ : tuple of int
        (channels, height, width) of the images seen in ``fit``.
    n_features_in_ : int
        Values per input sample.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.preprocessing import DilateImages
    >>> image = np.zeros((1, 3, 3)); image[0, 1, 1] = 1
    >>> DilateImages(size=3).fit_transform(image)[0]
    array([[1., 1., 1.],
           [1., 1., 1.],
           [1., 1., 1.]], dtype=float32)
    """

    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "image_shape": ["array-like", None],
    }

    _stateless = True

    def __init__(self, size: int = 2,
                 image_shape: tuple[int, ...] | None = None) -> None:
        self.size = size
        self.image_shape = image_shape

    def _fit(self, images):
        _size_pair(self.size, "size")

    def _transform(self, images):
        height, width = _size_pair(self.size, "size")
        # One window per image and channel: size 1 along samples and channels.
        # An even window grows strokes down and right, as OpenCV's dilate does
        # with its default anchor (scipy's own origin would grow up and left).
        origin = (0, 0, -1 if height % 2 == 0 else 0, -1 if width % 2 == 0 else 0)
        return ndimage.grey_dilation(images, size=(1, 1, height, width),
                                     origin=origin)


class ImageFlattener(OneToOneFeatureMixin, _ImageTransformer):
    """Flatten images to rows of pixels, (n_samples, channels * height * width).

    For estimators that take flat features (MLPClassifierTorch, scikit-learn's)
    after image transformers. Stateless: ``transform`` needs no ``fit``.

    Attributes
    ----------
    image_shape_ : tuple of int
        (channels, height, width) of the images seen in ``fit``.
    n_features_in_ : int
        Values per input sample.

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.preprocessing import ImageFlattener
    >>> ImageFlattener().fit_transform(np.zeros((5, 3, 8, 8))).shape
    (5, 192)
    """

    _parameter_constraints: dict = {}
    _stateless = True

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Flatten X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, \
width) or (n_samples, channels, height, width)
            Images of the shape seen in ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, `n_features_in_`)
            float32 rows.
        """
        check_not_sparse(X)
        images, _, _ = validate_images(self, X, reset=False)
        return images.reshape(len(images), -1)

    def _transform(self, images):
        return images
