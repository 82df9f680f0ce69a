"""CNNClassifierTorch: input shapes, architectures, presets and errors."""

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from sknets import CNNClassifierTorch
from sknets.cnn import ARCHITECTURES, RECIPES, architecture_grid, architecture_name
from sknets.modules import CNNModule, conv_blocks

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _cnn(**params):
    return CNNClassifierTorch(device="cpu", random_state=0, **params)


@pytest.fixture(scope="module")
def digits_28(small_digits):
    """120 digits upscaled to 28x28 (3x nearest-neighbour, 2-pixel border)."""
    X_train, _, y_train, _ = small_digits
    images = X_train[:120].reshape(-1, 8, 8)
    images = np.kron(images, np.ones((3, 3), dtype=np.float32))  # (N, 24, 24)
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # (N, 28, 28)
    return images.reshape(-1, 784), y_train[:120]


def _n_parameters(module):
    return sum(p.numel() for p in module.parameters())


# -- accuracy ------------------------------------------------------------------


def test_digits_accuracy_with_defaults(digits):
    # The default network learns 8x8 digits well: above 0.95 on held-out data.
    X_train, X_test, y_train, y_test = digits
    clf = _cnn().fit(X_train, y_train)
    assert clf.image_shape_ == (1, 8, 8)
    assert clf.score(X_test, y_test) > 0.95


def test_seven_features_train():
    # A non-square feature count becomes a 1 x 7 strip and still trains:
    # windows larger than the strip are clipped to it.
    X, y = make_classification(n_samples=300, n_features=7, n_informative=5,
                               random_state=0)
    clf = _cnn(max_iter=60).fit(X, y)
    assert clf.image_shape_ == (1, 1, 7)
    assert clf.net_.module_.feature_shape == (64, 1, 1)
    assert clf.score(X, y) > 0.9


def test_one_feature_trains():
    # The smallest input, one pixel, goes through the default stack.
    X = np.linspace(-1, 1, 40).reshape(-1, 1)
    y = (X[:, 0] > 0).astype(int)
    clf = _cnn(max_iter=100).fit(X, y)
    assert clf.image_shape_ == (1, 1, 1)
    assert clf.score(X, y) >= 0.9


# -- input shapes ----------------------------------------------------------------


def test_flat_3d_and_4d_input_give_the_same_model(small_digits):
    # The same data as (n, 64), (n, 8, 8) and (n, 1, 8, 8) is the same model.
    X_train, X_test, y_train, _ = small_digits
    X, y = X_train[:200], y_train[:200]
    layouts = [X, X.reshape(-1, 8, 8), X.reshape(-1, 1, 8, 8)]
    fitted = [_cnn(max_iter=3).fit(layout, y) for layout in layouts]
    probas = [clf.predict_proba(X_test[:50]) for clf in fitted]
    for clf, proba in zip(fitted[1:], probas[1:], strict=True):
        assert clf.image_shape_ == (1, 8, 8)
        assert clf.n_features_in_ == 64
        np.testing.assert_array_equal(proba, probas[0])
        np.testing.assert_array_equal(clf.filters_, fitted[0].filters_)
        assert clf.loss_curve_ == fitted[0].loss_curve_
    # A model fitted on flat rows predicts images of the same shape, and back.
    np.testing.assert_array_equal(
        fitted[0].predict_proba(X_test[:50].reshape(-1, 1, 8, 8)), probas[0]
    )
    np.testing.assert_array_equal(fitted[2].predict(X_test[:50]),
                                  fitted[0].predict(X_test[:50]))


def test_image_shape_for_flat_multichannel_input():
    # Flat rows of 3 x 4 x 4 images, channels first, as image_shape says.
    rng = np.random.RandomState(0)
    X = rng.rand(60, 48).astype(np.float32)
    y = np.repeat([0, 1, 2], 20)
    clf = _cnn(image_shape=(3, 4, 4), conv_layers=((5, 3),), max_iter=2).fit(X, y)
    assert clf.image_shape_ == (3, 4, 4)
    assert clf.filters_.shape == (5, 3, 3, 3)
    np.testing.assert_array_equal(clf.predict_proba(X.reshape(-1, 3, 4, 4)),
                                  clf.predict_proba(X))
    # (height, width) means one channel.
    clf = _cnn(image_shape=(6, 8), max_iter=1).fit(X, y)
    assert clf.image_shape_ == (1, 6, 8)


def test_non_square_features_are_a_strip_and_squares_are_images():
    # Inference of the image shape from n_features alone.
    rng = np.random.RandomState(0)
    y = np.arange(20) % 2
    assert _cnn(max_iter=1).fit(rng.rand(20, 784), y).image_shape_ == (1, 28, 28)
    assert _cnn(max_iter=1).fit(rng.rand(20, 10), y).image_shape_ == (1, 1, 10)


def test_image_shape_not_matching_n_features_names_both():
    # 64 features cannot be 1 x 7 x 7 images.
    X = np.random.RandomState(0).rand(20, 64)
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match=r"image_shape=\(1, 7, 7\) holds 49 .*64"):
        _cnn(image_shape=(1, 7, 7)).fit(X, y)
    with pytest.raises(ValueError, match="does not match the images in X"):
        _cnn(image_shape=(1, 4, 16)).fit(X.reshape(-1, 8, 8), y)
    with pytest.raises(ValueError, match="image_shape must be"):
        _cnn(image_shape=(0, 8, 8)).fit(X, y)


def test_predict_on_images_of_another_shape_is_an_error():
    # Fitted on 8x8 images, a 4x16 image is refused even with 64 values.
    X = np.random.RandomState(0).rand(20, 8, 8)
    y = np.arange(20) % 2
    clf = _cnn(max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match=r"shape \(4, 16\).*\(1, 8, 8\)"):
        clf.predict(X.reshape(-1, 4, 16))
    with pytest.raises(ValueError, match="X has 63 features"):
        clf.predict(X.reshape(-1, 64)[:, :63])


def test_five_dimensional_input_is_an_error():
    # (n, 1, 1, 8, 8) is no image layout sknets knows.
    X = np.zeros((4, 1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"X has 5 dimensions.*Reshape X"):
        _cnn().fit(X, [0, 1, 0, 1])


def test_nan_in_images_is_an_error():
    # Image-shaped input gets the same finiteness check as flat input.
    X = np.zeros((4, 8, 8))
    X[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _cnn().fit(X, [0, 1, 0, 1])


# -- architecture ------------------------------------------------------------------


def test_valid_stack_shrinking_below_one_pixel_names_the_layer():
    # Without clipping, the fourth 'valid' 3x3 conv meets a 2x2 map.
    X = np.random.RandomState(0).rand(20, 64)
    y = np.arange(20) % 2
    clf = _cnn(conv_layers=((4, 3),) * 4, padding="valid", pooling=None,
               clip_kernels=False)
    with pytest.raises(ValueError, match=r"conv_layers\[3\]=\(4, 3\) gets a 2x2 map"):
        clf.fit(X, y)
    # A pooling window that no longer fits is named too.
    clf = _cnn(conv_layers=((4, 3),) * 2, padding="valid", clip_kernels=False)
    with pytest.raises(ValueError, match=r"pooling after conv_layers\[1\] gets a 1x1"):
        clf.fit(X, y)
    # With clipping (the default) the same stack trains on a 1x1 map.
    clf = _cnn(conv_layers=((4, 3),) * 4, padding="valid", pooling=None,
               max_iter=1).fit(X, y)
    assert clf.net_.module_.feature_shape == (4, 1, 1)


def test_same_padding_keeps_ceil_size_for_any_stride_and_kernel():
    # TensorFlow's rule: output ceil(size / stride), even kernels included.
    layers, shape = conv_blocks((1, 9, 9), [(2, 4, 2), (3, (2, 3), 1)], "same",
                                pooling=None)
    assert shape == (3, 5, 5)
    module = nn.Sequential(*layers)
    assert module(torch.zeros(1, 1, 9, 9)).shape == (1, 3, 5, 5)


def test_block_order_batch_norm_and_dropout_placement():
    # conv -> BN -> activation -> pooling -> dropout, dropout per block.
    module = CNNModule((1, 8, 8), [(4, 3), (8, 3)], (16, 8), 3,
                       conv_activation="elu", activation="tanh",
                       conv_dropout=(0.0, 0.5), dropout=(0.25, 0.0),
                       batch_norm=True)
    names = [type(m).__name__ for m in module.features]
    assert names == ["Conv2d", "BatchNorm2d", "ELU", "MaxPool2d",
                     "Conv2d", "BatchNorm2d", "ELU", "MaxPool2d", "Dropout"]
    names = [type(m).__name__ for m in module.classifier]
    assert names == ["Linear", "BatchNorm1d", "Tanh", "Dropout",
                     "Linear", "BatchNorm1d", "Tanh", "Linear"]


def test_conv_activation_defaults_to_activation():
    # conv_activation=None follows activation; a string sets it apart.
    X = np.random.RandomState(0).rand(20, 16)
    y = np.arange(20) % 2
    module = _cnn(activation="tanh", max_iter=1).fit(X, y).net_.module_
    assert sum(isinstance(m, nn.Tanh) for m in module.features) == 2
    module = _cnn(activation="tanh", conv_activation="relu",
                  max_iter=1).fit(X, y).net_.module_
    assert sum(isinstance(m, nn.ReLU) for m in module.features) == 2
    assert sum(isinstance(m, nn.Tanh) for m in module.classifier) == 1


def test_wrong_per_layer_values_are_errors():
    # One dropout rate per block, and well-formed conv layers.
    X = np.random.RandomState(0).rand(20, 16)
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match=r"conv_dropout=\(0.5,\) gives 1 value"):
        _cnn(conv_dropout=(0.5,)).fit(X, y)
    with pytest.raises(ValueError, match=r"conv_layers\[1\]=\(8,\) is not a conv"):
        _cnn(conv_layers=((4, 3), (8,))).fit(X, y)
    with pytest.raises(ValueError, match="kernel_size must be positive"):
        _cnn(conv_layers=((4, 0),)).fit(X, y)
    with pytest.raises(InvalidParameterError, match="padding"):
        _cnn(padding="full").fit(X, y)
    with pytest.raises(InvalidParameterError, match="pooling"):
        _cnn(pooling="min").fit(X, y)


def test_fitted_attributes(small_digits):
    # filters_ is the first conv's weights; coefs_ the dense head's.
    X_train, _, y_train, _ = small_digits
    clf = _cnn(conv_layers=((6, 5), (4, 3)), hidden_layer_sizes=(20,),
               max_iter=2).fit(X_train, y_train)
    first = clf.net_.module_.features[0].weight.detach().numpy()
    np.testing.assert_array_equal(clf.filters_, first[:, 0])
    assert clf.filters_.shape == (6, 5, 5)
    assert [c.shape for c in clf.coefs_] == [(4 * 2 * 2, 20), (20, 10)]
    assert clf.n_layers_ == 5 and clf.n_outputs_ == 10
    assert len(clf.history_) == clf.n_iter_ == 2
    # No conv layer: a dense network on the pixels, and no filters.
    clf = _cnn(conv_layers=(), max_iter=1).fit(X_train, y_train)
    assert clf.filters_ is None and clf.coefs_[0].shape == (64, 128)


def test_binary_early_stopping_and_batch_norm_on_images(small_digits):
    # The shared training machinery works on image batches.
    X_train, X_test, y_train, y_test = small_digits
    mask = y_train < 2
    X, y = X_train[mask].reshape(-1, 1, 8, 8), y_train[mask]
    clf = _cnn(early_stopping=True, batch_norm=True, max_iter=30).fit(X, y)
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    assert len(clf.validation_scores_) == clf.n_iter_
    test = y_test < 2
    proba = clf.predict_proba(X_test[test])
    assert proba.shape == (test.sum(), 2)
    assert clf.score(X_test[test], y_test[test]) > 0.95


def test_in_a_pipeline(small_digits):
    # Flat features scaled in a Pipeline ahead of the CNN.
    X_train, X_test, y_train, y_test = small_digits
    pipe = make_pipeline(MinMaxScaler(), _cnn(max_iter=30))
    pipe.fit(X_train * 16, y_train)
    assert pipe.score(X_test * 16, y_test) > 0.9


# -- presets -------------------------------------------------------------------

# Parameter counts and flattened sizes of the networks in the seed studies
# (Keras summaries of seed 004, FC input sizes of seed 002), on 28x28 input.
SEED_NETWORKS = {
    "arch1": (None, 800),
    "arch2": (None, 512),
    "arch3": (None, 144),
    "arch4": (None, 32),
    "basic": (34_826, 1600),
    "short": (54_410, 5408),
    "long": (17_461_642, 131_072),
    "min-filters": (4_642, 400),
    "max-filters": (719_626, 12_800),
    "pool5": (19_466, 64),
    "avg-pool": (21_386, 256),
    "fc": (228_202, 1600),
    "lenet5": (60_074, 400),
}


def test_presets_reproduce_the_seed_networks():
    # Every preset on 28x28 input has the seed's size, layer for layer.
    assert set(SEED_NETWORKS) <= set(ARCHITECTURES)
    for name, (n_params, n_flat) in SEED_NETWORKS.items():
        params = dict(ARCHITECTURES[name])
        params["conv_activation"] = params["conv_activation"] or params["activation"]
        module = CNNModule((1, 28, 28), params.pop("conv_layers"),
                           params.pop("hidden_layer_sizes"), 10, **params)
        assert math.prod(module.feature_shape) == n_flat, name
        if n_params is not None:
            assert _n_parameters(module) == n_params, name


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_preset_fits_on_28x28_and_8x8(name, digits_28, small_digits):
    # One epoch on each image size; windows are clipped on 8x8 input.
    X_28, y_28 = digits_28
    X_8, y_8 = small_digits[0][:120], small_digits[2][:120]
    for X, y, side in [(X_28, y_28, 28), (X_8, y_8, 8)]:
        clf = _cnn(max_iter=1, **ARCHITECTURES[name]).fit(X, y)
        assert clf.image_shape_ == (1, side, side)
        assert clf.n_iter_ == 1
        assert np.isfinite(clf.loss_)
        proba = clf.predict_proba(X[:5])
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_trains_its_named_network(name, digits_28):
    # A recipe is whole estimator settings: its network is the preset of the
    # same name, and it trains as given (two epochs here).
    X, y = digits_28
    assert architecture_name(RECIPES[name]) == name
    clf = _cnn(**{**RECIPES[name], "max_iter": 2}).fit(X, y)
    assert clf.n_iter_ == 2 and np.isfinite(clf.loss_)
    assert (getattr(clf.net_, "augmenter_", None) is not None) == (
        RECIPES[name].get("augment") is not None)


def test_architecture_grid_in_grid_search(small_digits):
    # GridSearchCV compares presets; each candidate is the named network.
    X_train, _, y_train, _ = small_digits
    grid = architecture_grid(["short", "lenet5"], learning_rate_init=[1e-2])
    search = GridSearchCV(_cnn(max_iter=10, batch_size=32), grid, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X_train[:300], y_train[:300])
    names = [architecture_name(p) for p in search.cv_results_["params"]]
    assert names == ["short", "lenet5"]
    assert architecture_name(search.best_params_) in ("short", "lenet5")
    assert search.best_params_["learning_rate_init"] == 1e-2
    assert search.best_score_ > 0.7


def test_architecture_grid_arguments():
    # Names are checked, all presets by default, extra values must be lists.
    assert len(architecture_grid()) == len(ARCHITECTURES)
    assert architecture_grid("basic")[0]["conv_layers"] == [((32, 3), (64, 3))]
    assert architecture_grid("basic", activation=["elu"])[0]["activation"] == ["elu"]
    with pytest.raises(ValueError, match=r"Unknown architecture\(s\) \['vgg'\]"):
        architecture_grid(["basic", "vgg"])
    with pytest.raises(ValueError, match=r"write alpha=\[0.1\]"):
        architecture_grid("basic", alpha=0.1)
    for name, params in ARCHITECTURES.items():
        assert architecture_name(params) == name
    assert architecture_name(CNNClassifierTorch().get_params()) is None
