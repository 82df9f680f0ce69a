"""scikit-learn's estimator checks on every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sknets import CNNClassifierTorch, MLPClassifierTorch
from sknets.preprocessing import (
    DilateImages,
    ImageFlattener,
    ImageResizer,
    InvertImages,
    PixelScaler,
)

ESTIMATORS = [
    MLPClassifierTorch(device="cpu"),
    CNNClassifierTorch(device="cpu"),
    ImageResizer(),
    InvertImages(),
    PixelScaler(),
    PixelScaler(method="standard"),
    DilateImages(),
    ImageFlattener(),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
