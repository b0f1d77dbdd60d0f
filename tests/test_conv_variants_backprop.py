"""cnnlib.conv_variants_backprop against tf.GradientTape (float64) and against central differences."""

import numpy as np
import pytest

from cnnlib import conv_variants as cv
from cnnlib import conv_variants_backprop as cvb
from cnnlib.gradcheck import gradient_check
from test_backprop import tape_grads
from test_conv_variants import DEPTHWISE_CASES, TOL, TRANSPOSE_CASES, case_rng, tf_padding


def tf_depthwise_fn(tf, stride, padding, dilation, k_hw):
    """depthwise_conv2d in TensorFlow, differentiable in x and the (KH, KW, C, M) kernel."""
    def forward(x, w):
        c, m = w.shape[2], w.shape[3]
        eye = np.zeros((c, c, m, c * m))         # scatter w's blocks onto a block-diagonal kernel
        for ch in range(c):
            for j in range(m):
                eye[ch, ch, j, ch * m + j] = 1
        full = tf.einsum("pqcm,dcmo->pqdo", w, eye)
        dh, dw = dilation
        zeros = np.zeros((dh * (k_hw[0] - 1) + 1, dw * (k_hw[1] - 1) + 1, k_hw[0], k_hw[1]))
        for p in range(k_hw[0]):
            for q in range(k_hw[1]):
                zeros[p * dh, q * dw, p, q] = 1
        full = tf.einsum("ijpq,pqdo->ijdo", zeros, full)
        return tf.nn.conv2d(x, full, [1, *stride, 1], tf_padding(padding, k_hw, dilation))
    return forward


@pytest.mark.parametrize("x_shape, k_hw, m, stride, padding, dilation, _", DEPTHWISE_CASES)
def test_depthwise_backward_matches_tensorflow(tf, x_shape, k_hw, m, stride, padding, dilation, _):
    rng = case_rng("depthwise backward", x_shape, k_hw, m, stride, padding, dilation)
    x, w = rng.standard_normal(x_shape), rng.standard_normal((*k_hw, x_shape[3], m))
    dout = rng.standard_normal(cv.depthwise_conv2d(x, w, None, stride, padding, dilation).shape)
    dx_tf, dw_tf = tape_grads(tf, tf_depthwise_fn(tf, stride, padding, dilation, k_hw), [x, w], dout)
    dx, dw, db = cvb.depthwise_conv2d_backward(dout, x, w, stride, padding, dilation)
    np.testing.assert_allclose(dx, dx_tf, **TOL)
    np.testing.assert_allclose(dw, dw_tf, **TOL)
    np.testing.assert_allclose(db, dout.sum(axis=(0, 1, 2)), **TOL)


@pytest.mark.parametrize("x_shape, k_hw, m, stride, padding, dilation, _", DEPTHWISE_CASES[::3])
def test_separable_backward_matches_tensorflow(tf, x_shape, k_hw, m, stride, padding, dilation, _):
    rng = case_rng("separable backward", x_shape, k_hw, m, stride, padding, dilation)
    c, f = x_shape[3], 3
    x, wd, wp = rng.standard_normal(x_shape), rng.standard_normal((*k_hw, c, m)), rng.standard_normal((1, 1, c * m, f))
    dout = rng.standard_normal(cv.separable_conv2d(x, wd, wp, None, stride, padding, dilation).shape)
    depthwise = tf_depthwise_fn(tf, stride, padding, dilation, k_hw)
    expected = tape_grads(tf, lambda x, wd, wp: tf.nn.conv2d(depthwise(x, wd), wp, 1, "VALID"), [x, wd, wp], dout)
    got = cvb.separable_conv2d_backward(dout, x, wd, wp, stride, padding, dilation)
    for ours, theirs in zip(got, expected):
        np.testing.assert_allclose(ours, theirs, **TOL)
    np.testing.assert_allclose(got[3], dout.sum(axis=(0, 1, 2)), **TOL)


@pytest.mark.parametrize("x_shape, k_hw, m, stride, padding, dilation, extra", TRANSPOSE_CASES)
def test_transpose_backward_matches_tensorflow(tf, x_shape, k_hw, m, stride, padding, dilation, extra):
    rng = case_rng("transpose backward", x_shape, k_hw, m, stride, padding, dilation, extra)
    x, w = rng.standard_normal(x_shape), rng.standard_normal((*k_hw, m, x_shape[3]))
    out_shape = cv.conv2d_transpose(x, w, None, stride, padding, extra, dilation).shape
    dout = rng.standard_normal(out_shape)
    dh, dw_ = dilation
    taps = np.zeros((dh * (k_hw[0] - 1) + 1, dw_ * (k_hw[1] - 1) + 1, *k_hw))
    for p in range(k_hw[0]):
        for q in range(k_hw[1]):
            taps[p * dh, q * dw_, p, q] = 1

    def forward(x, w):
        return tf.nn.conv2d_transpose(x, tf.einsum("ijpq,pqoc->ijoc", taps, w), out_shape, [1, *stride, 1],
                                      tf_padding(padding, k_hw, dilation))
    dx_tf, dw_tf = tape_grads(tf, forward, [x, w], dout)
    dx, dw, db = cvb.conv2d_transpose_backward(dout, x, w, stride, padding, extra, dilation)
    np.testing.assert_allclose(dx, dx_tf, **TOL)
    np.testing.assert_allclose(dw, dw_tf, **TOL)
    np.testing.assert_allclose(db, dout.sum(axis=(0, 1, 2)), **TOL)


@pytest.mark.parametrize("x_shape, k_hw, m, stride, padding, dilation, _", DEPTHWISE_CASES[::10])
def test_depthwise_and_separable_backward_match_central_differences(x_shape, k_hw, m, stride, padding, dilation, _):
    rng = case_rng("numeric", x_shape, k_hw, m)
    c = x_shape[3]
    x, wd, b = rng.standard_normal(x_shape), rng.standard_normal((*k_hw, c, m)), rng.standard_normal(c * m)
    result = gradient_check(lambda x, w, b: cv.depthwise_conv2d(x, w, b, stride, padding, dilation), [x, wd, b],
                            lambda d, x, w, b: cvb.depthwise_conv2d_backward(d, x, w, stride, padding, dilation),
                            names=["x", "w", "b"], max_entries=40)
    assert result.passed(1e-6), str(result)
    wp, bp = rng.standard_normal((1, 1, c * m, 2)), rng.standard_normal(2)
    result = gradient_check(
        lambda x, wd, wp, b: cv.separable_conv2d(x, wd, wp, b, stride, padding, dilation), [x, wd, wp, bp],
        lambda d, x, wd, wp, b: cvb.separable_conv2d_backward(d, x, wd, wp, stride, padding, dilation),
        names=["x", "depthwise", "pointwise", "b"], max_entries=40)
    assert result.passed(1e-6), str(result)


@pytest.mark.parametrize("x_shape, k_hw, m, stride, padding, dilation, extra", TRANSPOSE_CASES[::10])
def test_transpose_backward_matches_central_differences(x_shape, k_hw, m, stride, padding, dilation, extra):
    rng = case_rng("numeric transpose", x_shape, k_hw, m)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((*k_hw, m, x_shape[3])), rng.standard_normal(m)
    result = gradient_check(lambda x, w, b: cv.conv2d_transpose(x, w, b, stride, padding, extra, dilation), [x, w, b],
                            lambda d, x, w, b: cvb.conv2d_transpose_backward(d, x, w, stride, padding, extra, dilation),
                            names=["x", "w", "b"], max_entries=40)
    assert result.passed(1e-6), str(result)


def test_transpose_input_gradient_is_the_convolution():
    """The transposed convolution's own transpose is conv2d: dx = conv2d(dout, w)."""
    from cnnlib import ops

    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 4, 2)), rng.standard_normal((3, 3, 5, 2))
    dout = rng.standard_normal(cv.conv2d_transpose(x, w, stride=2, padding="same").shape)
    dx, _, _ = cvb.conv2d_transpose_backward(dout, x, w, stride=2, padding="same")
    np.testing.assert_allclose(dx, ops.conv2d(dout, w, stride=2, padding="same"), rtol=1e-12, atol=1e-12)


def test_bad_dout_is_named():
    x, w = np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 1))
    with pytest.raises(ValueError, match=r"dout must have the shape of depthwise_conv2d's output, \(1, 3, 3, 2\)"):
        cvb.depthwise_conv2d_backward(np.ones((1, 3, 3, 1)), x, w)
    with pytest.raises(ValueError, match=r"dout must have the shape of conv2d_transpose's output, \(1, 7, 7, 2\)"):
        cvb.conv2d_transpose_backward(np.ones((1, 7, 7, 1)), np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 2)))
