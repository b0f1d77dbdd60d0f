"""Backward passes of the ops in :mod:`cnnlib.ops`, in the same order and with the same names.

Each ``<op>_backward`` takes ``dout``, the gradient of the loss with respect to
the op's output (same shape as that output), and the op's inputs; it returns
the gradient of the loss with respect to each input (same shapes as the
inputs). The argument checks are the forward ops' own (``conv_geometry``,
``pool_geometry``), so a call the forward op refuses is refused here with the
same message. Results are in the dtype the forward op would return.

The chain rule, op by op:

    conv2d   out[n,i,j,o] = b[o] + sum_{p,q,c} xpad[n, i*S+p*D, j*S+q*D, c] * w[p,q,c,o]
             -> db = sum of dout over n, i, j
                dw[p,q,c,o] = sum_{n,i,j} xpad[n, i*S+p*D, j*S+q*D, c] * dout[n,i,j,o]
                dxpad[n, i*S+p*D, j*S+q*D, c] += w[p,q,c,o] * dout[n,i,j,o], then crop the padding
    max pool each window's gradient goes to the window's largest input (the first one on ties)
    avg pool each window's gradient is shared equally by its real (non-padding) pixels
    global   average: each pixel gets dout / (H*W); max: the channel's maximum gets dout
             (shared equally among tied maxima, as tf.reduce_max's gradient does)
    relu     the gradient passes where x > 0 and is stopped elsewhere (x == 0 included)
    dense    dx = dout @ w.T, dw = x.T @ dout, db = sum of dout over the batch
    batch norm (training) xhat = (x - mean) / sqrt(var + eps), out = gamma * xhat + beta
             -> dbeta = sum dout, dgamma = sum dout * xhat over (N, H, W), and, because the
                mean and var depend on every x,
                dx = gamma / sqrt(var + eps) * (dout - mean(dout) - xhat * mean(dout * xhat))
             (inference: mean and var are constants, dx = gamma / sqrt(var + eps) * dout)
"""

import numpy as np

from .arguments import as_float, as_real_array, check_array, check_dout, check_images, result_dtype
from .ops import (batch_norm_geometry, channel_moments, channel_sums, conv2d, conv_geometry, dense_geometry,
                  log_softmax, pool_geometry, softmax)
from .windows import Workspace, im2col_rows, pool_padding_value, real_pixel_counts, tap_view

__all__ = [
    "conv2d_backward_naive",
    "conv2d_backward",
    "conv2d_weight_grad",
    "pool2d_backward",
    "max_pool2d_backward",
    "avg_pool2d_backward",
    "global_avg_pool2d_backward",
    "global_max_pool2d_backward",
    "relu_backward",
    "dense_backward",
    "softmax_cross_entropy",
    "batch_norm_backward",
]


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------

def conv2d_backward_naive(dout, x, w, stride=1, padding=0, dilation=1):
    """Gradients of :func:`cnnlib.ops.conv2d` with loops: the readable reference.

    Arguments:
        dout: gradient of the loss with respect to conv2d's output, (N, OH, OW, C_out).
        x, w, stride, padding, dilation: conv2d's arguments; x (N, H, W, C_in),
            w (KH, KW, C_in, C_out). The bias does not enter any gradient.

    Returns:
        ``(dx, dw, db)`` of shapes (N, H, W, C_in), (KH, KW, C_in, C_out), (C_out,).

    Raises:
        ValueError, TypeError: as conv2d for bad arguments; ValueError when
            dout's shape is not conv2d's output shape.
    """
    x, w, _, (sh, sw), (dh, dw_), ((top, bottom), (left, right)), (oh, ow) = conv_geometry(
        x, w, None, stride, padding, dilation)
    n, h, width, _ = x.shape
    kh, kw, _, c_out = w.shape
    dout = check_dout(dout, (n, oh, ow, c_out), "conv2d").astype(x.dtype, copy=False)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
            cols = slice(j * sw, j * sw + dw_ * (kw - 1) + 1, dw_)
            for o in range(c_out):
                g = dout[:, i, j, o][:, None, None, None]            # (N, 1, 1, 1)
                dw[:, :, :, o] += np.sum(xp[:, rows, cols, :] * g, axis=0)
                dxp[:, rows, cols, :] += w[:, :, :, o] * g
    db = dout.sum(axis=(0, 1, 2))
    return dxp[:, top:top + h, left:left + width, :], dw, db


def conv2d_backward(dout, x, w, stride=1, padding=0, dilation=1):
    """Gradients of :func:`cnnlib.ops.conv2d`, vectorized: the transpose of im2col.

    Same arguments, results and errors as :func:`conv2d_backward_naive`.

    conv2d is ``out = cols @ W`` with ``cols`` the im2col matrix (one row per
    output pixel) and ``W = w.reshape(KH*KW*C_in, C_out)``. Hence
    ``dW = cols.T @ dout`` and ``dcols = dout @ W.T``; dx is dcols folded back
    onto the image (col2im): every window adds its row back where it came from,
    so pixels that several windows share collect several contributions. As in
    the forward pass, a few images are done at a time so that the im2col rows
    stay small. With stride 1, dx is computed as a convolution instead (see below).
    """
    x, w, _, stride_hw, dilation_hw, pads, (oh, ow) = conv_geometry(
        x, w, None, stride, padding, dilation)
    n, h, width, c_in = x.shape
    kh, kw, _, c_out = w.shape
    dh, dw_ = dilation_hw
    (top, bottom), (left, right) = pads
    dout = check_dout(dout, (n, oh, ow, c_out), "conv2d").astype(x.dtype, copy=False)

    # With stride 1 the input gradient is itself a convolution: dout, padded by
    # the kernel's span less the forward padding, correlated with the kernel
    # turned half a circle and with its channel axes swapped. That runs on
    # conv2d's efficient path; the general case folds dcols back (col2im).
    span_h, span_w = dh * (kh - 1), dw_ * (kw - 1)
    as_conv = stride_hw == (1, 1) and max(top, bottom) <= span_h and max(left, right) <= span_w
    dw = _conv_weight_grad(dout, x, w, stride_hw, dilation_hw, pads, (oh, ow), fold_dx=not as_conv)
    if as_conv:
        dx = conv2d(dout, w[::-1, ::-1].transpose(0, 1, 3, 2), None, 1,
                    ((span_h - top, span_h - bottom), (span_w - left, span_w - right)), dilation_hw)
    else:
        dw, dx = dw
    db = channel_sums(dout)
    return dx, dw.reshape(w.shape), db


def conv2d_weight_grad(dout, x, w, stride=1, padding=0, dilation=1):
    """Only dw and db of :func:`conv2d_backward`: all a network's first layer needs.

    Same arguments and errors as conv2d_backward; returns ``(dw, db)``.
    """
    x, w, _, stride_hw, dilation_hw, pads, (oh, ow) = conv_geometry(x, w, None, stride, padding, dilation)
    dout = check_dout(dout, (x.shape[0], oh, ow, w.shape[3]), "conv2d").astype(x.dtype, copy=False)
    dw = _conv_weight_grad(dout, x, w, stride_hw, dilation_hw, pads, (oh, ow), fold_dx=False)
    return dw.reshape(w.shape), channel_sums(dout)


# Bytes of im2col rows built at a time for dW. Larger than conv2d's 4 MiB:
# dW's product (rows.T @ dout) gains from longer rows; measured on the course
# machine, 8 MiB beat 1, 2, 4 and 16 MiB (35 ms against 39 ms, large float32).
_WGRAD_CHUNK_BYTES = 8 * 2**20

# The weight gradient's scratch arrays (im2col rows, padded images, the input gradient's rows):
# its own, never conv2d's (see cnnlib.windows.Workspace). conv2d_backward calls conv2d for dx
# while it holds none of them.
_WORKSPACE = Workspace("cnnlib.backprop.conv2d_weight_grad")


def _conv_weight_grad(dout, x, w, stride_hw, dilation_hw, pads, out_hw, fold_dx):
    """dW = cols.T @ dout over chunks of images; with ``fold_dx`` also dx by col2im.

    Returns dW as (KH*KW*C_in, C_out), or ``(dW, dx)`` when ``fold_dx``.
    """
    n, h, width, c_in = x.shape
    kh, kw, _, c_out = w.shape
    oh, ow = out_hw
    (top, bottom), (left, right) = pads
    dw = np.zeros((kh * kw * c_in, c_out), dtype=x.dtype)
    row_bytes = kh * kw * c_in * x.dtype.itemsize
    step = min(n, max(1, _WGRAD_CHUNK_BYTES // (row_bytes * oh * ow)))  # images per chunk
    cols = _WORKSPACE.get("cols", (step * oh * ow, kh * kw * c_in), x.dtype)
    hp, wp = h + top + bottom, width + left + right
    padded = dxp = None
    if top or bottom or left or right:
        padded = _WORKSPACE.get("padded", (step, hp, wp, c_in), x.dtype)
        padded.fill(0)
    if fold_dx:
        dx = np.empty_like(x)
        # One (C_out, C_in) matrix per kernel tap: dcols comes out tap by tap, each
        # tap's block contiguous, which makes the col2im adds below contiguous reads.
        taps = np.ascontiguousarray(w.reshape(kh * kw, c_in, c_out).transpose(0, 2, 1))
        dcols = _WORKSPACE.get("dcols", (kh * kw, step * oh * ow, c_in), x.dtype)
        if padded is not None:
            dxp = _WORKSPACE.get("dpadded", (step, hp, wp, c_in), x.dtype)
    for first in range(0, n, step):
        chunk = x[first:first + step]
        size = chunk.shape[0]
        if padded is not None:
            padded[:size, top:top + h, left:left + width] = chunk
            chunk = padded[:size]
        g = dout[first:first + size].reshape(-1, c_out)
        rows = im2col_rows(chunk, (kh, kw), stride_hw, dilation_hw, (oh, ow), out=cols[:size * oh * ow])
        dw += rows.T @ g
        if not fold_dx:
            continue
        grad_rows = np.matmul(g, taps, out=dcols[:, :size * oh * ow])    # (KH*KW, rows, C_in)
        # col2im: one strided add per kernel tap (p, q) puts every window's share back.
        target = dx[first:first + size] if dxp is None else dxp[:size]
        target.fill(0)
        for p in range(kh):
            for q in range(kw):
                tap_view(target, p, q, stride_hw, dilation_hw, out_hw)[...] += \
                    grad_rows[p * kw + q].reshape(size, oh, ow, c_in)
        if dxp is not None:
            dx[first:first + size] = dxp[:size, top:top + h, left:left + width]
    return (dw, dx) if fold_dx else dw


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------

def pool2d_backward(dout, x, pool_size=2, stride=None, padding=0, mode="max"):
    """Gradient of :func:`cnnlib.ops.pool2d` with respect to x.

    Arguments:
        dout: gradient of the loss with respect to pool2d's output, (N, OH, OW, C).
        x, pool_size, stride, padding, mode: pool2d's arguments; x (N, H, W, C).

    Returns:
        dx of shape (N, H, W, C) in the dtype pool2d returns.

        - ``"max"``: each window's gradient goes to the position of its
          largest input; on a tie, to the first of them in row-major order
          (the one TensorFlow picks). Padding is never picked.
        - ``"avg"``: each window's gradient is divided equally among the
          real pixels under it (padding does not count, as in the forward pass).
        - ``"sum"``: each pixel under the window receives the window's gradient.

        When windows overlap (stride < pool_size), a pixel receives the sum of
        its shares from every window that covers it.

    Raises:
        ValueError, TypeError: as pool2d for bad arguments; ValueError when
            dout's shape is not pool2d's output shape.
    """
    x, (ph, pw), (sh, sw), pads, (oh, ow), mode = pool_geometry(x, pool_size, stride, padding, mode)
    if mode == "avg":
        x = as_float(x)
    n, h, width, c = x.shape
    (top, bottom), (left, right) = pads
    dout = check_dout(dout, (n, oh, ow, c), "pool2d")
    dtype = as_float(x).dtype if mode == "avg" else result_dtype(x, dout)
    dout = dout.astype(dtype, copy=False)

    def window(a, i, j):
        """The (i, j)-th element of every window: a strided view of shape (N, OH, OW, C)."""
        return tap_view(a, i, j, (sh, sw), (1, 1), (oh, ow))

    dxp = np.zeros((n, h + top + bottom, width + left + right, c), dtype=dtype)
    if mode == "max":
        # padding must never be the maximum: pad with the dtype's lowest value
        xp = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=pool_padding_value(x.dtype, mode))
        real = None
        if top or bottom or left or right:
            real = np.pad(np.ones((1, h, width, 1), bool), ((0, 0), *pads, (0, 0)))
        biggest = window(xp, 0, 0).copy()
        for i in range(ph):
            for j in range(pw):
                np.maximum(biggest, window(xp, i, j), out=biggest)
        # Visit each window's elements in row-major order; the first one equal to the
        # window's maximum takes the gradient (TensorFlow's rule on ties).
        taken = np.zeros(biggest.shape, bool)
        for i in range(ph):
            for j in range(pw):
                hit = window(xp, i, j) == biggest
                if real is not None:
                    hit &= window(real, i, j)
                hit &= ~taken
                taken |= hit
                window(dxp, i, j)[...] += np.where(hit, dout, 0)
    else:
        share = dout
        if mode == "avg":
            share = dout / real_pixel_counts((h, width), (ph, pw), (sh, sw), pads, (oh, ow)).astype(dtype)
        for i in range(ph):
            for j in range(pw):
                window(dxp, i, j)[...] += share
    return dxp[:, top:top + h, left:left + width, :]


def max_pool2d_backward(dout, x, pool_size=2, stride=None, padding=0):
    """Gradient of max pooling: :func:`pool2d_backward` with ``mode="max"``."""
    return pool2d_backward(dout, x, pool_size, stride, padding, mode="max")


def avg_pool2d_backward(dout, x, pool_size=2, stride=None, padding=0):
    """Gradient of average pooling: :func:`pool2d_backward` with ``mode="avg"``."""
    return pool2d_backward(dout, x, pool_size, stride, padding, mode="avg")


def _check_global_dout(dout, x, keepdims, op):
    n, _, _, c = x.shape
    return check_dout(dout, (n, 1, 1, c) if keepdims else (n, c), op).reshape(n, 1, 1, c)


def global_avg_pool2d_backward(dout, x, keepdims=False):
    """Gradient of :func:`cnnlib.ops.global_avg_pool2d`: every pixel of a channel gets dout / (H*W).

    Arguments:
        dout: gradient with respect to the output, (N, C), or (N, 1, 1, C) with ``keepdims``.
        x, keepdims: the forward arguments; x (N, H, W, C).

    Returns:
        dx of shape (N, H, W, C), in x's floating dtype.

    Raises:
        ValueError: x is not 4-D, or dout has the wrong shape.
    """
    x = as_float(check_images(x))
    dout = _check_global_dout(dout, x, keepdims, "global_avg_pool2d").astype(x.dtype, copy=False)
    return np.broadcast_to(dout / x.dtype.type(x.shape[1] * x.shape[2]), x.shape).copy()


def global_max_pool2d_backward(dout, x, keepdims=False):
    """Gradient of :func:`cnnlib.ops.global_max_pool2d`: each channel's gradient goes to its maximum.

    When several pixels tie for a channel's maximum, they share the gradient
    equally: that is the gradient of ``tf.reduce_max``, which Keras's
    GlobalMaxPooling2D uses (max pooling over windows instead gives it all to
    the first maximum; see :func:`pool2d_backward`).

    Same arguments, shapes and errors as :func:`global_avg_pool2d_backward`;
    dx in the dtype of x and dout combined.
    """
    x = check_images(x)
    dout = _check_global_dout(dout, x, keepdims, "global_max_pool2d")
    hit = x == x.max(axis=(1, 2), keepdims=True)
    dtype = result_dtype(x, dout) if x.dtype.kind == "f" or dout.dtype.kind == "f" else np.dtype(np.float64)
    share = dout.astype(dtype) / hit.sum(axis=(1, 2), keepdims=True).astype(dtype)
    return np.where(hit, share, dtype.type(0))


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------

def relu_backward(dout, x):
    """Gradient of :func:`cnnlib.ops.relu`: ``dout`` where ``x > 0``, else 0.

    Arguments:
        dout: gradient with respect to relu(x), same shape as x.
        x: relu's input, any shape.

    Returns:
        dx, x's shape, in dout's floating dtype. At exactly 0 the gradient is
        taken as 0, as TensorFlow does.

    Raises:
        ValueError: dout and x differ in shape.
    """
    x = as_real_array("x", x)
    dout = as_float(check_dout(dout, x.shape, "relu"))
    return np.where(x > 0, dout, dout.dtype.type(0))


# ---------------------------------------------------------------------------
# The dense head and the loss
# ---------------------------------------------------------------------------

def dense_backward(dout, x, w):
    """Gradients of :func:`cnnlib.ops.dense` (``x @ w + b``).

    Arguments:
        dout: gradient with respect to dense's output, (N, M).
        x: dense's input, (N, D).
        w: weights, (D, M).

    Returns:
        ``(dx, dw, db)`` of shapes (N, D), (D, M), (M,).

    Raises:
        ValueError: wrong ranks, or shapes that do not match.
    """
    x, w, _ = dense_geometry(x, w)
    dout = check_dout(dout, (x.shape[0], w.shape[1]), "dense").astype(x.dtype, copy=False)
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def softmax_cross_entropy(logits, labels):
    """Softmax followed by cross-entropy: the loss of a classifier and its gradient.

    Arguments:
        logits: raw class scores, (N, K).
        labels: integer classes, (N,), each in [0, K).

    Returns:
        ``(loss, dlogits)``: the mean over the batch of ``-log softmax(logits)[n, labels[n]]``
        (a NumPy scalar) and its gradient ``(softmax(logits) - onehot(labels)) / N``,
        shape (N, K). Both in logits' floating dtype.

    Raises:
        ValueError: wrong shapes or labels out of range.
        TypeError: non-integer labels.
    """
    logits = as_float(check_array("logits", logits, 2, "(batch, classes)"))
    labels = as_real_array("labels", labels)
    n, k = logits.shape
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one class index per row of logits "
                         f"(logits.shape={logits.shape}), got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if n == 0:
        raise ValueError("logits must hold at least one example, got an empty batch")
    if labels.min() < 0 or labels.max() >= k:
        bad = labels[(labels < 0) | (labels >= k)][0]
        raise ValueError(f"labels must be in [0, {k}) for {k} classes, got {bad}")
    log_probs = log_softmax(logits, axis=1)
    rows = np.arange(n)
    loss = -log_probs[rows, labels].mean()
    dlogits = softmax(logits, axis=1)
    dlogits[rows, labels] -= 1
    dlogits /= n
    return logits.dtype.type(loss), dlogits


# ---------------------------------------------------------------------------
# Batch normalization
# ---------------------------------------------------------------------------

def batch_norm_backward(dout, x, gamma, moving_mean, moving_var, training=False, epsilon=1e-3):
    """Gradients of :func:`cnnlib.ops.batch_norm` with respect to x, gamma and beta.

    Arguments:
        dout: gradient with respect to batch_norm's output, x's shape.
        x, gamma, moving_mean, moving_var, training, epsilon: batch_norm's
            arguments (beta and momentum enter no gradient). x is (N, ..., C),
            the others (C,).

    Returns:
        ``(dx, dgamma, dbeta)`` of shapes x.shape, (C,), (C,), in x's floating dtype.

        With ``training=True`` the mean and variance are the batch's, and they
        depend on every input, so dx has two more terms than the plain scaling:
        ``dx = gamma / sqrt(var + eps) * (dout - mean(dout) - xhat * mean(dout * xhat))``,
        the means taken per channel over (N, H, W). With ``training=False``
        the statistics are the moving ones, constants:
        ``dx = gamma / sqrt(moving_var + eps) * dout``.

    Raises:
        ValueError: as batch_norm for bad arguments; dout of another shape than x.
    """
    x, gamma, _, moving_mean, moving_var, _ = batch_norm_geometry(
        x, gamma, None, moving_mean, moving_var, 0.5, epsilon)
    dout = check_dout(dout, x.shape, "batch_norm").astype(x.dtype, copy=False)
    if training:
        mean, var = channel_moments(x)
    else:
        mean, var = moving_mean, moving_var
    inv_std = 1 / np.sqrt(var + x.dtype.type(epsilon))
    xhat = (x - mean) * inv_std
    dbeta = channel_sums(dout)
    dgamma = channel_sums(dout * xhat)
    if training:
        count = x.dtype.type(x.size // x.shape[-1])
        dx = (gamma * inv_std / count) * (count * dout - dbeta - xhat * dgamma)
    else:
        dx = dout * (gamma * inv_std)
    return dx, dgamma, dbeta
