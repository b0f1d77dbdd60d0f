"""The same network in Keras: from a cnnlib ``Sequential`` (with its weights) or from an architecture spec.

    to_keras(model)                 a tf.keras model computing what a built Sequential computes, weights copied
    build_keras(spec, input_shape)  an untrained tf.keras model of a spec (cnnlib.specs, cnnlib.architectures)

Both translate layer by layer through one table, :func:`keras_layers`: a cnnlib layer
and the spec node of the same kind (``layers.Conv2D`` and ``specs.Conv``, ...) have the
same argument names (Keras's) and become the same Keras layers. cnnlib's layers use
Keras's layouts (NHWC activations, HWIO kernels, (in, out) dense kernels, Keras's weight
names and order), so the weights are copied as they are. A residual block becomes a
nested functional Keras model (its layers and an ``Add``).

TensorFlow is imported when ``to_keras`` or ``build_keras`` runs, never when this module
is imported.
"""

import numpy as np

from . import layers as L
from . import shapes
from . import specs as S
from .arguments import int_pair
from .blocks import ResidualBlock
from .model import Sequential
from .tracing import walk

__all__ = ["to_keras", "build_keras", "keras_layers"]


# ---------------------------------------------------------------------------
# The translation table: one function per kind of layer
# ---------------------------------------------------------------------------

def _named(node, dtype):
    """The keyword arguments every Keras layer gets: the node's name and, when given, the dtype."""
    return {"name": node.name} if dtype is None else {"name": node.name, "dtype": dtype}


def _conv(k, node, hw, dtype):
    """Conv2D, DepthwiseConv2D, SeparableConv2D; explicit or 'full' padding as a ZeroPadding2D before."""
    kernel_hw = int_pair(node.kernel_size, "kernel_size", 1)
    strides, dilation = int_pair(node.strides, "strides", 1), int_pair(node.dilation_rate, "dilation_rate", 1)
    if strides != (1, 1) and dilation != (1, 1):
        raise NotImplementedError(f"{node.name}: Keras refuses strides > 1 with dilation > 1")
    padding = node.padding if isinstance(node.padding, str) and node.padding in ("valid", "same") else "valid"
    before = []
    if padding != node.padding:   # explicit amounts or 'full': spelled out as zeros
        pads = shapes.padding_amounts_2d(hw, kernel_hw, node.padding, strides, dilation)
        if any(pads[0] + pads[1]):
            extra = {} if dtype is None else {"dtype": dtype}
            before.append(k.ZeroPadding2D(pads, name=f"{node.name}_pad", **extra))
    common = dict(strides=strides, padding=padding, dilation_rate=dilation, use_bias=node.use_bias,
                  activation=getattr(node, "activation", None), **_named(node, dtype))
    if isinstance(node, L.DepthwiseConv2D):
        return before + [k.DepthwiseConv2D(kernel_hw, depth_multiplier=node.depth_multiplier, **common)]
    if isinstance(node, L.SeparableConv2D):
        return before + [k.SeparableConv2D(node.filters, kernel_hw, depth_multiplier=node.depth_multiplier, **common)]
    return before + [k.Conv2D(node.filters, kernel_hw, **common)]


def _conv_transpose(k, node, hw, dtype):
    if node.padding not in ("valid", "same"):
        raise NotImplementedError(f"{node.name}: Keras's Conv2DTranspose pads only 'valid' or 'same', "
                                  f"not {node.padding!r}")
    if node.strides != (1, 1) and node.dilation_rate != (1, 1):
        raise NotImplementedError(f"{node.name}: Keras refuses strides > 1 with dilation > 1")
    return [k.Conv2DTranspose(node.filters, node.kernel_size, strides=node.strides, padding=node.padding,
                              output_padding=node.output_padding, dilation_rate=node.dilation_rate,
                              use_bias=node.use_bias, **_named(node, dtype))]


def _pool(k, node, hw, dtype):
    """Max or average pooling (LeNet-5's Subsample becomes average pooling, without its 2 weights a map)."""
    if not isinstance(node.padding, str):
        raise NotImplementedError(f"{node.name}: explicit pooling padding has no Keras "
                                  f"equivalent (Keras pads pooling only with 'same')")
    size = int_pair(node.pool_size, "pool_size", 1)
    strides = size if node.strides is None else int_pair(node.strides, "strides", 1)
    cls = k.MaxPooling2D if node.mode == "max" else k.AveragePooling2D
    return [cls(size, strides=strides, padding=node.padding, **_named(node, dtype))]


def _global_pool(k, node, hw, dtype):
    cls = k.GlobalMaxPooling2D if isinstance(node, L.GlobalMaxPooling2D) else k.GlobalAveragePooling2D
    return [cls(keepdims=getattr(node, "keepdims", False), **_named(node, dtype))]


def _dense(k, node, hw, dtype):
    """A dense layer (LeNet-5's RBF output becomes one without bias: the same count, a dot product)."""
    return [k.Dense(node.units, activation=getattr(node, "activation", None), use_bias=node.use_bias,
                    **_named(node, dtype))]


def _batch_norm(k, node, hw, dtype):
    return [k.BatchNormalization(momentum=getattr(node, "momentum", 0.99), epsilon=getattr(node, "epsilon", 1e-3),
                                 **_named(node, dtype))]


_TABLE = (
    ((L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D, S.Conv), _conv),
    ((L.Conv2DTranspose,), _conv_transpose),
    ((L.MaxPool2D, L.AvgPool2D, S.Pool), _pool),
    ((L.GlobalAveragePooling2D, L.GlobalMaxPooling2D, S.GlobalAvgPool), _global_pool),
    ((L.Dense, S.Dense), _dense),
    ((L.BatchNormalization, S.BatchNorm), _batch_norm),
    ((L.Flatten, S.Flatten), lambda k, node, hw, dtype: [k.Flatten(**_named(node, dtype))]),
    ((L.Dropout, S.Dropout), lambda k, node, hw, dtype: [k.Dropout(node.rate, **_named(node, dtype))]),
    ((L.ReLU,), lambda k, node, hw, dtype: [k.ReLU(**_named(node, dtype))]),
    ((S.Activation,), lambda k, node, hw, dtype: [k.Activation(node.activation, **_named(node, dtype))]),
)


def keras_layers(node, hw, k, dtype=None):
    """The Keras layers (usually one) that compute what a cnnlib layer or spec node computes.

    Arguments:
        node: a layer of :mod:`cnnlib.layers` or a node of :mod:`cnnlib.specs`.
        hw: the (height, width) of its input (explicit padding needs it), or None when flat.
        k: ``tf.keras.layers``.
        dtype: the layers' dtype, or None for Keras's default (float32).

    Returns:
        A list of Keras layers, not yet called: a ``ZeroPadding2D`` named ``<name>_pad``
        before a 'valid' convolution when the padding is explicit or "full", else one layer.

    Raises:
        NotImplementedError: something Keras cannot express the same way (strides and
            dilation both above 1, explicit pooling padding, transposed-convolution
            padding other than 'valid' and 'same'), or no Keras layer for the node.
    """
    for kinds, translate in _TABLE:
        if isinstance(node, kinds):
            return translate(k, node, hw, dtype)
    raise NotImplementedError(f"no Keras equivalent for {type(node).__name__} ({node.name})")


# ---------------------------------------------------------------------------
# A cnnlib Sequential, with its weights
# ---------------------------------------------------------------------------

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
            (see :func:`keras_layers`).
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
    """The Keras layers computing what ``layer`` computes; appends its weights to ``weights``."""
    if isinstance(layer, ResidualBlock):
        return [_residual_block(tf, layer, dtype, weights)]
    hw = layer.input_shape[:2] if len(layer.input_shape) == 3 else None
    translated = keras_layers(layer, hw, tf.keras.layers, dtype)
    if layer.weights():
        weights.append((translated[-1], [value for _, value in layer.weights()]))
    return translated


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


# ---------------------------------------------------------------------------
# An architecture spec, untrained
# ---------------------------------------------------------------------------

def build_keras(spec, input_shape=None):
    """The network of ``spec`` as an untrained ``tf.keras.Model`` (randomly initialized; nothing
    is downloaded).

    Each node becomes the Keras layer of the same name, so ``model.get_layer(row.layer)``
    finds the layer behind each row of :func:`cnnlib.architectures.trace`. Activations are
    inside the Conv2D and Dense layers; integer conv padding becomes a ``ZeroPadding2D`` named
    ``<name>_pad`` before a 'valid' ``Conv2D``; branches end in a ``Concatenate``,
    residual blocks in an ``Add``. What Keras cannot express is replaced: LeNet-5's
    partial C3 by a full convolution, its subsampling by ``AveragePooling2D``, its RBF
    output by a ``Dense`` without bias (so those rows' counts differ from the trace).

    Arguments:
        spec: a :class:`cnnlib.specs.Spec`.
        input_shape: (H, W, C); default ``spec.input_shape``.

    Returns:
        A ``tf.keras.Model`` taking (N, H, W, C) float32 images.

    Raises:
        TypeError, ValueError: as :func:`cnnlib.architectures.trace` (the spec is traced first,
            so the messages name the layer).
    """
    input_shape = S.check_spec(spec, input_shape)
    walk(spec.layers, input_shape)   # the trace's checks, with messages that name the layer
    import tensorflow as tf

    inputs = tf.keras.Input(input_shape, name="input")
    outputs = _apply(spec.layers, inputs, tf.keras.layers)
    return tf.keras.Model(inputs, outputs, name=spec.name.replace(" ", "_").replace("(", "").replace(")", ""))


def _apply(nodes, x, k):
    """Apply the Keras version of each node to the tensor x; return the output tensor."""
    for node in nodes:
        if isinstance(node, S.Branches):
            x = k.Concatenate(name=node.name)([_apply(branch, x, k) for branch in node.branches])
        elif isinstance(node, S.Residual):
            x = k.Add(name=node.name)([_apply(node.body, x, k), _apply(node.shortcut, x, k)])
        else:
            hw = tuple(int(n) for n in x.shape[1:3]) if len(x.shape) == 4 else None
            for layer in keras_layers(node, hw, k):
                x = layer(x)
    return x
