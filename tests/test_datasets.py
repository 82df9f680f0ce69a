"""Datasets: reading IDX files, and refusing broken ones."""

import gzip

import numpy as np
import pytest

from sknets.datasets import IDX_DTYPES, read_idx


def _idx_bytes(array, type_code):
    dtype = IDX_DTYPES[type_code]
    header = bytes([0, 0, type_code, array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(dtype).tobytes()


@pytest.mark.parametrize("type_code", sorted(IDX_DTYPES))
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path, type_code, compress):
    # Every IDX type, raw or gzip-compressed, reads back exactly.
    rng = np.random.RandomState(type_code)
    array = rng.randint(0, 100, size=(5, 3, 4)).astype(IDX_DTYPES[type_code])
    data = _idx_bytes(array, type_code)
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if compress else data)
    result = read_idx(path)
    assert result.shape == (5, 3, 4)
    assert result.dtype == IDX_DTYPES[type_code].newbyteorder("=")
    np.testing.assert_array_equal(result, array)


def test_labels_file(tmp_path):
    # One dimension: MNIST's label files.
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_bytes(np.array([7, 2, 1, 0]), 0x08)))
    np.testing.assert_array_equal(read_idx(path), [7, 2, 1, 0])


@pytest.mark.parametrize("data, message", [
    (b"\x00\x00", "only 2 bytes"),
    (b"PK\x03\x04rest", "not an IDX file: its magic number is 0x504b0304"),
    (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 0]), "not an IDX file"),
    (bytes([0, 0, 8, 0]), "declares 0 dimensions"),
    (bytes([0, 0, 8, 3, 0, 0, 0, 2]), "header needs 16 bytes"),
    (_idx_bytes(np.zeros((4, 2)), 0x08)[:-1], r"truncated: .*\(4, 2\).*holds 7"),
    (_idx_bytes(np.zeros((4, 2)), 0x0D) + b"\x00", "corrupt: .*float32"),
])
def test_broken_files_are_clear_errors(tmp_path, data, message):
    # Short, foreign, truncated and oversized files each say what is wrong.
    path = tmp_path / "broken"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message):
        read_idx(path)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    # A download cut short inside the gzip stream.
    data = gzip.compress(_idx_bytes(np.arange(1000) % 256, 0x08))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated gzip file"):
        read_idx(path)
