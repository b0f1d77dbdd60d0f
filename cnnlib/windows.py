"""Sliding windows over NHWC arrays: the array machinery the forward and backward passes share.

A convolution or a pooling visits windows of a padded image. The ops
(:mod:`cnnlib.ops`, :mod:`cnnlib.conv_variants`) and their backward passes
(:mod:`cnnlib.backprop`, :mod:`cnnlib.conv_variants_backprop`) walk them with these
functions, on arguments they have already checked:

    tap_view(a, p, q, stride_hw, dilation_hw, out_hw)   tap (p, q) of every window, as one strided view
    im2col_rows(xp, kernel_hw, ...)                      every window as a row of a matrix
    real_pixel_counts(hw, pool_hw, ...)                  how many non-padding pixels each window holds
    pool_padding_value(dtype, mode)                      what pooling pads with, so padding never wins
    Workspace(owner)                                     scratch arrays reused from call to call

This module is internal; :func:`cnnlib.ops.im2col` is the checked, public im2col.
"""

import math
import threading

import numpy as np

__all__ = ["tap_view", "im2col_rows", "real_pixel_counts", "pool_padding_value", "Workspace"]


def tap_view(a, p, q, stride_hw, dilation_hw, out_hw):
    """Tap (p, q) of every window of a padded array: a strided view of shape (N, OH, OW, C).

    Window (i, j) starts at row ``i * stride_h`` and column ``j * stride_w``; its tap
    (p, q) is ``dilation_h * p`` rows and ``dilation_w * q`` columns further. Writing
    into the view writes into ``a``.
    """
    (sh, sw), (dh, dw), (oh, ow) = stride_hw, dilation_hw, out_hw
    return a[:, p * dh:p * dh + sh * (oh - 1) + 1:sh, q * dw:q * dw + sw * (ow - 1) + 1:sw, :]


def im2col_rows(xp, kernel_hw, stride_hw, dilation_hw, out_hw, out=None):
    """Every window of an already padded input as a row of a matrix: (N * OH * OW, KH * KW * C).

    Row ``(n * OH + i) * OW + j`` holds the window under output pixel (i, j) of image
    n, in (kh, kw, c) order. ``sliding_window_view`` gives every window as a view (no
    copy); one copy then lays the windows out as rows, into ``out`` when it is given.
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


def real_pixel_counts(hw, pool_hw, stride_hw, pads, out_hw):
    """Number of non-padding pixels under each window, shape (OH, OW, 1): what average pooling divides by."""
    counts = []
    for n, k, s, (before, _), o in zip(hw, pool_hw, stride_hw, pads, out_hw):
        start = np.arange(o) * s - before
        counts.append(np.minimum(start + k, n) - np.maximum(start, 0))
    return (counts[0][:, None] * counts[1][None, :])[:, :, None]


def pool_padding_value(dtype, mode):
    """What pooling pads with: 0 adds nothing to a sum; for max, the dtype's lowest value never wins."""
    dtype = np.dtype(dtype)
    if mode == "max" and dtype.kind == "f":
        return -np.inf
    if mode == "max" and dtype.kind in "iu":
        return np.iinfo(dtype).min
    return 0


class Workspace:
    """Scratch arrays that one function reuses from call to call, one set per thread.

    conv2d and its backward pass build large temporary arrays (im2col rows, padded
    images). Fresh memory costs a page fault per 4 KiB on first touch, and on this
    course's machines that took longer than the arithmetic of a mid-sized
    convolution (bench/RESULTS.md), so each keeps its arrays between calls.

    The rule that keeps it safe: each function that uses scratch memory owns a
    ``Workspace`` of its own (``ops.conv2d`` one, ``backprop``'s weight gradient
    another), so no two functions ever share an array. An array from :meth:`get`
    is valid until the next ``get`` of the same slot in the same thread: the owner
    must not call itself, or anything that uses its workspace, while it holds one.
    Threads never share arrays (they are kept per thread).
    """

    MAX_BYTES = 64 * 2**20   # larger requests get fresh memory, freed after the call

    def __init__(self, owner):
        self.owner = owner
        self._local = threading.local()

    def get(self, slot, shape, dtype):
        """An uninitialized array of ``shape`` and ``dtype`` for ``slot``, reused across calls."""
        size = math.prod(shape)
        dtype = np.dtype(dtype)
        if size * dtype.itemsize > self.MAX_BYTES:
            return np.empty(shape, dtype)
        buffers = self._local.__dict__.setdefault("buffers", {})
        buf = buffers.get((slot, dtype))
        if buf is None or buf.size < size:
            buf = buffers[(slot, dtype)] = np.empty(size, dtype)
        return buf[:size].reshape(shape)

    def __repr__(self):
        return f"Workspace({self.owner!r})"
