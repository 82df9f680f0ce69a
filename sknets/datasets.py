"""Datasets: the embedded digits, MNIST and Fashion-MNIST, image folders.

Every loader returns float32 pixels in [0, 1] and integer labels, flat
(n_samples, n_pixels) or, with ``as_images=True``, as images, in a
scikit-learn ``Bunch`` (or ``(X, y)`` with ``return_X_y=True``).
"""

import gzip
import hashlib
import os
import time
import urllib.request
import warnings
import zlib
from pathlib import Path, PurePath
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.utils import Bunch

from ._files import atomic_file
from ._typing import StrPath

__all__ = [
    "DATASETS",
    "DownloadError",
    "ImageDecodeError",
    "ImageFolderSummary",
    "decode_image",
    "load_digits_images",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist",
    "read_idx",
]

# The IDX type byte and the big-endian dtype it stands for.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


# deflate's largest ratio of output to input is about 1032:1; a gzip file that
# promises more than this bound is corrupt before a byte is decompressed.
_GZIP_MAX_RATIO = 1100
_CHUNK = 1 << 20


def _open_idx(path):
    """(stream, the raw file, its size, whether it is gzip-compressed)."""
    f = open(path, "rb")
    size = os.fstat(f.fileno()).st_size
    compressed = f.read(2) == b"\x1f\x8b"
    f.seek(0)
    stream = gzip.GzipFile(fileobj=f, mode="rb") if compressed else f
    return stream, f, size, compressed


def _read_exactly(stream, n):
    # At most n bytes, read in chunks into one buffer: memory is what the
    # header promises, never what a stream may hold beyond it.
    out = np.empty(n, np.uint8)
    view, filled = memoryview(out), 0
    while filled < n:
        got = stream.readinto(view[filled:filled + _CHUNK])
        if not got:
            break
        filled += got
    return out, filled


def read_idx(path: StrPath) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, into a numpy array.

    IDX is the format MNIST and Fashion-MNIST ship in: two zero bytes, a type
    byte, the number of dimensions, each dimension as a big-endian int32,
    then the values in big-endian C order. The file is read as a stream:
    exactly the bytes its header promises, plus one to detect trailing data,
    so a corrupt or hostile file (a gzip bomb) costs no more memory or time
    than the data it claims. A wrong magic number, an unknown type, a size
    that does not match the header or a corrupt gzip stream is a ValueError
    saying what is wrong.

    Parameters
    ----------
    path : str or path-like
        The file; compression is detected from its content, not its name.

    Returns
    -------
    array : ndarray
        The values, in native byte order, of shape given by the header
        (e.g. (60000, 28, 28) uint8 for MNIST's training images).

    Examples
    --------
    >>> import tempfile, os
    >>> from sknets.datasets import read_idx
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    >>> read_idx(path)
    array([7, 2, 1], dtype=uint8)
    """
    name = repr(os.fspath(path))
    stream, raw, size, compressed = _open_idx(path)
    try:
        with raw, stream:
            return _read_idx_stream(stream, name, size, compressed)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"{name} is a corrupt or truncated gzip file ({exc}); "
                         "download it again.") from exc
    except OSError as exc:
        if not compressed:
            raise
        raise ValueError(f"{name} is a corrupt or truncated gzip file ({exc}); "
                         "download it again.") from exc


def _read_idx_stream(stream, name, size, compressed):
    magic = stream.read(4)
    if len(magic) < 4:
        raise ValueError(f"{name} is not an IDX file: it has only {len(magic)} "
                         "bytes, fewer than the 4-byte magic number.")
    zero, type_code, ndim = magic[:2], magic[2], magic[3]
    if zero != b"\x00\x00" or type_code not in IDX_DTYPES:
        raise ValueError(
            f"{name} is not an IDX file: its magic number is "
            f"0x{magic.hex()}, expected 0x0000TTDD with type byte TT in "
            f"{[hex(code) for code in IDX_DTYPES]} and DD dimensions."
        )
    if ndim == 0:
        raise ValueError(f"{name} is a corrupt IDX file: its header declares 0 "
                         "dimensions.")
    dims = stream.read(4 * ndim)
    header_size = 4 + 4 * ndim
    if len(dims) < 4 * ndim:
        raise ValueError(f"{name} is truncated: its {ndim}-dimensional header needs "
                         f"{header_size} bytes, the file has {4 + len(dims)}.")
    shape = tuple(int(d) for d in np.frombuffer(dims, ">u4"))
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    declared = (f"its header declares shape {shape} of "
                f"{dtype.newbyteorder('=').name}, {expected} bytes of data")
    if not compressed and expected > size - header_size:
        raise ValueError(f"{name} is truncated: {declared}, but the file holds "
                         f"{size - header_size}. Download it again.")
    if compressed and expected > size * _GZIP_MAX_RATIO:
        raise ValueError(f"{name} is truncated or corrupt: {declared}, more than "
                         f"its {size} compressed bytes can hold. Download it again.")
    data, found = _read_exactly(stream, expected)
    if found < expected:
        raise ValueError(f"{name} is truncated: {declared}, but the file holds "
                         f"{found}. Download it again.")
    if stream.read(1):
        raise ValueError(f"{name} is corrupt: {declared}, but more data follows "
                         "them. Download it again.")
    array = data.view(dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


# -- MNIST-format datasets ----------------------------------------------------------

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# Where each dataset is published, with the SHA-256 of each official file,
# and where a system package puts it.
DATASETS = {
    "mnist": {
        "title": "MNIST",
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/"],
        "sha256": {
            "train-images-idx3-ubyte.gz":
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz":
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz":
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz":
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
        "size": {"train-images-idx3-ubyte.gz": 9912422,
                 "train-labels-idx1-ubyte.gz": 28881,
                 "t10k-images-idx3-ubyte.gz": 1648877,
                 "t10k-labels-idx1-ubyte.gz": 4542},
        "system_dir": None,
        "package": None,
        "target_names": [str(digit) for digit in range(10)],
    },
    "fashion-mnist": {
        "title": "Fashion-MNIST",
        "mirrors": [
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/"
            "master/data/fashion/",
        ],
        "sha256": {
            "train-images-idx3-ubyte.gz":
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz":
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz":
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz":
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
        "size": {"train-images-idx3-ubyte.gz": 26421880,
                 "train-labels-idx1-ubyte.gz": 29515,
                 "t10k-images-idx3-ubyte.gz": 4422102,
                 "t10k-labels-idx1-ubyte.gz": 5148},
        "system_dir": "/usr/share/datasets/fashion-mnist",
        "package": "dataset-fashion-mnist",
        "target_names": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    },
}


class DownloadError(OSError):
    """A dataset file could not be downloaded and verified from any mirror.

    Its message lists every mirror tried and why it failed; nothing is left
    on disk.

    Examples
    --------
    >>> from sknets.datasets import DownloadError
    >>> issubclass(DownloadError, OSError)
    True
    """


def _user_dirs(data_home):
    # The folders a user controls, in search order; downloads go to the first.
    dirs = []
    if data_home is not None:
        dirs.append(Path(data_home).expanduser())
    if os.environ.get("SKNETS_DATA"):
        dirs.append(Path(os.environ["SKNETS_DATA"]).expanduser())
    dirs.append(Path("~/.sknets/data").expanduser())
    return dirs


def _find(name, filename, data_home):
    """The first existing copy of ``filename`` (or its uncompressed form)."""
    info = DATASETS[name]
    candidates = []
    for base in _user_dirs(data_home):
        candidates += [base, base / name]
    if info["system_dir"]:
        candidates.append(Path(info["system_dir"]))
    for folder in candidates:
        for variant in (filename, filename.removesuffix(".gz")):
            if (folder / variant).is_file():
                return folder / variant, candidates
    return None, candidates


class _Mismatch(Exception):
    # A download whose bytes are not the expected ones: not kept.
    pass


# A whole download (every mirror tried) must finish within this many seconds.
DOWNLOAD_DEADLINE_S = 600


def _download(urls, sha256, destination, size, deadline_s=None):
    """Fetch the first URL that serves the file with the right SHA-256.

    The bytes go to a temporary file next to ``destination``, which is renamed
    only once verified; on any failure, or an interrupt, it is removed. A
    mirror that serves more than ``size`` bytes is cut off there, and the
    whole download stops at ``deadline_s`` seconds.
    """
    deadline_s = DOWNLOAD_DEADLINE_S if deadline_s is None else deadline_s
    destination.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    errors = []
    for url in urls:
        left = deadline_s - (time.monotonic() - start)
        try:
            if left <= 0:
                raise _Deadline()
            with atomic_file(destination) as out, \
                    urllib.request.urlopen(url, timeout=min(60, left)) as response:
                digest, written = hashlib.sha256(), 0
                while chunk := response.read(1 << 20):
                    written += len(chunk)
                    if written > size:
                        raise _Mismatch(f"{url}: served more than the expected "
                                        f"{size} bytes; stopped there")
                    if time.monotonic() - start > deadline_s:
                        raise _Deadline()
                    digest.update(chunk)
                    out.write(chunk)
                if digest.hexdigest() != sha256:
                    raise _Mismatch(f"{url}: SHA-256 mismatch, got "
                                    f"{digest.hexdigest()}, expected {sha256}")
            return destination
        except _Deadline:
            raise DownloadError(
                f"Downloading {destination.name} took longer than {deadline_s} s; "
                "nothing was saved. Check the connection and try again, or put "
                f"the file in {destination.parent} yourself."
            ) from None
        except _Mismatch as exc:
            errors.append(str(exc))
        except OSError as exc:  # URLError, HTTPError and timeouts are OSErrors
            errors.append(f"{url}: {exc}")
    raise DownloadError(
        f"Could not download {destination.name}; nothing was saved. Tried:\n  "
        + "\n  ".join(errors)
    )


class _Deadline(Exception):
    pass


def _load_idx_dataset(name, data_home, kind, download, as_images, return_X_y):
    info = DATASETS[name]
    if kind not in _IDX_FILES:
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}.")
    paths = []
    for filename in _IDX_FILES[kind]:
        path, searched = _find(name, filename, data_home)
        if path is None and download:
            target = _user_dirs(data_home)[0] / name / filename
            path = _download([mirror + filename for mirror in info["mirrors"]],
                             info["sha256"][filename], target, info["size"][filename])
        if path is None:
            hints = []
            if info["package"]:
                hints.append(f"install the system package: `apt-get install "
                             f"{info['package']}` (files in {info['system_dir']})")
            hints.append(f"download it: `{_LOADERS[name]}(download=True)` (to "
                         f"{_user_dirs(data_home)[0] / name}, verified by SHA-256)")
            hints.append("point to a folder holding the IDX files: "
                         f"`{_LOADERS[name]}(data_home=...)` or $SKNETS_DATA")
            raise FileNotFoundError(
                f"{info['title']} file {filename} not found. Looked in: "
                + ", ".join(str(p) for p in searched) + ". To get it, "
                + "; or ".join(hints) + "."
            )
        paths.append(path)
    images, labels = (read_idx(path) for path in paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{paths[0]} and {paths[1]} do not hold matching images and labels: "
            f"shapes {images.shape} and {labels.shape}."
        )
    X = images.astype(np.float32)
    np.divide(X, 255, out=X)  # in place: [0, 1]
    return _bunch(X, labels.astype(np.int64), info["target_names"], as_images,
                  return_X_y)


def _bunch(images, y, target_names, as_images, return_X_y, **extra):
    # images: (N, H, W) or (N, C, H, W) float32 in [0, 1].
    shape = (1, *images.shape[1:]) if images.ndim == 3 else images.shape[1:]
    X = images if as_images else images.reshape(len(images), -1)
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, target_names=list(target_names),
                 image_shape=tuple(shape), **extra)


_LOADER_DOC = """Load {title}'s {{kind}} images, 28x28 grey pixels in [0, 1].

    The IDX files are looked for, in order, in ``data_home`` (or its
    ``{name}/`` sub-folder), ``$SKNETS_DATA``, ``~/.sknets/data``{system}.
    With ``download=True`` missing files are fetched from the official
    mirrors into the first of these folders and checked against their
    SHA-256; a failed or interrupted download leaves nothing behind.

    Parameters
    ----------
    data_home : str or path-like, default=None
        A folder holding the IDX files (``train-images-idx3-ubyte.gz``, ...).
    kind : {{'train', 'test'}}, default='train'
        60,000 training or 10,000 test images.
    download : bool, default=False
        Download missing files.
    as_images : bool, default=False
        Return X as (n_samples, 28, 28) instead of (n_samples, 784).
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``data`` (float32 X), ``target`` (int64 y), ``target_names`` (the
        ten class names) and ``image_shape`` ((1, 28, 28)); or ``(X, y)``.

    Raises
    ------
    FileNotFoundError
        When the files are absent, saying how to get them.
    DownloadError
        When no mirror serves a file with the right checksum.

    Examples
    --------
    A folder with tiny files in the IDX format (magic number, dimensions,
    big-endian values):

    >>> import gzip, os, tempfile
    >>> import numpy as np
    >>> from sknets.datasets import {func}
    >>> home = tempfile.mkdtemp()
    >>> def idx(array):
    ...     head = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    ...     return gzip.compress(head + array.tobytes())
    >>> images, labels = np.zeros((3, 28, 28), np.uint8), np.array([1, 0, 1], np.uint8)
    >>> for name, array in [("train-images-idx3-ubyte.gz", images),
    ...                     ("train-labels-idx1-ubyte.gz", labels)]:
    ...     _ = open(os.path.join(home, name), "wb").write(idx(array))
    >>> X, y = {func}(data_home=home, return_X_y=True)
    >>> X.shape, X.dtype, y.tolist()
    ((3, 784), dtype('float32'), [1, 0, 1])
    """


def load_mnist(data_home: StrPath | None = None, kind: str = "train",
               download: bool = False, *, as_images: bool = False,
               return_X_y: bool = False) -> Any:
    return _load_idx_dataset("mnist", data_home, kind, download, as_images,
                             return_X_y)


def load_fashion_mnist(data_home: StrPath | None = None, kind: str = "train",
                       download: bool = False, *, as_images: bool = False,
                       return_X_y: bool = False) -> Any:
    return _load_idx_dataset("fashion-mnist", data_home, kind, download, as_images,
                             return_X_y)


load_mnist.__doc__ = _LOADER_DOC.format(title="MNIST", name="mnist", system="",
                                        func="load_mnist")
load_fashion_mnist.__doc__ = _LOADER_DOC.format(
    title="Fashion-MNIST", name="fashion-mnist", func="load_fashion_mnist",
    system=", then ``/usr/share/datasets/fashion-mnist``, where the Debian "
           "package ``dataset-fashion-mnist`` installs them",
)
_LOADERS = {"mnist": "load_mnist", "fashion-mnist": "load_fashion_mnist"}


def load_digits_images(*, n_class: int = 10, as_images: bool = False,
                       return_X_y: bool = False) -> Any:
    """scikit-learn's 8x8 digits, pixels scaled to [0, 1]: the embedded default.

    Ships with scikit-learn, so it needs no download.

    Parameters
    ----------
    n_class : int, default=10
        Number of classes, the digits 0 to n_class - 1.
    as_images : bool, default=False
        Return X as (n_samples, 8, 8) instead of (n_samples, 64).
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``data`` (float32 X in [0, 1]), ``target`` (int64 y),
        ``target_names`` and ``image_shape`` ((1, 8, 8)); or ``(X, y)``.

    Examples
    --------
    >>> from sknets.datasets import load_digits_images
    >>> X, y = load_digits_images(as_images=True, return_X_y=True)
    >>> X.shape, X.dtype, float(X.max()), y[:3]
    ((1797, 8, 8), dtype('float32'), 1.0, array([0, 1, 2]))
    """
    digits = load_digits(n_class=n_class)
    images = (digits.images / 16.0).astype(np.float32)  # (N, 8, 8)
    return _bunch(images, digits.target.astype(np.int64),
                  [str(c) for c in range(n_class)], as_images, return_X_y)


# -- image folders ---------------------------------------------------------------

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
_FILENAME_COLUMNS = ("filename", "file_name", "file", "image", "path", "name")
_LABEL_COLUMNS = ("label", "digit", "class", "target", "y", "category")

# ITU-R 601-2 luma, as Pillow's own conversion to 'L' weighs R, G and B.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_BACKGROUNDS = {"white": 1.0, "black": 0.0}


class ImageDecodeError(ValueError):
    """An image whose pixel values sknets cannot read faithfully.

    Its message names the file, the Pillow mode and what to do.

    Examples
    --------
    >>> from sknets.datasets import ImageDecodeError
    >>> issubclass(ImageDecodeError, ValueError)
    True
    """


def decode_image(image: Any, *, grayscale: bool = True,
                 background: str = "white") -> np.ndarray:
    """Pixel values of a Pillow image in [0, 1], as sknets reads every image.

    The one decoding rule of ``load_image_folder``, by Pillow mode:

    ===========================  ==========================================
    mode                         values
    ===========================  ==========================================
    '1'                          0 or 1
    'L', 'P' (no transparency)   8-bit / 255
    'I;16', 'I;16B', 'I;16L'     16-bit / 65535 (50% grey stays 0.5)
    'F' (32-bit float)           as stored; values outside [0, 1] are an error
    'RGB', 'RGBX', 'CMYK',       colours (CMYK, YCbCr and HSV converted to
    'YCbCr', 'HSV'               RGB by Pillow), 8-bit / 255
    'LA', 'RGBA', 'PA', 'P'      alpha composited on ``background``:
    with transparency            value * alpha + background * (1 - alpha)
    'I' (32-bit int), 'LAB',     an ``ImageDecodeError`` naming the mode:
    any other mode               their scale cannot be known
    ===========================  ==========================================

    Grey values from colours use the ITU-R 601-2 luma (0.299 R + 0.587 G +
    0.114 B), as Pillow's conversion to 'L' does.

    Parameters
    ----------
    image : PIL.Image.Image
        An opened image (its first frame).
    grayscale : bool, default=True
        One grey channel; False gives three RGB channels.
    background : {'white', 'black'} or float, default='white'
        What transparent pixels show: white (1.0, as a scan's paper), black
        (0.0) or a grey level in [0, 1]. A digit drawn only in the alpha
        channel (a transparent export) then reads as dark on white.

    Returns
    -------
    pixels : ndarray of float32
        (height, width) or, with ``grayscale=False``, (height, width, 3).

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sknets.datasets import decode_image
    >>> grey16 = Image.fromarray(np.full((2, 2), 32768, np.uint16))
    >>> float(decode_image(grey16)[0, 0])
    0.5000076293945312
    >>> ink = Image.new("RGBA", (1, 1), (0, 0, 0, 255))  # opaque black
    >>> glass = Image.new("RGBA", (1, 1), (0, 0, 0, 0))  # transparent
    >>> float(decode_image(ink)[0, 0]), float(decode_image(glass)[0, 0])
    (0.0, 1.0)
    """
    level = _background(background)
    mode = image.mode
    alpha = None
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("PA", "La", "RGBa"):
        image = image.convert("RGBA")
    elif mode in ("CMYK", "YCbCr", "HSV", "RGBX"):
        image = image.convert("RGB")
    mode = image.mode
    if mode in ("LA", "RGBA"):
        array = np.asarray(image, dtype=np.float32) / 255  # (H, W, 2 or 4)
        values, alpha = array[..., :-1], array[..., -1:]
        values = values[..., 0] if mode == "LA" else values
    elif mode == "1":
        values = np.asarray(image, dtype=np.float32)
    elif mode in ("L", "RGB"):
        values = np.asarray(image, dtype=np.float32) / 255
    elif mode.startswith("I;16"):
        values = np.asarray(image).astype(np.float32) / 65535
    elif mode == "F":
        values = np.asarray(image, dtype=np.float32)
        finite = np.isfinite(values).all()
        if not finite or values.min(initial=0) < 0 or values.max(initial=0) > 1:
            raise ImageDecodeError(
                f"a 32-bit float image (mode 'F') must hold values in [0, 1]; this "
                f"one holds {values.min():g} to {values.max():g}. Rescale it to "
                "[0, 1] (or save it as 8- or 16-bit) first.")
    else:
        raise ImageDecodeError(
            f"images of mode {mode!r} cannot be read faithfully (their scale or "
            "colour space is unknown). Convert them to 8-bit ('L', 'RGB') or "
            "16-bit ('I;16') first.")
    if values.ndim == 3 and grayscale:
        values = values @ _LUMA  # (H, W, 3) -> (H, W)
    elif values.ndim == 2 and not grayscale:
        values = np.repeat(values[..., None], 3, axis=2)
    if alpha is not None:
        alpha = alpha[..., 0] if values.ndim == 2 else alpha
        values = values * alpha + np.float32(level) * (1 - alpha)
    return np.ascontiguousarray(values, dtype=np.float32)


def _background(background):
    if isinstance(background, str):
        if background not in _BACKGROUNDS:
            raise ValueError(f"background must be 'white', 'black' or a grey level "
                             f"in [0, 1], got {background!r}.")
        return _BACKGROUNDS[background]
    if isinstance(background, (int, float)) and not isinstance(background, bool) \
            and 0 <= background <= 1:
        return float(background)
    raise ValueError(f"background must be 'white', 'black' or a grey level in "
                     f"[0, 1], got {background!r}.")


def _resize(values, height, width):
    """Bilinear resize of decoded float pixels, channel by channel."""
    from PIL import Image

    if values.shape[:2] == (height, width):
        return values
    channels = [values] if values.ndim == 2 else [values[..., c] for c in range(3)]
    resized = [np.array(Image.fromarray(channel, mode="F").resize(
        (width, height), Image.Resampling.BILINEAR)) for channel in channels]
    out = resized[0] if values.ndim == 2 else np.stack(resized, axis=2)
    return np.clip(out, 0, 1, out=out)  # bilinear stays in range, up to rounding


def _csv_columns(table, filename_column, label_column, csv_path):
    columns = list(table.columns)
    lower = {c.strip().lower(): c for c in columns}

    def pick(given, candidates, position, what):
        if given is not None:
            if given not in columns:
                raise ValueError(f"{csv_path} has no column {given!r}; its columns "
                                 f"are {columns}.")
            return given
        for name in candidates:
            if name in lower:
                return lower[name]
        if len(columns) == 2:
            return columns[position]
        raise ValueError(
            f"Cannot tell which column of {csv_path} holds the {what}: its columns "
            f"are {columns}. Pass {what.replace(' ', '_')}_column=..."
        )

    return (pick(filename_column, _FILENAME_COLUMNS, 0, "file name"),
            pick(label_column, _LABEL_COLUMNS, 1, "label"))


def _encode_labels(labels, label_type):
    """(target, target_names) for the labels as read, kept as written.

    Strings: target indexes the sorted distinct labels. With
    ``label_type=int`` each label is read as an integer, and two labels that
    read as the same integer ('01' and '1', '1' and a Bangla '১') are an error
    naming both.
    """
    names = sorted(set(labels))
    if label_type is None or label_type is str:
        index = {name: i for i, name in enumerate(names)}
        return np.array([index[label] for label in labels], dtype=np.int64), names
    if label_type is not int:
        raise ValueError(f"label_type must be None (labels as written) or int, got "
                         f"{label_type!r}.")
    values = {}
    for name in names:
        try:
            value = int(name)
        except ValueError:
            raise ValueError(f"label_type=int, but the label {name!r} is not an "
                             "integer; leave label_type=None to keep labels as "
                             "written.") from None
        if value in values:
            raise ValueError(f"label_type=int, but the labels {values[value]!r} and "
                             f"{name!r} both read as {value}; they would merge "
                             "into one class. Rename one, or leave label_type=None "
                             "to keep them apart.")
        values[value] = name
    number = {name: value for value, name in values.items()}
    return (np.array([number[label] for label in labels], dtype=np.int64),
            [str(v) for v in sorted(values)])


class ImageFolderSummary:
    """What ``load_image_folder`` read: classes, modes, sizes, skipped files.

    Attributes
    ----------
    folder : str
        The folder read.
    counts : dict
        Images per class, in ``target_names`` order.
    modes : dict
        Pillow mode -> number of images (e.g. ``{'L': 980, 'RGBA': 20}``).
    sizes : dict
        Original size 'WxH' -> number of images, before resizing.
    skipped : list of (str, str)
        Files not read, with the reason.
    image_size : (int, int)
        The (height, width) every image was resized to.

    Examples
    --------
    >>> from sknets.datasets import ImageFolderSummary
    >>> print(ImageFolderSummary("digits", {"0": 2, "1": 1}, {"L": 3},
    ...                          {"28x28": 3}, [("x.png", "not an image")], (28, 28)))
    digits: 3 images in 2 classes, resized to 28x28
      per class: 0: 2, 1: 1
      modes: L: 3
      sizes: 28x28: 3
      skipped 1 file(s): x.png (not an image)
    """

    def __init__(self, folder: StrPath, counts: dict, modes: dict, sizes: dict,
                 skipped: list, image_size: tuple[int, int]) -> None:
        self.folder, self.counts, self.modes = folder, counts, modes
        self.sizes, self.skipped, self.image_size = sizes, skipped, image_size

    def lines(self) -> list[str]:
        """The summary as lines of text (what ``str`` joins)."""
        height, width = self.image_size
        out = [f"{self.folder}: {sum(self.counts.values())} images in "
               f"{len(self.counts)} classes, resized to {width}x{height}",
               "  per class: " + ", ".join(f"{k}: {v}" for k, v in self.counts.items()),
               "  modes: " + ", ".join(f"{k}: {v}" for k, v in self.modes.items()),
               "  sizes: " + ", ".join(f"{k}: {v}" for k, v in self.sizes.items())]
        if self.skipped:
            shown = ", ".join(f"{f} ({why})" for f, why in self.skipped[:20])
            more = (f" and {len(self.skipped) - 20} more"
                    if len(self.skipped) > 20 else "")
            out.append(f"  skipped {len(self.skipped)} file(s): {shown}{more}")
        return out

    def __str__(self):
        return "\n".join(self.lines())

    def __repr__(self):
        return f"<ImageFolderSummary {self.lines()[0]}>"


def _image_size(image_size):
    size = (image_size, image_size) if isinstance(image_size, int) else image_size
    try:
        height, width = size
        ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                 for v in (height, width))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"image_size must be a positive int or a (height, width) "
                         f"pair of positive ints, got {image_size!r}.")
    return int(height), int(width)


def _csv_entries(root, labels_csv, filename_column, label_column):
    import pandas as pd

    table = pd.read_csv(labels_csv, dtype=str, keep_default_na=False)
    file_col, label_col = _csv_columns(table, filename_column, label_column,
                                       labels_csv)
    entries = []
    for row, (name, label) in enumerate(zip(table[file_col], table[label_col],
                                            strict=True), start=2):
        name = name.strip()
        parts = PurePath(name).parts
        if PurePath(name).is_absolute() or ".." in parts:
            raise ValueError(
                f"Row {row} of {labels_csv} names {name!r}: image paths in the "
                f"CSV must be relative paths inside {root} (no absolute paths, "
                "no '..').")
        entries.append((root / name, label))  # labels as written
    return entries


def _class_files(folder):
    # The image files of a class folder, its nested folders included (hidden
    # ones left out), in the order of their relative paths.
    files = []
    for directory, subfolders, names in os.walk(folder):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        files += [Path(directory) / name for name in names
                  if Path(name).suffix.lower() in _IMAGE_SUFFIXES]
    return sorted(files, key=lambda file: file.relative_to(folder).parts)


def load_image_folder(path: StrPath,
                      image_size: int | tuple[int, int] | None = (28, 28),
                      labels_csv: StrPath | None = None, *,
                      filename_column: str | None = None,
                      label_column: str | None = None, grayscale: bool = True,
                      label_type: str | None = None, background: str = "white",
                      as_images: bool = False, return_X_y: bool = False) -> Any:
    """Read a folder of images (PNG, JPEG, TIFF, ...) into X, y with Pillow.

    Two layouts: one sub-folder per class (the folder name is the label; the
    images in its nested folders belong to it too, as torchvision's
    ``ImageFolder`` reads them, hidden folders aside), or, with
    ``labels_csv``, a flat folder plus a CSV mapping file names to labels, as
    NumtaDB ships. Each image is decoded by ``decode_image`` (the rules for
    every Pillow mode: 16-bit and float images keep their scale, alpha is
    composited on ``background``), resized to ``image_size`` with bilinear
    filtering, in [0, 1]. Files that cannot be opened (corrupt, missing, not
    images) are skipped and listed in one warning and in the summary; an
    image whose mode cannot be read faithfully is an ``ImageDecodeError``.

    Parameters
    ----------
    path : str or path-like
        The folder.
    image_size : int or (height, width), default=(28, 28)
        Size every image is resized to.
    labels_csv : str or path-like, default=None
        CSV with a file-name column and a label column; None reads class
        sub-folders. File names are relative paths inside ``path``.
    filename_column, label_column : str, default=None
        The CSV's columns; None looks for a column named 'filename' ('file',
        'image', ...) and one named 'label' ('digit', 'class', ...), or takes
        the two columns of a two-column CSV.
    grayscale : bool, default=True
        One grey channel; False keeps three RGB channels.
    label_type : None or int, default=None
        None keeps labels exactly as written: '01' and '1', or '1' and a
        Bangla '১', are different classes. ``int`` reads them as integers
        and refuses two labels that read alike.
    background : {'white', 'black'} or float, default='white'
        What transparent pixels show (see ``decode_image``).
    as_images : bool, default=False
        Return X as (n, height, width) (or (n, 3, height, width)) instead of
        flat rows.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``data`` (float32 X in [0, 1]), ``target`` (int64 y: indices into
        ``target_names``, or the integers themselves with ``label_type=int``),
        ``target_names``, ``image_shape``, ``filenames`` and ``summary`` (an
        ``ImageFolderSummary``: images per class, modes and sizes seen, files
        skipped and why); or ``(X, y)``.

    Examples
    --------
    >>> import os, tempfile
    >>> from PIL import Image
    >>> from sknets.datasets import load_image_folder
    >>> root = tempfile.mkdtemp()
    >>> for label in ("0", "1"):
    ...     os.mkdir(os.path.join(root, label))
    ...     Image.new("L", (40, 40), int(label) * 255).save(
    ...         os.path.join(root, label, "a.png"))
    >>> data = load_image_folder(root, image_size=28)
    >>> data.data.shape, data.target.tolist(), float(data.data[1].mean())
    ((2, 784), [0, 1], 1.0)
    >>> data.summary.counts, data.summary.modes, data.summary.sizes
    ({'0': 1, '1': 1}, {'L': 2}, {'40x40': 2})
    """
    from PIL import Image

    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{os.fspath(path)!r} is not a folder.")
    height, width = _image_size(image_size)
    _background(background)
    if labels_csv is None:
        folders = sorted(d for d in root.iterdir()
                         if d.is_dir() and not d.name.startswith("."))
        if not folders:
            raise ValueError(
                f"{root} has no class sub-folders. Put each class's images in a "
                "sub-folder named after the class, or pass labels_csv=... for a "
                "flat folder with a CSV of file name -> label."
            )
        entries = [(file, folder.name) for folder in folders
                   for file in _class_files(folder)]
    else:
        entries = _csv_entries(root, labels_csv, filename_column, label_column)
    images, labels, kept, skipped = [], [], [], []
    modes: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for file, label in entries:
        relative = str(file.relative_to(root))
        try:
            with Image.open(file) as image:
                mode, size = image.mode, "x".join(map(str, image.size))
                try:
                    values = decode_image(image, grayscale=grayscale,
                                          background=background)
                except ImageDecodeError as exc:
                    raise ImageDecodeError(f"{file}: {exc}") from None
        except ImageDecodeError:
            raise
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            skipped.append((relative, type(exc).__name__))
            continue
        images.append(_resize(values, height, width))
        modes[mode] = modes.get(mode, 0) + 1
        sizes[size] = sizes.get(size, 0) + 1
        labels.append(label)
        kept.append(relative)
    if skipped:
        shown = ", ".join(f"{f} ({why})" for f, why in skipped[:50])
        more = f" and {len(skipped) - 50} more" if len(skipped) > 50 else ""
        warnings.warn(f"Skipped {len(skipped)} unreadable image file(s) in {root}: "
                      f"{shown}{more}.", UserWarning, stacklevel=2)
    if not images:
        raise ValueError(f"No readable images in {root}.")
    stack = np.stack(images)  # (N, H, W) or (N, H, W, 3), float32 in [0, 1]
    if not grayscale:
        stack = np.ascontiguousarray(stack.transpose(0, 3, 1, 2))  # (N, 3, H, W)
    y, names = _encode_labels(labels, label_type)
    counts = {name: 0 for name in names}
    for value in y:
        counts[names[value] if label_type is not int else str(value)] += 1
    summary = ImageFolderSummary(str(root), counts, modes, sizes, skipped,
                                 (height, width))
    return _bunch(stack, y, names, as_images, return_X_y, filenames=np.array(kept),
                  summary=summary)
