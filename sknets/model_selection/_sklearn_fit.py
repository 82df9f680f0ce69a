"""The one place that follows the inside of scikit-learn's ``BaseSearchCV.fit``.

Written against scikit-learn 1.9 (``FOLLOWS``). Its ``fit`` sends every
candidate and split to a joblib ``Parallel``, looked up by the name
``Parallel`` in ``sklearn.model_selection._search``, as
``delayed(_fit_and_score)(...)`` calls. ``search_fit`` returns that same
function, scikit-learn's own code object, with only the name ``Parallel``
bound to another class: results, ranking, refit, metadata routing,
``error_score`` and callbacks (with their per-candidate, per-split and refit
tasks) stay scikit-learn's. Nothing of scikit-learn is modified: the function
runs in a copy of the module's namespace made at each call.

When a scikit-learn release no longer dispatches that way, ``search_fit``
returns None and the searches run scikit-learn's fit unchanged (unfused),
with a warning.
"""

import inspect
import types

from sklearn.base import _fit_context
from sklearn.model_selection import _search as _sk_search

__all__ = ["FOLLOWS", "fit_and_score", "search_fit"]

FOLLOWS = "1.9"


def _names(code):
    # Every global name the code and its nested functions read.
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def fit_and_score():
    """scikit-learn's ``_fit_and_score``, as its search's fit calls it.

    Returns
    -------
    function : callable
    """
    return _sk_search._fit_and_score


def search_fit(parallel_class):
    """scikit-learn's ``BaseSearchCV.fit`` dispatching through ``parallel_class``.

    Parameters
    ----------
    parallel_class : type
        Used where scikit-learn's fit creates its ``Parallel(n_jobs=...,
        pre_dispatch=...)``; it receives the same ``delayed(_fit_and_score)``
        calls.

    Returns
    -------
    fit : callable or None
        ``fit(search, X, y=None, **params)``, validated as scikit-learn's
        (``_fit_context``); None when this scikit-learn's fit does not
        dispatch its fits as ``FOLLOWS`` describes.
    """
    inner = inspect.unwrap(_sk_search.BaseSearchCV.fit)
    if not {"Parallel", "_fit_and_score"} <= _names(inner.__code__):
        return None
    namespace = dict(vars(_sk_search))
    namespace["Parallel"] = parallel_class
    fit = types.FunctionType(inner.__code__, namespace, inner.__name__,
                             inner.__defaults__, inner.__closure__)
    fit.__kwdefaults__ = inner.__kwdefaults__
    fit.__doc__ = inner.__doc__
    return _fit_context(prefer_skip_nested_validation=False)(fit)
