"""Layers: the ops of :mod:`cnnlib.ops` and :mod:`cnnlib.backprop` with their weights attached.

Every layer has

    forward(x, training=False)  computes the output and remembers what backward needs;
                                ``training=True`` is what ``fit`` passes (Dropout drops,
                                BatchNormalization uses and updates batch statistics)
    backward(dout)              returns dL/dx and fills ``grads`` (same keys as ``params``);
                                ``input_grad=False`` may skip dL/dx (a model's first layer
                                needs none) and then returns None
    params, grads               dicts of arrays, e.g. {"kernel": ..., "bias": ...}: the
                                weights training changes, and their gradients
    state                       weights that are not trained but updated by forward
                                (BatchNormalization's moving_mean and moving_variance)
    weights()                   [(name, array)] of params and state, in Keras's order
    build(input_shape)          creates the weights for inputs of that shape (one
                                example, no batch axis) and returns the output shape
    window(input_shape)         how it moves pixels, for receptive fields (cnnlib.tracing)

The arguments have Keras's names (``filters``, ``kernel_size``, ``strides``,
``padding``, ``dilation_rate``, ``units``, ``rate``, ``depth_multiplier``,
``momentum``, ``epsilon``), the weights Keras's names and layouts (``kernel``
HWIO or (in, out), ``bias``, ``depthwise_kernel``, ``pointwise_kernel``,
``gamma``, ``beta``, ``moving_mean``, ``moving_variance``), so that
:func:`cnnlib.keras_bridge.to_keras` can copy them one to one. Networks that
are not a chain (residual blocks) are in :mod:`cnnlib.blocks`.

Weights are created on the first ``forward`` (or by ``Sequential``), when the
number of input channels is known. ``seed`` makes the initialization
repeatable; a layer inside a ``Sequential`` gets its seed from the model's.
"""

import math

import numpy as np

from . import backprop, conv_variants, conv_variants_backprop, ops, shapes
from .arguments import as_real_array, check_int, int_pair, spatial_padding
from .tracing import NO_FIELD, Step

__all__ = ["Layer", "Conv2D", "MaxPool2D", "AvgPool2D", "ReLU", "Flatten", "Dense", "Dropout",
           "BatchNormalization", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "DepthwiseConv2D",
           "SeparableConv2D", "Conv2DTranspose", "INITIALIZERS", "initialize", "kernel_fans", "unique_names"]


INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "zeros")


def initialize(name, shape, fan_in, fan_out, rng, dtype="float32"):
    """Random weights of ``shape`` for a layer with the given fan-in and fan-out.

    Why these variances. A unit computes ``y = sum_i w_i x_i`` over ``fan_in``
    inputs. With weights and inputs independent, the weights of mean 0:

        Var(y) = fan_in * Var(w) * E[x^2]

    - **He** (He et al., 2015), for ReLU networks: after a ReLU,
      ``E[x^2] = Var(y_prev) / 2`` (half of a symmetric input is zeroed), so
      ``Var(w) = 2 / fan_in`` keeps the variance the same from layer to layer;
      with less it shrinks geometrically with depth, with more it explodes.
    - **Glorot** (Glorot and Bengio, 2010), Keras's default: keeping the
      forward variance needs ``Var(w) = 1 / fan_in``; keeping the variance of
      the gradients flowing back needs ``1 / fan_out``; the compromise is
      ``Var(w) = 2 / (fan_in + fan_out)``. It was derived for tanh-like units
      and is half of He's for a square layer, so in a deep ReLU stack the
      activations shrink by about 2x per layer (``tests/test_layers.py`` measures it).

    The ``*_uniform`` versions draw from [-limit, limit] with
    ``limit = sqrt(3 * Var)`` (a uniform distribution on [-a, a] has variance
    a^2 / 3); the ``*_normal`` ones from N(0, Var). For a conv kernel
    (KH, KW, C_in, C_out), fan_in = KH*KW*C_in and fan_out = KH*KW*C_out
    (:func:`kernel_fans`).

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


def kernel_fans(shape):
    """``(fan_in, fan_out)`` of a weight array, as Keras computes them.

    A dense kernel (D, M) has fan_in D and fan_out M; a kernel with more axes
    (KH, KW, ..., A, B) has fan_in ``KH*KW*...*A`` and fan_out ``KH*KW*...*B``:
    the receptive field times the last two axes. For a depthwise kernel
    (KH, KW, C, M) that is KH*KW*C and KH*KW*M; for a transposed kernel
    (KH, KW, C_out, C_in), KH*KW*C_out and KH*KW*C_in (Keras's own rule).
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) < 2:
        raise ValueError(f"a weight array needs at least 2 axes for its fans, got shape {shape}")
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _initializer_name(name):
    if name not in INITIALIZERS:
        raise ValueError(f"kernel_initializer must be one of {INITIALIZERS}, got {name!r}")
    return name


def unique_names(layers):
    """Rename layers in place so that no two share a name, Keras's way: conv2d, conv2d_1, conv2d_2, ...

    A name already taken gets the first free ``_<k>`` suffix, so a layer that is
    already called ``conv2d_1`` keeps that name and a later ``conv2d`` skips it.
    """
    taken = set()
    for layer in layers:
        base, k = layer.name, 0
        while layer.name in taken:
            k += 1
            layer.name = f"{base}_{k}"
        taken.add(layer.name)


class Layer:
    """Base class: a layer without weights that passes its input through unchanged."""

    def __init__(self, name=None, seed=None, dtype=None):
        self.name = name or type(self).__name__.lower()
        self.seed = seed
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.params, self.grads, self.state = {}, {}, {}
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
        x = as_real_array("x", x)
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

    def weights(self):
        """[(name, array)] of every weight, trained (params) then not (state): Keras's order."""
        return list(self.params.items()) + list(self.state.items())

    def count_params(self):
        """Number of weights, trained or not, as Keras counts them (0 until built)."""
        return int(sum(a.size for _, a in self.weights()))

    def count_trainable_params(self):
        """Number of weights training changes (the ones in ``params``)."""
        return int(sum(p.size for p in self.params.values()))

    def window(self, input_shape):
        """How the layer moves pixels, for receptive fields: per axis ``(kernel, stride, dilation,
        pad_before)``, or None when it moves none (the default: activations, dropout, batch norm,
        dense layers), or :data:`cnnlib.tracing.NO_FIELD` when the field cannot be followed."""
        return None

    def trace_step(self, input_shape):
        """What :mod:`cnnlib.tracing` asks: ``Step(output_shape, params, window)``; the params are
        the ones the layer holds (0 until it is built)."""
        return Step(self.compute_output_shape(tuple(input_shape)), self.count_params(), self.window(input_shape))

    def describe(self):
        """The layer as it prints, for a trace's "what" column."""
        return repr(self)

    def _config(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self._config()})"


def _window_of(input_shape, kernel_hw, strides, padding, dilation_rate=(1, 1)):
    """Per axis (kernel, stride, dilation, pad_before) of a window layer on an (H, W, C) input."""
    pads = shapes.padding_amounts_2d(input_shape[:2], kernel_hw, padding, strides, dilation_rate)
    return tuple(zip(kernel_hw, strides, dilation_rate, (before for before, _ in pads)))


def _whole_map(input_shape):
    """The window of a layer whose every output sees the whole (H, W) map (global pooling, Flatten)."""
    return ((input_shape[0], 1, 1, 0), (input_shape[1], 1, 1, 0)) if len(input_shape) == 3 else None


def _conv_padding(padding):
    """A conv layer's padding argument, checked: a mode name in lower case, or explicit amounts."""
    if isinstance(padding, str):
        if padding.lower() not in shapes.PADDING_MODES:
            raise ValueError(f"padding must be one of {shapes.PADDING_MODES} or explicit amounts, "
                             f"got {padding!r}")
        return padding.lower()
    spatial_padding(padding, "padding")
    return padding


def _spatial_input(layer, input_shape):
    """(H, W) of an (H, W, C) input shape; the error names the layer."""
    if len(input_shape) != 3:
        raise ValueError(f"{layer.name} needs inputs of shape (H, W, C), got {input_shape}")
    return input_shape[:2]


def _conv_output_hw(layer, input_shape):
    """(OH, OW) of a convolution layer with kernel_size, strides, padding and dilation_rate."""
    return shapes.conv_output_hw(_spatial_input(layer, input_shape), layer.kernel_size, layer.padding,
                                 layer.strides, layer.dilation_rate, ("kernel_size[0]", "kernel_size[1]"))


class _Convolution(Layer):
    """What the convolution layers share: the geometry arguments, the weights by name, forward and backward.

    A subclass names its op and backward op (``forward_op(x, *kernels, bias, *geometry)`` and
    ``backward_op(dout, x, *kernels, *geometry) -> (dx, *dkernels, dbias)``), its kernels' names in
    ``kernel_names``, and creates them in ``_create_weights``.
    """

    kernel_names = ("kernel",)

    def __init__(self, default_name, kernel_size, strides, padding, dilation_rate, use_bias, seed, name, dtype):
        super().__init__(name or default_name, seed, dtype)
        self.kernel_size = int_pair(kernel_size, "kernel_size", 1)
        self.strides = int_pair(strides, "strides", 1)
        self.dilation_rate = int_pair(dilation_rate, "dilation_rate", 1)
        self.padding = _conv_padding(padding)
        self.use_bias = bool(use_bias)

    def _geometry(self):
        return self.strides, self.padding, self.dilation_rate

    def window(self, input_shape):
        return _window_of(input_shape, self.kernel_size, self.strides, self.padding, self.dilation_rate)

    def _bias(self, size):
        if self.use_bias:
            self.params["bias"] = np.zeros(size, dtype=self.dtype)

    def forward(self, x, training=False):
        x = self._remember(x)        # builds the weights on first use
        kernels = [self.params[key] for key in self.kernel_names]
        return self.forward_op(x, *kernels, self.params.get("bias"), *self._geometry())

    def backward(self, dout, input_grad=True):
        kernels = [self.params[key] for key in self.kernel_names]
        dx, *dkernels, db = self.backward_op(dout, self._saved_input(), *kernels, *self._geometry())
        self.grads.update(zip(self.kernel_names, dkernels))
        if self.use_bias:
            self.grads["bias"] = db
        return dx

    def _config(self):
        return (f"{getattr(self, 'filters', '')}{', ' if hasattr(self, 'filters') else ''}"
                f"kernel_size={self.kernel_size}, strides={self.strides}, padding={self.padding!r}" +
                (f", dilation_rate={self.dilation_rate}" if self.dilation_rate != (1, 1) else ""))


class Conv2D(_Convolution):
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

    forward_op, backward_op = staticmethod(ops.conv2d), staticmethod(backprop.conv2d_backward)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 use_bias=True, kernel_initializer="glorot_uniform", seed=None, name=None, dtype=None):
        super().__init__("conv2d", kernel_size, strides, padding, dilation_rate, use_bias, seed, name, dtype)
        self.filters = check_int("filters", filters, 1)
        self.kernel_initializer = _initializer_name(kernel_initializer)

    def compute_output_shape(self, input_shape):
        oh, ow = _conv_output_hw(self, input_shape)
        return (oh, ow, self.filters)

    def _create_weights(self, input_shape, rng):
        shape = (*self.kernel_size, input_shape[2], self.filters)
        self.params["kernel"] = initialize(self.kernel_initializer, shape, *kernel_fans(shape), rng, self.dtype)
        self._bias(self.filters)

    def backward(self, dout, input_grad=True):
        if input_grad:
            return super().backward(dout)
        dw, db = backprop.conv2d_weight_grad(dout, self._saved_input(), self.params["kernel"], *self._geometry())
        self.grads["kernel"] = dw
        if self.use_bias:
            self.grads["bias"] = db
        return None


class _Pool2D(Layer):
    mode = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None):
        super().__init__(name or type(self).__name__.lower())
        self.pool_size = int_pair(pool_size, "pool_size", 1)
        self.strides = self.pool_size if strides is None else int_pair(strides, "strides", 1)
        if isinstance(padding, str):
            padding = padding.lower()
            if padding not in ("valid", "same"):
                raise ValueError(f"padding must be 'valid', 'same' or explicit amounts, got {padding!r}")
        self.padding = padding

    def compute_output_shape(self, input_shape):
        oh, ow = shapes.pool_output_hw(_spatial_input(self, input_shape), self.pool_size, self.strides,
                                       self.padding)
        return (oh, ow, input_shape[2])

    def window(self, input_shape):
        return _window_of(input_shape, self.pool_size, self.strides, self.padding)

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

    def window(self, input_shape):
        return _whole_map(input_shape)   # a unit after Flatten can depend on every position of the map

    def forward(self, x, training=False):
        return ops.flatten(self._remember(x))

    def backward(self, dout, input_grad=True):
        return np.reshape(dout, self._saved_input().shape)


class Dense(Layer):
    """Fully connected layer ``x @ kernel + bias``: input (N, D), output (N, units)."""

    def __init__(self, units, use_bias=True, kernel_initializer="glorot_uniform", seed=None,
                 name=None, dtype=None):
        super().__init__(name or "dense", seed, dtype)
        self.units = check_int("units", units, 1)
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


class BatchNormalization(Layer):
    """Batch normalization of the last axis (channels): :func:`cnnlib.ops.batch_norm`.

    Arguments:
        momentum: how slowly the moving averages follow the batch statistics
            (Keras's default 0.99): ``moving = momentum * moving + (1 - momentum) * batch``.
        epsilon: added to the variance (Keras's default 1e-3).

    Weights (Keras's names and order): ``gamma`` (ones) and ``beta`` (zeros)
    are trained; ``moving_mean`` (zeros) and ``moving_variance`` (ones) are
    ``state``, updated by every ``forward(x, training=True)`` and used by
    ``forward(x, training=False)``. Input (N, ..., C), output the same shape.
    """

    def __init__(self, momentum=0.99, epsilon=1e-3, name=None, dtype=None):
        super().__init__(name or "batch_normalization", None, dtype)
        ops.batch_norm_geometry(np.zeros((1, 1)), [1], [0], [0], [1], momentum, epsilon)   # checks both
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self._training = False

    def _create_weights(self, input_shape, rng):
        c = input_shape[-1]
        self.params["gamma"] = np.ones(c, dtype=self.dtype)
        self.params["beta"] = np.zeros(c, dtype=self.dtype)
        self.state["moving_mean"] = np.zeros(c, dtype=self.dtype)
        self.state["moving_variance"] = np.ones(c, dtype=self.dtype)

    def forward(self, x, training=False):
        x = self._remember(x)
        out, mean, var = ops.batch_norm(x, self.params["gamma"], self.params["beta"], self.state["moving_mean"],
                                        self.state["moving_variance"], training, self.momentum, self.epsilon)
        if training:   # in place: to_keras and get_weights see the same arrays
            self.state["moving_mean"][...] = mean
            self.state["moving_variance"][...] = var
        self._training = bool(training)
        return out

    def backward(self, dout, input_grad=True):
        dx, dgamma, dbeta = backprop.batch_norm_backward(
            dout, self._saved_input(), self.params["gamma"], self.state["moving_mean"],
            self.state["moving_variance"], self._training, self.epsilon)
        self.grads["gamma"], self.grads["beta"] = dgamma, dbeta
        return dx

    def _config(self):
        return f"momentum={self.momentum}, epsilon={self.epsilon}"


class _GlobalPool2D(Layer):
    forward_op, backward_op = staticmethod(ops.global_avg_pool2d), staticmethod(backprop.global_avg_pool2d_backward)

    def __init__(self, keepdims=False, name=None):
        super().__init__(name)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name} needs inputs of shape (H, W, C), got {input_shape}")
        return (1, 1, input_shape[2]) if self.keepdims else (input_shape[2],)

    def window(self, input_shape):
        return _whole_map(input_shape)

    def forward(self, x, training=False):
        return self.forward_op(self._remember(x), self.keepdims)

    def backward(self, dout, input_grad=True):
        return self.backward_op(dout, self._saved_input(), self.keepdims)

    def _config(self):
        return "keepdims=True" if self.keepdims else ""


class GlobalAveragePooling2D(_GlobalPool2D):
    """Mean of each channel over the whole image: (N, H, W, C) -> (N, C). No weights.

    What ResNet, Inception and MobileNet put before their classifier instead
    of Flatten: the head's size no longer depends on the image size.
    """

    def __init__(self, keepdims=False, name=None):
        super().__init__(keepdims, name or "global_average_pooling2d")


class GlobalMaxPooling2D(_GlobalPool2D):
    """Largest value of each channel over the whole image: (N, H, W, C) -> (N, C). No weights."""

    forward_op, backward_op = staticmethod(ops.global_max_pool2d), staticmethod(backprop.global_max_pool2d_backward)

    def __init__(self, keepdims=False, name=None):
        super().__init__(keepdims, name or "global_max_pooling2d")


class DepthwiseConv2D(_Convolution):
    """Depthwise convolution: :func:`cnnlib.conv_variants.depthwise_conv2d`, each channel filtered alone.

    Arguments:
        kernel_size, strides, padding, dilation_rate, use_bias: as :class:`Conv2D`.
        depth_multiplier: M, filters per input channel (the output has C*M channels).
        depthwise_initializer: one of :data:`INITIALIZERS` (Keras's default, glorot_uniform).

    Weights: ``kernel`` (KH, KW, C, M) and ``bias`` (C*M,): Keras 3's names
    (Keras 2 called the kernel ``depthwise_kernel``). Input (N, H, W, C),
    output (N, OH, OW, C*M).
    """

    forward_op = staticmethod(conv_variants.depthwise_conv2d)
    backward_op = staticmethod(conv_variants_backprop.depthwise_conv2d_backward)

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, dilation_rate=1,
                 use_bias=True, depthwise_initializer="glorot_uniform", seed=None, name=None, dtype=None):
        super().__init__("depthwise_conv2d", kernel_size, strides, padding, dilation_rate, use_bias, seed, name,
                         dtype)
        self.depth_multiplier = check_int("depth_multiplier", depth_multiplier, 1)
        self.depthwise_initializer = _initializer_name(depthwise_initializer)

    def compute_output_shape(self, input_shape):
        oh, ow = _conv_output_hw(self, input_shape)
        return (oh, ow, input_shape[2] * self.depth_multiplier)

    def _create_weights(self, input_shape, rng):
        shape = (*self.kernel_size, input_shape[2], self.depth_multiplier)
        self.params["kernel"] = initialize(self.depthwise_initializer, shape, *kernel_fans(shape), rng, self.dtype)
        self._bias(input_shape[2] * self.depth_multiplier)

    def _config(self):
        return f"{super()._config()}, depth_multiplier={self.depth_multiplier}"


class SeparableConv2D(_Convolution):
    """Depthwise separable convolution: :func:`cnnlib.conv_variants.separable_conv2d`.

    A depthwise convolution (no bias) followed by a 1x1 convolution to
    ``filters`` channels: MobileNet's and Xception's layer.

    Arguments:
        filters: output channels F.
        kernel_size, strides, padding, dilation_rate, use_bias: as :class:`Conv2D` (of the depthwise step).
        depth_multiplier: M, depthwise filters per input channel.
        depthwise_initializer, pointwise_initializer: one of :data:`INITIALIZERS`.

    Weights: ``depthwise_kernel`` (KH, KW, C, M), ``pointwise_kernel``
    (1, 1, C*M, F), ``bias`` (F,): KH*KW*C*M + C*M*F + F numbers where a
    Conv2D needs KH*KW*C*F + F. Input (N, H, W, C), output (N, OH, OW, F).
    """

    kernel_names = ("depthwise_kernel", "pointwise_kernel")
    forward_op = staticmethod(conv_variants.separable_conv2d)
    backward_op = staticmethod(conv_variants_backprop.separable_conv2d_backward)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", depth_multiplier=1, dilation_rate=1,
                 use_bias=True, depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 seed=None, name=None, dtype=None):
        super().__init__("separable_conv2d", kernel_size, strides, padding, dilation_rate, use_bias, seed, name,
                         dtype)
        self.filters = check_int("filters", filters, 1)
        self.depth_multiplier = check_int("depth_multiplier", depth_multiplier, 1)
        self.depthwise_initializer = _initializer_name(depthwise_initializer)
        self.pointwise_initializer = _initializer_name(pointwise_initializer)

    def compute_output_shape(self, input_shape):
        oh, ow = _conv_output_hw(self, input_shape)
        return (oh, ow, self.filters)

    def _create_weights(self, input_shape, rng):
        depth = (*self.kernel_size, input_shape[2], self.depth_multiplier)
        point = (1, 1, input_shape[2] * self.depth_multiplier, self.filters)
        for key, init, shape in (("depthwise_kernel", self.depthwise_initializer, depth),
                                 ("pointwise_kernel", self.pointwise_initializer, point)):
            self.params[key] = initialize(init, shape, *kernel_fans(shape), rng, self.dtype)
        self._bias(self.filters)

    def _config(self):
        return f"{super()._config()}, depth_multiplier={self.depth_multiplier}"


class Conv2DTranspose(_Convolution):
    """Transposed convolution: :func:`cnnlib.conv_variants.conv2d_transpose`; a small input grows.

    Arguments:
        filters: output channels.
        kernel_size, strides, dilation_rate, use_bias, kernel_initializer: as :class:`Conv2D`.
        padding: ``"valid"``, ``"same"``, ``"full"`` or explicit amounts: the
            padding of the convolution this one transposes (it crops the output).
        output_padding: None, int or pair, each below the stride: picks the
            output size (:func:`cnnlib.shapes.conv_transpose_output_size`).

    Weights: ``kernel`` (KH, KW, filters, C_in), Keras's layout for this
    layer (output channels before input channels), and ``bias`` (filters,).
    Input (N, H, W, C_in), output (N, OH, OW, filters); with "same" padding and
    no output padding OH = H * strides[0].
    """

    forward_op = staticmethod(conv_variants.conv2d_transpose)
    backward_op = staticmethod(conv_variants_backprop.conv2d_transpose_backward)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                 use_bias=True, kernel_initializer="glorot_uniform", seed=None, name=None, dtype=None):
        super().__init__("conv2d_transpose", kernel_size, strides, padding, dilation_rate, use_bias, seed, name,
                         dtype)
        self.filters = check_int("filters", filters, 1)
        self.output_padding = None if output_padding is None else int_pair(output_padding, "output_padding", 0)
        self.kernel_initializer = _initializer_name(kernel_initializer)

    def _geometry(self):
        return self.strides, self.padding, self.output_padding, self.dilation_rate

    def window(self, input_shape):
        return NO_FIELD   # an output pixel sees a varying number of input pixels: not one window

    def compute_output_shape(self, input_shape):
        oh, ow = shapes.conv_transpose_output_hw(_spatial_input(self, input_shape), self.kernel_size,
                                                 self.padding, self.strides, self.dilation_rate, self.output_padding)
        return (oh, ow, self.filters)

    def _create_weights(self, input_shape, rng):
        shape = (*self.kernel_size, self.filters, input_shape[2])
        self.params["kernel"] = initialize(self.kernel_initializer, shape, *kernel_fans(shape), rng, self.dtype)
        self._bias(self.filters)

    def _config(self):
        return super()._config() + (f", output_padding={self.output_padding}" if self.output_padding else "")
