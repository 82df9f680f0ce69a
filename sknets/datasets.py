"""Datasets: the IDX format of MNIST and Fashion-MNIST."""

import gzip
import os
import zlib

import numpy as np

__all__ = ["read_idx"]

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
