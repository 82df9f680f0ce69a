"""Datasets: the embedded digits, MNIST and Fashion-MNIST, image folders.

Every loader returns float32 pixels in [0, 1] and integer labels, flat
(n_samples, n_pixels) or, with ``as_images=True``, as images, in a
scikit-learn ``Bunch`` (or ``(X, y)`` with ``return_X_y=True``).
"""

import gzip
import hashlib
import os
import urllib.request
import warnings
import zlib
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.utils import Bunch

from ._files import atomic_file

__all__ = [
    "DATASETS",
    "DownloadError",
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


def _read_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x1f\x8b":  # not gzip-compressed
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(
            f"{os.fspath(path)!r} is a corrupt or truncated gzip file ({exc}); "
            "download it again."
        ) from exc


def read_idx(path):
    """Read an IDX file, raw or gzip-compressed, into a numpy array.

    IDX is the format MNIST and Fashion-MNIST ship in: two zero bytes, a type
    byte, the number of dimensions, each dimension as a big-endian int32,
    then the values in big-endian C order. The whole file is validated: a
    wrong magic number, an unknown type, or a size that does not match the
    header is a ValueError saying what is wrong.

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
    data = _read_bytes(path)
    name = repr(os.fspath(path))
    if len(data) < 4:
        raise ValueError(f"{name} is not an IDX file: it has only {len(data)} "
                         "bytes, fewer than the 4-byte magic number.")
    zero, type_code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00" or type_code not in IDX_DTYPES:
        raise ValueError(
            f"{name} is not an IDX file: its magic number is "
            f"0x{data[:4].hex()}, expected 0x0000TTDD with type byte TT in "
            f"{[hex(code) for code in IDX_DTYPES]} and DD dimensions."
        )
    if ndim == 0:
        raise ValueError(f"{name} is a corrupt IDX file: its header declares 0 "
                         "dimensions.")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{name} is truncated: its {ndim}-dimensional header needs "
                         f"{header_size} bytes, the file has {len(data)}.")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_size
    if found != expected:
        problem = "truncated" if found < expected else "corrupt"
        raise ValueError(
            f"{name} is {problem}: its header declares shape {shape} of "
            f"{dtype.newbyteorder('=').name}, {expected} bytes of data, but the "
            f"file holds {found}. Download it again."
        )
    array = np.frombuffer(data, dtype, offset=header_size).reshape(shape)
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


def _download(urls, sha256, destination):
    """Fetch the first URL that serves the file with the right SHA-256.

    The bytes go to a temporary file next to ``destination``, which is renamed
    only once verified; on any failure, or an interrupt, it is removed.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        try:
            with atomic_file(destination) as out, \
                    urllib.request.urlopen(url, timeout=60) as response:
                digest = hashlib.sha256()
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                if digest.hexdigest() != sha256:
                    raise _Mismatch(f"{url}: SHA-256 mismatch, got "
                                    f"{digest.hexdigest()}, expected {sha256}")
            return destination
        except _Mismatch as exc:
            errors.append(str(exc))
        except OSError as exc:  # URLError, HTTPError and timeouts are OSErrors
            errors.append(f"{url}: {exc}")
    raise DownloadError(
        f"Could not download {destination.name}; nothing was saved. Tried:\n  "
        + "\n  ".join(errors)
    )


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
                             info["sha256"][filename], target)
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


def load_mnist(data_home=None, kind="train", download=False, *, as_images=False,
               return_X_y=False):
    return _load_idx_dataset("mnist", data_home, kind, download, as_images,
                             return_X_y)


def load_fashion_mnist(data_home=None, kind="train", download=False, *,
                       as_images=False, return_X_y=False):
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


def load_digits_images(*, n_class=10, as_images=False, return_X_y=False):
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


def _encode_labels(labels):
    # Integer labels stay themselves; other labels become indices into the
    # sorted names.
    names = sorted(set(labels))
    try:
        values = [int(label) for label in labels]
    except ValueError:
        index = {name: i for i, name in enumerate(names)}
        return np.array([index[label] for label in labels], dtype=np.int64), names
    ints = sorted(set(values))
    return np.array(values, dtype=np.int64), [str(v) for v in ints]


def load_image_folder(path, image_size=(28, 28), labels_csv=None, *,
                      filename_column=None, label_column=None, grayscale=True,
                      as_images=False, return_X_y=False):
    """Read a folder of images (PNG, JPEG, ...) into X, y with Pillow.

    Two layouts: one sub-folder per class (the folder name is the label), or,
    with ``labels_csv``, a flat folder plus a CSV mapping file names to labels,
    as NumtaDB ships. Each image is converted to grey (or RGB), resized to
    ``image_size`` with bilinear filtering and scaled to [0, 1]. Files that
    cannot be read (corrupt, missing, not images) are skipped with one warning
    that lists them.

    Parameters
    ----------
    path : str or path-like
        The folder.
    image_size : int or (height, width), default=(28, 28)
        Size every image is resized to.
    labels_csv : str or path-like, default=None
        CSV with a file-name column and a label column; None reads class
        sub-folders.
    filename_column, label_column : str, default=None
        The CSV's columns; None looks for a column named 'filename' ('file',
        'image', ...) and one named 'label' ('digit', 'class', ...), or takes
        the two columns of a two-column CSV.
    grayscale : bool, default=True
        One grey channel; False keeps three RGB channels.
    as_images : bool, default=False
        Return X as (n, height, width) (or (n, 3, height, width)) instead of
        flat rows.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``data`` (float32 X in [0, 1]), ``target`` (int64 y: integer labels
        as themselves, other labels as indices into ``target_names``),
        ``target_names``, ``image_shape`` and ``filenames``; or ``(X, y)``.

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
    >>> X, y = load_image_folder(root, image_size=28, return_X_y=True)
    >>> X.shape, y.tolist(), float(X[1].mean())
    ((2, 784), [0, 1], 1.0)
    """
    from PIL import Image

    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{os.fspath(path)!r} is not a folder.")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    height, width = (int(v) for v in image_size)
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
                   for file in sorted(folder.iterdir())
                   if file.suffix.lower() in _IMAGE_SUFFIXES]
    else:
        import pandas as pd

        table = pd.read_csv(labels_csv, dtype=str, keep_default_na=False)
        file_col, label_col = _csv_columns(table, filename_column, label_column,
                                           labels_csv)
        entries = [(root / name.strip(), label.strip())
                   for name, label in zip(table[file_col], table[label_col],
                                          strict=True)]
    images, labels, kept, skipped = [], [], [], []
    for file, label in entries:
        try:
            with Image.open(file) as image:
                image = image.convert("L" if grayscale else "RGB")
                image = image.resize((width, height), Image.Resampling.BILINEAR)
                images.append(np.asarray(image, dtype=np.uint8))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            skipped.append(f"{file.relative_to(root)} ({type(exc).__name__})")
            continue
        labels.append(label)
        kept.append(str(file.relative_to(root)))
    if skipped:
        shown = ", ".join(skipped[:50])
        more = f" and {len(skipped) - 50} more" if len(skipped) > 50 else ""
        warnings.warn(f"Skipped {len(skipped)} unreadable image file(s) in {root}: "
                      f"{shown}{more}.", UserWarning, stacklevel=2)
    if not images:
        raise ValueError(f"No readable images in {root}.")
    stack = np.stack(images).astype(np.float32)  # (N, H, W) or (N, H, W, 3)
    np.divide(stack, 255, out=stack)
    if not grayscale:
        stack = np.ascontiguousarray(stack.transpose(0, 3, 1, 2))  # (N, 3, H, W)
    y, names = _encode_labels(labels)
    return _bunch(stack, y, names, as_images, return_X_y, filenames=np.array(kept))
