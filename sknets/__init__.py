"""scikit-learn estimators for neural-network classification on PyTorch."""

from .mlp import MLPClassifierTorch
from .training import DivergenceWarning

__all__ = ["DivergenceWarning", "MLPClassifierTorch"]
__version__ = "0.1.0"
