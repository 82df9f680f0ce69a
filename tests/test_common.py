"""scikit-learn's estimator checks on every public estimator.

Every check runs on both dtypes of the two classifiers. Exactly one is
expected to fail, in float32 only, and is named here:
``check_sample_weight_equivalence_on_dense_data`` (and its twin on sparse X,
``..._on_sparse_data``, for the MLP, which takes sparse X) compares a fit with integer
sample weights to a fit on the repeated rows to 1e-7, and float32 training
rounds differently on the two (sums over other rows, in another order), by
about 1e-4. The float64 instances, which train exactly as the float32 ones do
but round as scikit-learn's MLPClassifier does, pass it and every other
check; scikit-learn itself gives its MLPClassifier a configuration chosen for
that check (solver='lbfgs').
"""

import pytest
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    check_sample_weight_equivalence_on_sparse_data,
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


# The one check float32 cannot meet at its tolerance, on dense X, and on
# sparse X for the estimator that takes it (the MLP).
FLOAT32_FAILURE = check_sample_weight_equivalence_on_dense_data.__name__
FLOAT32_FAILURE_SPARSE = check_sample_weight_equivalence_on_sparse_data.__name__
FLOAT32_REASON = ("float32 sums a weighted fit and a fit on repeated rows in "
                  "another order: a relative difference of about 1e-4 against "
                  "the check's rtol of 1e-7 (float64 passes)")


def _check_name(check):
    return getattr(check, "func", check).__name__


def _cases():
    for estimator in ESTIMATORS + FLOAT64:
        float32_classifier = (isinstance(estimator, (MLPClassifierTorch,
                                                     CNNClassifierTorch))
                              and estimator.dtype == "float32")
        for est, check in estimator_checks_generator(estimator, legacy=True):
            name = _check_name(check)
            marks = ()
            sparse_twin = (name == FLOAT32_FAILURE_SPARSE
                           and isinstance(estimator, MLPClassifierTorch))
            if float32_classifier and (name == FLOAT32_FAILURE or sparse_twin):
                marks = pytest.mark.xfail(strict=True, raises=AssertionError,
                                          reason=FLOAT32_REASON)
            yield pytest.param(est, check, id=f"{est!r}-{name}", marks=marks)


CASES = list(_cases())


def test_every_check_runs_on_both_dtypes_with_one_expected_failure():
    names, expected = {}, []
    for case in CASES:
        est, check = case.values
        dtype = getattr(est, "dtype", None)
        names.setdefault((type(est), dtype), set()).add(_check_name(check))
        if case.marks:
            expected.append((type(est).__name__, dtype, _check_name(check)))
    for cls in (MLPClassifierTorch, CNNClassifierTorch):
        every = {_check_name(c) for _, c in estimator_checks_generator(
            cls(device="cpu"), legacy=True)}
        assert FLOAT32_FAILURE in every
        assert every <= names[(cls, "float32")]
        assert every <= names[(cls, "float64")]
    assert sorted(expected) == [
        ("CNNClassifierTorch", "float32", FLOAT32_FAILURE),
        ("MLPClassifierTorch", "float32", FLOAT32_FAILURE),
        ("MLPClassifierTorch", "float32", FLOAT32_FAILURE_SPARSE)]


@pytest.mark.parametrize("estimator, check", CASES)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
