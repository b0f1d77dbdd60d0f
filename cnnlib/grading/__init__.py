"""Checks for the assignments: run a student's function, compare it with cnnlib, name the mistake.

Every ``check_*`` function takes the student's function, runs it on fixed and
seeded random cases, and compares each result with cnnlib's reference. It
prints one line when everything agrees. On the first disagreement it raises
:class:`CheckFailed` (an ``AssertionError``, so nbgrader scores the test cell
0) whose message gives

- the case (argument shapes and settings),
- what differs: the shape, or the first index that disagrees with the expected
  and the actual value,
- a diagnosis: which known mistake reproduces the student's output exactly
  (a flipped kernel, an ignored stride, a gradient not summed over the batch,
  ...), found by running known-wrong variants of the reference on the same case.

``suite="public"`` runs the cases students can run while they work;
``suite="hidden"`` runs more, generated here from a seed, so that the hidden
test cells of a notebook reveal no expected values.

While a student function runs, any call it makes into cnnlib or TensorFlow (or
SciPy's filters) is noticed, and the check fails saying so: the assignments ask
for the computation written with NumPy. Pass ``allow_reference=True`` to turn
this off (the lecture notebooks' self-checks and the course's own tests use it).

The cases are small so that loop implementations finish in well under a second.

Where things are: ``core`` (cases, known mistakes, running and reporting),
``convolution`` (Assignment 1), ``pooling_backprop`` (2), ``training`` (3),
``visualization`` (4), ``batchnorm_residuals`` (5), ``network`` (6).
"""

from .batchnorm_residuals import (check_batch_norm_backward, check_batch_norm_inference, check_batch_norm_training,
                                  check_residual_block, check_residual_block_backward)

from .convolution import (check_conv2d, check_conv_output_size, check_conv_single_step, check_edge_image,
                          check_vertical_edge_kernel, check_zero_pad)
from .core import HELPERS, REFERENCE_LIBRARIES, CheckFailed, PartialCredit
from .network import (check_network_accuracy, check_network_backward, check_network_forward, check_overfit,
                      check_train)
from .pooling_backprop import check_conv2d_backward, check_pool2d, check_pool2d_backward, check_relu_backward
from .training import check_dense_backward, check_model_accuracy, check_softmax_cross_entropy, check_trained_model
from .visualization import check_layer_table, check_occlusion_map, check_saliency_map

__all__ = [
    "CheckFailed",
    "PartialCredit",
    "HELPERS",
    "REFERENCE_LIBRARIES",
    "check_zero_pad",
    "check_conv_output_size",
    "check_conv_single_step",
    "check_conv2d",
    "check_edge_image",
    "check_vertical_edge_kernel",
    "check_pool2d",
    "check_pool2d_backward",
    "check_relu_backward",
    "check_conv2d_backward",
    "check_softmax_cross_entropy",
    "check_dense_backward",
    "check_model_accuracy",
    "check_trained_model",
    "check_layer_table",
    "check_occlusion_map",
    "check_saliency_map",
    "check_batch_norm_training",
    "check_batch_norm_inference",
    "check_batch_norm_backward",
    "check_residual_block",
    "check_residual_block_backward",
    "check_network_forward",
    "check_network_backward",
    "check_train",
    "check_overfit",
    "check_network_accuracy",
]
