"""Image transformers: pixel values, layouts, and pipelines into the CNN."""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline

from sknets import CNNClassifierTorch
from sknets.preprocessing import (
    DilateImages,
    ImageFlattener,
    ImageResizer,
    InvertImages,
    PixelScaler,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_resizer_halving_is_a_block_mean():
    # Bilinear at factor 2 without antialiasing averages each 2x2 block.
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    result = ImageResizer(2, antialias=False).fit_transform(image)
    np.testing.assert_allclose(result[0], [[2.5, 4.5], [10.5, 12.5]])
    # Constant images stay constant, at any size, with antialiasing.
    constant = np.full((3, 1, 30, 40), 0.25)
    assert np.allclose(ImageResizer((28, 28)).fit_transform(constant), 0.25)


def test_layout_is_kept():
    # Flat in, flat out; images in, images out.
    X = np.random.RandomState(0).rand(5, 16, 16)
    resizer = ImageResizer(8)
    assert resizer.fit_transform(X).shape == (5, 8, 8)
    assert resizer.fit_transform(X.reshape(5, -1)).shape == (5, 64)
    assert resizer.fit_transform(X.reshape(5, 1, 16, 16)).shape == (5, 1, 8, 8)
    assert ImageResizer(8, image_shape=(4, 64)).fit_transform(
        X.reshape(5, -1)).shape == (5, 64)
    assert ImageFlattener().fit_transform(X).shape == (5, 256)
    rgb = np.random.RandomState(0).rand(2, 3, 6, 6)
    assert DilateImages().fit_transform(rgb).shape == (2, 3, 6, 6)


def test_invert_and_scale_8_bit_and_unit_pixels():
    # 'auto' reads 8-bit data as 0..255 and [0, 1] data as 0..1.
    X = np.array([[0, 51, 204, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(InvertImages().fit_transform(X), [[255, 204, 51, 0]])
    np.testing.assert_allclose(PixelScaler().fit_transform(X), [[0, 0.2, 0.8, 1]])
    unit = X / 255.0
    np.testing.assert_allclose(InvertImages().fit_transform(unit), 1 - unit,
                               rtol=1e-6)
    assert PixelScaler().fit(unit).max_value_ == 1.0
    # Rounding above 1 (as resizing leaves) is still [0, 1] data.
    assert InvertImages().fit(unit + 1e-6).max_value_ == 1.0
    assert InvertImages(max_value=10).fit_transform([[3.0]])[0, 0] == 7.0


def test_standard_scaling_per_channel():
    # Each channel of the training images gets mean 0 and std 1.
    rng = np.random.RandomState(0)
    X = np.stack([rng.rand(50, 8, 8) * 100, rng.rand(50, 8, 8) * 255 + 10], axis=1)
    scaler = PixelScaler(method="standard").fit(X)
    Z = scaler.transform(X)
    np.testing.assert_allclose(Z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=(0, 2, 3)), 1, atol=1e-5)
    assert scaler.max_value_ == 255.0 and scaler.mean_.shape == (2,)


def test_dilation_takes_the_neighbourhood_maximum():
    # A single bright pixel grows to a size x size square.
    image = np.zeros((1, 6, 6))
    image[0, 2, 3] = 0.5
    out = DilateImages(size=2).fit_transform(image)[0]
    assert out.sum() == pytest.approx(0.5 * 4)
    np.testing.assert_array_equal(np.argwhere(out == 0.5),
                                  [[2, 3], [2, 4], [3, 3], [3, 4]])
    np.testing.assert_array_equal(DilateImages((1, 3)).fit_transform(image)[0, 2],
                                  [0, 0, 0.5, 0.5, 0.5, 0])


def test_transform_checks_the_fitted_shape():
    # Images of another shape than in fit are refused.
    resizer = ImageResizer(4).fit(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match=r"shape \(4, 16\).*\(1, 8, 8\)"):
        resizer.transform(np.zeros((2, 4, 16)))
    with pytest.raises(ValueError, match="size must be a positive int"):
        ImageResizer((0, 3)).fit(np.zeros((2, 8, 8)))


def test_seed_000_pipeline_into_the_cnn(small_digits):
    # Resize -> invert -> scale -> dilate -> CNN, on 8-bit dark-on-light
    # digits: the CNN sees 16x16 images and learns them.
    X_train, X_test, y_train, y_test = small_digits
    to_paper = lambda X: np.round(255 - X.reshape(-1, 8, 8) * 255)  # noqa: E731
    pipe = make_pipeline(
        ImageResizer((16, 16)), InvertImages(), PixelScaler(), DilateImages(2),
        CNNClassifierTorch(max_iter=25, random_state=0, device="cpu"),
    )
    pipe.fit(to_paper(X_train), y_train)
    cnn = pipe[-1]
    assert cnn.image_shape_ == (1, 16, 16)
    assert pipe[1].max_value_ == 255.0
    assert pipe.score(to_paper(X_test), y_test) > 0.9
    # Flat rows go through the same pipeline and give the same predictions.
    flat = to_paper(X_test).reshape(len(X_test), -1)
    np.testing.assert_array_equal(pipe.predict(flat), pipe.predict(to_paper(X_test)))


def test_standard_scaling_of_flat_rgb_rows_is_per_channel():
    # Flat RGB rows (as load_image_folder(grayscale=False) gives them) with
    # image_shape: each channel's own mean and std, as on the images.
    rng = np.random.RandomState(0)
    images = np.stack([rng.rand(40, 6, 6) * 50, rng.rand(40, 6, 6) * 200 + 50,
                       rng.rand(40, 6, 6) * 10], axis=1)  # (40, 3, 6, 6)
    flat = images.reshape(40, -1)
    scaler = PixelScaler(method="standard", image_shape=(3, 6, 6)).fit(flat)
    on_images = PixelScaler(method="standard").fit(images)
    np.testing.assert_allclose(scaler.mean_, on_images.mean_, rtol=1e-6)
    Z = scaler.transform(flat).reshape(40, 3, 6, 6)
    np.testing.assert_allclose(Z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=(0, 2, 3)), 1, atol=1e-5)
    # Without image_shape, 108 values are one channel of 1 x 108 pixels.
    assert PixelScaler(method="standard").fit(flat).mean_.shape == (1,)
    inverted = InvertImages(image_shape=(3, 6, 6)).fit(flat)
    assert inverted.image_shape_ == (3, 6, 6)
    np.testing.assert_array_equal(inverted.transform(flat),
                                  np.float32(255) - flat.astype(np.float32))


def test_pandas_output_through_a_pipeline_of_image_transformers():
    # set_output(transform='pandas') names every column, through the chain.
    X = pd.DataFrame(np.random.RandomState(0).rand(5, 64) * 255,
                     columns=[f"px{i}" for i in range(64)])
    pipe = make_pipeline(InvertImages(), PixelScaler(), DilateImages(2),
                         ImageResizer((4, 4)), ImageFlattener())
    pipe.set_output(transform="pandas")
    out = pipe.fit_transform(X)
    assert isinstance(out, pd.DataFrame) and out.shape == (5, 16)
    assert list(out.columns) == [f"imageresizer{i}" for i in range(16)]
    first = pipe[:3].transform(X)
    assert list(first.columns) == list(X.columns)
    plain = make_pipeline(InvertImages(), PixelScaler(), DilateImages(2))
    np.testing.assert_array_equal(first.to_numpy(), plain.fit_transform(X.to_numpy()))
    # Images cannot be table rows: the error says what to change.
    with pytest.raises(ValueError, match="flat rows"):
        InvertImages().set_output(transform="pandas").fit_transform(
            np.random.RandomState(0).rand(3, 8, 8))


def test_stateless_transformers_need_no_fit():
    # Resizing, dilation and flattening learn nothing: their tags say so and
    # transform works unfitted, equal to the fitted transform.
    X = np.random.RandomState(0).rand(4, 8, 8)
    for make in (lambda: ImageResizer(4), lambda: DilateImages(2), ImageFlattener):
        transformer = make()
        assert transformer.__sklearn_tags__().requires_fit is False
        np.testing.assert_array_equal(transformer.transform(X),
                                      make().fit(X).transform(X))
    for fitted in (InvertImages(), PixelScaler()):
        assert fitted.__sklearn_tags__().requires_fit is True
