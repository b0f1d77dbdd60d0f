"""Blocks: networks that are not a chain, packed as one layer that a ``Sequential`` can hold.

A residual block (He et al., 2016) adds its input back to what a short stack
of layers computes from it:

    out = branch(x) + shortcut(x)

The shortcut is the identity, or a 1x1 convolution (usually strided and
followed by batch normalization) when the branch changes the number of
channels or the size: a *projection*. Put a ReLU after the block in the
``Sequential``, as ResNet does. In the backward pass the gradient reaching
``out`` flows into both paths and their input gradients add up: through the
identity it reaches x unchanged, whatever the branch does, which is why very
deep residual networks still train.

    ResidualBlock(branch, shortcut=None)   any branch and shortcut, as lists of layers
    resnet_block(filters, strides=1, ...)  ResNet's basic block: two 3x3 convs with batch
                                           normalization, and a projection when needed
    residual_block(x, w1, b1, w2, b2, ...) a small block of 1x1 convolutions as a pure function
    residual_block_backward(dout, x, ...)  of its weights, forward and backward (Assignment 5's)

:func:`cnnlib.keras_bridge.to_keras` turns a block into a nested Keras model
(its layers and an ``Add``), so ``summary()`` shows it as one row with Keras's
parameter count.
"""

import numpy as np

from .layers import BatchNormalization, Conv2D, Layer, ReLU, unique_names
from .tracing import Step

__all__ = ["ResidualBlock", "resnet_block", "residual_block", "residual_block_backward"]


class ResidualBlock(Layer):
    """``branch(x) + shortcut(x)``: a residual block as one layer.

    Arguments:
        branch: a non-empty list of layers applied one after another.
        shortcut: None for the identity, or a list of layers (a projection,
            e.g. ``[Conv2D(f, 1, strides=2, use_bias=False), BatchNormalization()]``).
        name: the block's name (default "residual_block").

    The two paths must produce the same shape; ``build`` says so with both
    shapes otherwise. The block's ``params``, ``grads`` and ``state`` hold every
    sublayer's weights under ``"<sublayer>/<weight>"`` keys, in the order Keras
    lists the nested model's weights. Input (N, *input_shape), output the
    branch's output shape.

    Raises:
        TypeError: something in branch or shortcut is not a Layer.
        ValueError: an empty branch.
    """

    def __init__(self, branch, shortcut=None, name=None):
        self.branch = list(branch)
        self.shortcut = None if shortcut is None else list(shortcut)
        super().__init__(name or "residual_block")
        if not self.branch:
            raise ValueError("branch must hold at least one layer")
        for where, layers in (("branch", self.branch), ("shortcut", self.shortcut or [])):
            for i, layer in enumerate(layers):
                if not isinstance(layer, Layer):
                    raise TypeError(f"{where}[{i}] must be a cnnlib.layers.Layer, got {type(layer).__name__}")
        unique_names(self.sublayers())   # Keras's convention inside the block: conv2d, conv2d_1, ...

    def sublayers(self):
        """Every layer of the block: the branch's, then the shortcut's."""
        return self.branch + (self.shortcut or [])

    def _keras_order(self):
        """The sublayers in the order a Keras functional model lists them: farthest from the output
        first (layers as many steps from the Add: the branch's first)."""
        steps = [(len(self.branch) - i, 0, layer) for i, layer in enumerate(self.branch)]
        steps += [(len(self.shortcut) - i, 1, layer) for i, layer in enumerate(self.shortcut or [])]
        return [layer for _, _, layer in sorted(steps, key=lambda t: (-t[0], t[1]))]

    # params, grads and state are built from the sublayers' on every access: the arrays are the
    # sublayers' own, so an optimizer updating params in place updates the sublayers. (Layer.__init__
    # assigns empty dicts; the setters ignore that.)
    def _collect(self, what):
        return {f"{layer.name}/{key}": value for layer in self._keras_order()
                for key, value in getattr(layer, what).items()}

    params = property(lambda self: self._collect("params"), lambda self, value: None)
    grads = property(lambda self: self._collect("grads"), lambda self, value: None)
    state = property(lambda self: self._collect("state"), lambda self, value: None)

    def weights(self):
        """Every sublayer's weights in Keras's order: layer by layer as a Keras functional model lists
        them (by distance from the output, farthest first), each layer's trained weights first."""
        return [(f"{layer.name}/{key}", value) for layer in self._keras_order() for key, value in layer.weights()]

    def build(self, input_shape, rng=None, dtype=None):
        input_shape = tuple(int(n) for n in input_shape)
        if self.dtype is None:
            self.dtype = np.dtype(dtype or "float32")
        if self.seed is not None or rng is None:
            rng = np.random.default_rng(self.seed)
        seeds = rng.integers(0, 2**63, size=len(self.sublayers()))
        seeds = iter(seeds)
        shapes = {}
        for where, layers in (("branch", self.branch), ("shortcut", self.shortcut or [])):
            shape = input_shape
            for layer in layers:
                try:
                    shape = layer.build(shape, rng=np.random.default_rng(next(seeds)), dtype=self.dtype)
                except ValueError as err:
                    raise ValueError(f"{where} layer {layer.name} ({layer!r}) cannot take inputs of shape "
                                     f"{shape}: {err}") from None
            shapes[where] = shape
        if shapes["branch"] != shapes["shortcut"]:
            kind = "the identity shortcut" if self.shortcut is None else "the shortcut"
            raise ValueError(f"the branch gives {shapes['branch']} but {kind} gives {shapes['shortcut']}: "
                             f"they are added, so they must match. A 1x1 Conv2D on the shortcut with the "
                             f"branch's filters and strides (a projection) makes them match")
        self.input_shape, self.output_shape = input_shape, shapes["branch"]
        return self.output_shape

    def forward(self, x, training=False):
        x = self._remember(x)
        out = x
        for layer in self.branch:
            out = layer.forward(out, training=training)
        side = x
        for layer in self.shortcut or []:
            side = layer.forward(side, training=training)
        return out + side

    def backward(self, dout, input_grad=True):
        self._saved_input()
        grads = []
        for layers in (self.branch, self.shortcut or []):
            g = dout
            for i in reversed(range(len(layers))):
                g = layers[i].backward(g, input_grad=input_grad or i > 0)
            grads.append(g)
        return grads[0] + grads[1] if input_grad else None

    def trace_branches(self):
        """The branch and the shortcut (empty for the identity), for :mod:`cnnlib.tracing`."""
        return (self.branch, self.shortcut or [])

    def trace_merge(self, shapes_out):
        """Adding the two paths: ``Step(shape, every weight of the block)``; ValueError when they differ."""
        branch, shortcut = shapes_out
        if branch != shortcut:
            raise ValueError(f"{self.name}: the branch gives {branch} but the shortcut gives {shortcut}: "
                             f"they are added, so they must match")
        return Step(branch, self.count_params())

    def _config(self):
        inner = ", ".join(repr(layer) for layer in self.branch)
        short = "identity" if self.shortcut is None else "[" + ", ".join(repr(layer) for layer in self.shortcut) + "]"
        return f"branch=[{inner}], shortcut={short}"


def resnet_block(filters, strides=1, projection=None, momentum=0.99, name=None):
    """ResNet's basic block: conv3x3-BN-ReLU-conv3x3-BN on the branch, added to the shortcut.

    Arguments:
        filters: output channels of both convolutions.
        strides: of the first convolution (2 halves the size, as at the start of a ResNet stage).
        projection: True for a 1x1 Conv2D (with these strides, no bias) and
            BatchNormalization on the shortcut; False for the identity; None
            (default) for a projection exactly when strides > 1 (the channel
            count is not known until the block is built: pass True when it changes).
        momentum: of the batch normalizations.
        name: the block's name.

    Returns:
        A :class:`ResidualBlock`; follow it with a :class:`cnnlib.layers.ReLU`.
        The convolutions have no bias (the batch normalization after each
        has its own shift) and He-normal weights, as in the paper.
    """
    project = strides != 1 if projection is None else bool(projection)

    def conv(k, s):
        return Conv2D(filters, k, strides=s, padding="same", use_bias=False, kernel_initializer="he_normal")

    branch = [conv(3, strides), BatchNormalization(momentum), ReLU(), conv(3, 1), BatchNormalization(momentum)]
    shortcut = [conv(1, strides), BatchNormalization(momentum)] if project else None
    return ResidualBlock(branch, shortcut, name=name)


def _one_by_one_block(x, w1, b1, w2, b2, w_proj, stride):
    """A :class:`ResidualBlock` of 1x1 convolutions holding these weights, built for x, and its final ReLU."""
    x = np.asarray(x, dtype=np.float64)
    conv1 = Conv2D(np.shape(w1)[3], 1, strides=stride, dtype="float64")
    conv2 = Conv2D(np.shape(w2)[3], 1, dtype="float64")
    projection = None if w_proj is None else Conv2D(np.shape(w_proj)[3], 1, strides=stride, use_bias=False,
                                                    dtype="float64")
    block = ResidualBlock([conv1, ReLU(), conv2], None if projection is None else [projection])
    block.build(x.shape[1:], dtype="float64")
    for layer, key, value in ((conv1, "kernel", w1), (conv1, "bias", b1), (conv2, "kernel", w2), (conv2, "bias", b2),
                              (projection, "kernel", w_proj)):
        if layer is not None:
            if np.shape(value) != layer.params[key].shape:
                raise ValueError(f"{'w_proj' if layer is projection else key} has shape {np.shape(value)}, "
                                 f"expected {layer.params[key].shape} for x of shape {x.shape}")
            layer.params[key][...] = value
    return x, block, ReLU(), (conv1, conv2, projection)


def residual_block(x, w1, b1, w2, b2, w_proj=None, stride=1):
    """A residual block of 1x1 convolutions, as a function of its weights: ``relu(F(x) + shortcut(x))``.

    ``F(x) = conv1x1(relu(conv1x1(x, w1, stride) + b1), w2) + b2``; the shortcut is x
    itself, or ``conv1x1(x, w_proj, stride)`` (a projection, no bias). A 1x1
    convolution is a dense layer applied to every pixel (``x @ w[0, 0]``). Computed
    by a :class:`ResidualBlock` and a ReLU, in float64.

    Arguments:
        x: (N, H, W, C).
        w1, b1: (1, 1, C, M) and (M,); w2, b2: (1, 1, M, F) and (F,).
        w_proj: None (then F == C and stride == 1), or (1, 1, C, F).
        stride: of the first convolution and the projection.

    Returns:
        (N, ceil(H / stride), ceil(W / stride), F).

    Raises:
        ValueError: shapes that do not fit together, or an identity shortcut
            that cannot be added (other channels or a stride).
    """
    x, block, relu, _ = _one_by_one_block(x, w1, b1, w2, b2, w_proj, stride)
    return relu.forward(block.forward(x))


def residual_block_backward(dout, x, w1, b1, w2, b2, w_proj=None, stride=1):
    """Gradients of :func:`residual_block`: ``(dx, dw1, db1, dw2, db2, dw_proj)``.

    The shapes of x, w1, b1, w2, b2 and w_proj; ``dw_proj`` is None when
    ``w_proj`` is None. dx adds the gradients through the branch and through
    the shortcut.
    """
    x, block, relu, (conv1, conv2, projection) = _one_by_one_block(x, w1, b1, w2, b2, w_proj, stride)
    relu.forward(block.forward(x))
    dx = block.backward(relu.backward(dout))
    return (dx, conv1.grads["kernel"], conv1.grads["bias"], conv2.grads["kernel"], conv2.grads["bias"],
            None if projection is None else projection.grads["kernel"])
