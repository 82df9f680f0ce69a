"""The public API is typed: every public function and method is annotated,
the package says so (py.typed), and mypy passes on it."""

import importlib
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sknets

# The modules users import (README, the user guide); their __all__ is the
# public API.
PUBLIC = ["sknets", "sknets.metrics", "sknets.datasets", "sknets.persistence",
          "sknets.plotting", "sknets.preprocessing", "sknets.model_selection",
          "sknets.compare", "sknets.cli"]


def _public_functions():
    seen, found = set(), []

    def add(function, name):
        function = inspect.unwrap(getattr(function, "__func__", function))
        if not inspect.isfunction(function) or id(function) in seen:
            return
        if not function.__module__.startswith("sknets"):
            return  # scikit-learn's own (get_params, score, ...)
        seen.add(id(function))
        found.append((name, function))

    for module_name in PUBLIC:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                for attr, value in inspect.getmembers(obj):
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    value = inspect.getattr_static(obj, attr)
                    value = getattr(value, "fn", value)  # available_if
                    if isinstance(value, (staticmethod, classmethod)):
                        value = value.__func__
                    if isinstance(value, property):
                        continue
                    if callable(value):
                        add(value, f"{module_name}.{name}.{attr}")
            elif inspect.isfunction(obj):
                add(obj, f"{module_name}.{name}")
    return found


def test_every_public_function_is_annotated():
    functions = _public_functions()
    assert len(functions) > 60
    missing = []
    for name, function in functions:
        signature = inspect.signature(function)
        bare = [p for p, v in signature.parameters.items()
                if p not in ("self", "cls") and v.annotation is inspect.Parameter.empty]
        if bare or (signature.return_annotation is inspect.Signature.empty
                    and function.__name__ != "__init__"):
            missing.append(f"{name}: {bare or 'return'}")
    assert not missing, "\n".join(missing)


def test_the_package_is_marked_typed():
    assert (Path(sknets.__file__).parent / "py.typed").is_file()


@pytest.mark.skipif(shutil.which("mypy") is None and not os.environ.get("CI"),
                    reason="mypy is not installed (pip install -e '.[test]')")
def test_mypy_passes_on_the_package():
    root = Path(sknets.__file__).parent.parent
    result = subprocess.run([sys.executable, "-m", "mypy", "sknets"], cwd=root,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
