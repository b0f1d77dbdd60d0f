"""Checks for Assignment 2: pool2d and the backward passes of pooling, ReLU and convolution."""

import numpy as np

from .. import backprop, ops
from ..arguments import int_pair
from ..gradcheck import numerical_gradient
from .core import (Case, CheckFailed, Mistake, batch_sum_mistakes, call_student, measure_difference, report_gradcheck,
                   suite_rng, run_cases, same_as, variant_outputs)
from .convolution import conv_cases, conv_shape_mistakes


# (N, H, W, C, pool_size, stride): H != W, overlapping windows, strides that do not divide.
_POOL_PUBLIC = [(2, 4, 6, 1, 2, None), (2, 6, 5, 3, 2, 2), (2, 7, 6, 2, 3, 2), (1, 6, 8, 2, (2, 3), (2, 1))]
_POOL_HIDDEN = [(3, 9, 7, 2, 3, 1), (2, 8, 5, 3, (3, 2), (2, 3)), (1, 5, 5, 4, 2, 3), (2, 6, 9, 1, 4, 2)]


def _pool_cases(suite, modes, seed=5, ties=False):
    rng = suite_rng(seed, suite)
    table = _POOL_PUBLIC if suite == "public" else _POOL_PUBLIC + _POOL_HIDDEN
    cases = []
    for mode in modes:
        for n, h, w, c, size, stride in table:
            if ties:  # few distinct values, so windows hold tied maxima
                x = rng.integers(0, 3, size=(n, h, w, c)).astype(np.float64)
            else:
                x = rng.normal(size=(n, h, w, c))
            cases.append(Case({"x": x, "pool_size": size, "stride": stride, "mode": mode},
                              "values with ties" if ties else ""))
    return cases


def check_pool2d(pool2d, suite="public", allow_reference=False):
    """Check ``pool2d(x, pool_size, stride, mode)`` for mode 'max' and 'avg', no padding.

    Cases: x (N, H, W, C) with H != W; square and rectangular windows;
    ``stride=None`` (the window size), overlapping windows and pairs.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    ref = ops.pool2d

    def variant(**changes):
        def wrong(x, pool_size, stride, mode):
            args = {"pool_size": pool_size, "stride": stride, "mode": mode}
            args.update({k: (v(args) if callable(v) else v) for k, v in changes.items()})
            return ref(x, **args)
        return same_as(wrong)

    mistakes = [
        Mistake("max and average are swapped: mode='max' takes the largest value, 'avg' the mean",
                variant(mode=lambda a: "avg" if a["mode"] == "max" else "max")),
        Mistake("the window is summed instead of averaged: divide by the window's size",
                variant(mode=lambda a: "sum" if a["mode"] == "avg" else "x")),
        Mistake("stride=None must mean 'the window size' (non-overlapping windows), not 1",
                lambda case, got: case.args["stride"] is None and same_as(
                    lambda x, pool_size, stride, mode: ref(x, pool_size, 1, mode=mode))(case, got)),
        Mistake("the stride is ignored: the window must move S pixels between outputs",
                variant(stride=1)),
        Mistake("the window's height and width are swapped: pool_size=(ph, pw) means ph rows, pw columns",
                variant(pool_size=lambda a: int_pair(a["pool_size"])[::-1])),
        Mistake("the channels are pooled together: pool each channel on its own (the output keeps C channels)",
                lambda case, got: got.ndim == 3 or (got.ndim == 4 and got.shape[3] == 1 != case.args["x"].shape[3])),
        *conv_shape_mistakes("x"),
    ]
    run_cases("pool2d", pool2d, _pool_cases(suite, ("max", "avg")), ref, mistakes,
               allow_reference=allow_reference)


def _max_pool_backward_variant(dout, x, pool_size, stride, rule):
    """Wrong max-pool backward passes, written with loops: 'all_ties', 'last' or 'overwrite'."""
    (ph, pw), (sh, sw) = int_pair(pool_size), int_pair(stride if stride is not None else pool_size)
    dx = np.zeros_like(x, dtype=np.float64)
    n, oh, ow, c = dout.shape
    for i in range(oh):
        for j in range(ow):
            win = x[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].reshape(n, -1, c)
            top = win.max(axis=1, keepdims=True)
            hit = win == top
            if rule == "last":
                last = hit.shape[1] - 1 - np.argmax(hit[:, ::-1, :], axis=1)
                hit = np.zeros_like(hit)
                np.put_along_axis(hit, last[:, None, :], True, axis=1)
            elif rule == "overwrite":
                first = np.argmax(hit, axis=1)
                hit = np.zeros_like(hit)
                np.put_along_axis(hit, first[:, None, :], True, axis=1)
            share = (hit * dout[:, i:i + 1, j:j + 1, :].reshape(n, 1, c)).reshape(n, ph, pw, c)
            region = dx[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :]
            if rule == "overwrite":
                region[hit.reshape(n, ph, pw, c)] = share[hit.reshape(n, ph, pw, c)]
            else:
                region += share
    return dx


def _with_dout(cases, forward, seed):
    """Add a random upstream gradient of forward's output shape to each case."""
    rng = np.random.default_rng(seed)
    out = []
    for case in cases:
        y = forward(**case.copy_args())
        args = {"dout": rng.normal(size=np.shape(y)), **case.args}
        out.append(Case(args, case.note))
    return out


def check_pool2d_backward(pool2d_backward, suite="public", allow_reference=False):
    """Check ``pool2d_backward(dout, x, pool_size, stride, mode)`` for 'max' and 'avg', no padding.

    Max pooling sends each window's gradient to the first largest input in
    row-major order; cases include tied maxima and overlapping windows. Also
    runs a gradient check against central differences of ``cnnlib.ops.pool2d``.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    ref = backprop.pool2d_backward
    cases = (_pool_cases(suite, ("max", "avg"), seed=6)
             + _pool_cases(suite, ("max",), seed=7, ties=True))
    cases = _with_dout(cases, ops.pool2d, seed=8)

    def max_rule(rule):
        return lambda case, got: case.args["mode"] == "max" and same_as(
            lambda dout, x, pool_size, stride, mode: _max_pool_backward_variant(dout, x, pool_size, stride, rule))(
                case, got)

    def when(mode, explains):
        return lambda case, got: case.args["mode"] == mode and explains(case, got)

    mistakes = [
        Mistake("max-pool backward sends the gradient to every position of the window: only "
                "the position that held the maximum gets it", when("max", same_as(
                    lambda dout, x, pool_size, stride, mode: ref(dout, x, pool_size, stride, mode="sum")))),
        Mistake("max-pool backward sends the gradient to all tied maxima: only the first "
                "maximum (row-major order) gets it", max_rule("all_ties")),
        Mistake("max-pool backward picks the last of tied maxima: the first one (row-major) gets the gradient",
                max_rule("last")),
        Mistake("overlapping windows overwrite each other's gradient (dx[...] = ...): add them up (+=)",
                max_rule("overwrite")),
        Mistake("average-pool backward is not divided by the window size: each of the ph*pw "
                "pixels gets dout / (ph*pw)", when("avg", same_as(
                    lambda dout, x, pool_size, stride, mode: ref(dout, x, pool_size, stride, mode="sum")))),
        Mistake("average-pool backward is treated like max pooling: the mean depends on every "
                "pixel of the window equally", when("avg", same_as(
                    lambda dout, x, pool_size, stride, mode: ref(dout, x, pool_size, stride, mode="max")))),
        Mistake("the stride is ignored: window (i, j) starts at row i*S, column j*S",
                lambda case, got: case.args["stride"] not in (1, None) and got.shape == case.args["x"].shape
                and _stride_one_windows(case, got)),
        Mistake("dx must have x's shape (N, H, W, C): one gradient per input pixel",
                lambda case, got: got.shape != case.args["x"].shape),
    ]
    run_cases("pool2d_backward", pool2d_backward, cases, ref, mistakes, allow_reference=allow_reference)
    _gradient_check_pool(pool2d_backward, allow_reference)


def _stride_one_windows(case, got):
    """True when got is what the windows of stride 1, cut to the right count, would give."""
    a = case.args
    (ph, pw), (sh, sw) = int_pair(a["pool_size"]), int_pair(a["stride"] if a["stride"] is not None else a["pool_size"])
    if (sh, sw) == (1, 1):
        return False
    n, oh, ow, c = a["dout"].shape
    x = a["x"][:, :oh + ph - 1, :ow + pw - 1, :]
    wrong = np.zeros_like(a["x"])
    wrong[:, :oh + ph - 1, :ow + pw - 1, :] = backprop.pool2d_backward(a["dout"], x, (ph, pw), 1, mode=a["mode"])
    return measure_difference(wrong, got) is None


def _gradient_check_pool(fn, allow_reference):
    __tracebackhide__ = True
    rng = np.random.default_rng(9)
    x = rng.permutation(2 * 5 * 6 * 2).reshape(2, 5, 6, 2) / 10.0   # distinct values: no ties
    for mode in ("max", "avg"):
        dout = rng.normal(size=ops.pool2d(x, 2, 2, mode=mode).shape)
        case = Case({"dout": dout, "x": x, "pool_size": 2, "stride": 2, "mode": mode}, "gradient check")
        analytic = call_student("pool2d_backward", fn, case, allow_reference)
        numeric = numerical_gradient(lambda v: ops.pool2d(v, 2, 2, mode=mode), x.copy(), eps=1e-6, dout=dout)
        report_gradcheck("pool2d_backward", f"dx ({mode})", analytic, numeric)




def check_relu_backward(relu_backward, suite="public", allow_reference=False):
    """Check ``relu_backward(dout, x)``: dout where x > 0, else 0 (0 at exactly x == 0).

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    rng = suite_rng(10, suite)
    # images (N, H, W, C) with a batch of one and a single channel, features (N, D), a vector: in both suites
    sizes = [(2, 3, 4, 2), (5, 7), (1, 6, 5, 3), (4,), (3, 2, 2, 1)]
    if suite == "hidden":
        sizes += [(2, 5, 3, 4), (3, 6), (1, 4, 4, 2), (7,), (2, 3, 3, 1)]
    cases = []
    for size in sizes:
        x = rng.normal(size=size)
        x.flat[::5] = 0.0            # exact zeros: the gradient there is 0
        cases.append(Case({"dout": rng.normal(size=size), "x": x}, "x has exact zeros"))
    mistakes = [
        Mistake("ReLU backward does not mask: dout must be zeroed where x <= 0",
                same_as(lambda dout, x: dout)),
        Mistake("ReLU backward returns the mask (x > 0) alone: multiply it by dout",
                same_as(lambda dout, x: (x > 0).astype(float))),
        Mistake("ReLU backward masks on dout > 0; the mask comes from the forward input x",
                same_as(lambda dout, x: np.where(dout > 0, dout, 0))),
        Mistake("at exactly x == 0 the gradient must be 0 (use x > 0, not x >= 0)",
                same_as(lambda dout, x: np.where(x >= 0, dout, 0))),
        Mistake("this is ReLU forward applied to dout; the mask must come from x",
                same_as(lambda dout, x: np.maximum(dout, 0))),
        Mistake("this is ReLU forward (max(x, 0)); backward passes dout through where x > 0",
                same_as(lambda dout, x: np.maximum(x, 0))),
    ]
    run_cases("relu_backward", relu_backward, cases, backprop.relu_backward, mistakes,
               allow_reference=allow_reference)
    x = rng.normal(size=(3, 4, 5, 2))
    dout = rng.normal(size=x.shape)
    analytic = call_student("relu_backward", relu_backward, Case({"dout": dout, "x": x}, "gradient check"),
                             allow_reference)
    report_gradcheck("relu_backward", "dx", analytic, numerical_gradient(ops.relu, x.copy(), dout=dout))


def check_conv2d_backward(conv2d_backward, suite="public", allow_reference=False):
    """Check ``conv2d_backward(dout, x, w, stride, padding)`` -> ``(dx, dw, db)``, dilation 1.

    Compares all three gradients with the reference on the same cases as
    :func:`check_conv2d`, then runs a gradient check against central
    differences of ``cnnlib.ops.conv2d``.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    __tracebackhide__ = True
    ref = backprop.conv2d_backward

    def conv_case_to_backward(case):
        return {k: case.args[k] for k in ("x", "w", "stride", "padding")}

    cases = [Case(conv_case_to_backward(c)) for c in conv_cases(suite, seed=11)]
    cases = _with_dout(cases, ops.conv2d, seed=12)

    def part(i, fn):
        return same_as(variant_outputs(fn, i))

    def per_example(dout, x, w, stride, padding, i):
        return np.stack([ref(dout[n:n + 1], x[n:n + 1], w, stride, padding)[i] for n in range(len(x))])

    def contributions(i):
        return lambda case: per_example(**case.args, i=i)

    mistakes = [
        Mistake("dw is not summed over the batch: it holds one gradient per example; sum them",
                lambda case, got: got.shape == (len(case.args["x"]),) + case.args["w"].shape and same_as(
                    lambda **a: per_example(**a, i=1))(case, got), "dw"),
        # One family each for dw and db: the last example only, another one, an average, a constant
        # factor, examples left out: any weighting of the examples' gradients but "each once".
        *batch_sum_mistakes("dw", contributions(1), "dw"),
        Mistake("dw is flipped: the weight gradient of cross-correlation is not rotated",
                same_as(lambda dout, x, w, stride, padding: ref(dout, x, w, stride, padding)[1][::-1, ::-1]), "dw"),
        Mistake("db is not summed over the batch: it holds one gradient per example; sum them",
                lambda case, got: got.shape == (len(case.args["x"]), case.args["w"].shape[3]), "db"),
        *batch_sum_mistakes("db", contributions(2), "db"),
        Mistake("db is not summed over the positions: sum dout over N, height and width",
                lambda case, got: got.ndim >= 3 and got.shape[-1] == case.args["w"].shape[3], "db"),
        Mistake("dx uses a flipped kernel (the gradient of a convolution, not of cross-correlation)",
                part(0, lambda dout, x, w, stride, padding: ref(dout, x, w[::-1, ::-1], stride, padding)), "dx"),
        Mistake("dx still includes the padding: cut the P padded rows and columns off before returning",
                lambda case, got: got.ndim == 4 and got.shape[1:3] == tuple(
                    n + 2 * p for n, p in zip(case.args["x"].shape[1:3], int_pair(case.args["padding"])))
                and got.shape != case.args["x"].shape, "dx"),
        Mistake("dx has the wrong shape: it must be x's shape (N, H, W, C)",
                lambda case, got: got.shape != case.args["x"].shape, "dx"),
        Mistake("dw has the wrong shape: it must be w's shape (kh, kw, C, F)",
                lambda case, got: got.shape != case.args["w"].shape, "dw"),
    ]
    run_cases("conv2d_backward", conv2d_backward, cases, ref, mistakes, outputs=("dx", "dw", "db"),
               allow_reference=allow_reference)
    _gradient_check_conv(conv2d_backward, allow_reference)


def _gradient_check_conv(fn, allow_reference):
    __tracebackhide__ = True
    rng = np.random.default_rng(13)
    x, w, b = rng.normal(size=(2, 5, 6, 2)), rng.normal(size=(3, 2, 2, 3)), rng.normal(size=3)
    stride, padding = (2, 1), 1
    dout = rng.normal(size=ops.conv2d(x, w, b, stride, padding).shape)
    case = Case({"dout": dout, "x": x, "w": w, "stride": stride, "padding": padding}, "gradient check")
    got = call_student("conv2d_backward", fn, case, allow_reference)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CheckFailed("conv2d_backward must return (dx, dw, db)")
    dx, dw, db = got
    report_gradcheck("conv2d_backward", "dx", dx,
                      numerical_gradient(lambda v: ops.conv2d(v, w, b, stride, padding), x.copy(), dout=dout))
    report_gradcheck("conv2d_backward", "dw", dw,
                      numerical_gradient(lambda v: ops.conv2d(x, v, b, stride, padding), w.copy(), dout=dout))
    report_gradcheck("conv2d_backward", "db", db,
                      numerical_gradient(lambda v: ops.conv2d(x, w, v, stride, padding), b.copy(), dout=dout))
