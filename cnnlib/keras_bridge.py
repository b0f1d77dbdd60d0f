"""The same network in Keras: build a ``tf.keras`` model from a cnnlib ``Sequential``.

cnnlib's layers use Keras's layouts (NHWC activations, HWIO kernels, (in, out)
dense kernels), so the weights are copied as they are. This module imports
TensorFlow; nothing else in cnnlib does.
"""

import numpy as np

from . import layers as L
from .ops import _window_padding
from .model import Sequential

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
        conv padding becomes a ``ZeroPadding2D`` before a 'valid' ``Conv2D``.

    Raises:
        RuntimeError: the model is not built.
        NotImplementedError: a layer Keras cannot express the same way
            (strides and dilation both above 1, explicit pooling padding).
    """
    import tensorflow as tf

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a cnnlib Sequential, got {type(model).__name__}")
    if not model.built:
        raise RuntimeError("to_keras needs a built model: pass input_shape= to Sequential or run it once")
    k = tf.keras.layers
    dtype = model.dtype.name
    stack = [tf.keras.Input(shape=model.input_shape, dtype=dtype)]
    weights = []   # (keras layer, [arrays]) to set once the model exists
    for layer in model.layers:
        if isinstance(layer, L.Conv2D):
            if layer.strides != (1, 1) and layer.dilation_rate != (1, 1):
                raise NotImplementedError(f"{layer.name}: Keras refuses strides > 1 with dilation > 1")
            padding = layer.padding if layer.padding in ("valid", "same") else "valid"
            if padding != layer.padding:   # explicit amounts or 'full': spelled out as zeros
                explicit = _window_padding((1, *layer.input_shape), layer.kernel_size, layer.padding,
                                           layer.strides, layer.dilation_rate)
                if any(explicit[0] + explicit[1]):
                    stack.append(k.ZeroPadding2D(explicit, dtype=dtype, name=f"{layer.name}_pad"))
            keras_layer = k.Conv2D(layer.filters, layer.kernel_size, strides=layer.strides,
                                   padding=padding, dilation_rate=layer.dilation_rate,
                                   use_bias=layer.use_bias, dtype=dtype, name=layer.name)
        elif isinstance(layer, (L.MaxPool2D, L.AvgPool2D)):
            if not isinstance(layer.padding, str):
                raise NotImplementedError(f"{layer.name}: explicit pooling padding has no Keras "
                                          f"equivalent (Keras pads pooling only with 'same')")
            cls = k.MaxPooling2D if isinstance(layer, L.MaxPool2D) else k.AveragePooling2D
            keras_layer = cls(layer.pool_size, strides=layer.strides, padding=layer.padding,
                              dtype=dtype, name=layer.name)
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
        stack.append(keras_layer)
        if layer.params:
            weights.append((keras_layer, [layer.params[key] for key in ("kernel", "bias") if key in layer.params]))
    if softmax:
        stack.append(k.Softmax(dtype=dtype, name="softmax"))
    keras_model = tf.keras.Sequential(stack, name="from_cnnlib")
    for keras_layer, arrays in weights:
        keras_layer.set_weights([np.asarray(a, dtype=dtype) for a in arrays])
    return keras_model
