"""The same network in Keras: build a ``tf.keras`` model from a cnnlib ``Sequential``.

cnnlib's layers use Keras's layouts (NHWC activations, HWIO kernels, (in, out)
dense kernels, Keras's weight names and order), so the weights are copied as
they are. A residual block becomes a nested functional Keras model (its
layers and an ``Add``). This module imports TensorFlow when ``to_keras`` runs.
"""

import numpy as np

from . import layers as L
from .blocks import ResidualBlock
from .model import Sequential
from .shapes import padding_amounts_2d

__all__ = ["to_keras"]


def to_keras(model, softmax=False):
    """A ``tf.keras.Sequential`` that computes what ``model`` computes, with a copy of its weights.

    Arguments:
        model: a built :class:`cnnlib.model.Sequential` (pass ``input_shape`` or
            run it once first).
        softmax: append a softmax, so that Keras's ``predict`` matches
            ``model.predict`` (probabilities); without it the Keras model
            outputs the logits, like ``model.forward``.

    Returns:
        An uncompiled ``tf.keras.Sequential`` in the model's dtype. Explicit
        conv padding becomes a ``ZeroPadding2D`` before a 'valid' ``Conv2D``;
        a :class:`cnnlib.blocks.ResidualBlock` becomes a nested functional
        ``tf.keras.Model`` of the same name. Every weight is copied, the
        moving statistics of batch normalization included.

    Raises:
        RuntimeError: the model is not built.
        NotImplementedError: a layer Keras cannot express the same way
            (strides and dilation both above 1, explicit pooling padding,
            transposed-convolution padding other than 'valid' and 'same').
    """
    import tensorflow as tf

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a cnnlib Sequential, got {type(model).__name__}")
    if not model.built:
        raise RuntimeError("to_keras needs a built model: pass input_shape= to Sequential or run it once")
    dtype = model.dtype.name
    stack = [tf.keras.Input(shape=model.input_shape, dtype=dtype)]
    weights = []   # (keras layer, [arrays]) to set once the model exists
    for layer in model.layers:
        stack += _translate(tf, layer, dtype, weights)
    if softmax:
        stack.append(tf.keras.layers.Softmax(dtype=dtype, name="softmax"))
    keras_model = tf.keras.Sequential(stack, name="from_cnnlib")
    for keras_layer, arrays in weights:
        keras_layer.set_weights([np.asarray(a, dtype=dtype) for a in arrays])
    return keras_model


def _translate(tf, layer, dtype, weights):
    """The Keras layers (usually one) computing what ``layer`` computes; appends its weights to ``weights``."""
    k = tf.keras.layers
    before = []
    if isinstance(layer, ResidualBlock):
        return [_residual_block(tf, layer, dtype, weights)]
    if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D)):
        if layer.strides != (1, 1) and layer.dilation_rate != (1, 1):
            raise NotImplementedError(f"{layer.name}: Keras refuses strides > 1 with dilation > 1")
        padding = layer.padding if layer.padding in ("valid", "same") else "valid"
        if padding != layer.padding:   # explicit amounts or 'full': spelled out as zeros
            explicit = padding_amounts_2d(layer.input_shape[:2], layer.kernel_size, layer.padding,
                                          layer.strides, layer.dilation_rate)
            if any(explicit[0] + explicit[1]):
                before.append(k.ZeroPadding2D(explicit, dtype=dtype, name=f"{layer.name}_pad"))
        common = dict(strides=layer.strides, padding=padding, dilation_rate=layer.dilation_rate,
                      use_bias=layer.use_bias, dtype=dtype, name=layer.name)
        if isinstance(layer, L.Conv2D):
            keras_layer = k.Conv2D(layer.filters, layer.kernel_size, **common)
        elif isinstance(layer, L.DepthwiseConv2D):
            keras_layer = k.DepthwiseConv2D(layer.kernel_size, depth_multiplier=layer.depth_multiplier, **common)
        else:
            keras_layer = k.SeparableConv2D(layer.filters, layer.kernel_size,
                                            depth_multiplier=layer.depth_multiplier, **common)
    elif isinstance(layer, L.Conv2DTranspose):
        if layer.padding not in ("valid", "same"):
            raise NotImplementedError(f"{layer.name}: Keras's Conv2DTranspose pads only 'valid' or 'same', "
                                      f"not {layer.padding!r}")
        if layer.strides != (1, 1) and layer.dilation_rate != (1, 1):
            raise NotImplementedError(f"{layer.name}: Keras refuses strides > 1 with dilation > 1")
        keras_layer = k.Conv2DTranspose(layer.filters, layer.kernel_size, strides=layer.strides,
                                        padding=layer.padding, output_padding=layer.output_padding,
                                        dilation_rate=layer.dilation_rate, use_bias=layer.use_bias,
                                        dtype=dtype, name=layer.name)
    elif isinstance(layer, (L.MaxPool2D, L.AvgPool2D)):
        if not isinstance(layer.padding, str):
            raise NotImplementedError(f"{layer.name}: explicit pooling padding has no Keras "
                                      f"equivalent (Keras pads pooling only with 'same')")
        cls = k.MaxPooling2D if isinstance(layer, L.MaxPool2D) else k.AveragePooling2D
        keras_layer = cls(layer.pool_size, strides=layer.strides, padding=layer.padding,
                          dtype=dtype, name=layer.name)
    elif isinstance(layer, (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D)):
        cls = k.GlobalAveragePooling2D if isinstance(layer, L.GlobalAveragePooling2D) else k.GlobalMaxPooling2D
        keras_layer = cls(keepdims=layer.keepdims, dtype=dtype, name=layer.name)
    elif isinstance(layer, L.BatchNormalization):
        keras_layer = k.BatchNormalization(momentum=layer.momentum, epsilon=layer.epsilon, dtype=dtype,
                                           name=layer.name)
    elif isinstance(layer, L.ReLU):
        keras_layer = k.ReLU(dtype=dtype, name=layer.name)
    elif isinstance(layer, L.Flatten):
        keras_layer = k.Flatten(dtype=dtype, name=layer.name)
    elif isinstance(layer, L.Dense):
        keras_layer = k.Dense(layer.units, use_bias=layer.use_bias, dtype=dtype, name=layer.name)
    elif isinstance(layer, L.Dropout):
        keras_layer = k.Dropout(layer.rate, dtype=dtype, name=layer.name)
    else:
        raise NotImplementedError(f"no Keras equivalent for {type(layer).__name__} ({layer.name})")
    if layer.weights():
        weights.append((keras_layer, [value for _, value in layer.weights()]))
    return before + [keras_layer]


def _residual_block(tf, block, dtype, weights):
    """A functional Keras model: input -> branch and shortcut -> Add, named like the block."""
    inputs = tf.keras.Input(shape=block.input_shape, dtype=dtype)
    paths = []
    for layers in (block.branch, block.shortcut or []):
        h = inputs
        for layer in layers:
            for keras_layer in _translate(tf, layer, dtype, weights):
                h = keras_layer(h)
        paths.append(h)
    out = tf.keras.layers.Add(dtype=dtype, name=f"{block.name}_add")(paths)
    return tf.keras.Model(inputs, out, name=block.name)
