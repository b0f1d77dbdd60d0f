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

import math
import threading

import numpy as np

from . import shapes

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


# ---------------------------------------------------------------------------
# Argument checks shared by the ops (and by backprop.py)
# ---------------------------------------------------------------------------

def _as_real_array(name, x):
    """``np.asarray(x)``, refusing anything that is not real numbers."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _check_ndim(name, arr, ndim, layout):
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {arr.shape}")


def _as_float(x):
    """Floating arrays unchanged; integer and bool arrays as float64."""
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _result_dtype(x, *others):
    """x's dtype when it is floating point, else what NumPy would pick for all."""
    if x.dtype.kind == "f":
        return x.dtype
    return np.result_type(x, *others)


def _pair(name, value, minimum=1):
    """An int or a pair of ints, as a checked (height, width) pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}")
        return (shapes._check_int(f"{name}[0]", value[0], minimum),
                shapes._check_int(f"{name}[1]", value[1], minimum))
    value = shapes._check_int(name, value, minimum)
    return (value, value)


def _check_bias(b, x, w):
    """b as an array of shape (w.shape[-1],): one bias per output; zeros when None."""
    size = w.shape[-1]
    if b is None:
        return np.zeros(size, dtype=_result_dtype(x, w))
    b = _as_real_array("b", b)
    if b.shape != (size,):
        raise ValueError(f"b must have shape ({size},), one bias per output of w, "
                         f"got {b.shape} (w.shape={w.shape})")
    return b


def _spatial_padding(padding, name="pad"):
    """Normalize an explicit padding to ((top, bottom), (left, right)).

    Accepts an int (all four sides), ``(ph, pw)`` (symmetric per axis) or
    ``((top, bottom), (left, right))``: the forms of Keras's ZeroPadding2D.
    ``name`` is the argument's name in the caller, for the error messages.
    """
    bad = TypeError(f"{name} must be an int, (pad_h, pad_w) or ((top, bottom), (left, right)), "
                    f"got {padding!r}")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise bad
        out = []
        for axis_name, p in zip(("height", "width"), padding):
            if isinstance(p, (tuple, list)):
                if len(p) != 2:
                    raise bad
                out.append((shapes._check_int(f"{name} ({axis_name}, before)", p[0], 0),
                            shapes._check_int(f"{name} ({axis_name}, after)", p[1], 0)))
            else:
                p = shapes._check_int(f"{name} ({axis_name})", p, 0)
                out.append((p, p))
        return tuple(out)
    if isinstance(padding, bool) or not hasattr(type(padding), "__index__"):
        raise bad
    p = shapes._check_int(name, padding, 0)
    return ((p, p), (p, p))


def _window_padding(x_shape, kernel_hw, padding, stride_hw, dilation_hw):
    """Resolve any padding argument to ((top, bottom), (left, right)) for a window op."""
    if isinstance(padding, str):
        return tuple(shapes.padding_amounts(n, k, padding, s, d)
                     for n, k, s, d in zip(x_shape[1:3], kernel_hw, stride_hw, dilation_hw))
    return _spatial_padding(padding, "padding")


def _output_hw(x_shape, kernel_hw, pads, stride_hw, dilation_hw, kernel_names):
    """Output (height, width) of a window op, with errors that name the axis."""
    out = []
    for axis, name, n, k, p, s, d in zip(("height", "width"), kernel_names, x_shape[1:3],
                                         kernel_hw, pads, stride_hw, dilation_hw):
        try:
            out.append(shapes._output_size(n, k, p, s, d, False, name))
        except ValueError as err:
            raise ValueError(f"along the {axis} axis: {err}") from None
    return tuple(out)


def conv_geometry(x, w, b=None, stride=1, padding=0, dilation=1):
    """Check a conv2d call and return everything needed to compute it.

    Returns ``(x, w, b, stride_hw, dilation_hw, pads, out_hw)`` with arrays
    cast to the result dtype (``b`` as zeros when None) and ``pads`` as
    ``((top, bottom), (left, right))``. Used by conv2d, conv2d_naive and
    the backward pass so that all of them accept and refuse the same calls.
    """
    x = _as_real_array("x", x)
    w = _as_real_array("w", w)
    _check_ndim("x", x, 4, "NHWC (batch, height, width, channels)")
    _check_ndim("w", w, 4, "HWIO (kernel_h, kernel_w, in_channels, out_channels)")
    if w.shape[2] != x.shape[3]:
        raise ValueError(f"w has {w.shape[2]} input channels but x has {x.shape[3]} "
                         f"(x.shape={x.shape}, w.shape={w.shape})")
    if 0 in x.shape or 0 in w.shape:
        raise ValueError(f"x and w must not be empty (x.shape={x.shape}, w.shape={w.shape})")
    b = _check_bias(b, x, w)
    dtype = _result_dtype(x, w, b)
    x, w, b = x.astype(dtype, copy=False), w.astype(dtype, copy=False), b.astype(dtype, copy=False)
    stride_hw = _pair("stride", stride)
    dilation_hw = _pair("dilation", dilation)
    pads = _window_padding(x.shape, w.shape[:2], padding, stride_hw, dilation_hw)
    out_hw = _output_hw(x.shape, w.shape[:2], pads, stride_hw, dilation_hw, ("KH", "KW"))
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
    x = _as_real_array("x", x)
    _check_ndim("x", x, 4, "NHWC (batch, height, width, channels)")
    (top, bottom), (left, right) = _spatial_padding(pad)
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
    a_slice = _as_real_array("a_slice", a_slice)
    w = _as_real_array("w", w)
    b = _as_real_array("b", b)
    if a_slice.ndim != 3 or a_slice.shape != w.shape:
        raise ValueError(f"a_slice and w must both have shape (kh, kw, c_in), "
                         f"got a_slice.shape={a_slice.shape}, w.shape={w.shape}")
    if b.size != 1:
        raise ValueError(f"b must be a single number, got shape {b.shape}")
    dtype = _result_dtype(a_slice, w, b)
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
    x = _as_real_array("x", x)
    _check_ndim("x", x, 4, "NHWC (batch, height, width, channels)")
    kh, kw = _pair("kernel_size", kernel_size)
    stride_hw, dilation_hw = _pair("stride", stride), _pair("dilation", dilation)
    pads = _window_padding(x.shape, (kh, kw), padding, stride_hw, dilation_hw)
    out_hw = _output_hw(x.shape, (kh, kw), pads, stride_hw, dilation_hw, ("KH", "KW"))
    xp = zero_pad(x, pads) if any(p for pair in pads for p in pair) else x
    return _im2col(xp, (kh, kw), stride_hw, dilation_hw, out_hw), out_hw


def _im2col(xp, kernel_hw, stride_hw, dilation_hw, out_hw, out=None):
    """im2col of an already padded input, on checked arguments.

    ``sliding_window_view`` gives every window as a view (no copy); one copy
    then lays the windows out as rows, into ``out`` when it is given.
    """
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel_hw, stride_hw, dilation_hw, out_hw
    n, c = xp.shape[0], xp.shape[3]
    spans = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    windows = np.lib.stride_tricks.sliding_window_view(xp, spans, axis=(1, 2))
    # (N, H', W', C, span_h, span_w) -> stride and dilate -> crop -> (N, OH, OW, KH, KW, C)
    windows = windows[:, ::sh, ::sw, :, ::dh, ::dw][:, :oh, :ow]
    windows = windows.transpose(0, 1, 2, 4, 5, 3)
    if out is None:
        out = np.empty((n * oh * ow, kh * kw * c), dtype=xp.dtype)
    # copy=False: raise rather than silently fill a temporary copy of out
    rows = np.reshape(out, (n, oh, ow, kh, kw, c), copy=False)
    if c == 1:
        # One channel: copying tap by tap is about 3x faster than the 6-D copy
        # (measured on the course machine); with more channels it is slower.
        for p in range(kh):
            for q in range(kw):
                rows[:, :, :, p, q, :] = windows[:, :, :, p, q, :]
    else:
        rows[...] = windows
    return out


# conv2d's scratch arrays (the im2col rows and the padded images of one chunk)
# are kept per thread and reused from call to call. Fresh memory costs a page
# fault per 4 KiB on first touch, and on this course's machines that took
# longer than the arithmetic of a mid-sized convolution (bench/RESULTS.md).
_scratch = threading.local()
_SCRATCH_MAX_BYTES = 64 * 2**20   # larger requests get fresh memory, freed after the call


def _workspace(slot, shape, dtype):
    """An uninitialized array of ``shape`` for scratch ``slot``, reused across calls."""
    size = math.prod(shape)
    dtype = np.dtype(dtype)
    if size * dtype.itemsize > _SCRATCH_MAX_BYTES:
        return np.empty(shape, dtype)
    buffers = _scratch.__dict__.setdefault("buffers", {})
    buf = buffers.get((slot, dtype))
    if buf is None or buf.size < size:
        buf = buffers[(slot, dtype)] = np.empty(size, dtype)
    return buf[:size].reshape(shape)


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
    cols = _workspace("cols", (step * oh * ow, kh * kw * c_in), x.dtype)
    padded = None
    if top or bottom or left or right:
        padded = _workspace("padded", (step, h + top + bottom, width + left + right, c_in), x.dtype)
        padded.fill(0)
    w_matrix = w.reshape(kh * kw * c_in, c_out)
    out = np.empty((n, oh, ow, c_out), dtype=x.dtype)
    for first in range(0, n, step):
        chunk = x[first:first + step]
        size = chunk.shape[0]
        if padded is not None:   # only the interior changes; the border stays zero
            padded[:size, top:top + h, left:left + width] = chunk
            chunk = padded[:size]
        rows = _im2col(chunk, (kh, kw), stride_hw, dilation_hw, (oh, ow), out=cols[:size * oh * ow])
        np.matmul(rows, w_matrix, out=np.reshape(out[first:first + size], (-1, c_out), copy=False))
    out += b
    return out


def _conv2d_single_channel(image, kernel, mode):
    image = _as_real_array("image", image)
    kernel = _as_real_array("kernel", kernel)
    _check_ndim("image", image, 2, "(height, width)")
    _check_ndim("kernel", kernel, 2, "(height, width)")
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
    kernel = _as_real_array("kernel", kernel)
    _check_ndim("kernel", kernel, 2, "(height, width)")
    return _conv2d_single_channel(image, kernel[::-1, ::-1], mode)


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------

POOL_MODES = ("max", "avg", "sum")


def pool_geometry(x, pool_size=2, stride=None, padding=0, mode="max"):
    """Check a pool2d call; return ``(x, pool_hw, stride_hw, pads, out_hw, mode)``."""
    x = _as_real_array("x", x)
    _check_ndim("x", x, 4, "NHWC (batch, height, width, channels)")
    if 0 in x.shape:
        raise ValueError(f"x must not be empty, got shape {x.shape}")
    if not isinstance(mode, str) or mode.lower() not in POOL_MODES:
        raise ValueError(f"mode must be one of {POOL_MODES}, got {mode!r}")
    pool_hw = _pair("pool_size", pool_size)
    stride_hw = pool_hw if stride is None else _pair("stride", stride)
    pads = _window_padding(x.shape, pool_hw, padding, stride_hw, (1, 1))
    for axis, (before, after), k in zip(("height", "width"), pads, pool_hw):
        if max(before, after) >= k:
            raise ValueError(f"padding {(before, after)} along the {axis} axis must be smaller "
                             f"than pool_size {k}, or some window would hold only padding")
    out_hw = _output_hw(x.shape, pool_hw, pads, stride_hw, (1, 1), ("pool_h", "pool_w"))
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
        x = _as_float(x)
    fill = 0  # padding adds nothing to a sum; for max, pad with the dtype's lowest value
    if mode == "max" and x.dtype.kind == "f":
        fill = -np.inf
    elif mode == "max" and x.dtype.kind in "iu":
        fill = np.iinfo(x.dtype).min
    xp = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=fill)
    out = None
    for i in range(ph):
        for j in range(pw):
            view = xp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]
            if out is None:
                out = view.copy()
            elif mode == "max":
                np.maximum(out, view, out=out)
            else:
                out += view
    if mode == "avg":
        out /= _real_pixel_counts(x.shape[1:3], (ph, pw), (sh, sw), pads, (oh, ow)).astype(x.dtype)
    return out


def _real_pixel_counts(hw, pool_hw, stride_hw, pads, out_hw):
    """Number of non-padding pixels under each window, shape (OH, OW, 1)."""
    counts = []
    for n, k, s, (before, _), o in zip(hw, pool_hw, stride_hw, pads, out_hw):
        start = np.arange(o) * s - before
        counts.append(np.minimum(start + k, n) - np.maximum(start, 0))
    return (counts[0][:, None] * counts[1][None, :])[:, :, None]


def max_pool2d(x, pool_size=2, stride=None, padding=0):
    """Max pooling: :func:`pool2d` with ``mode="max"``."""
    return pool2d(x, pool_size, stride, padding, mode="max")


def avg_pool2d(x, pool_size=2, stride=None, padding=0):
    """Average pooling: :func:`pool2d` with ``mode="avg"``."""
    return pool2d(x, pool_size, stride, padding, mode="avg")


def _check_images(x):
    x = _as_real_array("x", x)
    _check_ndim("x", x, 4, "NHWC (batch, height, width, channels)")
    if 0 in x.shape:
        raise ValueError(f"x must not be empty, got shape {x.shape}")
    return x


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
    x = _as_float(_check_images(x))
    return x.mean(axis=(1, 2), keepdims=keepdims)


def global_max_pool2d(x, keepdims=False):
    """Largest value of each channel over the whole image (Keras's GlobalMaxPooling2D).

    Same arguments and shapes as :func:`global_avg_pool2d`; x's dtype.
    """
    return _check_images(x).max(axis=(1, 2), keepdims=keepdims)


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------

def relu(x):
    """Rectified linear unit, ``max(x, 0)`` element-wise. Any shape; x's dtype."""
    x = _as_real_array("x", x)
    return np.maximum(x, x.dtype.type(0))


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``, element-wise, with no overflow.

    Any shape; floating dtype kept, integers give float64.
    """
    x = _as_float(_as_real_array("x", x))
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def tanh(x):
    """Hyperbolic tangent, element-wise. Any shape; floating dtype kept, integers give float64."""
    return np.tanh(_as_float(_as_real_array("x", x)))


def log_softmax(x, axis=-1):
    """Logarithm of :func:`softmax`, computed without forming exp(x): stable for any logits.

    ``log_softmax(x) = x - max(x) - log(sum(exp(x - max(x))))`` along ``axis``.
    Any shape; floating dtype kept, integers give float64.
    """
    x = _as_float(_as_real_array("x", x))
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """Softmax along ``axis`` (the classes): ``exp(x) / sum(exp(x))``, stable for large logits.

    Subtracting the row's maximum first changes nothing mathematically and
    keeps exp() from overflowing. Any shape; floating dtype kept, integers give
    float64. Each slice along ``axis`` sums to 1.
    """
    x = _as_float(_as_real_array("x", x))
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
    scores = _as_float(_as_real_array("probs_or_logits", probs_or_logits))
    labels = _as_real_array("labels", labels)
    _check_ndim("probs_or_logits", scores, 2, "(batch, classes)")
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
    x = _as_real_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and at least one more, got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def dense_geometry(x, w, b=None):
    """Check a dense call; return ``(x, w, b)`` cast to the result dtype (b zeros when None).

    Shared by :func:`dense` and its backward pass, so both refuse the same calls.
    """
    x = _as_real_array("x", x)
    w = _as_real_array("w", w)
    _check_ndim("x", x, 2, "(batch, features); flatten images first")
    _check_ndim("w", w, 2, "(in_features, out_features)")
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w has {w.shape[0]} input features but x has {x.shape[1]} "
                         f"(x.shape={x.shape}, w.shape={w.shape})")
    b = _check_bias(b, x, w)
    dtype = _result_dtype(x, w, b)
    return x.astype(dtype, copy=False), w.astype(dtype, copy=False), b.astype(dtype, copy=False)


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
    x = _as_float(_as_real_array("x", x))
    if x.ndim < 2 or 0 in x.shape:
        raise ValueError(f"x must be a non-empty batch with channels last, (N, ..., C), got shape {x.shape}")
    c = x.shape[-1]
    vectors = []
    for name, v in (("gamma", gamma), ("beta", beta), ("moving_mean", moving_mean), ("moving_var", moving_var)):
        if v is None and name == "beta":
            vectors.append(None)
            continue
        v = _as_real_array(name, v)
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
