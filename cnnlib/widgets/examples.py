"""The worked examples the widgets start from: the lecture's image and kernel, kernels to try, a matrix to pool."""

import numpy as np

from ..data import LECTURE_IMAGE, LECTURE_KERNEL

__all__ = ["LECTURE_IMAGE", "LECTURE_KERNEL", "CURVE_DETECTOR", "KERNEL_PRESETS", "DEFAULT_POOL_INPUT"]

# The 7x7 curve detector of the beginner's guide: 30 along a line that bends to the right.
CURVE_DETECTOR = np.zeros((7, 7))
CURVE_DETECTOR[[0, 1, 2, 3, 4, 5], [5, 4, 3, 3, 3, 3]] = 30

KERNEL_PRESETS = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=float),
    "box blur": np.full((3, 3), 1 / 9),
    "Gaussian blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float),
    "Sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),
    "Sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float),
    "Laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float),
    "curve detector (7x7)": CURVE_DETECTOR,
}


DEFAULT_POOL_INPUT = np.array([[1, 3, 2, 0, 5, 1],
                               [4, 6, 1, 2, 0, 3],
                               [0, 2, 5, 4, 1, 1],
                               [7, 1, 3, 8, 2, 6],
                               [2, 5, 0, 1, 4, 0],
                               [3, 0, 9, 2, 1, 7]])
