"""Forward operations of a CNN, in NumPy.

Layouts are TensorFlow's, so every result here can be compared with ``tf.nn``:

    x   activations  NHWC  (batch, height, width, channels)
    w   conv kernels HWIO  (kernel_h, kernel_w, in_channels, out_channels)
    b   biases             (out_channels,)

Convolutions compute cross-correlation (the kernel is not flipped), like every
deep-learning framework; :func:`convolve2d` is the flipped, textbook version.

Dtypes: an op returns its input's floating dtype (float32 in, float32 out);
integer input is computed in the dtype NumPy would pick for the arguments, and
functions that need fractions (sigmoid, softmax, average pooling) turn integer
input into float64.

Read in this order: padding, one convolution step, the loop version of a conv
layer, the vectorized one, the 2-D teaching versions, pooling (windows, then
global), activations, the dense head, and batch normalization. Depthwise,
separable and transposed convolutions are in :mod:`cnnlib.conv_variants`.
"""

import numpy as np

from . import shapes
from .arguments import (NHWC, as_float, as_real_array, cast_together, check_array, check_bias, check_conv_operands,
                        check_images, int_pair, result_dtype, spatial_padding)
from .windows import Workspace, im2col_rows, pool_padding_value, real_pixel_counts, tap_view

__all__ = [
    "conv_geometry",
    "pool_geometry",
    "zero_pad",
    "conv_single_step",
    "conv2d_naive",
    "im2col",
    "conv2d",
    "correlate2d",
    "convolve2d",
    "pool2d",
    "max_pool2d",
    "avg_pool2d",
    "global_avg_pool2d",
    "global_max_pool2d",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "cross_entropy",
    "dense_geometry",
    "dense",
    "flatten",
    "channel_sums",
    "channel_moments",
    "batch_norm_geometry",
    "batch_norm",
]


def conv_geometry(x, w, b=None, stride=1, padding=0, dilation=1):
    """Check a conv2d call and return everything needed to compute it.

    Returns ``(x, w, b, stride_hw, dilation_hw, pads, out_hw)`` with arrays
    cast to the result dtype (``b`` as zeros when None) and ``pads`` as
    ``((top, bottom), (left, right))``. Used by conv2d, conv2d_naive and
    the backward pass so that all of them accept and refuse the same calls.
    """
    x, w = check_conv_operands(x, w, "HWIO (kernel_h, kernel_w, in_channels, out_channels)", 2,
                               "w has {k} input channels but x has {c} (x.shape={x}, w.shape={w})")
    x, w, b = cast_together(x, w, check_bias(b, w.shape[-1], x, w))
    stride_hw, dilation_hw = int_pair(stride, "stride", 1), int_pair(dilation, "dilation", 1)
    pads = shapes.padding_amounts_2d(x.shape[1:3], w.shape[:2], padding, stride_hw, dilation_hw)
    out_hw = shapes.conv_output_hw(x.shape[1:3], w.shape[:2], pads, stride_hw, dilation_hw)
    return x, w, b, stride_hw, dilation_hw, pads, out_hw


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------

def zero_pad(x, pad):
    """Surround every image of a batch with zeros (height and width only).

    Arguments:
        x: array of shape (N, H, W, C).
        pad: int p (p zeros on all four sides), ``(ph, pw)``, or
            ``((top, bottom), (left, right))``.

    Returns:
        Array of shape (N, H + top + bottom, W + left + right, C), x's dtype.

    Raises:
        ValueError: x is not 4-D, or a padding is negative.
        TypeError: pad has the wrong form.
    """
    x = check_array("x", x, 4, NHWC)
    (top, bottom), (left, right) = spatial_padding(pad)
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def conv_single_step(a_slice, w, b):
    """Apply one filter at one position: ``sum(a_slice * w) + b``.

    Arguments:
        a_slice: window of the input, shape (kh, kw, c_in).
        w: one filter, shape (kh, kw, c_in) (``W[:, :, :, c]`` of a HWIO kernel).
        b: the filter's bias, a scalar or any array holding one number.

    Returns:
        A NumPy scalar in the window's dtype.

    Raises:
        ValueError: the shapes of a_slice and w differ, or b is not one number.
    """
    a_slice = as_real_array("a_slice", a_slice)
    w = as_real_array("w", w)
    b = as_real_array("b", b)
    if a_slice.ndim != 3 or a_slice.shape != w.shape:
        raise ValueError(f"a_slice and w must both have shape (kh, kw, c_in), "
                         f"got a_slice.shape={a_slice.shape}, w.shape={w.shape}")
    if b.size != 1:
        raise ValueError(f"b must be a single number, got shape {b.shape}")
    dtype = result_dtype(a_slice, w, b)
    return dtype.type(np.sum(a_slice * w, dtype=dtype) + b.reshape(()).astype(dtype))


def conv2d_naive(x, w, b=None, stride=1, padding=0, dilation=1):
    """2-D convolution layer (cross-correlation) with explicit loops.

    The readable reference: one :func:`conv_single_step` per output number.
    Use :func:`conv2d` for real work; both give the same results.

    Arguments:
        x: input, shape (N, H, W, C_in).
        w: kernels, shape (KH, KW, C_in, C_out).
        b: biases, shape (C_out,), or None for no bias.
        stride: int or (stride_h, stride_w), each >= 1.
        padding: int, (ph, pw), ((top, bottom), (left, right)), ``"valid"``,
            ``"same"`` (TensorFlow's) or ``"full"``.
        dilation: int or (dilation_h, dilation_w), each >= 1.

    Returns:
        Array of shape (N, OH, OW, C_out) where
        ``OH = floor((H + top + bottom - dilation_h*(KH-1) - 1) / stride_h) + 1``
        (and likewise OW), in x's dtype.

    Raises:
        ValueError: wrong ranks, channel mismatch, bias of the wrong length,
            or a kernel that does not fit in the padded input.
        TypeError: non-numeric arrays, non-integer stride/dilation/padding.
    """
    x, w, b, (sh, sw), (dh, dw), pads, (oh, ow) = conv_geometry(x, w, b, stride, padding, dilation)
    xp = zero_pad(x, pads)
    kh, kw, _, c_out = w.shape
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    out = np.zeros((x.shape[0], oh, ow, c_out), dtype=x.dtype)
    for n in range(x.shape[0]):                  # every image
        for i in range(oh):                      # every output row
            top = i * sh
            for j in range(ow):                  # every output column
                left = j * sw
                window = xp[n, top:top + span_h:dh, left:left + span_w:dw, :]
                for c in range(c_out):           # every filter
                    out[n, i, j, c] = conv_single_step(window, w[:, :, :, c], b[c])
    return out


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Unfold every kernel-sized window of x into a row of a matrix.

    Arguments:
        x: input, shape (N, H, W, C).
        kernel_size: int or (KH, KW).
        stride, padding, dilation: as in :func:`conv2d`.

    Returns:
        ``(cols, (OH, OW))`` where cols has shape (N * OH * OW, KH * KW * C),
        row ``(n * OH + i) * OW + j`` holding the window under output pixel
        (i, j) of image n, flattened in (kh, kw, c) order: the order of
        ``w.reshape(KH * KW * C, C_out)`` for a HWIO kernel. A convolution is
        then one matrix product, ``cols @ w.reshape(-1, C_out)``.
    """
    x = check_array("x", x, 4, NHWC)
    kh, kw = int_pair(kernel_size, "kernel_size", 1)
    stride_hw, dilation_hw = int_pair(stride, "stride", 1), int_pair(dilation, "dilation", 1)
    pads = shapes.padding_amounts_2d(x.shape[1:3], (kh, kw), padding, stride_hw, dilation_hw)
    out_hw = shapes.conv_output_hw(x.shape[1:3], (kh, kw), pads, stride_hw, dilation_hw)
    xp = zero_pad(x, pads) if any(p for pair in pads for p in pair) else x
    return im2col_rows(xp, (kh, kw), stride_hw, dilation_hw, out_hw), out_hw


# conv2d's scratch arrays (the im2col rows and the padded images of one chunk),
# kept from call to call: see cnnlib.windows.Workspace for why and for the rule
# that keeps them safe. The backward passes own workspaces of their own.
_WORKSPACE = Workspace("cnnlib.ops.conv2d")


# Size of the piece of the im2col matrix that conv2d builds at a time: small
# enough to stay in cache, large enough for an efficient matrix product.
# (Measured on the course machine: 4 MiB beat 1, 2, 8 and 16 MiB, and building
# the whole matrix at once was the slowest.)
_CONV_CHUNK_BYTES = 4 * 2**20


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """2-D convolution layer (cross-correlation), vectorized: im2col and a matrix product.

    Same arguments, result and errors as :func:`conv2d_naive`:
    x (N, H, W, C_in), w (KH, KW, C_in, C_out), b (C_out,) or None, returns
    (N, OH, OW, C_out) in x's dtype.

    The im2col matrix of a large batch is big (N*OH*OW rows of KH*KW*C_in
    numbers), so it is built a few images at a time; each chunk is one
    matrix product ``cols @ w.reshape(KH*KW*C_in, C_out)``.
    """
    x, w, b, stride_hw, dilation_hw, pads, (oh, ow) = conv_geometry(
        x, w, b, stride, padding, dilation)
    kh, kw, c_in, c_out = w.shape
    n, h, width = x.shape[:3]
    (top, bottom), (left, right) = pads
    row_bytes = kh * kw * c_in * x.dtype.itemsize
    step = min(n, max(1, _CONV_CHUNK_BYTES // (row_bytes * oh * ow)))  # images per chunk
    cols = _WORKSPACE.get("cols", (step * oh * ow, kh * kw * c_in), x.dtype)
    padded = None
    if top or bottom or left or right:
        padded = _WORKSPACE.get("padded", (step, h + top + bottom, width + left + right, c_in), x.dtype)
        padded.fill(0)
    w_matrix = w.reshape(kh * kw * c_in, c_out)
    out = np.empty((n, oh, ow, c_out), dtype=x.dtype)
    for first in range(0, n, step):
        chunk = x[first:first + step]
        size = chunk.shape[0]
        if padded is not None:   # only the interior changes; the border stays zero
            padded[:size, top:top + h, left:left + width] = chunk
            chunk = padded[:size]
        rows = im2col_rows(chunk, (kh, kw), stride_hw, dilation_hw, (oh, ow), out=cols[:size * oh * ow])
        np.matmul(rows, w_matrix, out=np.reshape(out[first:first + size], (-1, c_out), copy=False))
    out += b
    return out


def _conv2d_single_channel(image, kernel, mode):
    image = check_array("image", image, 2, "(height, width)")
    kernel = check_array("kernel", kernel, 2, "(height, width)")
    if not isinstance(mode, str) or mode.lower() not in shapes.PADDING_MODES:
        raise ValueError(f"mode must be one of {shapes.PADDING_MODES}, got {mode!r}")
    out = conv2d(image[None, :, :, None], kernel[:, :, None, None], padding=mode.lower())
    return out[0, :, :, 0]


def correlate2d(image, kernel, mode="valid"):
    """Cross-correlate a single-channel image with a kernel: slide it, no flip.

    ``out[i, j] = sum_{u, v} image[i + u, j + v] * kernel[u, v]`` over the
    (zero-padded) image. This is what conv layers compute.

    Arguments:
        image: 2-D array (H, W).
        kernel: 2-D array (KH, KW).
        mode: ``"valid"`` (kernel inside the image, (H-KH+1, W-KW+1)),
            ``"same"`` (output (H, W); TensorFlow's split, the extra zero of an
            even kernel at the bottom/right) or ``"full"`` (every overlap,
            (H+KH-1, W+KW-1)).

    Returns:
        2-D array in image's dtype.

    Raises:
        ValueError: not 2-D, unknown mode, or a kernel larger than the image in
            valid mode.
    """
    return _conv2d_single_channel(image, kernel, mode)


def convolve2d(image, kernel, mode="valid"):
    """True 2-D convolution: cross-correlation with the kernel flipped in both axes.

    ``out[i, j] = sum_{u, v} image[i - u, j - v] * kernel[u, v]``. Same
    arguments, shapes and errors as :func:`correlate2d`. For a symmetric kernel
    the two agree; for anything else they do not, which is why the flip matters
    when you read signal-processing texts.
    """
    kernel = check_array("kernel", kernel, 2, "(height, width)")
    return _conv2d_single_channel(image, kernel[::-1, ::-1], mode)


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------

POOL_MODES = ("max", "avg", "sum")


def pool_geometry(x, pool_size=2, stride=None, padding=0, mode="max"):
    """Check a pool2d call; return ``(x, pool_hw, stride_hw, pads, out_hw, mode)``."""
    x = check_images(x)
    if not isinstance(mode, str) or mode.lower() not in POOL_MODES:
        raise ValueError(f"mode must be one of {POOL_MODES}, got {mode!r}")
    pool_hw = int_pair(pool_size, "pool_size", 1)
    stride_hw = pool_hw if stride is None else int_pair(stride, "stride", 1)
    pads = shapes.padding_amounts_2d(x.shape[1:3], pool_hw, padding, stride_hw)
    out_hw = shapes.pool_output_hw(x.shape[1:3], pool_hw, stride_hw, pads)
    return x, pool_hw, stride_hw, pads, out_hw, mode.lower()


def pool2d(x, pool_size=2, stride=None, padding=0, mode="max"):
    """Pool every channel of every image over (pool_h, pool_w) windows.

    Arguments:
        x: input, shape (N, H, W, C).
        pool_size: int or (pool_h, pool_w).
        stride: int or pair; defaults to pool_size (windows that touch but do
            not overlap). A stride smaller than the window gives overlapping
            pooling (AlexNet's 3/2).
        padding: int, (ph, pw), ((top, bottom), (left, right)), ``"valid"``
            or ``"same"``. Padding never counts: max ignores it, avg divides by
            the number of real pixels in the window, sum adds only real pixels
            (TensorFlow's rule for SAME pooling). Each side's padding must be
            smaller than the window.
        mode: ``"max"``, ``"avg"`` or ``"sum"``.

    Returns:
        Array of shape (N, OH, OW, C), OH = floor((H + top + bottom - pool_h)
        / stride_h) + 1. x's dtype, except that avg of integers is float64.

    Raises:
        ValueError: x not 4-D, unknown mode, a window larger than the padded
            input, or padding as wide as the window.
    """
    x, (ph, pw), (sh, sw), pads, (oh, ow), mode = pool_geometry(x, pool_size, stride, padding, mode)
    if mode == "avg":
        x = as_float(x)
    xp = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=pool_padding_value(x.dtype, mode))
    out = None
    for i in range(ph):
        for j in range(pw):
            view = tap_view(xp, i, j, (sh, sw), (1, 1), (oh, ow))
            if out is None:
                out = view.copy()
            elif mode == "max":
                np.maximum(out, view, out=out)
            else:
                out += view
    if mode == "avg":
        out /= real_pixel_counts(x.shape[1:3], (ph, pw), (sh, sw), pads, (oh, ow)).astype(x.dtype)
    return out


def max_pool2d(x, pool_size=2, stride=None, padding=0):
    """Max pooling: :func:`pool2d` with ``mode="max"``."""
    return pool2d(x, pool_size, stride, padding, mode="max")


def avg_pool2d(x, pool_size=2, stride=None, padding=0):
    """Average pooling: :func:`pool2d` with ``mode="avg"``."""
    return pool2d(x, pool_size, stride, padding, mode="avg")


def global_avg_pool2d(x, keepdims=False):
    """Mean of each channel over the whole image: one number per channel (Keras's GlobalAveragePooling2D).

    Arguments:
        x: input, shape (N, H, W, C).
        keepdims: keep the spatial axes as size 1.

    Returns:
        (N, C), or (N, 1, 1, C) with ``keepdims``; x's floating dtype
        (integers give float64).

    Raises:
        ValueError: x is not 4-D or is empty.
    """
    x = as_float(check_images(x))
    return x.mean(axis=(1, 2), keepdims=keepdims)


def global_max_pool2d(x, keepdims=False):
    """Largest value of each channel over the whole image (Keras's GlobalMaxPooling2D).

    Same arguments and shapes as :func:`global_avg_pool2d`; x's dtype.
    """
    return check_images(x).max(axis=(1, 2), keepdims=keepdims)


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------

def relu(x):
    """Rectified linear unit, ``max(x, 0)`` element-wise. Any shape; x's dtype."""
    x = as_real_array("x", x)
    return np.maximum(x, x.dtype.type(0))


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``, element-wise, with no overflow.

    Any shape; floating dtype kept, integers give float64.
    """
    x = as_float(as_real_array("x", x))
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def tanh(x):
    """Hyperbolic tangent, element-wise. Any shape; floating dtype kept, integers give float64."""
    return np.tanh(as_float(as_real_array("x", x)))


def log_softmax(x, axis=-1):
    """Logarithm of :func:`softmax`, computed without forming exp(x): stable for any logits.

    ``log_softmax(x) = x - max(x) - log(sum(exp(x - max(x))))`` along ``axis``.
    Any shape; floating dtype kept, integers give float64.
    """
    x = as_float(as_real_array("x", x))
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """Softmax along ``axis`` (the classes): ``exp(x) / sum(exp(x))``, stable for large logits.

    Subtracting the row's maximum first changes nothing mathematically and
    keeps exp() from overflowing. Any shape; floating dtype kept, integers give
    float64. Each slice along ``axis`` sums to 1.
    """
    x = as_float(as_real_array("x", x))
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def cross_entropy(probs_or_logits, labels, from_logits=False):
    """Mean cross-entropy of a batch of predictions against the true classes.

    Arguments:
        probs_or_logits: shape (N, K). Probabilities (rows in [0, 1] summing to
            1), or raw scores when ``from_logits=True`` (then a stable
            log-softmax is applied first).
        labels: integer class indices, shape (N,), each in [0, K); or one-hot
            (or soft) targets with shape (N, K).
        from_logits: say which of the two the first argument holds.

    Returns:
        ``-mean_n log p[n, labels[n]]`` as a NumPy scalar of the input's
        floating dtype. Probabilities of exactly 0 give ``inf``, as they should.

    Raises:
        ValueError: wrong shapes, labels out of range, or rows that are not
            probabilities when ``from_logits=False``.
        TypeError: non-integer class labels.
    """
    scores = as_float(check_array("probs_or_logits", probs_or_logits, 2, "(batch, classes)"))
    labels = as_real_array("labels", labels)
    n, k = scores.shape
    if from_logits:
        log_p = log_softmax(scores, axis=1)
    else:
        tol = 1e-3 if scores.dtype.itemsize < 8 else 1e-6
        sums = scores.sum(axis=1)
        if np.any(scores < 0) or np.any(scores > 1) or not np.allclose(sums, 1, atol=tol):
            worst = int(np.argmax(np.abs(sums - 1)))
            raise ValueError(f"probs_or_logits rows must be probabilities (in [0, 1], summing to 1); "
                             f"row {worst} sums to {sums[worst]:.6g}. Pass from_logits=True for raw scores")
        with np.errstate(divide="ignore"):
            log_p = np.log(scores)
    if labels.shape == (n, k):
        targets = labels.astype(scores.dtype)
        return scores.dtype.type(-np.mean(np.sum(np.where(targets != 0, targets * log_p, 0), axis=1)))
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) (class indices) or ({n}, {k}) (one-hot) "
                         f"for probs_or_logits of shape {scores.shape}, got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"class labels must be integers, got dtype {labels.dtype}")
    if n and (labels.min() < 0 or labels.max() >= k):
        bad = labels[(labels < 0) | (labels >= k)][0]
        raise ValueError(f"labels must be in [0, {k}) for {k} classes, got {bad}")
    return scores.dtype.type(-np.mean(log_p[np.arange(n), labels]))


# ---------------------------------------------------------------------------
# The dense head
# ---------------------------------------------------------------------------

def flatten(x):
    """Flatten every example to a vector: (N, d1, d2, ...) -> (N, d1*d2*...).

    Row-major, so an NHWC activation flattens exactly as Keras's Flatten does.
    """
    x = as_real_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and at least one more, got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def dense_geometry(x, w, b=None):
    """Check a dense call; return ``(x, w, b)`` cast to the result dtype (b zeros when None).

    Shared by :func:`dense` and its backward pass, so both refuse the same calls.
    """
    x = check_array("x", x, 2, "(batch, features); flatten images first")
    w = check_array("w", w, 2, "(in_features, out_features)")
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w has {w.shape[0]} input features but x has {x.shape[1]} "
                         f"(x.shape={x.shape}, w.shape={w.shape})")
    return cast_together(x, w, check_bias(b, w.shape[-1], x, w))


def dense(x, w, b=None):
    """Fully connected layer: ``x @ w + b``.

    Arguments:
        x: inputs, shape (N, D).
        w: weights, shape (D, M).
        b: biases, shape (M,), or None.

    Returns:
        Array of shape (N, M) in x's dtype (see the module note on dtypes).

    Raises:
        ValueError: wrong ranks or sizes that do not match.
    """
    x, w, b = dense_geometry(x, w, b)
    return x @ w + b


# ---------------------------------------------------------------------------
# Batch normalization
# ---------------------------------------------------------------------------

def batch_norm_geometry(x, gamma, beta, moving_mean, moving_var, momentum=0.99, epsilon=1e-3):
    """Check a batch_norm call; return ``(x, gamma, beta, moving_mean, moving_var, axes)`` cast to x's
    floating dtype, ``axes`` being every axis but the last (the ones the statistics run over).

    Shared by :func:`batch_norm` and its backward pass, so both refuse the same calls.
    ``beta`` may be None (the backward pass does not need it).
    """
    x = as_float(as_real_array("x", x))
    if x.ndim < 2 or 0 in x.shape:
        raise ValueError(f"x must be a non-empty batch with channels last, (N, ..., C), got shape {x.shape}")
    c = x.shape[-1]
    vectors = []
    for name, v in (("gamma", gamma), ("beta", beta), ("moving_mean", moving_mean), ("moving_var", moving_var)):
        if v is None and name == "beta":
            vectors.append(None)
            continue
        v = as_real_array(name, v)
        if v.shape != (c,):
            raise ValueError(f"{name} must have shape ({c},), one value per channel of x "
                             f"(x.shape={x.shape}), got {v.shape}")
        vectors.append(v.astype(x.dtype, copy=False))
    if np.any(vectors[3] < 0):
        raise ValueError(f"moving_var must be >= 0 (it is a variance), got {vectors[3].min()}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.number)) or not 0 <= momentum <= 1:
        raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.number)) or not epsilon > 0:
        raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
    return (x, *vectors, tuple(range(x.ndim - 1)))


def channel_sums(x):
    """Sum of x over every axis but the last: one number per channel, shape (C,).

    Computed as one matrix-vector product with a vector of ones (several times
    faster than ``x.sum(axis=(0, 1, 2))`` on NHWC arrays on the course machine,
    and summed in BLAS's blocks, so float32 keeps its precision).
    """
    rows = np.reshape(x, (-1, x.shape[-1]))
    return np.ones(rows.shape[0], dtype=x.dtype) @ rows


def channel_moments(x):
    """Per-channel mean and biased variance of x over every axis but the last: ``(mean, var)``, each (C,)."""
    count = x.dtype.type(x.size // x.shape[-1])
    mean = channel_sums(x) / count
    centered = x - mean
    centered *= centered
    return mean, channel_sums(centered) / count


def batch_norm(x, gamma, beta, moving_mean, moving_var, training=False, momentum=0.99, epsilon=1e-3):
    """Batch normalization of every channel, as Keras's BatchNormalization computes it.

    Each channel c is normalized over every other axis (N, H and W for NHWC
    images; N for (N, C) features), then scaled and shifted:

        out = gamma[c] * (x - mean[c]) / sqrt(var[c] + epsilon) + beta[c]

    - ``training=True``: mean and var are the batch's own statistics over
      (N, H, W), the variance *biased* (divided by the number of values, not
      one less), and the moving averages move towards them:
      ``new = momentum * moving + (1 - momentum) * batch``.
    - ``training=False`` (inference): mean and var are ``moving_mean`` and
      ``moving_var``, which come back unchanged.

    Arguments:
        x: input, shape (N, ..., C): (N, H, W, C) images or (N, C) features.
        gamma, beta: scale and shift, shape (C,).
        moving_mean, moving_var: the running statistics, shape (C,).
        training: use the batch's statistics and update the running ones.
        momentum: in [0, 1]; Keras's default 0.99 (the running averages
            forget slowly).
        epsilon: > 0, added to the variance; Keras's default 1e-3.

    Returns:
        ``(out, new_moving_mean, new_moving_var)``: out of x's shape, the
        statistics of shape (C,) (new arrays; the arguments are not changed),
        all in x's floating dtype.

    Raises:
        ValueError: shapes that do not match x's channel count, a negative
            moving_var, momentum outside [0, 1] or epsilon <= 0.
    """
    x, gamma, beta, moving_mean, moving_var, _ = batch_norm_geometry(
        x, gamma, beta, moving_mean, moving_var, momentum, epsilon)
    if training:
        mean, var = channel_moments(x)
        m = x.dtype.type(momentum)
        new_mean = moving_mean * m + mean * (1 - m)
        new_var = moving_var * m + var * (1 - m)
    else:
        mean, var = moving_mean, moving_var
        new_mean, new_var = moving_mean.copy(), moving_var.copy()
    scale = gamma / np.sqrt(var + x.dtype.type(epsilon))
    return (x - mean) * scale + beta, new_mean, new_var
