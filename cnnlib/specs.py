"""Architecture specs: a network described as data, layer by layer, with no weights and no framework.

A :class:`Spec` is a name, an input shape and a tuple of layer *nodes*, small frozen
dataclasses named after the Keras layers they stand for:

    Conv(filters, kernel_size, strides, padding, dilation_rate, activation, use_bias, connections)
    Pool(pool_size, strides, padding, mode)      Subsample (LeNet-5's trainable pooling)
    GlobalAvgPool()   Flatten()   Dense(units, activation, use_bias)   RBF(units) (LeNet-5's output)
    Dropout(rate)     BatchNorm()   Activation(activation)

and two that hold other nodes:

    Branches(branches=((...), (...)))     run each branch on the same input and
                                          concatenate the outputs along channels (Inception)
    Residual(body=(...), shortcut=(...))  add the body's output to the shortcut's
                                          (an empty shortcut is the identity) (ResNet)

Every node answers, for an input of ``shape`` (no batch axis: (H, W, C), or (D,) once
flat), what :mod:`cnnlib.tracing` asks: its output shape, its parameter count (as Keras
counts them) and its window (for receptive fields), all worked out with
:mod:`cnnlib.shapes`. :mod:`cnnlib.architectures` holds the published networks written
in these nodes; :func:`cnnlib.architectures.trace` tabulates a spec and
:func:`cnnlib.keras_bridge.build_keras` builds it in Keras.
"""

import math
from dataclasses import InitVar, dataclass

from . import shapes
from .arguments import check_int, int_pair
from .tracing import Step, shape_text

__all__ = ["Node", "Conv", "Pool", "Subsample", "GlobalAvgPool", "Flatten", "Dense", "RBF", "Dropout", "BatchNorm",
           "Activation", "Branches", "Residual", "Spec", "check_spec"]


def _spatial(shape, kind):
    """``shape`` when it is (H, W, C); else the error a student can act on."""
    if len(shape) != 3:
        raise ValueError(f"{kind} needs an H×W×C input, got {shape_text(shape)}: put it before the flatten "
                         f"(a Flatten turns a map into a vector, not the other way)")
    return shape


def _windows(shape, kernel_size, strides, padding, dilation_rate=1):
    """Per axis (kernel, stride, dilation, pad_before) of a window op on an (H, W, C) input."""
    kernel_hw, stride_hw = int_pair(kernel_size, "kernel_size", 1), int_pair(strides, "strides", 1)
    dilation_hw = int_pair(dilation_rate, "dilation_rate", 1)
    pads = shapes.padding_amounts_2d(shape[:2], kernel_hw, padding, stride_hw, dilation_hw)
    return tuple(zip(kernel_hw, stride_hw, dilation_hw, (before for before, _ in pads)))


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
        """The node's window per axis, ((kh, sh, dh, top), (kw, sw, dw, left)) with the padding
        it adds before each axis, or None when it moves no pixels."""
        return None

    def describe(self):
        """A few words for the "what" column of a trace."""
        return type(self).__name__.lower()

    def trace_step(self, shape):
        """What :mod:`cnnlib.tracing` asks: ``Step(output_shape, params, window)`` for an input of ``shape``."""
        return Step(self.output_shape(shape), self.params(shape), self.window(shape))


@dataclass(frozen=True)
class Conv(Node):
    """A 2-D convolution: ``filters`` kernels of ``kernel_size`` x C_in, plus a bias each.

    ``padding`` is what :func:`cnnlib.shapes.padding_amounts_2d` takes: an int, a
    pair (rows, columns), "valid", "same" or "full". ``connections``, when given, is
    a partial connection table (LeNet-5's C3): for each output map, the
    tuple of input channels it sees; its parameters are then
    ``sum over maps of (kh*kw*len(inputs) + 1)``.
    ``activation`` is a Keras activation name or None. The arguments have the
    names of Keras's Conv2D (``dilation``, the ops' name, is accepted for ``dilation_rate``).
    """

    filters: int
    kernel_size: object = 3
    strides: object = 1
    padding: object = 0
    dilation_rate: object = 1
    activation: object = "relu"
    use_bias: bool = True
    connections: tuple = None
    name: str = None
    dilation: InitVar[object] = None

    def __post_init__(self, dilation):
        if dilation is not None:
            if self.dilation_rate != 1:
                raise TypeError(f"{self.name or 'Conv'}: give dilation_rate or dilation, not both")
            object.__setattr__(self, "dilation_rate", dilation)

    def output_shape(self, shape):
        h, w, _ = _spatial(shape, "conv")
        oh, ow = shapes.conv_output_hw((h, w), self.kernel_size, self.padding, self.strides, self.dilation_rate)
        return (oh, ow, self.filters)

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
        return _windows(shape, self.kernel_size, self.strides, self.padding, self.dilation_rate)

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
        h, w, c = _spatial(shape, "pooling")
        return (*shapes.pool_output_hw((h, w), *self._geometry(), self.padding), c)

    def params(self, shape):
        return 0

    def window(self, shape):
        return _windows(shape, *self._geometry(), self.padding)

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
        return (_spatial(shape, "global pooling")[2],)

    def params(self, shape):
        return 0

    def window(self, shape):
        return ((shape[0], 1, 1, 0), (shape[1], 1, 1, 0))

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
        return ((shape[0], 1, 1, 0), (shape[1], 1, 1, 0)) if len(shape) == 3 else None

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
            raise ValueError(f"dense needs a flat input, got {shape_text(shape)}: add a flatten first "
                             f"(a Flatten or GlobalAvgPool node turns a map into a vector)")
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

    def trace_branches(self):
        """The branches, for :mod:`cnnlib.tracing`."""
        return self.branches

    def trace_merge(self, shapes_out):
        """Concatenating the branches' outputs along channels: Step(shape, 0 params)."""
        if len({s[:2] for s in shapes_out}) != 1 or any(len(s) != 3 for s in shapes_out):
            raise ValueError(f"{self.name}: the branches end with shapes {list(shapes_out)}; "
                             f"concatenation needs the same height and width")
        return Step((*shapes_out[0][:2], sum(s[2] for s in shapes_out)), 0)


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

    def trace_branches(self):
        """The body and the shortcut, for :mod:`cnnlib.tracing`."""
        return (self.body, self.shortcut)

    def trace_merge(self, shapes_out):
        """Adding the body's output and the shortcut's: Step(shape, 0 params)."""
        body, shortcut = shapes_out
        if body != shortcut:
            raise ValueError(f"{self.name}: the body ends with shape {body} but the shortcut with "
                             f"{shortcut}; adding needs equal shapes")
        return Step(body, 0)


@dataclass(frozen=True)
class Spec:
    """A named network: ``layers`` (a tuple of nodes) and the ``input_shape`` (H, W, C) it was
    published for. ``notes`` says where the spec departs from the paper or from Keras."""

    name: str
    layers: tuple
    input_shape: tuple
    notes: str = ""


def check_spec(spec, input_shape=None):
    """The input shape to trace or build ``spec`` on: ``input_shape``, or the spec's own; both checked.

    Raises:
        TypeError: spec is not a :class:`Spec`.
        ValueError: the shape is not (H, W, C) of integers >= 1.
    """
    if not isinstance(spec, Spec):
        raise TypeError(f"spec must be a cnnlib.architectures.Spec, got {type(spec).__name__}")
    input_shape = spec.input_shape if input_shape is None else input_shape
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (H, W, C), got {input_shape!r}")
    return tuple(check_int("input_shape", n, 1) for n in input_shape)
