"""Checks for Assignment 1: zero_pad, conv_output_size, conv_single_step, conv2d, edge maps."""

import numpy as np

from .. import ops, shapes
from ..arguments import int_pair as _pair
from .core import (Case, CheckFailed, Mistake, _as_array, _describe_difference, _difference, _rng,
                   _run_cases, _same_as)


def _zero_pad_cases(suite):
    rng = _rng(1, suite)
    shapes_pads = [((1, 3, 4, 1), 1), ((2, 4, 3, 3), 2), ((3, 2, 5, 2), 1)]
    if suite == "hidden":
        shapes_pads += [((2, 5, 4, 3), (1, 2)), ((1, 3, 3, 4), (2, 0)), ((2, 2, 2, 1), 3)]
    return [Case({"x": rng.normal(size=s), "pad": p}) for s, p in shapes_pads]


def check_zero_pad(zero_pad, suite="public", allow_reference=False):
    """Check ``zero_pad(x, pad)``: zeros around height and width only.

    Cases: x (N, H, W, C) with H != W and several N and C; pad an int (public)
    and also ``(ph, pw)`` pairs (hidden).

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    def padded(x, pad, axes):
        ph, pw = _pair(pad)
        widths = [(0, 0)] * 4
        for axis in axes:
            widths[axis] = (ph, ph) if axis in (0, 1) else (pw, pw)
        return np.pad(x, widths)

    mistakes = [
        Mistake("every axis is padded, the batch and channel axes too: pad only height "
                "and width (axes 1 and 2 of NHWC)", _same_as(lambda x, pad: padded(x, pad, (0, 1, 2, 3)))),
        Mistake("the batch axis is padded as well: pad only height and width (axes 1 and 2)",
                _same_as(lambda x, pad: padded(x, pad, (0, 1, 2)))),
        Mistake("the channel axis is padded as well: pad only height and width (axes 1 and 2)",
                _same_as(lambda x, pad: padded(x, pad, (1, 2, 3)))),
        Mistake("only the top and left (or only the bottom and right) are padded: pad both sides",
                lambda case, got: got.shape[1:3] == tuple(
                    n + p for n, p in zip(case.args["x"].shape[1:3], _pair(case.args["pad"])))),
        Mistake("height and width paddings are swapped: (ph, pw) means ph rows, pw columns",
                _same_as(lambda x, pad: padded(x, _pair(pad)[::-1], (1, 2)))),
    ]
    _run_cases("zero_pad", zero_pad, _zero_pad_cases(suite), ops.zero_pad, mistakes,
               allow_reference=allow_reference)


def _conv_size_cases(suite):
    # (n, k, padding, stride, dilation): sizes that divide and sizes that do not.
    cases = [(7, 3, 0, 1, 1), (7, 3, 0, 2, 1), (227, 11, 0, 4, 1), (5, 3, 1, 1, 1),
             (8, 3, 1, 2, 1), (10, 3, 0, 3, 1), (9, 3, 0, 1, 2)]
    if suite == "hidden":
        rng = _rng(2, suite)
        while len(cases) < 30:
            n, k = int(rng.integers(4, 40)), int(rng.integers(1, 8))
            p, s, d = int(rng.integers(0, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
            if n + 2 * p >= d * (k - 1) + 1:
                cases.append((n, k, p, s, d))
    return [Case({"n": n, "k": k, "padding": p, "stride": s, "dilation": d})
            for n, k, p, s, d in cases]


def check_conv_output_size(conv_output_size, suite="public", allow_reference=False):
    """Check ``conv_output_size(n, k, padding, stride, dilation)`` with integer arguments.

    The answer must be the int ``floor((n + 2p - d(k - 1) - 1) / s) + 1``.

    Raises:
        CheckFailed: on the first wrong size, with a diagnosis.
    """
    __tracebackhide__ = True
    def must_be_int(got):
        if not isinstance(got, (int, np.integer)):
            return (f"conv_output_size must return an int, got {got!r} ({type(got).__name__}): "
                    f"use floor division //")
        return None

    def formula(fn):
        return _same_as(lambda n, k, padding, stride, dilation: fn(n, k, padding, stride, dilation))

    mistakes = [
        Mistake("the '+ 1' is missing: there is one more position than steps",
                formula(lambda n, k, p, s, d: (n + 2 * p - d * (k - 1) - 1) // s)),
        Mistake("off by one: the formula is floor((n + 2p - d(k-1) - 1) / s) + 1",
                formula(lambda n, k, p, s, d: (n + 2 * p - d * (k - 1)) // s + 1)),
        Mistake("rounded up instead of down: a kernel position that does not fit is not an output",
                formula(lambda n, k, p, s, d: -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1)),
        Mistake("the padding is counted once: it is added on both sides (2p)",
                formula(lambda n, k, p, s, d: (n + p - d * (k - 1) - 1) // s + 1)),
        Mistake("the stride is ignored: divide by it",
                formula(lambda n, k, p, s, d: n + 2 * p - d * (k - 1))),
        Mistake("the dilation is ignored: a dilated kernel spans d(k-1) + 1 pixels",
                formula(lambda n, k, p, s, d: (n + 2 * p - k) // s + 1)),
        Mistake("the dilated kernel is taken to span d*k pixels; it spans d(k-1) + 1",
                formula(lambda n, k, p, s, d: (n + 2 * p - d * k) // s + 1)),
    ]

    def reference(n, k, padding, stride, dilation):
        return shapes.conv_output_size(n, k, padding=padding, stride=stride, dilation=dilation)

    _run_cases("conv_output_size", conv_output_size, _conv_size_cases(suite), reference, mistakes,
               allow_reference=allow_reference, validate=must_be_int)


def _single_step_cases(suite):
    rng = _rng(3, suite)
    sizes = [(3, 3, 1), (2, 4, 3), (5, 3, 2)]
    if suite == "hidden":
        sizes += [(1, 1, 4), (4, 2, 5), (3, 5, 1)]
    return [Case({"a_slice": rng.normal(size=s), "w": rng.normal(size=s), "b": rng.normal(size=(1, 1, 1))})
            for s in sizes]


def check_conv_single_step(conv_single_step, suite="public", allow_reference=False):
    """Check ``conv_single_step(a_slice, w, b)`` = ``sum(a_slice * w) + b``, one number.

    Cases: windows (kh, kw, c_in) with kh != kw and several channels; b of shape (1, 1, 1).

    Raises:
        CheckFailed: on the first wrong value, with a diagnosis.
    """
    __tracebackhide__ = True
    mistakes = [
        Mistake("the bias is added to every product (np.sum(a_slice * w + b)): add it once, "
                "after the sum", _same_as(lambda a_slice, w, b: np.sum(a_slice * w) + b.item() * a_slice.size)),
        Mistake("the bias is missing: add b after the sum",
                _same_as(lambda a_slice, w, b: np.sum(a_slice * w))),
        Mistake("the products are not summed: return one number, np.sum(a_slice * w) + b",
                lambda case, got: got.shape == case.args["a_slice"].shape),
        Mistake("the products are summed over only some axes: sum over all three (kh, kw, c_in)",
                lambda case, got: 0 < got.ndim < 3 or (got.ndim == 3 and got.shape != case.args["a_slice"].shape)),
        Mistake("the kernel is flipped: the window and the kernel are multiplied position by "
                "position, unflipped (cross-correlation)",
                _same_as(lambda a_slice, w, b: np.sum(a_slice * w[::-1, ::-1]) + b.item())),
    ]

    def reference(a_slice, w, b):
        return ops.conv_single_step(a_slice, w, b)

    _run_cases("conv_single_step", conv_single_step, _single_step_cases(suite), reference,
               mistakes, allow_reference=allow_reference)


# (N, H, W, C, kh, kw, F, stride, padding): H != W, C != F, non-square kernels.
_CONV_PUBLIC = [
    (1, 5, 6, 1, 3, 3, 2, 1, 0),
    (2, 6, 5, 3, 3, 2, 4, 1, 1),
    (2, 7, 6, 2, 3, 3, 3, 2, 0),
    (1, 8, 7, 3, 2, 3, 2, (2, 3), 1),
    (2, 5, 7, 2, 3, 3, 1, 2, (2, 1)),
]
_CONV_HIDDEN = [
    (3, 9, 6, 2, 4, 2, 3, (3, 2), 2),
    (1, 6, 9, 4, 1, 1, 2, 2, 0),
    (2, 7, 7, 1, 5, 3, 2, (1, 2), (2, 1)),
    (1, 4, 6, 3, 3, 3, 5, 3, 2),
    (2, 10, 8, 2, 3, 4, 3, (2, 1), 1),
]


def _conv_cases(suite, seed=4):
    rng = _rng(seed, suite)
    table = _CONV_PUBLIC if suite == "public" else _CONV_PUBLIC + _CONV_HIDDEN
    cases = []
    for n, h, w, c, kh, kw, f, stride, padding in table:
        cases.append(Case({"x": rng.normal(size=(n, h, w, c)), "w": rng.normal(size=(kh, kw, c, f)),
                           "b": rng.normal(size=f), "stride": stride, "padding": padding}))
    return cases


def _conv_shape_mistakes(x, pad_name="padding"):
    """Mistakes recognised from the output's shape alone (conv2d and pool2d)."""
    def off_by_one(case, got):
        expected = _expected_shape(case)
        if got.ndim != 4 or got.shape[0] != expected[0] or got.shape[3] != expected[3]:
            return False
        dh, dw = got.shape[1] - expected[1], got.shape[2] - expected[2]
        return {abs(dh), abs(dw)} <= {0, 1} and (dh or dw)

    def batch_padded(case, got):
        p = _pair(case.args.get(pad_name, 0))[0]
        return p > 0 and got.ndim == 4 and got.shape[0] == case.args[x].shape[0] + 2 * p

    return [
        Mistake("the output is one row or column too big or too small: the output size is "
                "floor((H + 2P - K) / S) + 1", off_by_one),
        Mistake("the padding is applied to the batch axis too (there are 2P extra images): pad "
                "only height and width", batch_padded),
    ]


def _expected_shape(case):
    if "w" in case.args:
        return ops.conv2d(**case.copy_args()).shape
    return ops.pool2d(**case.copy_args()).shape


def check_conv2d(conv2d, suite="public", allow_reference=False):
    """Check ``conv2d(x, w, b, stride, padding)`` (cross-correlation, NHWC and HWIO, dilation 1).

    Cases: x (N, H, W, C) with H != W, kernels (kh, kw, C, F) with kh != kw and
    C != F, strides 1, 2, 3 and pairs, paddings 0, 1, 2 and ``(ph, pw)`` pairs.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    ref = ops.conv2d

    def with_stride(stride_fn):
        return _same_as(lambda x, w, b, stride, padding: ref(x, w, b, stride_fn(_pair(stride)), padding))

    mistakes = [
        Mistake("the kernel is flipped: that is a convolution; CNN layers compute "
                "cross-correlation (multiply each window by the kernel as it is)",
                _same_as(lambda x, w, b, stride, padding: ref(x, w[::-1, ::-1], b, stride, padding))),
        Mistake("the bias is missing: add b[f] to every output of filter f",
                _same_as(lambda x, w, b, stride, padding: ref(x, w, None, stride, padding))),
        Mistake("the bias is added per pixel of the window (once per product) instead of once per output",
                _same_as(lambda x, w, b, stride, padding: ref(x, w, b * w.shape[0] * w.shape[1] * w.shape[2],
                                                              stride, padding))),
        Mistake("the bias is added once per input channel instead of once per output",
                _same_as(lambda x, w, b, stride, padding: ref(x, w, b * w.shape[2], stride, padding))),
        Mistake("the stride is ignored: the window must move S pixels between outputs",
                with_stride(lambda s: 1)),
        Mistake("the stride is applied to the rows only: the columns must step by it too",
                with_stride(lambda s: (s[0], 1))),
        Mistake("the stride is applied to the columns only: the rows must step by it too",
                with_stride(lambda s: (1, s[1]))),
        Mistake("the vertical and horizontal strides are swapped: stride=(sh, sw) means sh rows, sw columns",
                with_stride(lambda s: (s[1], s[0]))),
        Mistake("the window starts at i instead of i * stride: the output has the right size "
                "but the windows overlap as if the stride were 1",
                _same_as(lambda x, w, b, stride, padding: ref(x, w, b, 1, padding)[
                    :, :_expected_rows(x, w, stride, padding)[0], :_expected_rows(x, w, stride, padding)[1]])),
        Mistake("the padding is ignored: pad the input with P zeros on every side first",
                _same_as(lambda x, w, b, stride, padding: ref(x, w, b, stride, 0))),
        Mistake("the vertical and horizontal paddings are swapped: padding=(ph, pw) means ph rows, pw columns",
                _same_as(lambda x, w, b, stride, padding: ref(x, w, b, stride, _pair(padding)[::-1]))),
        *_conv_shape_mistakes("x"),
    ]
    _run_cases("conv2d", conv2d, _conv_cases(suite), ref, mistakes, allow_reference=allow_reference)


def _expected_rows(x, w, stride, padding):
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    return (shapes.conv_output_size(x.shape[1], w.shape[0], ph, sh),
            shapes.conv_output_size(x.shape[2], w.shape[1], pw, sw))


def check_edge_image(edges, image, kernel):
    """Check that ``edges`` is the conv2d of a gray ``image`` (H, W) with a ``kernel`` (kh, kw), no padding.

    ``edges`` may be (H', W') or the NHWC (1, H', W', 1) that conv2d returns.

    Raises:
        CheckFailed: wrong shape or values, with a hint.
    """
    __tracebackhide__ = True
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    expected = ops.conv2d(image[None, :, :, None], kernel[:, :, None, None])[0, :, :, 0]
    got, why = _as_array(edges, "edges")
    if why:
        raise CheckFailed(why)
    got = got.reshape(got.shape[1:3]) if got.ndim == 4 and got.shape[0] == got.shape[3] == 1 else got
    diff = _difference(expected, got, rtol=1e-6, atol=1e-6)
    if diff is None:
        print(f"edges: {got.shape} image agrees with the reference.")
        return
    hint = "apply your conv2d to image[None, :, :, None] with kernel[:, :, None, None], no padding"
    if not diff["shape"] and _difference(ops.conv2d(image[None, :, :, None],
                                                    kernel[::-1, ::-1, None, None])[0, :, :, 0], got) is None:
        hint = "the kernel is flipped: use it as it is (cross-correlation)"
    raise CheckFailed(f"{_describe_difference('edges', diff)}\n  hint: {hint}")


def check_vertical_edge_answer(answer, kernels):
    """Check which of the named ``kernels`` (name -> (kh, kw) array) the student says finds vertical edges.

    The right answer is computed here: the kernel whose response to an image
    with one vertical edge is largest relative to its response to the same
    image turned by 90 degrees.

    Raises:
        CheckFailed: the answer is not one of the names, or not the right one.
    """
    __tracebackhide__ = True
    if answer not in kernels:
        raise CheckFailed(f"answer must be one of {sorted(kernels)}, got {answer!r}")
    step = np.zeros((12, 12))
    step[:, 6:] = 1.0                    # dark left half, bright right half: one vertical edge

    def strength(kernel, image):
        kernel = np.asarray(kernel, dtype=np.float64)
        return np.abs(ops.conv2d(image[None, :, :, None], kernel[:, :, None, None])).max()

    scores = {name: strength(k, step) / max(strength(k, step.T), 1e-12) for name, k in kernels.items()}
    best = max(scores, key=scores.get)
    if answer != best:
        chosen = scores[answer]
        kind = ("horizontal edges" if chosen < 0.5 else "edges in every direction" if chosen < 2
                else "vertical edges, but less selectively")
        raise CheckFailed(f"kernel {answer!r} responds to {kind}: its response to a vertical edge is "
                          f"{chosen:.3g} times its response to a horizontal one. Look at the edge images "
                          f"again: which kernel lights up along the vertical outlines?")
    print(f"Right: kernel {answer!r} finds vertical edges.")
