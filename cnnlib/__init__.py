"""cnnlib: the reference library of the CNN course.

Modules, each with one job:

    cnnlib.shapes   output sizes, padding, parameter counts, receptive fields (integers only)
    cnnlib.ops      forward ops on NHWC activations and HWIO kernels (NumPy)

TensorFlow is never imported here; only the tests and benchmarks use it.
"""

from . import ops, shapes

__version__ = "0.1.0"
__all__ = ["ops", "shapes"]
