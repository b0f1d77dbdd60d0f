"""cnnlib.conv_variants against TensorFlow (float64), the adjoint identity and hand-worked cases.

Depthwise convolutions are compared with ``tf.nn.conv2d`` on a block-diagonal kernel (which allows
any strides, dilations and explicit paddings; ``tf.nn.depthwise_conv2d`` itself refuses unequal
strides) and, where it accepts the case, with ``tf.nn.depthwise_conv2d`` and ``tf.nn.separable_conv2d``.
"""

import zlib

import numpy as np
import pytest

from cnnlib import conv_variants as cv
from cnnlib import ops, shapes

TOL = dict(rtol=1e-10, atol=1e-10)
PADDINGS = ["valid", "same", "full", 0, 1, 2, ((0, 2), (1, 0))]


def case_rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def variant_cases(count=60, seed=16, transpose=False):
    """Random cases: batch 1-3, odd and non-square H x W (1-11; 1-6 for transposed inputs, which grow),
    channels 1-4, depth multiplier 1-3, kernels 1-5 (non-square), strides 1-3 and dilations 1-2 per
    axis, paddings valid/same/full/explicit/asymmetric, output paddings below the stride."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n, c, m = (int(v) for v in rng.integers(1, 4, 3))
        h, w = (int(v) for v in rng.integers(1, 7 if transpose else 12, 2))
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        stride = tuple(int(v) for v in rng.integers(1, 4, 2))
        dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
        padding = PADDINGS[rng.integers(0, len(PADDINGS))]
        extra = None
        if transpose and rng.random() < 0.5:
            extra = tuple(int(rng.integers(0, s)) for s in stride)
        try:
            if transpose:
                cv.transpose_geometry(np.zeros((1, h, w, c)), np.zeros((kh, kw, m, c)), None, stride, padding,
                                      extra, dilation)
            else:
                ops.conv_geometry(np.zeros((1, h, w, c)), np.zeros((kh, kw, c, m)), None, stride, padding, dilation)
        except ValueError:
            continue   # impossible; the errors are tested separately
        cases.append(((n, h, w, c), (kh, kw), m, stride, padding, dilation, extra))
    return cases


DEPTHWISE_CASES = variant_cases()
TRANSPOSE_CASES = variant_cases(transpose=True, seed=61)


def test_grids_cover_what_they_claim():
    for cases in (DEPTHWISE_CASES, TRANSPOSE_CASES):
        assert {p if isinstance(p, (str, int)) else "pairs" for *_, p, _, _ in cases} >= {
            "valid", "same", "full", 1, "pairs"}
        assert any(s[0] != s[1] for *_, s, _, _, _ in cases) and any(max(s) == 3 for *_, s, _, _, _ in cases)
        assert any(d != (1, 1) and s != (1, 1) for *_, s, _, d, _ in cases)
        assert any(x[1] != x[2] and x[1] % 2 for x, *_ in cases) and any(k[0] != k[1] for _, k, *_ in cases)
        assert any(m > 1 for _, _, m, *_ in cases)
    assert any(e is not None and max(e) > 0 for *_, e in TRANSPOSE_CASES)


def dilated(w, dilation):
    """A dilated kernel written out with zeros between its taps (TensorFlow then needs no dilations=)."""
    dh, dw = dilation
    out = np.zeros((dh * (w.shape[0] - 1) + 1, dw * (w.shape[1] - 1) + 1) + w.shape[2:])
    out[::dh, ::dw] = w
    return out


def tf_padding(padding, kernel_hw, dilation):
    """The padding argument for tf.nn: 'VALID'/'SAME', or explicit [[0, 0], [t, b], [l, r], [0, 0]]."""
    if padding in ("valid", "same"):
        return padding.upper()
    if padding == "full":
        pads = [(d * (k - 1),) * 2 for k, d in zip(kernel_hw, dilation)]
    elif isinstance(padding, int):
        pads = [(padding, padding)] * 2
    else:
        pads = padding
    return [[0, 0], list(pads[0]), list(pads[1]), [0, 0]]


def block_diagonal(w):
    """A depthwise kernel (KH, KW, C, M) as a full conv kernel (KH, KW, C, C*M) that is zero off its blocks."""
    kh, kw, c, m = w.shape
    full = np.zeros((kh, kw, c, c * m))
    for ch in range(c):
        full[:, :, ch, ch * m:(ch + 1) * m] = w[:, :, ch, :]
    return full


def tf_depthwise(tf, x, w, b, stride, padding, dilation):
    out = tf.nn.conv2d(x, dilated(block_diagonal(w), dilation), [1, *stride, 1],
                       tf_padding(padding, w.shape[:2], dilation)).numpy()
    return out + (0 if b is None else b)


@pytest.mark.parametrize("x_shape, k_hw, m, stride, padding, dilation, _", DEPTHWISE_CASES)
def test_depthwise_conv2d_matches_tensorflow(tf, x_shape, k_hw, m, stride, padding, dilation, _):
    rng = case_rng("depthwise", x_shape, k_hw, m, stride, padding, dilation)
    x, w = rng.standard_normal(x_shape), rng.standard_normal((*k_hw, x_shape[3], m))
    b = rng.standard_normal(x_shape[3] * m)
    expected = tf_depthwise(tf, x, w, b, stride, padding, dilation)
    np.testing.assert_allclose(cv.depthwise_conv2d(x, w, b, stride, padding, dilation), expected, **TOL)
    if stride[0] == stride[1] and dilation == (1, 1) and padding in ("valid", "same"):   # TF's own op
        theirs = tf.nn.depthwise_conv2d(x, w, [1, *stride, 1], padding.upper()).numpy() + b
        np.testing.assert_allclose(cv.depthwise_conv2d(x, w, b, stride, padding), theirs, **TOL)


@pytest.mark.parametrize("x_shape, k_hw, m, stride, padding, dilation, _", DEPTHWISE_CASES[::2])
def test_separable_conv2d_matches_tensorflow(tf, x_shape, k_hw, m, stride, padding, dilation, _):
    rng = case_rng("separable", x_shape, k_hw, m, stride, padding, dilation)
    c, f = x_shape[3], int(rng.integers(1, 5))
    x, wd = rng.standard_normal(x_shape), rng.standard_normal((*k_hw, c, m))
    wp, b = rng.standard_normal((1, 1, c * m, f)), rng.standard_normal(f)
    mid = tf_depthwise(tf, x, wd, None, stride, padding, dilation)
    expected = tf.nn.conv2d(mid, wp, 1, "VALID").numpy() + b
    got = cv.separable_conv2d(x, wd, wp, b, stride, padding, dilation)
    np.testing.assert_allclose(got, expected, **TOL)
    if stride[0] == stride[1] and dilation == (1, 1) and padding in ("valid", "same"):
        theirs = tf.nn.separable_conv2d(x, wd, wp, [1, *stride, 1], padding.upper()).numpy() + b
        np.testing.assert_allclose(got, theirs, **TOL)


def test_depthwise_by_hand():
    """Two channels, multiplier 2: channel 0 with kernels of ones and twos, channel 1 with its own."""
    x = np.zeros((1, 3, 3, 2))
    x[0, :, :, 0] = np.arange(9).reshape(3, 3)
    x[0, :, :, 1] = 1
    w = np.zeros((2, 2, 2, 2))
    w[:, :, 0, 0], w[:, :, 0, 1] = 1, 2
    w[:, :, 1, 0], w[0, 0, 1, 1] = -1, 5
    out = cv.depthwise_conv2d(x, w)
    np.testing.assert_array_equal(out[0, :, :, 0], [[8, 12], [20, 24]])      # sums of each 2x2 window
    np.testing.assert_array_equal(out[0, :, :, 1], 2 * out[0, :, :, 0])
    np.testing.assert_array_equal(out[0, :, :, 2], -4)                         # channel 1 only: no mixing
    np.testing.assert_array_equal(out[0, :, :, 3], 5)


@pytest.mark.parametrize("x_shape, k_hw, m, stride, padding, dilation, extra", TRANSPOSE_CASES)
def test_conv2d_transpose_matches_tensorflow(tf, x_shape, k_hw, m, stride, padding, dilation, extra):
    rng = case_rng("transpose", x_shape, k_hw, m, stride, padding, dilation, extra)
    x, w = rng.standard_normal(x_shape), rng.standard_normal((*k_hw, m, x_shape[3]))
    b = rng.standard_normal(m)
    got = cv.conv2d_transpose(x, w, b, stride, padding, extra, dilation)
    sizes = [shapes.conv_transpose_output_size(n, k, p, s, d, a) for n, k, p, s, d, a in zip(
        x_shape[1:3], k_hw, padding if isinstance(padding, tuple) else (padding,) * 2, stride, dilation,
        extra or (None, None))]
    assert got.shape == (x_shape[0], *sizes, m)
    expected = tf.nn.conv2d_transpose(x, dilated(w, dilation), got.shape, [1, *stride, 1],
                                      tf_padding(padding, k_hw, dilation)).numpy() + b
    np.testing.assert_allclose(got, expected, **TOL)


@pytest.mark.parametrize("x_shape, k_hw, m, stride, padding, dilation, extra", TRANSPOSE_CASES)
def test_conv2d_transpose_is_the_adjoint_of_conv2d(x_shape, k_hw, m, stride, padding, dilation, extra):
    """<conv2d(y, w), x> = <y, conv2d_transpose(x, w)> for random x and y: the defining identity."""
    rng = case_rng("adjoint", x_shape, k_hw, m, stride, padding, dilation, extra)
    x, w = rng.standard_normal(x_shape), rng.standard_normal((*k_hw, m, x_shape[3]))
    up = cv.conv2d_transpose(x, w, None, stride, padding, extra, dilation)
    y = rng.standard_normal(up.shape)
    down = ops.conv2d(y, w, None, stride, padding, dilation)
    assert down.shape == x.shape            # the conv maps the transposed output's size back
    lhs, rhs = np.sum(down * x), np.sum(y * up)
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


def test_conv2d_transpose_by_hand():
    """Each input pixel stamps the kernel, scaled, S pixels apart; overlaps add up."""
    x = np.array([1.0, 2.0]).reshape(1, 1, 2, 1)
    w = np.array([1.0, 10.0, 100.0]).reshape(1, 3, 1, 1)
    np.testing.assert_array_equal(cv.conv2d_transpose(x, w, stride=2)[0, 0, :, 0], [1, 10, 102, 20, 200])
    np.testing.assert_array_equal(cv.conv2d_transpose(x, w, stride=3)[0, 0, :, 0], [1, 10, 100, 2, 20, 200])
    np.testing.assert_array_equal(cv.conv2d_transpose(x, w, stride=2, padding=(0, 1))[0, 0, :, 0], [10, 102, 20])
    wider = cv.conv2d_transpose(x, w, stride=2, padding=(0, 1), output_padding=(0, 1))
    np.testing.assert_array_equal(wider[0, 0, :, 0], [10, 102, 20, 200])


def test_one_by_one_transpose_with_stride_spreads_pixels():
    x = np.arange(1.0, 5.0).reshape(1, 2, 2, 1)
    out = cv.conv2d_transpose(x, np.ones((1, 1, 1, 1)), stride=2, padding="same")
    np.testing.assert_array_equal(out[0, :, :, 0], [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_variants_preserve_float_dtype(dt):
    x = np.ones((1, 5, 5, 2), dt)
    assert cv.depthwise_conv2d(x, np.ones((3, 3, 2, 2), dt)).dtype == dt
    assert cv.separable_conv2d(x, np.ones((3, 3, 2, 1), dt), np.ones((1, 1, 2, 3), dt)).dtype == dt
    assert cv.conv2d_transpose(x, np.ones((3, 3, 4, 2), dt), stride=2).dtype == dt


@pytest.mark.parametrize("call, error, message", [
    (lambda: cv.depthwise_conv2d(np.ones((1, 5, 5, 2)), np.ones((3, 3, 3, 1))), ValueError,
     r"w has 3 input channels but x has 2"),
    (lambda: cv.depthwise_conv2d(np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 2)), b=np.ones(2)), ValueError,
     r"b must have shape \(4,\), one bias per output channel, C\*M = 2\*2"),
    (lambda: cv.depthwise_conv2d(np.ones((1, 2, 5, 2)), np.ones((3, 3, 2, 1))), ValueError,
     r"along the height axis"),
    (lambda: cv.separable_conv2d(np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 2)), np.ones((1, 1, 2, 3))), ValueError,
     r"pointwise_kernel takes 2 channels but the depthwise step gives C\*M = 2\*2 = 4"),
    (lambda: cv.separable_conv2d(np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 1)), np.ones((3, 3, 2, 3))), ValueError,
     r"pointwise_kernel must have shape \(1, 1, C\*M, F\)"),
    (lambda: cv.conv2d_transpose(np.ones((1, 3, 3, 2)), np.ones((3, 3, 2, 4))), ValueError,
     r"w takes 4 input channels \(its last axis\) but x has 2"),
    (lambda: cv.conv2d_transpose(np.ones((1, 3, 3, 2)), np.ones((3, 3, 4, 2)), b=np.ones(2)), ValueError,
     r"b must have shape \(4,\), one bias per output channel, w.shape\[2\]"),
    (lambda: cv.conv2d_transpose(np.ones((1, 3, 3, 2)), np.ones((3, 3, 4, 2)), stride=(1, 2), output_padding=(0, 2)),
     ValueError, r"along the width axis: output_padding must be smaller than the stride"),
    (lambda: cv.conv2d_transpose(np.ones((1, 3, 3)), np.ones((3, 3, 4, 2))), ValueError, r"x must be 4-D NHWC"),
])
def test_bad_arguments_get_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
