"""Small operators: denoising, colorization, compressed sensing, phase retrieval."""

from .colorize import Colorization
from .compressed import CompressedSensing, dct_matrix
from .denoise import Denoising
from .phase import PhaseRetrieval

__all__ = ["Colorization", "CompressedSensing", "Denoising", "PhaseRetrieval", "dct_matrix"]
