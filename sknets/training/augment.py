"""Training-time image augmentation: random shifts, rotations, zooms and
elastic distortion of each training batch, on the training device.

One batched affine grid (and, for elastic distortion, one random
displacement field interpolated from a coarse grid) per batch, sampled
bilinearly with ``grid_sample``: no per-image Python, no copy of X (only the
batch is transformed). Used in ``fit`` and ``partial_fit`` only, never in
prediction or validation.
"""

import math
from dataclasses import dataclass, fields
from numbers import Real

import torch
import torch.nn.functional as F

__all__ = ["AUGMENT_PRESETS", "AugmentSpec", "Augmenter"]

# Named settings for ``augment='light'`` and ``augment='strong'``.
AUGMENT_PRESETS = {
    "light": {"shift": 0.08, "rotate": 8.0, "scale": 0.08},
    "strong": {"shift": 0.12, "rotate": 15.0, "scale": 0.12, "elastic": 1.5},
}


@dataclass(frozen=True)
class AugmentSpec:
    """How far each training image may be moved, as values.

    Parameters
    ----------
    shift : float, default=0.0
        Largest translation, as a fraction of the image's height and width.
    rotate : float, default=0.0
        Largest rotation, in degrees, either way.
    scale : float, default=0.0
        Largest zoom: each image is scaled by a factor in ``[1 - scale, 1 +
        scale]``.
    elastic : float, default=0.0
        Largest elastic displacement, in pixels (0: none).
    elastic_sigma : float, default=3.0
        Smoothness of the elastic displacement field: its random nodes are
        this many pixels apart, and bicubic interpolation fills in between.
    """

    shift: float = 0.0
    rotate: float = 0.0
    scale: float = 0.0
    elastic: float = 0.0
    elastic_sigma: float = 3.0

    @classmethod
    def of(cls, value):
        """The spec of an ``augment`` parameter value, or None.

        Parameters
        ----------
        value : None, str or dict
            None (no augmentation), a key of ``AUGMENT_PRESETS``, or a dict
            of some of this class's fields.

        Returns
        -------
        spec : AugmentSpec or None

        Raises
        ------
        ValueError
            For an unknown preset or key, or a value out of range.

        Examples
        --------
        >>> from sknets.training.augment import AugmentSpec
        >>> AugmentSpec.of("light").rotate
        8.0
        >>> AugmentSpec.of({"shift": 0.1})
        AugmentSpec(shift=0.1, rotate=0.0, scale=0.0, elastic=0.0, elastic_sigma=3.0)
        """
        if value is None:
            return None
        names = [f.name for f in fields(cls)]
        if isinstance(value, str):
            if value not in AUGMENT_PRESETS:
                raise ValueError(
                    f"augment={value!r} is not a preset; use one of "
                    f"{sorted(AUGMENT_PRESETS)}, a dict with keys among {names}, "
                    "or None.")
            value = AUGMENT_PRESETS[value]
        if not isinstance(value, dict):
            raise ValueError(f"augment must be None, a preset name or a dict, got "
                             f"{value!r}.")
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"augment has unknown key(s) {unknown}; the keys are "
                             f"{names}.")
        for key, number in value.items():
            if (not isinstance(number, Real) or isinstance(number, bool)
                    or not math.isfinite(number) or number < 0):
                raise ValueError(f"augment's {key!r} must be a finite number >= 0, "
                                 f"got {number!r}.")
        if value.get("scale", 0) >= 1 or value.get("shift", 0) >= 1:
            raise ValueError("augment's 'scale' and 'shift' must be below 1 (a "
                             "fraction of the image).")
        if value.get("elastic_sigma", 1.0) <= 0:
            raise ValueError("augment's 'elastic_sigma' must be > 0.")
        return cls(**{k: float(v) for k, v in value.items()})


class Augmenter:
    """Transform training batches of images at random, as ``AugmentSpec`` says.

    Parameters
    ----------
    spec : AugmentSpec
        The magnitudes.
    image_shape : tuple of int
        (channels, height, width) of the images; flat batches are reshaped
        to it and back.
    seed : int
        Seed of the augmentation's own random stream: the same seed gives
        the same transformations, batch after batch.
    device : str or torch.device
        Where the batches live.

    Examples
    --------
    >>> import torch
    >>> from sknets.training.augment import AugmentSpec, Augmenter
    >>> augment = Augmenter(AugmentSpec(shift=0.2), (1, 8, 8), seed=0, device="cpu")
    >>> augment(torch.ones(4, 64)).shape
    torch.Size([4, 64])
    """

    def __init__(self, spec, image_shape, seed, device):
        self.spec = spec
        self.image_shape = tuple(image_shape)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed))

    def __getstate__(self):
        # torch's generators do not pickle: their state does.
        state = dict(self.__dict__)
        generator = state.pop("generator")
        state["generator_state"] = generator.get_state()
        state["generator_device"] = str(generator.device)
        return state

    def __setstate__(self, state):
        generator = torch.Generator(device=state.pop("generator_device"))
        generator.set_state(state.pop("generator_state"))
        self.__dict__.update(state, generator=generator)

    def _uniform(self, n, device, dtype):
        # n draws uniform in [-1, 1).
        return torch.rand(n, generator=self.generator, device=device,
                          dtype=dtype) * 2 - 1

    @torch.no_grad()
    def __call__(self, X):
        """A transformed copy of the batch ``X``, (B, ...) as given.

        Parameters
        ----------
        X : torch.Tensor of shape (B, C, H, W) or (B, C * H * W)
            A training batch.

        Returns
        -------
        X_new : torch.Tensor
            The batch, each image moved at random; rows keep their order.
        """
        spec, (channels, height, width) = self.spec, self.image_shape
        n, device, dtype = len(X), X.device, X.dtype
        images = X.reshape(n, channels, height, width)
        angle = self._uniform(n, device, dtype) * math.radians(spec.rotate)
        zoom = 1 + self._uniform(n, device, dtype) * spec.scale
        shift = self._uniform(2 * n, device, dtype).view(n, 2) * (2 * spec.shift)
        # Output pixel p samples the input at theta @ p (normalised coords):
        # a rotation by angle, a zoom by `zoom` and a shift.
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                             torch.stack([sin, cos, shift[:, 1]], 1)], 1)  # (B, 2, 3)
        grid = F.affine_grid(theta, (n, channels, height, width),
                             align_corners=False)  # (B, H, W, 2)
        if spec.elastic > 0:
            grid = grid + self._elastic(n, height, width, device, dtype)
        out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False)
        return out.reshape(X.shape)

    def _elastic(self, n, height, width, device, dtype):
        # A smooth random displacement of at most spec.elastic pixels: random
        # values on a coarse grid of nodes elastic_sigma pixels apart,
        # interpolated bicubically to every pixel (a fraction of the cost of
        # blurring a per-pixel field), in normalised coordinates.
        sigma = self.spec.elastic_sigma
        nodes = (max(2, math.ceil(height / sigma) + 1),
                 max(2, math.ceil(width / sigma) + 1))
        field = torch.rand((n, 2, *nodes), generator=self.generator,
                           device=device, dtype=dtype) * 2 - 1
        field = F.interpolate(field, size=(height, width), mode="bicubic",
                              align_corners=True).clamp(-1, 1)
        field = field * self.spec.elastic  # pixels
        pixels = torch.tensor([2.0 / width, 2.0 / height], device=device, dtype=dtype)
        return field.permute(0, 2, 3, 1) * pixels  # (B, H, W, 2)
