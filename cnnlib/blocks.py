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

:func:`cnnlib.keras_bridge.to_keras` turns a block into a nested Keras model
(its layers and an ``Add``), so ``summary()`` shows it as one row with Keras's
parameter count.
"""

import numpy as np

from .layers import BatchNormalization, Conv2D, Layer, ReLU, unique_names

__all__ = ["ResidualBlock", "resnet_block"]


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
