"""scikit-learn estimators for neural-network classification on PyTorch."""

from .cnn import CNNClassifierTorch
from .mlp import MLPClassifierTorch
from .training import DivergenceWarning

__all__ = ["CNNClassifierTorch", "DivergenceWarning", "MLPClassifierTorch"]
__version__ = "0.1.0"
