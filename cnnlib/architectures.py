"""Classic CNN architectures as data: LeNet-5, AlexNet, VGG-16 and the blocks of NiN, Inception, ResNet.

Each function below returns a :class:`Spec`, a plain description of a network
(no weights, no framework). Two things can be done with a spec:

    trace(spec, input_shape)        every layer's output shape, parameter count and
                                    receptive field, worked out with cnnlib.shapes
    build_keras(spec, input_shape)  the same network in tf.keras, untrained
                                    (imports TensorFlow; never downloads weights)

A spec is a tuple of layer nodes, small frozen dataclasses: :class:`Conv`,
:class:`Pool`, :class:`Subsample`, :class:`GlobalAvgPool`, :class:`Flatten`,
:class:`Dense`, :class:`RBF`, :class:`Dropout`, :class:`BatchNorm`,
:class:`Activation`, and two that hold other nodes:

    Branches(branches=((...), (...)))     run each branch on the same input and
                                          concatenate the outputs along channels (Inception)
    Residual(body=(...), shortcut=(...))  add the body's output to the shortcut's
                                          (an empty shortcut is the identity) (ResNet)

Activations are NHWC without the batch axis, (H, W, C); flat ones are (D,).
Receptive fields are in input pixels and count padding, so a late layer's can
exceed the image (VGG-16's fc1 sees 404 x 404 of a 224 x 224 image).

This module imports neither TensorFlow nor matplotlib at import time.
"""

import html
import math
from dataclasses import dataclass
from typing import NamedTuple

from . import shapes
from .arguments import check_int, int_pair

__all__ = [
    "Node", "Conv", "Pool", "Subsample", "GlobalAvgPool", "Flatten", "Dense", "RBF", "Dropout", "BatchNorm",
    "Activation", "Branches", "Residual", "Spec", "Row", "Trace",
    "lenet5", "alexnet", "vgg16", "nin_block", "inception_module", "resnet_basic_block",
    "resnet_bottleneck_block", "trace", "build_keras", "LENET5_C3_TABLE",
]


# -- the layer nodes -----------------------------------------------------------------------

def _spatial(node, shape):
    if len(shape) != 3:
        raise ValueError(f"{node.name or type(node).__name__} needs an (H, W, C) input, got {shape}; "
                         f"a Flatten before a Dense turns a map into a vector, not the other way")
    return shape


def _axis_padding(padding, axis):
    """The padding argument of shapes.* for one axis (0 rows, 1 columns)."""
    if isinstance(padding, str):
        return padding
    if isinstance(padding, (tuple, list)):
        return padding[axis]
    return padding


class Node:
    """What every layer node answers; the subclasses below fill it in.

    ``shape`` is the node's input shape without the batch axis: (H, W, C), or (D,)
    when flat.
    """

    def output_shape(self, shape):
        """The output shape for an input of ``shape``; raises ValueError when it cannot fit."""
        return shape

    def params(self, shape):
        """The parameter count for an input of ``shape`` (an int)."""
        return 0

    def window(self, shape):
        """The node's window per axis, ((kh, sh, dh), (kw, sw, dw)), or None when it moves no pixels."""
        return None

    def describe(self):
        """A few words for the "what" column of a trace."""
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Conv(Node):
    """A 2-D convolution: ``filters`` kernels of ``kernel_size`` x C_in, plus a bias each.

    ``padding`` is what :func:`cnnlib.shapes.conv_output_size` takes: an int, a
    pair (rows, columns), "valid" or "same". ``connections``, when given, is
    a partial connection table (LeNet-5's C3): for each output map, the
    tuple of input channels it sees; its parameters are then
    ``sum over maps of (kh*kw*len(inputs) + 1)``.
    ``activation`` is a Keras activation name or None.
    """

    filters: int
    kernel_size: object = 3
    strides: object = 1
    padding: object = 0
    dilation: object = 1
    activation: object = "relu"
    use_bias: bool = True
    connections: tuple = None
    name: str = None

    def output_shape(self, shape):
        h, w, _ = _spatial(self, shape)
        (kh, kw), (sh, sw), (dh, dw) = (int_pair(self.kernel_size, "kernel_size", 1),
                                        int_pair(self.strides, "strides", 1), int_pair(self.dilation, "dilation", 1))
        return (shapes.conv_output_size(h, kh, _axis_padding(self.padding, 0), sh, dh),
                shapes.conv_output_size(w, kw, _axis_padding(self.padding, 1), sw, dw), self.filters)

    def params(self, shape):
        kh, kw = int_pair(self.kernel_size, "kernel_size", 1)
        c_in = shape[2]
        if self.connections is None:
            return shapes.conv_param_count(kh, kw, c_in, self.filters, self.use_bias)
        if len(self.connections) != self.filters:
            raise ValueError(f"{self.name}: connections lists {len(self.connections)} output maps "
                             f"but filters={self.filters}")
        for inputs in self.connections:
            if not inputs or any(not 0 <= i < c_in for i in inputs):
                raise ValueError(f"{self.name}: connections entry {inputs} must name input channels "
                                 f"in [0, {c_in})")
        return sum(shapes.conv_param_count(kh, kw, len(inputs), 1, self.use_bias)
                   for inputs in self.connections)

    def window(self, shape):
        return tuple(zip(int_pair(self.kernel_size, "kernel_size", 1), int_pair(self.strides, "strides", 1),
                         int_pair(self.dilation, "dilation", 1)))

    def describe(self):
        kh, kw = int_pair(self.kernel_size, "kernel_size", 1)
        text = f"conv {self.filters}@{kh}x{kw}"
        if int_pair(self.strides, "strides", 1) != (1, 1):
            text += f" stride {self.strides}"
        if self.padding not in (0, "valid"):
            text += f" pad {self.padding}"
        if self.connections is not None:
            text += f" partial ({sum(map(len, self.connections))} map pairs)"
        return text + (f", {self.activation}" if self.activation else "")


@dataclass(frozen=True)
class Pool(Node):
    """Max or average pooling (``mode`` "max" or "avg") over ``pool_size`` windows; no parameters.

    ``strides`` defaults to ``pool_size``; ``padding`` is "valid" or "same"
    (Keras's two modes; "same" pooling ignores the padded cells).
    """

    pool_size: object = 2
    strides: object = None
    padding: str = "valid"
    mode: str = "max"
    name: str = None

    def _check(self):
        if self.mode not in ("max", "avg"):
            raise ValueError(f"{self.name}: mode must be 'max' or 'avg', got {self.mode!r}")
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{self.name}: padding must be 'valid' or 'same', got {self.padding!r}")

    def _geometry(self):
        size = int_pair(self.pool_size, "pool_size", 1)
        return size, size if self.strides is None else int_pair(self.strides, "strides", 1)

    def output_shape(self, shape):
        self._check()
        h, w, c = _spatial(self, shape)
        (ph, pw), (sh, sw) = self._geometry()
        return (shapes.pool_output_size(h, ph, sh, self.padding),
                shapes.pool_output_size(w, pw, sw, self.padding), c)

    def params(self, shape):
        return 0

    def window(self, shape):
        size, strides = self._geometry()
        return tuple((k, s, 1) for k, s in zip(size, strides))

    def describe(self):
        (ph, pw), (sh, sw) = self._geometry()
        text = f"{self.mode} pool {ph}x{pw}" + (f" stride {sh}" if (sh, sw) != (ph, pw) else "")
        return text + (" same" if self.padding == "same" else "")


@dataclass(frozen=True)
class Subsample(Pool):
    """LeNet-5's subsampling layer: the sum of each 2 x 2 window times a trainable
    coefficient, plus a trainable bias, per channel (2 parameters a channel), then a squashing
    function. Keras has no such layer: :func:`build_keras` uses average pooling (0 parameters)."""

    mode: str = "avg"
    activation: object = "tanh"

    def params(self, shape):
        return 2 * shape[2]

    def describe(self):
        return f"subsample {super().describe().split(' ', 2)[2]}, coefficient + bias per map"


@dataclass(frozen=True)
class GlobalAvgPool(Node):
    """The mean of each channel over the whole map: (H, W, C) -> (C,). No parameters."""

    name: str = None

    def output_shape(self, shape):
        return (_spatial(self, shape)[2],)

    def params(self, shape):
        return 0

    def window(self, shape):
        return ((shape[0], 1, 1), (shape[1], 1, 1))

    def describe(self):
        return "global average pool"


@dataclass(frozen=True)
class Flatten(Node):
    """(H, W, C) -> (H*W*C,), row-major as Keras's Flatten. No parameters."""

    name: str = None

    def output_shape(self, shape):
        return (math.prod(shape),)

    def params(self, shape):
        return 0

    def window(self, shape):
        # A unit after Flatten can depend on every position of the map: an H x W window.
        return ((shape[0], 1, 1), (shape[1], 1, 1)) if len(shape) == 3 else None

    def describe(self):
        return "flatten"


@dataclass(frozen=True)
class Dense(Node):
    """A fully connected layer on a flat input (D,): D*units weights and ``units`` biases."""

    units: int
    activation: object = "relu"
    use_bias: bool = True
    name: str = None

    def output_shape(self, shape):
        if len(shape) != 1:
            raise ValueError(f"{self.name or 'Dense'} needs a flat input (D,), got {shape}; "
                             f"put a Flatten (or GlobalAvgPool) before it")
        return (self.units,)

    def params(self, shape):
        # A dense layer is a 1 x 1 convolution on a 1 x 1 map with D channels.
        return shapes.conv_param_count(1, 1, shape[0], self.units, self.use_bias)

    def window(self, shape):
        return None

    def describe(self):
        return f"dense {self.units}" + (f", {self.activation}" if self.activation else "")


@dataclass(frozen=True)
class RBF(Dense):
    """LeNet-5's output layer: unit i outputs the squared distance between its input (D,)
    and a fixed code vector, D*units parameters, no bias. Keras has no such layer:
    :func:`build_keras` uses a Dense layer without bias (same parameter count, a dot product
    instead of a distance)."""

    activation: object = None
    use_bias: bool = False

    def describe(self):
        return f"RBF {self.units} (Euclidean distance to {self.units} codes)"


@dataclass(frozen=True)
class Dropout(Node):
    """Dropout with probability ``rate`` in training; the shape and parameter count are unchanged."""

    rate: float = 0.5
    name: str = None

    def describe(self):
        return f"dropout {self.rate}"


@dataclass(frozen=True)
class BatchNorm(Node):
    """Batch normalization over channels: 4*C parameters as Keras counts them
    (trainable scale and shift, plus the running mean and variance)."""

    name: str = None

    def params(self, shape):
        return 4 * shape[-1]

    def describe(self):
        return "batch norm"


@dataclass(frozen=True)
class Activation(Node):
    """An elementwise activation (a Keras name such as "relu"); no parameters."""

    activation: str = "relu"
    name: str = None

    def describe(self):
        return self.activation


@dataclass(frozen=True)
class Branches:
    """Parallel branches on one input, concatenated along channels (an Inception module).

    ``branches`` is a tuple of node tuples; every branch must end at the same
    height and width.
    """

    branches: tuple
    name: str = "concat"

    def describe(self):
        """A few words for the "what" column of a trace."""
        return f"concatenate {len(self.branches)} branches"


@dataclass(frozen=True)
class Residual:
    """``body(x) + shortcut(x)`` (a ResNet block); an empty ``shortcut`` is the identity.

    Both paths must end with the same shape.
    """

    body: tuple
    shortcut: tuple = ()
    name: str = "add"

    def describe(self):
        """A few words for the "what" column of a trace."""
        return "add body + " + ("shortcut" if self.shortcut else "identity")


@dataclass(frozen=True)
class Spec:
    """A named network: ``layers`` (a tuple of nodes) and the ``input_shape`` (H, W, C) it was
    published for. ``notes`` says where the spec departs from the paper or from Keras."""

    name: str
    layers: tuple
    input_shape: tuple
    notes: str = ""


# -- the architectures ---------------------------------------------------------------------

# LeNet-5's C3 (LeCun et al. 1998, Table I): the S2 maps each of the 16 C3 maps reads.
# Six read 3 neighbouring maps, six read 4 neighbouring maps, three read 4 maps that are not
# all neighbours, and the last reads all 6: 60 of the 96 possible (map, map) connections.
LENET5_C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def lenet5(paper=True):
    """LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998) on 32 x 32 x 1 digits.

    C1 conv 6@5x5 (156 parameters) -> S2 subsampling (12) -> C3 conv 16@5x5 (1,516)
    -> S4 subsampling (32) -> C5 conv 120@5x5 (48,120) -> F6 dense 84 (10,164)
    -> output 10 RBF units (840): 60,840 parameters.

    C3 is only partially connected (:data:`LENET5_C3_TABLE`): the paper did it to
    keep the count down (1,516 instead of 2,416 for full connections) and to
    break the symmetry between maps, each seeing a different set of inputs.

    Arguments:
        paper: True (default) gives the paper's network. False gives the variant
            that Keras expresses exactly and that :func:`build_keras` builds in
            both cases: C3 fully connected, S2 and S4 as average pooling without
            parameters, the output a Dense layer of 10 (61,706 parameters).

    Returns:
        A :class:`Spec` with input shape (32, 32, 1).
    """
    if paper:
        c3 = Conv(16, 5, activation="tanh", connections=LENET5_C3_TABLE, name="C3")
        s2, s4 = Subsample(2, name="S2"), Subsample(2, name="S4")
        out = RBF(10, name="output")
    else:
        c3 = Conv(16, 5, activation="tanh", name="C3")
        s2, s4 = Pool(2, mode="avg", name="S2"), Pool(2, mode="avg", name="S4")
        out = Dense(10, activation="softmax", name="output")
    layers = (Conv(6, 5, activation="tanh", name="C1"), s2, c3, s4,
              Conv(120, 5, activation="tanh", name="C5"), Flatten(name="flatten"),
              Dense(84, activation="tanh", name="F6"), out)
    notes = ("LeNet-5 as in the 1998 paper: C3 partially connected, trainable subsampling, RBF output. "
             "build_keras: C3 full, average pooling, Dense output." if paper else
             "LeNet-5 as Keras expresses it: C3 full, average pooling, Dense output.")
    return Spec("LeNet-5" if paper else "LeNet-5 (Keras variant)", layers, (32, 32, 1), notes)


def alexnet(num_classes=1000):
    """AlexNet (Krizhevsky, Sutskever, Hinton 2012) as a single tower on 227 x 227 x 3.

    conv1 96@11x11 stride 4 -> max pool 3 stride 2 -> conv2 256@5x5 pad 2 -> pool
    -> conv3 384@3x3 -> conv4 384@3x3 -> conv5 256@3x3 -> pool -> fc6 4096 -> fc7 4096
    -> fc8 ``num_classes``, with dropout 0.5 before fc6 and fc7. With 1000 classes:
    62,378,344 parameters (the paper says "60 million").

    The paper split conv2, conv4, conv5 over two GPUs, each half seeing only its own
    half of the channels (fewer parameters); this is the usual one-tower version. Its
    local response normalization is left out (no parameters; Keras has no such layer).

    Returns:
        A :class:`Spec` with input shape (227, 227, 3) (the paper's "224" does not
        tile with an 11 x 11 kernel at stride 4).
    """
    layers = (Conv(96, 11, strides=4, name="conv1"), Pool(3, 2, name="pool1"),
              Conv(256, 5, padding=2, name="conv2"), Pool(3, 2, name="pool2"),
              Conv(384, 3, padding=1, name="conv3"), Conv(384, 3, padding=1, name="conv4"),
              Conv(256, 3, padding=1, name="conv5"), Pool(3, 2, name="pool5"),
              Flatten(name="flatten"), Dropout(0.5, name="drop6"), Dense(4096, name="fc6"),
              Dropout(0.5, name="drop7"), Dense(4096, name="fc7"),
              Dense(num_classes, activation="softmax", name="fc8"))
    return Spec("AlexNet", layers, (227, 227, 3),
                "single tower, no local response normalization")


def vgg16(num_classes=1000):
    """VGG-16 (Simonyan and Zisserman 2014, configuration D) on 224 x 224 x 3.

    Thirteen 3 x 3 convolutions with padding 1 in five blocks of 2, 2, 3, 3, 3
    (64, 128, 256, 512, 512 filters), each block ending in a 2 x 2 max pool, then
    fc 4096, fc 4096, fc ``num_classes``: 138,357,544 parameters with 1000 classes.
    Layer names are those of ``tf.keras.applications.VGG16`` (block1_conv1, ...,
    fc1, fc2, predictions).

    Returns:
        A :class:`Spec` with input shape (224, 224, 3).
    """
    layers = []
    for block, (filters, repeats) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        layers += [Conv(filters, 3, padding=1, name=f"block{block}_conv{i}") for i in range(1, repeats + 1)]
        layers.append(Pool(2, name=f"block{block}_pool"))
    layers += [Flatten(name="flatten"), Dense(4096, name="fc1"), Dense(4096, name="fc2"),
               Dense(num_classes, activation="softmax", name="predictions")]
    return Spec("VGG-16", tuple(layers), (224, 224, 3), "configuration D of the paper")


def nin_block(filters=96, kernel_size=11, strides=4, padding=0, input_shape=(224, 224, 3)):
    """A Network-in-Network block (Lin, Chen, Yan 2013): one ordinary convolution followed
    by two 1 x 1 convolutions, all with ``filters`` channels and ReLU.

    The 1 x 1 convolutions are a small fully connected network applied at every
    pixel, across channels; they add depth without touching the receptive field.
    The defaults are an AlexNet-sized first block (96@11x11 stride 4).

    Returns:
        A :class:`Spec` with the given ``input_shape``.
    """
    layers = (Conv(filters, kernel_size, strides=strides, padding=padding, name="conv"),
              Conv(filters, 1, name="mlp1"), Conv(filters, 1, name="mlp2"))
    return Spec("NiN block", layers, tuple(input_shape))


def inception_module(f1x1=64, f3x3_reduce=96, f3x3=128, f5x5_reduce=16, f5x5=32, pool_proj=32,
                     input_shape=(28, 28, 192)):
    """An Inception module (Szegedy et al. 2014); the defaults are GoogLeNet's inception (3a).

    Four branches on the same input, concatenated along channels:
    1x1 ``f1x1``; 1x1 ``f3x3_reduce`` -> 3x3 ``f3x3``; 1x1 ``f5x5_reduce`` -> 5x5 ``f5x5``;
    3x3 max pool (stride 1, same) -> 1x1 ``pool_proj``. All keep the height and
    width, so 28 x 28 x 192 becomes 28 x 28 x (64 + 128 + 32 + 32) = 28 x 28 x 256.
    The 1x1 "reduce" convolutions cut the channels before the expensive kernels.

    Returns:
        A :class:`Spec` with the given ``input_shape``.
    """
    branches = ((Conv(f1x1, 1, name="b1_1x1"),),
                (Conv(f3x3_reduce, 1, name="b2_3x3_reduce"), Conv(f3x3, 3, padding="same", name="b2_3x3")),
                (Conv(f5x5_reduce, 1, name="b3_5x5_reduce"), Conv(f5x5, 5, padding="same", name="b3_5x5")),
                (Pool(3, 1, padding="same", name="b4_pool"), Conv(pool_proj, 1, name="b4_pool_proj")))
    return Spec("Inception module", (Branches(branches, name="concat"),), tuple(input_shape))


def _shortcut(input_shape, channels, strides):
    """Identity when the shape is kept, else a 1x1 projection with batch norm."""
    if strides == 1 and input_shape[-1] == channels:
        return ()
    return (Conv(channels, 1, strides=strides, activation=None, use_bias=False, name="proj"),
            BatchNorm(name="proj_bn"))


def resnet_basic_block(filters=64, strides=1, input_shape=(56, 56, 64)):
    """A ResNet basic block (He et al. 2015): two 3x3 convolutions and a shortcut, added.

    body: conv 3x3 ``filters`` (stride ``strides``) -> BN -> ReLU -> conv 3x3 -> BN;
    shortcut: the identity when the shape is kept, else a 1x1 convolution with
    stride ``strides`` and BN (the paper's option B); then ReLU after the sum.
    Convolutions have no bias (batch norm's shift replaces it).

    Returns:
        A :class:`Spec` with the given ``input_shape``.
    """
    body = (Conv(filters, 3, strides=strides, padding="same", activation=None, use_bias=False, name="conv1"),
            BatchNorm(name="bn1"), Activation("relu", name="relu1"),
            Conv(filters, 3, padding="same", activation=None, use_bias=False, name="conv2"),
            BatchNorm(name="bn2"))
    layers = (Residual(body, _shortcut(input_shape, filters, strides), name="add"),
              Activation("relu", name="out_relu"))
    return Spec("ResNet basic block", layers, tuple(input_shape))


def resnet_bottleneck_block(filters=64, strides=1, expansion=4, input_shape=(56, 56, 256)):
    """A ResNet bottleneck block (He et al. 2015): 1x1 reduce, 3x3, 1x1 expand, plus a shortcut.

    body: conv 1x1 ``filters`` -> BN -> ReLU -> conv 3x3 ``filters`` (stride ``strides``)
    -> BN -> ReLU -> conv 1x1 ``expansion * filters`` -> BN; shortcut as in
    :func:`resnet_basic_block`; ReLU after the sum. The stride sits on the 3x3
    convolution (as in torchvision's "ResNet v1.5"; the paper put it on the first
    1x1, with the same shapes and parameter count).

    Returns:
        A :class:`Spec` with the given ``input_shape``.
    """
    out = expansion * filters
    body = (Conv(filters, 1, activation=None, use_bias=False, name="conv1"), BatchNorm(name="bn1"),
            Activation("relu", name="relu1"),
            Conv(filters, 3, strides=strides, padding="same", activation=None, use_bias=False, name="conv2"),
            BatchNorm(name="bn2"), Activation("relu", name="relu2"),
            Conv(out, 1, activation=None, use_bias=False, name="conv3"), BatchNorm(name="bn3"))
    layers = (Residual(body, _shortcut(input_shape, out, strides), name="add"),
              Activation("relu", name="out_relu"))
    return Spec("ResNet bottleneck block", layers, tuple(input_shape))


# -- trace ---------------------------------------------------------------------------------

class Row(NamedTuple):
    """One line of a :class:`Trace`: the layer's name, its output shape (no batch axis),
    its parameter count and its receptive field (an int for square windows, else
    (rows, columns); None for a flat input with no spatial extent)."""

    layer: str
    output_shape: tuple
    params: int
    receptive_field: object


class Trace:
    """What :func:`trace` returns: ``rows`` (a list of :class:`Row`), ``descriptions`` (what
    each row's layer is, same order), ``total_params``, ``input_shape``, ``output_shape``.
    Prints as a text table; a notebook shows it as an HTML table."""

    def __init__(self, name, input_shape, rows, descriptions):
        self.name, self.input_shape = name, input_shape
        self.rows, self.descriptions = rows, descriptions
        self.total_params = sum(row.params for row in rows)
        self.output_shape = rows[-1].output_shape if rows else input_shape

    def _cells(self):
        return [(row.layer, what, str(row.output_shape), f"{row.params:,}",
                 "" if row.receptive_field is None else
                 (f"{row.receptive_field}" if isinstance(row.receptive_field, int)
                  else "x".join(map(str, row.receptive_field))))
                for row, what in zip(self.rows, self.descriptions)]

    _HEADER = ("layer", "what", "output shape", "params", "receptive field")

    def __str__(self):
        cells = [self._HEADER] + self._cells()
        widths = [max(len(r[i]) for r in cells) for i in range(5)]
        fmt = lambda r: "  ".join(c.rjust(w) if i >= 3 else c.ljust(w)   # noqa: E731
                                  for i, (c, w) in enumerate(zip(r, widths)))
        rule = "-" * len(fmt(cells[0]))
        return "\n".join([f"{self.name}, input {self.input_shape}", rule, fmt(cells[0]), rule,
                          *map(fmt, cells[1:]), rule, f"Total params: {self.total_params:,}"])

    def __repr__(self):
        return f"<Trace {self.name}: {len(self.rows)} layers, {self.total_params:,} params>"

    def _repr_html_(self):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEADER)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
                       for cells in self._cells())
        return (f"<p><b>{html.escape(self.name)}</b>, input {self.input_shape}</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                f"<tfoot><tr><td colspan='3'><b>Total params</b></td>"
                f"<td><b>{self.total_params:,}</b></td><td></td></tr></tfoot></table>")


def _check_input_shape(input_shape):
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (H, W, C), got {input_shape!r}")
    return tuple(check_int("input_shape", n, 1) for n in input_shape)


def _spec_and_shape(spec, input_shape):
    if not isinstance(spec, Spec):
        raise TypeError(f"spec must be a cnnlib.architectures.Spec, got {type(spec).__name__}")
    return _check_input_shape(spec.input_shape if input_shape is None else input_shape)


def _field(paths):
    """Receptive field of the units after ``paths`` (every route from the input, each a tuple
    of ((kh, sh, dh), (kw, sw, dw)) windows): the largest over the routes, per axis."""
    if paths is None:
        return None
    rows, cols = (max(shapes.receptive_field([w[axis] for w in path]) for path in paths) for axis in (0, 1))
    return rows if rows == cols else (rows, cols)


def _extend(paths, window):
    """The routes after one more window; routes with the same field and stride are merged."""
    if paths is None or window is None:
        return paths
    merged = {}
    for path in paths:
        path = path + (window,)
        key = tuple((shapes.receptive_field([w[a] for w in path]), math.prod(w[a][1] for w in path))
                    for a in (0, 1))
        merged.setdefault(key, path)
    return tuple(merged.values())


def _walk(nodes, shape, paths, rows, descriptions, seen):
    """Append a row for every node (depth first) and return the final (shape, paths)."""
    for node in nodes:
        name = node.name or f"{type(node).__name__.lower()}_{len(rows)}"
        if name in seen:
            raise ValueError(f"layer name {name!r} is used twice; names must be unique in a spec")
        seen.add(name)
        if isinstance(node, Branches):
            outs = [_walk(branch, shape, paths, rows, descriptions, seen) for branch in node.branches]
            if len({s[:2] for s, _ in outs}) != 1 or any(len(s) != 3 for s, _ in outs):
                raise ValueError(f"{name}: the branches end with shapes {[s for s, _ in outs]}; "
                                 f"concatenation needs the same height and width")
            shape = (*outs[0][0][:2], sum(s[2] for s, _ in outs))
            paths = None if paths is None else tuple(p for _, ps in outs for p in ps)
        elif isinstance(node, Residual):
            outs = [_walk(branch, shape, paths, rows, descriptions, seen)
                    for branch in (node.body, node.shortcut)]
            if outs[0][0] != outs[1][0]:
                raise ValueError(f"{name}: the body ends with shape {outs[0][0]} but the shortcut with "
                                 f"{outs[1][0]}; adding needs equal shapes")
            shape = outs[0][0]
            paths = None if paths is None else outs[0][1] + outs[1][1]
        else:
            try:
                new_shape = node.output_shape(shape)
                params = node.params(shape)
            except (ValueError, TypeError) as err:
                raise type(err)(f"layer {name} ({node.describe()}) cannot take input shape {shape}: "
                                f"{err}") from None
            paths = _extend(paths, node.window(shape))
            shape = new_shape
            rows.append(Row(name, shape, params, _field(paths)))
            descriptions.append(node.describe())
            continue
        rows.append(Row(name, shape, 0, _field(paths)))
        descriptions.append(node.describe())
    return shape, paths


def trace(spec, input_shape=None):
    """Every layer's output shape, parameter count and receptive field, worked out with cnnlib.shapes.

    Arguments:
        spec: a :class:`Spec` (from :func:`lenet5`, :func:`vgg16`, ...).
        input_shape: (H, W, C) of one input image; default ``spec.input_shape``.

    Returns:
        A :class:`Trace`: ``.rows`` lists one :class:`Row` per layer, depth first
        (a branch's or residual body's layers, then the concatenation or sum);
        ``.total_params`` is their sum. Receptive fields are in input pixels.

    Raises:
        TypeError: spec is not a Spec.
        ValueError: input_shape is not (H, W, C), a layer cannot take its input
            (the message names the layer and the shape), branches that do not fit
            together, or a layer name used twice.
    """
    input_shape = _spec_and_shape(spec, input_shape)
    rows, descriptions = [], []
    _walk(spec.layers, input_shape, ((),), rows, descriptions, set())
    return Trace(spec.name, input_shape, rows, descriptions)


# -- Keras ---------------------------------------------------------------------------------

def _keras_layers(nodes, x, k):
    """Apply the Keras version of each node to the tensor x; return the output tensor."""
    for node in nodes:
        if isinstance(node, Branches):
            x = k.Concatenate(name=node.name)([_keras_layers(b, x, k) for b in node.branches])
            continue
        if isinstance(node, Residual):
            x = k.Add(name=node.name)([_keras_layers(node.body, x, k), _keras_layers(node.shortcut, x, k)])
            continue
        if isinstance(node, Conv):
            padding = node.padding if isinstance(node.padding, str) else "valid"
            if not isinstance(node.padding, str) and node.padding not in (0, (0, 0)):
                pads = node.padding if isinstance(node.padding, (tuple, list)) else (node.padding,) * 2
                x = k.ZeroPadding2D(tuple(pads), name=f"{node.name}_pad")(x)
            x = k.Conv2D(node.filters, int_pair(node.kernel_size, "kernel_size", 1),
                         strides=int_pair(node.strides, "strides", 1), padding=padding, dilation_rate=int_pair(node.dilation, "dilation", 1),
                         activation=node.activation, use_bias=node.use_bias, name=node.name)(x)
        elif isinstance(node, Pool):
            size, strides = node._geometry()
            cls = k.MaxPooling2D if node.mode == "max" else k.AveragePooling2D
            x = cls(size, strides=strides, padding=node.padding, name=node.name)(x)
        elif isinstance(node, GlobalAvgPool):
            x = k.GlobalAveragePooling2D(name=node.name)(x)
        elif isinstance(node, Flatten):
            x = k.Flatten(name=node.name)(x)
        elif isinstance(node, Dense):   # RBF too: a Dense without bias
            x = k.Dense(node.units, activation=node.activation, use_bias=node.use_bias, name=node.name)(x)
        elif isinstance(node, Dropout):
            x = k.Dropout(node.rate, name=node.name)(x)
        elif isinstance(node, BatchNorm):
            x = k.BatchNormalization(name=node.name)(x)
        elif isinstance(node, Activation):
            x = k.Activation(node.activation, name=node.name)(x)
        else:
            raise TypeError(f"no Keras layer for {type(node).__name__}")
    return x


def build_keras(spec, input_shape=None):
    """The network of ``spec`` as an untrained ``tf.keras.Model`` (randomly initialized; nothing
    is downloaded).

    Each node becomes the Keras layer of the same name, so ``model.get_layer(row.layer)``
    finds the layer behind each row of :func:`trace`. Activations are inside the
    Conv2D and Dense layers; integer conv padding becomes a ``ZeroPadding2D`` named
    ``<name>_pad`` before a 'valid' ``Conv2D``; branches end in a ``Concatenate``,
    residual blocks in an ``Add``. What Keras cannot express is replaced: LeNet-5's
    partial C3 by a full convolution, its subsampling by ``AveragePooling2D``, its RBF
    output by a ``Dense`` without bias (so those rows' counts differ from the trace).

    Arguments:
        spec: a :class:`Spec`.
        input_shape: (H, W, C); default ``spec.input_shape``.

    Returns:
        A ``tf.keras.Model`` taking (N, H, W, C) float32 images.

    Raises:
        TypeError, ValueError: as :func:`trace` (which is run first to check the spec).
    """
    input_shape = _spec_and_shape(spec, input_shape)
    trace(spec, input_shape)   # the same checks, with messages that name the layer
    import tensorflow as tf

    inputs = tf.keras.Input(input_shape, name="input")
    outputs = _keras_layers(spec.layers, inputs, tf.keras.layers)
    return tf.keras.Model(inputs, outputs, name=spec.name.replace(" ", "_").replace("(", "").replace(")", ""))
