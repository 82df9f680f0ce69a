"""Datasets: IDX files, the MNIST loaders and their downloads, image folders."""

import gzip
import hashlib
import re
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sknets.datasets import (
    DATASETS,
    IDX_DTYPES,
    DownloadError,
    ImageDecodeError,
    load_digits_images,
    load_fashion_mnist,
    load_image_folder,
    load_mnist,
    read_idx,
)


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


# -- loaders -------------------------------------------------------------------

IDX_NAMES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _write_dataset(folder, seed=0, n=6):
    """Small MNIST-format files; returns the images, labels and SHA-256s."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
    labels = rng.randint(0, 10, size=n).astype(np.uint8)
    hashes = {}
    for kind in ("train", "test"):
        for name, array in zip(IDX_NAMES[kind], (images, labels), strict=True):
            data = gzip.compress(_idx_bytes(array, 0x08))
            (folder / name).write_bytes(data)
            hashes[name] = hashlib.sha256(data).hexdigest()
    return images, labels, hashes


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(tmp_path):
    """A web server on 127.0.0.1 serving the folder it yields."""
    served = tmp_path / "served"
    served.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $SKNETS_DATA, a fresh home, and no system copy of the datasets."""
    monkeypatch.delenv("SKNETS_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setitem(DATASETS["fashion-mnist"], "system_dir",
                        str(tmp_path / "no-system-copy"))
    return tmp_path


def test_download_verifies_and_loads(isolated, http_server, monkeypatch):
    # Files come from the mirror, pass their SHA-256 and load as [0, 1] floats.
    served, url = http_server
    images, labels, hashes = _write_dataset(served)
    monkeypatch.setitem(DATASETS["mnist"], "mirrors", [url + "absent/", url])
    monkeypatch.setitem(DATASETS["mnist"], "sha256", hashes)
    data_home = isolated / "data"
    bunch = load_mnist(data_home=data_home, download=True)
    np.testing.assert_array_equal(bunch.data, images.reshape(6, -1) / np.float32(255))
    np.testing.assert_array_equal(bunch.target, labels)
    assert bunch.data.dtype == np.float32 and bunch.target.dtype == np.int64
    assert bunch.image_shape == (1, 28, 28)
    assert sorted(p.name for p in (data_home / "mnist").iterdir()) == sorted(
        IDX_NAMES["train"])
    # Found again without the server.
    (served / IDX_NAMES["train"][0]).unlink()
    X, y = load_mnist(data_home=data_home, as_images=True, return_X_y=True)
    assert X.shape == (6, 28, 28)


def test_checksum_mismatch_leaves_nothing_behind(isolated, http_server, monkeypatch):
    # A file that fails its checksum is an error and is not kept.
    served, url = http_server
    _, _, hashes = _write_dataset(served)
    hashes["train-images-idx3-ubyte.gz"] = "0" * 64
    monkeypatch.setitem(DATASETS["mnist"], "mirrors", [url])
    monkeypatch.setitem(DATASETS["mnist"], "sha256", hashes)
    with pytest.raises(DownloadError, match=r"(?s)nothing was saved.*SHA-256 mismatch"):
        load_mnist(data_home=isolated / "data", download=True)
    assert list((isolated / "data" / "mnist").iterdir()) == []


def test_unreachable_mirrors_are_an_error(isolated, http_server, monkeypatch):
    # Every mirror failing names each attempt.
    _, url = http_server
    monkeypatch.setitem(DATASETS["mnist"], "mirrors", [url + "a/", url + "b/"])
    with pytest.raises(DownloadError, match=r"(?s)a/train-images.*404.*b/train"):
        load_mnist(data_home=isolated / "data", download=True)


def test_missing_files_say_how_to_get_them(isolated):
    # Without the files, the error lists where it looked and three remedies.
    with pytest.raises(FileNotFoundError) as error:
        load_fashion_mnist()
    message = str(error.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "load_fashion_mnist(download=True)" in message
    assert "data_home=" in message and ".sknets/data" in message


def test_search_order(isolated, monkeypatch):
    # data_home, then $SKNETS_DATA (or its dataset sub-folder), then ~/.sknets.
    first, _, _ = _write_dataset(isolated / "first", seed=1)
    second, _, _ = _write_dataset(isolated / "env" / "fashion-mnist", seed=2)
    third, _, _ = _write_dataset(isolated / "home" / ".sknets" / "data", seed=3)
    monkeypatch.setenv("SKNETS_DATA", str(isolated / "env"))
    for data_home, expected in [(isolated / "first", first), (None, second)]:
        X, _ = load_fashion_mnist(data_home, kind="test", as_images=True,
                                  return_X_y=True)
        np.testing.assert_array_equal(X * 255, expected)
    monkeypatch.delenv("SKNETS_DATA")
    X, _ = load_fashion_mnist(as_images=True, return_X_y=True)
    np.testing.assert_array_equal(X * 255, third)


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind must be 'train' or 'test'"):
        load_mnist(kind="validation")


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="needs `apt-get install dataset-fashion-mnist`")
def test_fashion_mnist_from_the_debian_package():
    # The real files: 60,000 + 10,000 images, ten named classes.
    start = time.perf_counter()
    train = load_fashion_mnist()
    X_test, y_test = load_fashion_mnist(kind="test", return_X_y=True)
    print(f"loaded in {time.perf_counter() - start:.2f} s")
    assert train.data.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert train.data.dtype == np.float32 and 0 <= train.data.min() <= 1
    assert train.target_names[9] == "Ankle boot"
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_digits_images():
    # The embedded default, flat or as images, in [0, 1].
    bunch = load_digits_images()
    assert bunch.data.shape == (1797, 64) and bunch.image_shape == (1, 8, 8)
    assert bunch.data.dtype == np.float32 and float(bunch.data.max()) == 1.0
    X, y = load_digits_images(n_class=3, as_images=True, return_X_y=True)
    assert X.shape[1:] == (8, 8) and sorted(set(y)) == [0, 1, 2]


# -- image folders ------------------------------------------------------------------


def _png(path, value, size=(40, 30), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, size, color).save(path)


def test_class_subfolders_with_a_corrupt_file(tmp_path):
    # One sub-folder per class; the corrupt PNG is skipped and named.
    for label, value in [("3", 0), ("7", 102)]:
        for i in range(2):
            _png(tmp_path / label / f"img{i}.png", value)
    (tmp_path / "7" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "7" / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning, match=r"Skipped 1 unreadable .*7/broken.png"):
        bunch = load_image_folder(tmp_path, image_size=(28, 28), label_type=int)
    assert bunch.data.shape == (4, 784)
    assert bunch.target.tolist() == [3, 3, 7, 7]
    assert bunch.summary.skipped == [("7/broken.png", "UnidentifiedImageError")]
    np.testing.assert_allclose(bunch.data[2], 102 / 255, rtol=1e-6)
    assert list(bunch.filenames) == ["3/img0.png", "3/img1.png", "7/img0.png",
                                     "7/img1.png"]


def test_images_in_nested_folders_belong_to_their_top_level_class(tmp_path):
    # cat/{1,2}, cat/more/{3,4,5}, dog/{1,2}, bird/2024/{1,2}: nine images in
    # three classes, none dropped; a hidden folder is left out.
    layout = {"cat": ["1", "2", "more/3", "more/4", "more/5"], "dog": ["1", "2"],
              "bird": ["2024/1", "2024/2"]}
    for label, names in layout.items():
        for name in names:
            _png(tmp_path / label / f"{name}.png", 50)
    _png(tmp_path / "dog" / ".thumbnails" / "x.png", 50)
    bunch = load_image_folder(tmp_path, image_size=8)
    assert list(bunch.target_names) == ["bird", "cat", "dog"]
    assert bunch.summary.counts == {"bird": 2, "cat": 5, "dog": 2}
    assert len(bunch.data) == 9
    assert list(bunch.filenames)[:4] == ["bird/2024/1.png", "bird/2024/2.png",
                                         "cat/1.png", "cat/2.png"]
    assert "cat/more/5.png" in list(bunch.filenames)


def test_string_class_names_and_rgb(tmp_path):
    # Non-integer labels become indices into target_names; RGB keeps 3 channels.
    _png(tmp_path / "dog" / "a.png", 10, mode="RGB")
    _png(tmp_path / "cat" / "b.png", 200, mode="RGB")
    bunch = load_image_folder(tmp_path, image_size=8, grayscale=False,
                              as_images=True)
    assert bunch.target_names == ["cat", "dog"] and bunch.target.tolist() == [0, 1]
    assert bunch.data.shape == (2, 3, 8, 8) and bunch.image_shape == (3, 8, 8)
    np.testing.assert_allclose(bunch.data[0, :, 0, 0], [200 / 255, 0, 55 / 255],
                               rtol=1e-6)


def test_flat_folder_with_numtadb_style_csv(tmp_path):
    # NumtaDB: a flat folder, a CSV with 'filename' and 'digit' among others.
    images = tmp_path / "training-a"
    for name, value in [("a0.png", 0), ("a1.png", 255)]:
        _png(images / name, value)
    csv = tmp_path / "training-a.csv"
    csv.write_text("filename,original filename,scanid,digit,database name\n"
                   "a0.png,x.png,1,5,training-a\n"
                   "a1.png,y.png,2,9,training-a\n"
                   "a2.png,z.png,3,1,training-a\n")
    with pytest.warns(UserWarning, match=r"a2.png \(FileNotFoundError\)"):
        X, y = load_image_folder(images, labels_csv=csv, label_type=int,
                                 return_X_y=True)
    assert y.tolist() == [5, 9] and X.shape == (2, 784)
    np.testing.assert_array_equal(X[1], 1.0)
    # Columns that cannot be guessed are asked for.
    csv.write_text("a,b,c\na0.png,5,x\n")
    with pytest.raises(ValueError, match="Pass file_name_column"):
        load_image_folder(images, labels_csv=csv)
    data = load_image_folder(images, labels_csv=csv, filename_column="a",
                             label_column="b")
    assert data.target.tolist() == [0] and data.target_names == ["5"]


def test_folder_errors(tmp_path):
    # Not a folder, no class folders, nothing readable.
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_image_folder(tmp_path / "absent")
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_image_folder(tmp_path)
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "x.png").write_bytes(b"junk")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="No readable"):
        load_image_folder(tmp_path)


# -- data as it is: decoding, labels, paths, bounded reads ---------------------------


def _save(path, image, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)


def _alpha_digit():
    # A "1" drawn only in the alpha channel: black ink, transparent paper.
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    for row in range(4):
        image.putpixel((1, row), (0, 0, 0, 255))
    return image


def _palette():
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    return image


LUMA_10_200_30 = (0.299 * 10 + 0.587 * 200 + 0.114 * 30) / 255


@pytest.mark.parametrize("name, image, suffix, expected", [
    ("16-bit grey at 50%", Image.fromarray(np.full((4, 4), 32768, np.uint16)), ".png",
     np.full((4, 4), 32768 / 65535)),
    ("float at 0.5", Image.fromarray(np.full((4, 4), 0.5, np.float32)), ".tiff",
     np.full((4, 4), 0.5)),
    ("digit in the alpha channel only", _alpha_digit(), ".png",
     np.where(np.arange(4) == 1, 0.0, 1.0)[None, :].repeat(4, axis=0)),
    ("RGBA half transparent", Image.new("RGBA", (4, 4), (0, 0, 0, 128)), ".png",
     np.full((4, 4), 1 - 128 / 255)),
    ("grey with alpha", Image.new("LA", (4, 4), (0, 51)), ".png",
     np.full((4, 4), 1 - 51 / 255)),
    ("palette", _palette(), ".png", np.full((4, 4), LUMA_10_200_30)),
    ("CMYK black", Image.new("CMYK", (4, 4), (0, 0, 0, 255)), ".tiff",
     np.zeros((4, 4))),
    ("CMYK paper", Image.new("CMYK", (4, 4), (0, 0, 0, 0)), ".tiff", np.ones((4, 4))),
    ("1-bit", Image.new("1", (4, 4), 1), ".png", np.ones((4, 4))),
    ("8-bit", Image.new("L", (4, 4), 51), ".png", np.full((4, 4), 0.2)),
])
def test_each_image_mode_keeps_its_values(tmp_path, name, image, suffix, expected):
    # Each Pillow mode decodes to its values in [0, 1]: 16-bit and float keep
    # their scale, alpha is composited on white (the default background).
    _save(tmp_path / "a" / f"x{suffix}", image)
    data = load_image_folder(tmp_path, image_size=4)
    np.testing.assert_allclose(data.data.reshape(4, 4), expected, atol=1e-6,
                               err_msg=name)
    assert data.summary.modes == {image.mode: 1}


def test_background_choice_and_rgb_alpha(tmp_path):
    # The alpha-only digit on black: all ink and paper black; on grey 0.5.
    _save(tmp_path / "a" / "x.png", _alpha_digit())
    black = load_image_folder(tmp_path, image_size=4, background="black")
    np.testing.assert_array_equal(black.data, 0.0)
    grey = load_image_folder(tmp_path, image_size=4, background=0.5)
    assert sorted(set(grey.data.ravel().tolist())) == [0.0, 0.5]
    rgb = load_image_folder(tmp_path, image_size=4, grayscale=False, as_images=True)
    np.testing.assert_array_equal(rgb.data[0, :, 0, 0], [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(rgb.data[0, :, 0, 1], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="background must be 'white', 'black'"):
        load_image_folder(tmp_path, background="grey")


@pytest.mark.parametrize("image, mode", [
    (Image.fromarray(np.full((4, 4), 2 ** 20, np.int32)), "'I'"),
    (Image.fromarray(np.full((4, 4), 3.0, np.float32)), "'F'"),
])
def test_modes_without_a_known_scale_are_errors(tmp_path, image, mode):
    # A 32-bit integer image (used to load as 1.0) and a float image outside
    # [0, 1] are errors naming the file and the mode.
    _save(tmp_path / "a" / "x.tiff", image)
    with pytest.raises(ImageDecodeError, match=rf"x.tiff: .*mode {mode}"):
        load_image_folder(tmp_path, image_size=4)


@pytest.mark.parametrize("folders, n_classes", [
    (["1", "১"], 2),  # a Bangla one is not a Latin one
    (["01", "1"], 2),
    (["7", "07", "+7"], 3),
])
def test_distinct_class_folders_stay_distinct(tmp_path, folders, n_classes):
    # Labels are kept exactly as written.
    for folder in folders:
        _png(tmp_path / folder / "a.png", 0, size=(4, 4))
    data = load_image_folder(tmp_path, image_size=4)
    assert sorted(data.target_names) == sorted(folders)
    assert len(set(data.target.tolist())) == n_classes == len(data.summary.counts)


@pytest.mark.parametrize("folders, pair", [
    (["01", "1"], "'01' and '1'"), (["1", "১"], "'1' and '১'"),
    (["+7", "7"], "'+7' and '7'"),
])
def test_integer_labels_refuse_collisions(tmp_path, folders, pair):
    # label_type=int reads labels as integers and names two that read alike.
    for folder in folders:
        _png(tmp_path / folder / "a.png", 0, size=(4, 4))
    with pytest.raises(ValueError, match=re.escape(f"labels {pair} both read as")):
        load_image_folder(tmp_path, image_size=4, label_type=int)


def test_csv_labels_stay_as_written_and_int_on_request(tmp_path):
    # '01' and '1' in the CSV are two classes, or a collision with int.
    for name in ("a.png", "b.png", "c.png"):
        _png(tmp_path / "img" / name, 0, size=(4, 4))
    csv = tmp_path / "labels.csv"
    csv.write_text("filename,label\na.png,01\nb.png,1\nc.png,2\n")
    data = load_image_folder(tmp_path / "img", image_size=4, labels_csv=csv)
    assert data.target_names == ["01", "1", "2"] and data.target.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="'01' and '1' both read as 1"):
        load_image_folder(tmp_path / "img", image_size=4, labels_csv=csv,
                          label_type=int)
    csv.write_text("filename,label\nb.png,1\nc.png,2\n")
    assert load_image_folder(tmp_path / "img", image_size=4, labels_csv=csv,
                             label_type=int).target.tolist() == [1, 2]


@pytest.mark.parametrize("row, name", [(2, "/etc/hostname"), (3, "../outside.png")])
def test_csv_paths_must_stay_inside_the_folder(tmp_path, row, name):
    # An absolute path (a pathlib traceback before) and a '..' path (read from
    # outside before) are refused with the row named.
    _png(tmp_path / "outside.png", 0, size=(4, 4))
    _png(tmp_path / "img" / "a.png", 0, size=(4, 4))
    rows = ["a.png", "a.png", "a.png"]
    rows[row - 2] = name
    csv = tmp_path / "labels.csv"
    csv.write_text("filename,label\n" + "".join(f"{r},1\n" for r in rows))
    with pytest.raises(ValueError, match=f"Row {row} of .* names '{name}'"):
        load_image_folder(tmp_path / "img", image_size=4, labels_csv=csv)


@pytest.mark.parametrize("size", [0, -3, (28, 0), (28,), "28", 2.5])
def test_invalid_image_size_is_named(tmp_path, size):
    # image_size=0 was "No readable images".
    _png(tmp_path / "a" / "x.png", 0, size=(4, 4))
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        load_image_folder(tmp_path, image_size=size)


def test_summary_says_what_was_read(tmp_path):
    # Counts per class, modes and sizes seen, files skipped with reasons.
    _png(tmp_path / "a" / "x.png", 0, size=(4, 4))
    _png(tmp_path / "a" / "y.png", 0, size=(6, 5), mode="RGB")
    _png(tmp_path / "b" / "z.png", 0, size=(4, 4))
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG no")
    with pytest.warns(UserWarning, match="Skipped 1"):
        data = load_image_folder(tmp_path, image_size=4)
    summary = data.summary
    assert summary.counts == {"a": 2, "b": 1}
    assert summary.modes == {"L": 2, "RGB": 1}
    assert summary.sizes == {"4x4": 2, "6x5": 1}
    assert summary.skipped == [("b/broken.png", "UnidentifiedImageError")]
    text = str(summary)
    assert "3 images in 2 classes, resized to 4x4" in text
    assert "skipped 1 file(s): b/broken.png (UnidentifiedImageError)" in text


def test_gzip_bomb_is_refused_within_memory_and_time(tmp_path):
    # A 4.7 MB .gz whose header promises one byte, followed by 1 GiB of zeros:
    # refused from the bytes the header promises, not after inflating them all
    # (which took 4.4 s and 2.1 GB of memory).
    import tracemalloc
    import zlib

    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing
    parts = [packer.compress(_idx_bytes(np.array([7]), 0x08))]
    zeros = bytes(1 << 24)
    parts += [packer.compress(zeros) for _ in range(64)]
    parts.append(packer.flush())
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(b"".join(parts))
    assert path.stat().st_size < 8 << 20
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError) as error:
            read_idx(path)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0 and peak < 100 * 2 ** 20
    assert re.search("corrupt: .*more data follows", str(error.value))


def test_header_promising_more_than_the_file_can_hold(tmp_path):
    # A tiny .gz declaring 4 GiB of data is refused before any allocation.
    header = bytes([0, 0, 8, 3]) + np.array([65536, 256, 256], ">u4").tobytes()
    path = tmp_path / "huge-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header))
    with pytest.raises(ValueError, match="more than its .* compressed bytes can hold"):
        read_idx(path)


def test_download_stops_at_the_expected_size(isolated, http_server, monkeypatch):
    # A mirror serving more than the file's size is cut off there; nothing is
    # kept, and the next mirror is tried.
    served, url = http_server
    _, _, hashes = _write_dataset(served)
    big = served / "big"
    big.mkdir()
    images, labels = IDX_NAMES["train"]
    (big / images).write_bytes((served / images).read_bytes())
    (big / labels).write_bytes(bytes(3 << 20))
    monkeypatch.setitem(DATASETS["mnist"], "mirrors", [url + "big/"])
    monkeypatch.setitem(DATASETS["mnist"], "sha256", hashes)
    with pytest.raises(DownloadError, match="served more than the expected 28881"):
        load_mnist(data_home=isolated / "data", download=True)
    assert not any((isolated / "data").rglob("*labels*"))


def test_download_has_a_total_deadline(isolated, monkeypatch, tmp_path):
    # A mirror that trickles is stopped at the deadline, with a clear message.
    from sknets import datasets

    class Trickle:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, n):
            time.sleep(0.05)
            return b"\x00" * 10

    monkeypatch.setattr(datasets.urllib.request, "urlopen", lambda *a, **k: Trickle())
    start = time.perf_counter()
    with pytest.raises(DownloadError, match="took longer than 0.5 s"):
        datasets._download(["http://mirror.invalid/x"], "0" * 64, tmp_path / "x.gz",
                           size=10 ** 9, deadline_s=0.5)
    assert time.perf_counter() - start < 2
    assert list(tmp_path.iterdir()) == []
