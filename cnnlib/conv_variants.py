"""Convolutions beyond conv2d: depthwise, separable and transposed. Forward passes, in NumPy.

Their backward passes are in :mod:`cnnlib.conv_variants_backprop`, in the same
order and with the same names plus ``_backward``. Layouts are TensorFlow's, so
each result can be compared with ``tf.nn`` directly:

    depthwise_conv2d   x (N, H, W, C), kernel (KH, KW, C, M)         -> (N, OH, OW, C*M)
                       each input channel is convolved with its own M filters and
                       nothing is summed across channels; output channel c*M + m is
                       channel c filtered by filter m (tf.nn.depthwise_conv2d).
    separable_conv2d   a depthwise conv, then a 1x1 conv (C*M, F) that mixes the
                       channels: MobileNet's building block, far fewer weights than
                       a full KHxKW conv (tf.nn.separable_conv2d).
    conv2d_transpose   x (N, H, W, C_in), kernel (KH, KW, C_out, C_in) -> (N, OH, OW, C_out)
                       the adjoint of conv2d: <conv2d(y, w), x> = <y, conv2d_transpose(x, w)>.
                       Each input pixel stamps a copy of the kernel, scaled by its value,
                       S pixels apart, so a small input grows (tf.nn.conv2d_transpose;
                       sizes from :func:`cnnlib.shapes.conv_transpose_output_size`).

Arguments ``stride``, ``padding`` and ``dilation`` take the forms :func:`cnnlib.ops.conv2d`
takes; ops keep their input's floating dtype.
"""

import numpy as np

from . import shapes
from .arguments import cast_together, check_bias, check_conv_operands, int_pair
from .ops import conv2d, conv_geometry, zero_pad
from .windows import tap_view

__all__ = [
    "depthwise_geometry",
    "depthwise_conv2d",
    "separable_conv2d",
    "transpose_geometry",
    "conv2d_transpose",
]


# ---------------------------------------------------------------------------
# Depthwise and separable convolutions
# ---------------------------------------------------------------------------

def depthwise_geometry(x, w, b=None, stride=1, padding=0, dilation=1):
    """Check a depthwise_conv2d call; return what computing it needs.

    Returns ``(x, w, b, stride_hw, dilation_hw, pads, out_hw)`` as
    :func:`cnnlib.ops.conv_geometry` does, with ``b`` of shape (C*M,)
    (zeros when None). Shared by the forward and backward passes.
    """
    x, w, _, stride_hw, dilation_hw, pads, out_hw = conv_geometry(x, w, None, stride, padding, dilation)
    b = check_bias(b, w.shape[2] * w.shape[3], x, w, f"per output channel, C*M = {w.shape[2]}*{w.shape[3]}")
    return x, w, b.astype(x.dtype, copy=False), stride_hw, dilation_hw, pads, out_hw


def depthwise_conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """Depthwise convolution: every input channel filtered on its own by M kernels.

    ``out[n, i, j, c*M + m] = b[c*M + m] + sum_{p, q} xpad[n, i*S + p*D, j*S + q*D, c] * w[p, q, c, m]``.
    No sum over channels, so a depthwise layer has KH*KW*C*M weights where a
    conv2d with C*M outputs has KH*KW*C*(C*M).

    Arguments:
        x: input, shape (N, H, W, C).
        w: kernels, shape (KH, KW, C, M); M is the depth multiplier.
        b: biases, shape (C*M,), or None.
        stride, padding, dilation: as in :func:`cnnlib.ops.conv2d`.

    Returns:
        (N, OH, OW, C*M), OH and OW as conv2d's, in x's dtype.

    Raises:
        ValueError, TypeError: as conv2d for bad arguments; b of another length than C*M.
    """
    x, w, b, stride_hw, dilation_hw, pads, (oh, ow) = depthwise_geometry(x, w, b, stride, padding, dilation)
    kh, kw, c, m = w.shape
    xp = zero_pad(x, pads)
    out = np.zeros((x.shape[0], oh, ow, c, m), dtype=x.dtype)
    for p in range(kh):
        for q in range(kw):
            out += tap_view(xp, p, q, stride_hw, dilation_hw, (oh, ow))[..., None] * w[p, q]
    return out.reshape(x.shape[0], oh, ow, c * m) + b


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, b=None, stride=1, padding=0, dilation=1):
    """Depthwise separable convolution: :func:`depthwise_conv2d` (no bias), then a 1x1 conv2d.

    Arguments:
        x: input, shape (N, H, W, C).
        depthwise_kernel: shape (KH, KW, C, M).
        pointwise_kernel: shape (1, 1, C*M, F): mixes the C*M channels into F.
        b: biases of the pointwise step, shape (F,), or None.
        stride, padding, dilation: of the depthwise step, as in conv2d.

    Returns:
        (N, OH, OW, F) in x's dtype.

    Raises:
        ValueError, TypeError: as the two steps; a pointwise kernel that is not
            1x1 or does not take C*M channels.
    """
    pointwise_kernel = np.asarray(pointwise_kernel)
    depth = np.shape(depthwise_kernel)
    if pointwise_kernel.ndim != 4 or pointwise_kernel.shape[:2] != (1, 1):
        raise ValueError(f"pointwise_kernel must have shape (1, 1, C*M, F), got {pointwise_kernel.shape}")
    if len(depth) == 4 and pointwise_kernel.shape[2] != depth[2] * depth[3]:
        raise ValueError(f"pointwise_kernel takes {pointwise_kernel.shape[2]} channels but the depthwise step "
                         f"gives C*M = {depth[2]}*{depth[3]} = {depth[2] * depth[3]} "
                         f"(depthwise_kernel.shape={depth}, pointwise_kernel.shape={pointwise_kernel.shape})")
    mid = depthwise_conv2d(x, depthwise_kernel, None, stride, padding, dilation)
    return conv2d(mid, pointwise_kernel, b)


# ---------------------------------------------------------------------------
# Transposed convolution
# ---------------------------------------------------------------------------

def transpose_geometry(x, w, b=None, stride=1, padding=0, output_padding=None, dilation=1):
    """Check a conv2d_transpose call; return what computing it (and its backward pass) needs.

    Returns ``(x, w, b, stride_hw, dilation_hw, pads, out_hw)``: arrays cast to
    the result dtype (``b`` zeros when None), ``out_hw`` the output's (OH, OW)
    and ``pads`` the ``((top, bottom), (left, right))`` padding of the conv2d,
    run on an (OH, OW) input, that this transposed convolution is the adjoint of.

    Raises:
        ValueError: wrong ranks, channels that do not match (w is
            (KH, KW, C_out, C_in) and x has C_in channels), or sizes that
            :func:`cnnlib.shapes.conv_transpose_output_size` refuses (the
            message names the axis).
        TypeError: non-numeric arrays, non-integer stride/dilation/padding.
    """
    x, w = check_conv_operands(x, w, "(kernel_h, kernel_w, out_channels, in_channels) for a transposed convolution",
                               3, "w takes {k} input channels (its last axis) but x has {c}: a transposed kernel "
                                  "is (KH, KW, C_out, C_in) (x.shape={x}, w.shape={w})")
    x, w, b = cast_together(x, w, check_bias(b, w.shape[2], x, w, "per output channel, w.shape[2]"))
    stride_hw, dilation_hw = int_pair(stride, "stride", 1), int_pair(dilation, "dilation", 1)
    geometry = (x.shape[1:3], w.shape[:2], padding, stride_hw, dilation_hw, output_padding)
    out_hw = shapes.conv_transpose_output_hw(*geometry)
    return x, w, b, stride_hw, dilation_hw, shapes.conv_transpose_padding_2d(*geometry), out_hw


def conv2d_transpose(x, w, b=None, stride=1, padding=0, output_padding=None, dilation=1):
    """Transposed convolution ("deconvolution"): the adjoint of :func:`cnnlib.ops.conv2d`.

    Every input pixel adds a copy of the kernel, scaled by its value, to the
    output; neighbouring input pixels' copies start ``stride`` pixels apart and
    overlap where the kernel is larger than the stride. The output is what the
    gradient of ``conv2d(y, w, stride=stride, padding=padding)`` with respect
    to y would be for an upstream gradient x: that is why
    ``<conv2d(y, w), x> = <y, conv2d_transpose(x, w)>`` for all y and x.

    Arguments:
        x: input, shape (N, H, W, C_in).
        w: kernels, shape (KH, KW, C_out, C_in): the layout of the conv2d it
            transposes (that conv2d maps C_out channels to C_in), as in
            ``tf.nn.conv2d_transpose`` and Keras's Conv2DTranspose.
        b: biases, shape (C_out,), or None.
        stride: int or (stride_h, stride_w): how far apart the stamps land.
        padding: int, (ph, pw), ((top, bottom), (left, right)), ``"valid"``,
            ``"same"`` or ``"full"``: the padding of the conv2d it transposes;
            padding crops the output.
        output_padding: None, int or pair, each in [0, stride): picks which of
            the sizes that conv2d maps to (H, W) the output has (see
            :func:`cnnlib.shapes.conv_transpose_output_size`).
        dilation: int or pair, as in conv2d.

    Returns:
        (N, OH, OW, C_out) with ``OH = (H - 1) * stride_h + dilation_h*(KH - 1) + 1
        - top - bottom + output_padding_h`` (and likewise OW), in x's dtype.

    Raises:
        ValueError, TypeError: see :func:`transpose_geometry`.
    """
    x, w, b, (sh, sw), dilation_hw, pads, (oh, ow) = transpose_geometry(
        x, w, b, stride, padding, output_padding, dilation)
    n, h, width, c_in = x.shape
    kh, kw = w.shape[:2]
    spans = [d * (k - 1) for k, d in zip((kh, kw), dilation_hw)]
    # Spread the input out by the stride (zeros between its pixels) ...
    spread = np.zeros((n, (h - 1) * sh + 1, (width - 1) * sw + 1, c_in), dtype=x.dtype)
    spread[:, ::sh, ::sw, :] = x
    # ... pad it so that every output pixel sees the kernel's whole span (crop where padding > span) ...
    amounts = []
    for span, (before, after), size, o in zip(spans, pads, spread.shape[1:3], (oh, ow)):
        front = span - before
        amounts.append((front, o + span - front - size))
    crop = tuple(slice(max(0, -a), size + min(0, b)) for (a, b), size in zip(amounts, spread.shape[1:3]))
    spread = spread[:, crop[0], crop[1], :]
    spread = zero_pad(spread, tuple((max(0, a), max(0, b)) for a, b in amounts))
    # ... and correlate with the kernel turned half a circle, its channel axes as conv2d wants them.
    return conv2d(spread, w[::-1, ::-1].transpose(0, 1, 3, 2), b, 1, 0, dilation_hw)
