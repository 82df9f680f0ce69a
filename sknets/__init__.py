"""scikit-learn estimators for neural-network classification on PyTorch."""

from .cnn import CNNClassifierTorch
from .mlp import MLPClassifierTorch
from .training import DivergenceWarning, NoFiniteWeightsError

__all__ = [
    "CNNClassifierTorch",
    "DivergenceWarning",
    "MLPClassifierTorch",
    "NoFiniteWeightsError",
]
__version__ = "0.1.0"
