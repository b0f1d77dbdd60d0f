"""cnnlib: the reference library of the CNN course.

Modules, each with one job:

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
    cnnlib.data          offline datasets (digits, a 5,000-image MNIST subset) and sample photos
    cnnlib.architectures LeNet-5, AlexNet, VGG-16, NiN, Inception, ResNet blocks as specs: trace, build_keras
    cnnlib.keras_bridge  to_keras(model): the same network in tf.keras (imports TensorFlow)
    cnnlib.viz           plots and maps of what a CNN sees (imports matplotlib)
    cnnlib.widgets       interactive explorers for notebooks (imports ipywidgets)
    cnnlib.transposed_sizes  the transposed convolution's sizes explained, for the widgets

TensorFlow, ipywidgets and matplotlib are never imported here; import
``cnnlib.keras_bridge``, ``cnnlib.viz`` or ``cnnlib.widgets`` when you need them.
"""

from . import (architectures, backprop, blocks, conv_variants, conv_variants_backprop, data, gradcheck, layers, model,
               ops, optim, shapes)
from .model import Sequential

__version__ = "0.1.0"
__all__ = ["architectures", "backprop", "blocks", "conv_variants", "conv_variants_backprop", "data", "gradcheck",
           "layers", "model", "ops", "optim", "shapes", "Sequential"]
