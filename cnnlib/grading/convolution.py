"""Checks for Assignment 1: zero_pad, conv_output_size, conv_single_step, conv2d, edge maps, an edge kernel."""

import numpy as np

from .. import ops, shapes
from ..arguments import int_pair
from .core import (Case, CheckFailed, Mistake, as_array, describe_difference, measure_difference, suite_rng,
                   run_cases, same_as)


def _zero_pad_cases(suite):
    rng = suite_rng(1, suite)
    # pad an int and a pair (ph, pw), in both suites: the public cases show every form the hidden ones use.
    shapes_pads = [((1, 3, 4, 1), 1), ((2, 4, 3, 3), 2), ((2, 5, 4, 1), (1, 2)), ((1, 3, 3, 4), (2, 0))]
    if suite == "hidden":
        shapes_pads += [((3, 2, 5, 2), 1), ((2, 2, 2, 1), 3), ((1, 4, 6, 2), (0, 3)), ((2, 3, 2, 1), (2, 1))]
    return [Case({"x": rng.normal(size=s), "pad": p}) for s, p in shapes_pads]


def check_zero_pad(zero_pad, suite="public", allow_reference=False):
    """Check ``zero_pad(x, pad)``: zeros around height and width only.

    Cases: x (N, H, W, C) with H != W and several N and C; pad an int or a
    ``(ph, pw)`` pair (both forms in both suites).

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    def padded(x, pad, axes):
        ph, pw = int_pair(pad)
        widths = [(0, 0)] * 4
        for axis in axes:
            widths[axis] = (ph, ph) if axis in (0, 1) else (pw, pw)
        return np.pad(x, widths)

    mistakes = [
        Mistake("every axis is padded, the batch and channel axes too: pad only height "
                "and width (axes 1 and 2 of NHWC)", same_as(lambda x, pad: padded(x, pad, (0, 1, 2, 3)))),
        Mistake("the batch axis is padded as well: pad only height and width (axes 1 and 2)",
                same_as(lambda x, pad: padded(x, pad, (0, 1, 2)))),
        Mistake("the channel axis is padded as well: pad only height and width (axes 1 and 2)",
                same_as(lambda x, pad: padded(x, pad, (1, 2, 3)))),
        Mistake("only the top and left (or only the bottom and right) are padded: pad both sides",
                lambda case, got: got.shape[1:3] == tuple(
                    n + p for n, p in zip(case.args["x"].shape[1:3], int_pair(case.args["pad"])))),
        Mistake("height and width paddings are swapped: (ph, pw) means ph rows, pw columns",
                same_as(lambda x, pad: padded(x, int_pair(pad)[::-1], (1, 2)))),
    ]
    def explain(kind, message, case):
        if not np.isscalar(case.args["pad"]):
            return ("pad is a pair (ph, pw) in this case, not an int: ph zeros above and below, pw left and right; "
                    "handle both forms (np.isscalar(pad) tells them apart)")
        return None

    run_cases("zero_pad", zero_pad, _zero_pad_cases(suite), ops.zero_pad, mistakes,
               allow_reference=allow_reference, explain=explain)


def _conv_size_cases(suite):
    # (n, k, padding, stride, dilation): sizes that divide and sizes that do not.
    cases = [(7, 3, 0, 1, 1), (7, 3, 0, 2, 1), (227, 11, 0, 4, 1), (5, 3, 1, 1, 1),
             (8, 3, 1, 2, 1), (10, 3, 0, 3, 1), (9, 3, 0, 1, 2)]
    if suite == "hidden":
        rng = suite_rng(2, suite)
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
        return same_as(lambda n, k, padding, stride, dilation: fn(n, k, padding, stride, dilation))

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

    run_cases("conv_output_size", conv_output_size, _conv_size_cases(suite), reference, mistakes,
               allow_reference=allow_reference, validate=must_be_int)


def _single_step_cases(suite):
    """Windows (kh, kw, c_in), a 1x1 one among them; b of shape (1, 1, 1) or a NumPy scalar (as conv2d passes b[f])."""
    rng = suite_rng(3, suite)
    sizes = [((3, 3, 1), True), ((2, 4, 3), True), ((5, 3, 2), False), ((1, 1, 4), True)]
    if suite == "hidden":
        sizes += [((4, 2, 5), False), ((3, 5, 1), True), ((1, 1, 2), False), ((2, 2, 3), True)]
    cases = []
    for size, bias_array in sizes:
        a_slice, w, b = rng.normal(size=size), rng.normal(size=size), rng.normal(size=(1, 1, 1))
        cases.append(Case({"a_slice": a_slice, "w": w, "b": b if bias_array else np.float64(b.item())},
                          "b of shape (1, 1, 1)" if bias_array else "b a NumPy scalar, as conv2d passes b[f]"))
    return cases


def _bias_value(b):
    return float(np.asarray(b).item())


def check_conv_single_step(conv_single_step, suite="public", allow_reference=False):
    """Check ``conv_single_step(a_slice, w, b)`` = ``sum(a_slice * w) + b``, one number.

    Cases: windows (kh, kw, c_in) with kh != kw, a 1x1 window, several channels; b of
    shape (1, 1, 1) or a NumPy scalar (both forms in both suites). The result must be a
    single number (a 0-d value): conv2d stores it in one entry of its output.

    Raises:
        CheckFailed: on the first wrong value, with a diagnosis.
    """
    __tracebackhide__ = True

    def broadcast_by_bias(case, got):
        b = np.asarray(case.args["b"])
        expected = np.sum(case.args["a_slice"] * case.args["w"]) + _bias_value(b)
        return got.ndim > 0 and got.size == 1 and np.allclose(got.ravel()[0], expected)

    mistakes = [
        Mistake("the result has the bias's shape (1, 1, 1) instead of being one number: np.sum(a_slice * w) + b "
                "broadcasts the sum to b's shape. Add the bias as a number, np.sum(a_slice * w) + b.item() "
                "(conv2d stores the result in one entry of its output, which needs a single number)",
                broadcast_by_bias),
        Mistake("the bias is added to every product (np.sum(a_slice * w + b)): add it once, "
                "after the sum", same_as(lambda a_slice, w, b: np.sum(a_slice * w) + _bias_value(b) * a_slice.size)),
        Mistake("the bias is missing: add b after the sum",
                same_as(lambda a_slice, w, b: np.sum(a_slice * w))),
        Mistake("the products are not summed: return one number, np.sum(a_slice * w) + b",
                lambda case, got: got.shape == case.args["a_slice"].shape),
        Mistake("the products are summed over only some axes: sum over all three (kh, kw, c_in)",
                lambda case, got: 0 < got.ndim < 3 or (got.ndim == 3 and got.shape != case.args["a_slice"].shape)),
        Mistake("the kernel is flipped: the window and the kernel are multiplied position by "
                "position, unflipped (cross-correlation)",
                same_as(lambda a_slice, w, b: np.sum(a_slice * w[::-1, ::-1]) + _bias_value(b))),
    ]

    def explain(kind, message, case):
        if "0-dimensional arrays can be converted" in message or "only length-1 arrays" in message:
            return ("float(b) (or int(b)) refuses an array of shape (1, 1, 1) in NumPy 2: read the number "
                    "with b.item() or np.asarray(b).item(), which also work when b is a NumPy scalar")
        if np.ndim(case.args["b"]) == 0 and (kind == "IndexError" or "not subscriptable" in message):
            return ("b is a NumPy scalar in this case (conv2d passes b[f]), which cannot be indexed like b[0, 0, 0]: "
                    "np.asarray(b).item() reads the number in both forms")
        return None

    def reference(a_slice, w, b):
        return ops.conv_single_step(a_slice, w, b)

    run_cases("conv_single_step", conv_single_step, _single_step_cases(suite), reference,
               mistakes, allow_reference=allow_reference, explain=explain)


# (N, H, W, C, kh, kw, F, stride, padding): H != W, C != F, non-square kernels. Shared with
# Assignment 2's conv2d_backward (dilation 1, a bias array).
# The public rows hold every form of the hidden ones (a batch of one, one channel, one filter, a 1x1 kernel).
_CONV_PUBLIC = [
    (2, 5, 6, 1, 3, 3, 2, 1, 0),
    (2, 6, 5, 3, 3, 2, 4, 1, 1),
    (2, 7, 6, 2, 3, 3, 3, 2, 0),
    (1, 8, 7, 3, 2, 3, 2, (2, 3), 1),
    (2, 5, 7, 2, 3, 3, 1, 2, (2, 1)),
    (1, 6, 9, 4, 1, 1, 2, 2, 0),
]
_CONV_HIDDEN = [
    (3, 9, 6, 2, 4, 2, 3, (3, 2), 2),
    (2, 7, 7, 1, 5, 3, 2, (1, 2), (2, 1)),
    (1, 4, 6, 3, 3, 3, 5, 3, 2),
    (2, 10, 8, 2, 3, 4, 3, (2, 1), 1),
]
# Assignment 1's conv2d also takes a dilation (an int or a pair) and b=None:
# (N, H, W, C, kh, kw, F, stride, padding, dilation, with a bias).
_DILATED_PUBLIC = [
    (1, 7, 8, 2, 3, 2, 2, 1, 0, 2, True),
    (2, 9, 7, 1, 3, 3, 3, 2, 1, (2, 1), True),
    (1, 6, 5, 2, 2, 3, 2, 1, 1, 1, False),
]
_DILATED_HIDDEN = [
    (2, 10, 9, 2, 3, 3, 2, (2, 1), 2, 3, True),
    (1, 8, 11, 3, 2, 3, 2, 1, (1, 2), (1, 2), True),
    (2, 7, 9, 1, 3, 2, 2, 2, 0, 1, False),
    (1, 9, 9, 2, 3, 3, 3, (1, 2), (2, 1), (2, 3), True),
]


def conv_cases(suite, seed=4):
    rng = suite_rng(seed, suite)
    table = _CONV_PUBLIC if suite == "public" else _CONV_PUBLIC + _CONV_HIDDEN
    cases = []
    for n, h, w, c, kh, kw, f, stride, padding in table:
        cases.append(Case({"x": rng.normal(size=(n, h, w, c)), "w": rng.normal(size=(kh, kw, c, f)),
                           "b": rng.normal(size=f), "stride": stride, "padding": padding}))
    return cases


def _dilated_conv_cases(suite, seed=4):
    """:func:`conv_cases` (dilation 1) followed by cases with a dilation and with b=None."""
    cases = [Case({**case.args, "dilation": 1}) for case in conv_cases(suite, seed)]
    rng = suite_rng(seed + 100, suite)
    table = _DILATED_PUBLIC if suite == "public" else _DILATED_PUBLIC + _DILATED_HIDDEN
    for n, h, w, c, kh, kw, f, stride, padding, dilation, with_bias in table:
        cases.append(Case({"x": rng.normal(size=(n, h, w, c)), "w": rng.normal(size=(kh, kw, c, f)),
                           "b": rng.normal(size=f) if with_bias else None, "stride": stride, "padding": padding,
                           "dilation": dilation}, "" if with_bias else "no bias"))
    return cases


def conv_shape_mistakes(x, pad_name="padding"):
    """Mistakes recognised from the output's shape alone (conv2d and pool2d)."""
    def off_by_one(case, got):
        expected = _expected_shape(case)
        if got.ndim != 4 or got.shape[0] != expected[0] or got.shape[3] != expected[3]:
            return False
        dh, dw = got.shape[1] - expected[1], got.shape[2] - expected[2]
        return {abs(dh), abs(dw)} <= {0, 1} and (dh or dw)

    def batch_padded(case, got):
        p = int_pair(case.args.get(pad_name, 0))[0]
        return p > 0 and got.ndim == 4 and got.shape[0] == case.args[x].shape[0] + 2 * p

    return [
        Mistake("the output is one row or column too big or too small: the output size is "
                "floor((H + 2P - D(K - 1) - 1) / S) + 1", off_by_one),
        Mistake("the padding is applied to the batch axis too (there are 2P extra images): pad "
                "only height and width", batch_padded),
    ]


def _expected_shape(case):
    if "w" in case.args:
        return ops.conv2d(**case.copy_args()).shape
    return ops.pool2d(**case.copy_args()).shape


def check_conv2d(conv2d, suite="public", allow_reference=False):
    """Check ``conv2d(x, w, b, stride, padding, dilation)`` (cross-correlation, NHWC and HWIO).

    Cases: x (N, H, W, C) with H != W, kernels (kh, kw, C, F) with kh != kw and
    C != F; strides, paddings and dilations as ints and as ``(rows, columns)``
    pairs (strides 1, 2, 3, paddings 0, 1, 2, dilations 1, 2, 3); b an array
    (F,) or None. Every form appears in the public cases.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    ref = ops.conv2d

    def changed(**changes):
        """The reference with some arguments replaced: a value, or a function of the case's arguments."""
        def wrong(**a):
            return ref(**{**a, **{k: (v(a) if callable(v) else v) for k, v in changes.items()}})
        return same_as(wrong)

    def stride_pair(fn):
        return changed(stride=lambda a: fn(int_pair(a["stride"])))

    def dilation_pair(fn):
        return lambda case, got: int_pair(case.args["dilation"]) != (1, 1) and changed(
            dilation=lambda a: fn(int_pair(a["dilation"])))(case, got)

    def bias_times(factor):
        return lambda case, got: case.args["b"] is not None and changed(
            b=lambda a: a["b"] * factor(a["w"]))(case, got)

    def window_not_dilated(case, got):
        a = case.copy_args()
        if int_pair(a["dilation"]) == (1, 1):
            return False
        rows, cols = _expected_shape(case)[1:3]
        return measure_difference(ref(**{**a, "dilation": 1})[:, :rows, :cols], got) is None

    mistakes = [
        Mistake("the kernel is flipped: that is a convolution; CNN layers compute "
                "cross-correlation (multiply each window by the kernel as it is)",
                changed(w=lambda a: a["w"][::-1, ::-1])),
        Mistake("the bias is missing: add b[f] to every output of filter f",
                lambda case, got: case.args["b"] is not None and changed(b=None)(case, got)),
        Mistake("the bias is added per pixel of the window (once per product) instead of once per output",
                bias_times(lambda w: w.shape[0] * w.shape[1] * w.shape[2])),
        Mistake("the bias is added once per input channel instead of once per output",
                bias_times(lambda w: w.shape[2])),
        Mistake("the stride is ignored: the window must move S pixels between outputs", changed(stride=1)),
        Mistake("the stride is applied to the rows only: the columns must step by it too",
                stride_pair(lambda s: (s[0], 1))),
        Mistake("the stride is applied to the columns only: the rows must step by it too",
                stride_pair(lambda s: (1, s[1]))),
        Mistake("the vertical and horizontal strides are swapped: stride=(sh, sw) means sh rows, sw columns",
                stride_pair(lambda s: (s[1], s[0]))),
        Mistake("the window starts at i instead of i * stride: the output has the right size "
                "but the windows overlap as if the stride were 1",
                same_as(lambda **a: ref(**{**a, "stride": 1})[
                    :, :_expected_rows(**a)[0], :_expected_rows(**a)[1]])),
        Mistake("the dilation is ignored: a kernel with dilation D reads every D-th pixel, so its window spans "
                "D(K - 1) + 1 pixels and there are fewer outputs", dilation_pair(lambda d: (1, 1))),
        Mistake("the output has the dilated size but the windows are not dilated: take every D-th pixel, "
                "xp[i, r*sh : r*sh + D*(kh - 1) + 1 : D, ...]", window_not_dilated),
        Mistake("the dilation is applied to the rows only: the columns must skip pixels too",
                dilation_pair(lambda d: (d[0], 1))),
        Mistake("the dilation is applied to the columns only: the rows must skip pixels too",
                dilation_pair(lambda d: (1, d[1]))),
        Mistake("the vertical and horizontal dilations are swapped: dilation=(dh, dw) means dh rows, dw columns",
                dilation_pair(lambda d: (d[1], d[0]))),
        Mistake("the padding is ignored: pad the input with P zeros on every side first", changed(padding=0)),
        Mistake("the vertical and horizontal paddings are swapped: padding=(ph, pw) means ph rows, pw columns",
                changed(padding=lambda a: int_pair(a["padding"])[::-1])),
        *conv_shape_mistakes("x"),
    ]

    def explain(kind, message, case):
        if case.args["b"] is None and kind == "TypeError" and "NoneType" in message:
            return "b is None in this case (a layer without bias): add no bias when b is None"
        if "setting an array element with a sequence" in message and "inhomogeneous" not in message:
            return ("one output value came back as an array, not a number: conv_single_step must return a single "
                    "number (its own check says more)")
        if not all(np.isscalar(case.args[k]) for k in ("stride", "padding", "dilation")):
            pairs = [k for k in ("stride", "padding", "dilation") if not np.isscalar(case.args[k])]
            return (f"{' and '.join(pairs)} {'is a pair' if len(pairs) == 1 else 'are pairs'} (rows, columns) in "
                    f"this case: handle the int and the pair form of each")
        return None

    run_cases("conv2d", conv2d, _dilated_conv_cases(suite), ref, mistakes, allow_reference=allow_reference,
               explain=explain)


def _expected_rows(x, w, stride, padding, dilation=1, **_):
    (sh, sw), (ph, pw), (dh, dw) = int_pair(stride), int_pair(padding), int_pair(dilation)
    return (shapes.conv_output_size(x.shape[1], w.shape[0], ph, sh, dh),
            shapes.conv_output_size(x.shape[2], w.shape[1], pw, sw, dw))


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
    got, why = as_array(edges, "edges")
    if why:
        raise CheckFailed(why)
    got = got.reshape(got.shape[1:3]) if got.ndim == 4 and got.shape[0] == got.shape[3] == 1 else got
    diff = measure_difference(expected, got, rtol=1e-6, atol=1e-6)
    if diff is None:
        print(f"edges: {got.shape} image agrees with the reference.")
        return
    hint = "apply your conv2d to image[None, :, :, None] with kernel[:, :, None, None], no padding"
    if not diff["shape"] and measure_difference(ops.conv2d(image[None, :, :, None],
                                                    kernel[::-1, ::-1, None, None])[0, :, :, 0], got) is None:
        hint = "the kernel is flipped: use it as it is (cross-correlation)"
    raise CheckFailed(f"{describe_difference('edges', diff)}\n  hint: {hint}")


def _edge_images(size=12):
    """A flat image, dark-left/bright-right, dark-top/bright-bottom (size x size, values 0 and 1)."""
    flat = np.full((size, size), 0.5)
    to_right = np.zeros((size, size))
    to_right[:, size // 2:] = 1.0
    return flat, to_right, to_right.T.copy()


def check_vertical_edge_kernel(kernel):
    """Check a 3x3 ``kernel`` meant to respond positively where an image gets brighter from left to right.

    The kernel is applied (cross-correlation, no padding) to three images made
    here: a flat one, one with a vertical edge (dark left half, bright right
    half) and one with a horizontal edge. A right answer gives 0 on the flat and
    the horizontal images, and on the vertical edge a response that is positive
    somewhere and negative nowhere. Any such kernel passes (Sobel, Prewitt, a
    plain difference, any scale).

    Raises:
        CheckFailed: the kernel is not a 3x3 array of numbers, or fails one of the three
            tests (the message says which, and what the kernel finds instead).
    """
    __tracebackhide__ = True
    got, why = as_array(kernel, "vertical_edge_kernel")
    if why:
        raise CheckFailed(why)
    if got.shape != (3, 3):
        raise CheckFailed(f"vertical_edge_kernel must be a 3x3 array (rows, columns), got shape {got.shape}")
    if not np.all(np.isfinite(got)) or not np.any(got):
        raise CheckFailed("vertical_edge_kernel must hold finite numbers, not all zero")
    flat, to_right, to_bottom = _edge_images()
    scale = np.abs(got).sum()
    tol = 1e-9 * scale

    def response(image):
        return ops.conv2d(image[None, :, :, None], got[:, :, None, None])[0, :, :, 0]

    on_flat, vertical, horizontal = response(flat), response(to_right), response(to_bottom)
    problems = []
    if np.abs(on_flat).max() > tol:
        problems.append(f"it responds on a flat image ({on_flat.max():.3g} everywhere): its weights add up to "
                        f"{got.sum():.3g}; they must add up to 0, so that where nothing changes the answer is 0")
    if np.abs(horizontal - horizontal.mean()).max() > tol:
        problems.append("it responds to a horizontal edge (dark above, bright below): every row of the kernel "
                        "must add up to 0, so that a change from top to bottom cancels out")
    top, bottom = vertical.max(), vertical.min()
    if np.abs(on_flat).max() <= tol and np.abs(horizontal).max() <= tol:
        if top <= tol and bottom < -tol:
            problems.append("it responds negatively where the image gets brighter to the right: it finds "
                            "bright-to-dark edges. A conv layer does not flip its kernel: the weights in the "
                            "kernel's right column multiply the pixels on the right of each window")
        elif top > tol and bottom < -tol:
            problems.append("along one vertical edge it responds with both signs: it detects thin lines or "
                            "changes of slope (a second difference), not a step from dark to bright; use a "
                            "first difference, right column minus left column")
        elif top <= tol:
            problems.append("it does not respond to a vertical edge at all: the left and right columns "
                            "must weigh the pixels differently")
    if problems:
        raise CheckFailed("vertical_edge_kernel is not a left-to-right edge detector:\n"
                          + "\n".join(f"  {line}" for line in problems)
                          + "\n  Look at the edge maps above: which kernel lights up along vertical outlines, "
                            "and where does it give positive values?")
    print(f"Right: on a dark-to-bright vertical edge your kernel gives {top:.3g}, on flat regions and "
          f"horizontal edges 0.")
