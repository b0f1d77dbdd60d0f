"""cnnlib: the reference library of the CNN course.

Modules, each with one job, in reading order:

    cnnlib.shapes        output sizes, padding, parameter counts, receptive fields (integers only)
    cnnlib.ops           forward ops on NHWC activations and HWIO kernels (NumPy)
    cnnlib.backprop      their backward passes, in the same order
    cnnlib.conv_variants depthwise, separable and transposed convolutions (forward)
    cnnlib.conv_variants_backprop  their backward passes, in the same order
    cnnlib.gradcheck     central differences and relative errors, to check a backward pass
    cnnlib.layers        Conv2D, MaxPool2D, AvgPool2D, ReLU, Flatten, Dense, Dropout, BatchNormalization,
                         GlobalAveragePooling2D, GlobalMaxPooling2D, DepthwiseConv2D, SeparableConv2D,
                         Conv2DTranspose
    cnnlib.blocks        ResidualBlock (branch + shortcut, added) and resnet_block, usable in a Sequential
    cnnlib.model         Sequential: summary, fit, evaluate, predict
    cnnlib.optim         SGD and Adam
    cnnlib.data          offline datasets (digits, a 5,000-image MNIST subset, photo patches) and sample photos
    cnnlib.specs         architecture specs as data: layer nodes (Conv, Pool, Dense, ...), Branches, Residual
    cnnlib.architectures LeNet-5, AlexNet, VGG-16, NiN, Inception, ResNet blocks written as specs; trace
    cnnlib.tracing       the one tracer: shapes, parameters and receptive fields through a stack of layers
                         (Sequential.summary, architectures.trace and the ShapeTracer widget all use it)
    cnnlib.keras_bridge  the same network in tf.keras: to_keras(model) and build_keras(spec), one table
    cnnlib.viz           pictures and maps of what a CNN sees (a package: pictures, inspection,
                         attribution, demo)
    cnnlib.widgets       interactive explorers for notebooks (a package: pure explanations, then one
                         module per widget)
    cnnlib.transposed_sizes  the transposed convolution's sizes explained, for the widgets
    cnnlib.grading       the checks the assignments' test cells call
    cnnlib.assignment_checks  the assignments' public checks from the command line (the bundle's make check)

and three that the others share (students need not read them): cnnlib.arguments (argument
checks: ints, (height, width) pairs, padding specs, arrays), cnnlib.windows (sliding windows
over NHWC arrays, scratch memory) and cnnlib.figures (matplotlib figures without pyplot).

Argument names, chosen once:

- Functions that mirror ``tf.nn`` ops, and :mod:`cnnlib.shapes`, use the symbols of the
  course's formula ``O = floor((W + 2P - D(K - 1) - 1) / S) + 1``: ``n`` (W), ``k`` (K),
  ``padding`` (P), ``stride`` (S), ``dilation`` (D), ``pool_size``, ``output_padding``;
  arrays ``x`` (NHWC), ``w`` (HWIO), ``b``, ``dout``. Sizes that have a height and a width
  may be an int or a (height, width) pair.
- Layers, which mirror Keras's layers, and everything that describes a layer (the nodes of
  :mod:`cnnlib.specs`, the widgets' layer dicts) use Keras's names: ``filters``,
  ``kernel_size``, ``strides``, ``padding``, ``dilation_rate``, ``pool_size``, ``units``,
  ``rate``, ``depth_multiplier``, ``momentum``, ``epsilon``, ``use_bias``, ``activation``;
  weights ``kernel``, ``bias``, ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``.

Imports: ``import cnnlib`` (and any of its modules) never imports TensorFlow, ipywidgets or
matplotlib by itself, except that cnnlib.viz, cnnlib.widgets and cnnlib.figures import
matplotlib. TensorFlow is imported inside the functions that need it, when they run:
``keras_bridge.to_keras`` and ``build_keras`` (and ``architectures.build_keras``, the same
function), ``viz.feature_maps`` and ``viz.top_activating_patches`` on Keras models,
``viz.saliency_map``, ``viz.grad_cam``, ``viz.train_demo_cnn``, and the grading checks that
build or train Keras models (cnnlib.grading.training, .visualization, .wire). ipywidgets is
imported when a widget is made.
"""

from . import (architectures, backprop, blocks, conv_variants, conv_variants_backprop, data, gradcheck, layers, model,
               ops, optim, shapes)
from .model import Sequential

__version__ = "0.1.0"
__all__ = ["architectures", "backprop", "blocks", "conv_variants", "conv_variants_backprop", "data", "gradcheck",
           "layers", "model", "ops", "optim", "shapes", "Sequential"]
