import os

# scikit-learn runs its array-API estimator check only when SciPy's array-API
# mode is on, which must be set before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
