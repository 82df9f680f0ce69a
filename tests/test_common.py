"""scikit-learn's estimator checks on every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sknets import CNNClassifierTorch, MLPClassifierTorch

ESTIMATORS = [MLPClassifierTorch(device="cpu"), CNNClassifierTorch(device="cpu")]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
