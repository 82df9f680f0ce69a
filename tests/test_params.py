"""The parameter table: every parameter declared once, and each stackable one
trained stacked exactly as separately."""

import dataclasses

import numpy as np
import pytest
from _stacks import count_stacks
from sklearn.base import clone
from sklearn.datasets import load_digits

from sknets import CNNClassifierTorch, MLPClassifierTorch
from sknets.model_selection import fit_on_folds
from sknets.training import fused
from sknets.training.params import PARAMETERS, STACKABLE_PARAMS, constraints

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

STACKABLE = [p for p in PARAMETERS if p.stackable]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:300] / 16).astype(np.float32), y[:300]


def _estimator(param, value, **extra):
    params = {"max_iter": 3, "batch_size": 50, "random_state": 0, **param.context,
              **extra}
    if param.name != "max_iter":  # fitted with its own max_iter
        params[param.name] = value
    else:
        params["max_iter"] = value
    return MLPClassifierTorch((16,), **params)


def _fields(spec, prefix=""):
    # A spec as {dotted field: value}; the ModuleSpec's arguments as module.<name>.
    out = {}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        name = prefix + f.name
        if f.name == "module" and not prefix:
            out["module.kind"] = value.kind
            out.update({f"module.{k}": v for k, v in value.params})
        elif dataclasses.is_dataclass(value) and f.name != "augment":
            out.update(_fields(value, name + "."))
        else:
            out[name] = value
    return out


def _spec(estimator, X, y):
    return clone(estimator).fit(X, y).net_.spec_


@pytest.mark.parametrize("estimator", [MLPClassifierTorch(), CNNClassifierTorch()])
def test_every_parameter_of_the_estimators_is_in_the_table(estimator):
    kind = "cnn" if isinstance(estimator, CNNClassifierTorch) else None
    assert set(estimator.get_params()) == set(constraints(kind))
    names = [p.name for p in PARAMETERS]
    assert len(names) == len(set(names))
    for p in STACKABLE:
        assert len(p.examples) == 2 and p.examples[0] != p.examples[1], p.name


def test_every_shared_doc_entry_is_in_both_docstrings():
    for p in PARAMETERS:
        if p.doc is not None:
            assert p.doc in MLPClassifierTorch.__doc__, p.name
            assert p.doc in CNNClassifierTorch.__doc__, p.name


@pytest.mark.parametrize("param", STACKABLE, ids=lambda p: p.name)
def test_a_stackable_parameter_sets_the_spec_fields_the_table_names(param, digits):
    X, y = digits
    specs = [_spec(_estimator(param, v, max_iter=1), X, y) for v in param.examples]
    before, after = (_fields(s) for s in specs)
    changed = {k for k in before.keys() | after.keys()
               if before.get(k) != after.get(k)}
    assert changed <= set(param.spec), (param.name, changed)
    assert not param.spec or changed, param.name
    # and the stack's key ignores it
    assert fused.fusion_key(specs[0]) == fused.fusion_key(specs[1])


@pytest.mark.parametrize("name, values", [
    ("batch_size", (50, 25)), ("solver", ("adam", "sgd")),
    ("hidden_layer_sizes", ((16,), (8,))), ("activation", ("relu", "tanh")),
    ("batch_norm", (False, True))])
def test_a_parameter_that_cannot_stack_changes_the_key(name, values, digits):
    X, y = digits
    specs = [_spec(MLPClassifierTorch((16,), max_iter=1, batch_size=50,
                                      random_state=0).set_params(**{name: v}), X, y)
             for v in values]
    assert name not in STACKABLE_PARAMS
    assert fused.fusion_key(specs[0]) != fused.fusion_key(specs[1])


@pytest.mark.parametrize("param", STACKABLE, ids=lambda p: p.name)
def test_every_stackable_parameter_trains_stacked_as_separately(param, digits,
                                                                monkeypatch):
    X, y = digits
    stacks = count_stacks(monkeypatch)
    estimators = [_estimator(param, v) for v in param.examples]
    rows = [np.arange(0, 240), np.arange(60, 300)]
    stacked = fit_on_folds([clone(e) for e in estimators], X, y, rows)
    assert stacks == [2], param.name
    for (est, error, _), reference, r in zip(stacked, estimators, rows, strict=True):
        assert error is None, error
        separate = clone(reference).fit(X[r], y[r])
        assert est.n_iter_ == separate.n_iter_
        np.testing.assert_allclose(est.loss_curve_[0], separate.loss_curve_[0],
                                   rtol=0, atol=1e-5)
        np.testing.assert_array_equal(est.predict(X), separate.predict(X))
