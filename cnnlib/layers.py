"""Layers: the ops of :mod:`cnnlib.ops` and :mod:`cnnlib.backprop` with their weights attached.

Every layer has

    forward(x, training=False)  computes the output and remembers what backward needs
    backward(dout)              returns dL/dx and fills ``grads`` (same keys as ``params``);
                                ``input_grad=False`` may skip dL/dx (a model's first layer
                                needs none) and then returns None
    params, grads               dicts of arrays, e.g. {"kernel": ..., "bias": ...}
    build(input_shape)          creates the weights for inputs of that shape (one
                                example, no batch axis) and returns the output shape

The arguments have Keras's names (``filters``, ``kernel_size``, ``strides``,
``padding``, ``dilation_rate``, ``units``, ``rate``), the weights Keras's names
and layouts (``kernel`` HWIO or (in, out), ``bias``), so that
:func:`cnnlib.keras_bridge.to_keras` can copy them one to one.

Weights are created on the first ``forward`` (or by ``Sequential``), when the
number of input channels is known. ``seed`` makes the initialization
repeatable; a layer inside a ``Sequential`` gets its seed from the model's.
"""

import math

import numpy as np

from . import backprop, ops, shapes

__all__ = ["Layer", "Conv2D", "MaxPool2D", "AvgPool2D", "ReLU", "Flatten", "Dense", "Dropout",
           "INITIALIZERS", "initialize"]


INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "zeros")


def initialize(name, shape, fan_in, fan_out, rng, dtype="float32"):
    """Random weights of ``shape`` for a layer with the given fan-in and fan-out.

    ``he_*`` keeps the variance of ReLU activations steady (var = 2 / fan_in);
    ``glorot_*`` (Keras's default) balances forward and backward
    (var = 2 / (fan_in + fan_out)). The uniform versions draw from
    [-limit, limit] with limit = sqrt(3 var); the normal ones from N(0, var).

    Raises:
        ValueError: an unknown initializer name.
    """
    _initializer_name(name)
    if name == "zeros":
        return np.zeros(shape, dtype=dtype)
    var = 2.0 / fan_in if name.startswith("he") else 2.0 / (fan_in + fan_out)
    if name.endswith("uniform"):
        limit = math.sqrt(3.0 * var)
        return rng.uniform(-limit, limit, size=shape).astype(dtype)
    return (rng.standard_normal(shape) * math.sqrt(var)).astype(dtype)


def _initializer_name(name):
    if name not in INITIALIZERS:
        raise ValueError(f"kernel_initializer must be one of {INITIALIZERS}, got {name!r}")
    return name


def _positive_int(name, value):
    return shapes._check_int(name, value, 1)


class Layer:
    """Base class: a layer without weights that passes its input through unchanged."""

    def __init__(self, name=None, seed=None, dtype=None):
        self.name = name or type(self).__name__.lower()
        self.seed = seed
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.params, self.grads = {}, {}
        self.input_shape = self.output_shape = None
        self._input = None

    @property
    def built(self):
        return self.output_shape is not None

    def build(self, input_shape, rng=None, dtype=None):
        """Create the weights for inputs of shape ``input_shape`` (no batch axis).

        ``rng`` is used when the layer has no seed of its own; ``dtype`` when
        it has no dtype of its own (default float32). Returns the output shape.
        """
        input_shape = tuple(int(n) for n in input_shape)
        self.output_shape = self.compute_output_shape(input_shape)
        self.input_shape = input_shape
        if self.dtype is None:
            self.dtype = np.dtype(dtype or "float32")
        if self.seed is not None or rng is None:
            rng = np.random.default_rng(self.seed)
        self._create_weights(input_shape, rng)
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        return self.output_shape

    def compute_output_shape(self, input_shape):
        """Output shape (no batch axis) for inputs of ``input_shape``; raises if they cannot fit."""
        return tuple(input_shape)

    def _create_weights(self, input_shape, rng):
        pass

    def _remember(self, x):
        """Build on first use, check x's shape and keep x for backward."""
        x = ops._as_real_array("x", x)
        if not self.built:
            self.build(x.shape[1:], dtype=x.dtype if x.dtype.kind == "f" else None)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{self.name} was built for inputs of shape (batch, "
                             f"{', '.join(map(str, self.input_shape))}), got x.shape={x.shape}")
        self._input = x
        return x

    def _saved_input(self):
        if self._input is None:
            raise RuntimeError(f"{self.name}.backward called before forward")
        return self._input

    def forward(self, x, training=False):
        """Output for a batch x of shape (N, *input_shape)."""
        return self._remember(x)

    def backward(self, dout, input_grad=True):
        """Gradient with respect to the last forward's input; fills ``self.grads``."""
        self._saved_input()
        return dout

    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    def count_params(self):
        """Number of weights (0 until built for layers that have weights)."""
        return int(sum(p.size for p in self.params.values()))

    def _config(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self._config()})"


class Conv2D(Layer):
    """2-D convolution: :func:`cnnlib.ops.conv2d` with a kernel (KH, KW, C_in, filters) and a bias.

    Arguments:
        filters: number of output channels.
        kernel_size: int or (kh, kw).
        strides: int or pair.
        padding: ``"valid"``, ``"same"``, ``"full"`` or explicit amounts as in conv2d.
        dilation_rate: int or pair.
        use_bias: add a bias per filter (initialized to 0).
        kernel_initializer: one of :data:`INITIALIZERS` (Keras's default, glorot_uniform).

    Input (N, H, W, C_in), output (N, OH, OW, filters).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 use_bias=True, kernel_initializer="glorot_uniform", seed=None, name=None, dtype=None):
        super().__init__(name or "conv2d", seed, dtype)
        self.filters = _positive_int("filters", filters)
        self.kernel_size = ops._pair("kernel_size", kernel_size)
        self.strides = ops._pair("strides", strides)
        self.dilation_rate = ops._pair("dilation_rate", dilation_rate)
        if isinstance(padding, str):
            if padding.lower() not in shapes.PADDING_MODES:
                raise ValueError(f"padding must be one of {shapes.PADDING_MODES} or explicit amounts, "
                                 f"got {padding!r}")
            padding = padding.lower()
        else:
            ops._spatial_padding(padding, "padding")
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializer_name(kernel_initializer)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name} needs inputs of shape (H, W, C), got {input_shape}")
        probe = np.empty((1, *input_shape[:2], 1), dtype=np.uint8)   # shapes only, never computed on
        pads = ops._window_padding(probe.shape, self.kernel_size, self.padding, self.strides,
                                   self.dilation_rate)
        oh, ow = ops._output_hw(probe.shape, self.kernel_size, pads, self.strides, self.dilation_rate,
                                ("kernel_size[0]", "kernel_size[1]"))
        return (oh, ow, self.filters)

    def _create_weights(self, input_shape, rng):
        kh, kw = self.kernel_size
        c_in = input_shape[2]
        shape = (kh, kw, c_in, self.filters)
        self.params["kernel"] = initialize(self.kernel_initializer, shape, kh * kw * c_in,
                                           kh * kw * self.filters, rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = np.zeros(self.filters, dtype=self.dtype)

    def forward(self, x, training=False):
        x = self._remember(x)
        return ops.conv2d(x, self.params["kernel"], self.params.get("bias"),
                          self.strides, self.padding, self.dilation_rate)

    def backward(self, dout, input_grad=True):
        args = (dout, self._saved_input(), self.params["kernel"], self.strides, self.padding,
                self.dilation_rate)
        if input_grad:
            dx, dw, db = backprop.conv2d_backward(*args)
        else:
            dx, (dw, db) = None, backprop.conv2d_weight_grad(*args)
        self.grads["kernel"] = dw
        if self.use_bias:
            self.grads["bias"] = db
        return dx

    def _config(self):
        return (f"{self.filters}, kernel_size={self.kernel_size}, strides={self.strides}, "
                f"padding={self.padding!r}" +
                (f", dilation_rate={self.dilation_rate}" if self.dilation_rate != (1, 1) else ""))


class _Pool2D(Layer):
    mode = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None):
        super().__init__(name or type(self).__name__.lower())
        self.pool_size = ops._pair("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else ops._pair("strides", strides)
        if isinstance(padding, str):
            padding = padding.lower()
            if padding not in ("valid", "same"):
                raise ValueError(f"padding must be 'valid', 'same' or explicit amounts, got {padding!r}")
        self.padding = padding

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name} needs inputs of shape (H, W, C), got {input_shape}")
        probe = np.zeros((1, *input_shape[:2], 1), dtype=np.uint8)
        _, _, _, _, (oh, ow), _ = ops.pool_geometry(probe, self.pool_size, self.strides,
                                                    self.padding, self.mode)
        return (oh, ow, input_shape[2])

    def forward(self, x, training=False):
        x = self._remember(x)
        return ops.pool2d(x, self.pool_size, self.strides, self.padding, self.mode)

    def backward(self, dout, input_grad=True):
        return backprop.pool2d_backward(dout, self._saved_input(), self.pool_size, self.strides,
                                        self.padding, self.mode)

    def _config(self):
        return f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}"


class MaxPool2D(_Pool2D):
    """Max pooling over (pool_h, pool_w) windows; strides default to pool_size. No weights."""

    mode = "max"


class AvgPool2D(_Pool2D):
    """Average pooling over (pool_h, pool_w) windows; strides default to pool_size. No weights."""

    mode = "avg"


class ReLU(Layer):
    """max(x, 0), elementwise. No weights."""

    def __init__(self, name=None):
        super().__init__(name or "relu")

    def forward(self, x, training=False):
        return ops.relu(self._remember(x))

    def backward(self, dout, input_grad=True):
        return backprop.relu_backward(dout, self._saved_input())


class Flatten(Layer):
    """(N, H, W, C) -> (N, H*W*C), row-major as Keras's Flatten. No weights."""

    def __init__(self, name=None):
        super().__init__(name or "flatten")

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training=False):
        return ops.flatten(self._remember(x))

    def backward(self, dout, input_grad=True):
        return np.reshape(dout, self._saved_input().shape)


class Dense(Layer):
    """Fully connected layer ``x @ kernel + bias``: input (N, D), output (N, units)."""

    def __init__(self, units, use_bias=True, kernel_initializer="glorot_uniform", seed=None,
                 name=None, dtype=None):
        super().__init__(name or "dense", seed, dtype)
        self.units = _positive_int("units", units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializer_name(kernel_initializer)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"{self.name} needs flat inputs (features,), got {input_shape}; "
                             f"put a Flatten layer before it")
        return (self.units,)

    def _create_weights(self, input_shape, rng):
        d = input_shape[0]
        self.params["kernel"] = initialize(self.kernel_initializer, (d, self.units), d, self.units,
                                           rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = np.zeros(self.units, dtype=self.dtype)

    def forward(self, x, training=False):
        return ops.dense(self._remember(x), self.params["kernel"], self.params.get("bias"))

    def backward(self, dout, input_grad=True):
        dx, dw, db = backprop.dense_backward(dout, self._saved_input(), self.params["kernel"])
        self.grads["kernel"] = dw
        if self.use_bias:
            self.grads["bias"] = db
        return dx

    def _config(self):
        return f"{self.units}"


class Dropout(Layer):
    """Inverted dropout: in training, zero each input with probability ``rate`` and
    scale the survivors by 1 / (1 - rate); at inference, pass x through unchanged."""

    def __init__(self, rate, seed=None, name=None):
        super().__init__(name or "dropout", seed)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self._rng = None
        self._mask = None

    def _create_weights(self, input_shape, rng):
        self._rng = rng

    def forward(self, x, training=False):
        x = self._remember(x)
        if not training or self.rate == 0:
            self._mask = None
            return x
        keep = self._rng.random(x.shape) >= self.rate
        self._mask = keep.astype(x.dtype) / x.dtype.type(1 - self.rate)
        return x * self._mask

    def backward(self, dout, input_grad=True):
        self._saved_input()
        return dout if self._mask is None else dout * self._mask

    def _config(self):
        return f"{self.rate}"
