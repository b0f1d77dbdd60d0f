"""cnnlib.backprop against tf.GradientTape (float64) and against central differences."""

import zlib

import numpy as np
import pytest

from cnnlib import backprop, ops
from cnnlib.gradcheck import gradient_check
from test_ops import CASES, dilate_kernel, pool_cases

TOL = dict(rtol=1e-9, atol=1e-9)


def case_rng(*key):
    """A generator seeded by the case itself: the same data in every run (str hashes are not)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def tf_conv_grads(tf, x, w, dout, stride, padding, dilation):
    """dL/dx and dL/dw of L = sum(conv2d(x, w) * dout), by TensorFlow's autodiff.

    A dilated kernel is spelled out with zeros (TensorFlow refuses stride > 1
    with dilation > 1); the gradient of the real taps is read back at [::dh, ::dw].
    """
    if isinstance(padding, int):
        padding = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    else:
        padding = padding.upper()
    xt, wt = tf.constant(x), tf.constant(w)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([xt, wt])
        wd = tf.constant(dilate_kernel(np.zeros_like(w), dilation))
        # scatter the taps into the dilated kernel so the tape sees w
        idx = [[i * dilation[0], j * dilation[1]] for i in range(w.shape[0]) for j in range(w.shape[1])]
        wd = tf.tensor_scatter_nd_update(wd, idx, tf.reshape(wt, (-1, *w.shape[2:])))
        out = tf.nn.conv2d(xt, wd, strides=[1, *stride, 1], padding=padding)
        loss = tf.reduce_sum(out * dout)
    dx, dw = tape.gradient(loss, [xt, wt])
    return dx.numpy(), dw.numpy()


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation", CASES)
def test_conv2d_backward_matches_tensorflow(tf, x_shape, w_shape, stride, padding, dilation):
    rng = case_rng(x_shape, w_shape, stride, padding, dilation)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    out = ops.conv2d(x, w, None, stride, padding, dilation)
    dout = rng.standard_normal(out.shape)
    dx_tf, dw_tf = tf_conv_grads(tf, x, w, dout, stride, padding, dilation)
    for fn in (backprop.conv2d_backward, backprop.conv2d_backward_naive):
        dx, dw, db = fn(dout, x, w, stride, padding, dilation)
        np.testing.assert_allclose(dx, dx_tf, **TOL, err_msg=fn.__name__)
        np.testing.assert_allclose(dw, dw_tf, **TOL, err_msg=fn.__name__)
        np.testing.assert_allclose(db, dout.sum(axis=(0, 1, 2)), **TOL)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation", CASES[::8])
def test_conv2d_backward_matches_central_differences(x_shape, w_shape, stride, padding, dilation):
    rng = case_rng("numeric", x_shape, w_shape)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[-1])
    result = gradient_check(lambda x, w, b: ops.conv2d(x, w, b, stride, padding, dilation), [x, w, b],
                            lambda d, x, w, b: backprop.conv2d_backward(d, x, w, stride, padding, dilation),
                            names=["x", "w", "b"], max_entries=40)
    # A correct gradient agrees to about 1e-8 here; a wrong one is off by order 1.
    # Entries whose gradient is near 0 carry the difference quotient's rounding, hence 1e-5.
    assert result.passed(1e-5), str(result)


def test_conv2d_backward_over_several_chunks(tf, monkeypatch):
    """A batch larger than one chunk of the im2col workspace gives the same gradients."""
    monkeypatch.setattr(backprop, "_WGRAD_CHUNK_BYTES", 4096)
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((7, 9, 9, 3)), rng.standard_normal((3, 3, 3, 4))
    dout = rng.standard_normal((7, 5, 5, 4))
    dx, dw, _ = backprop.conv2d_backward(dout, x, w, stride=2, padding=1)
    dx_tf, dw_tf = tf_conv_grads(tf, x, w, dout, (2, 2), 1, (1, 1))
    np.testing.assert_allclose(dx, dx_tf, **TOL)
    np.testing.assert_allclose(dw, dw_tf, **TOL)


def test_conv2d_backward_by_hand():
    """1x3x3x1 input, 2x2 kernel of ones, stride 1: each input pixel's gradient counts
    the output windows that cover it; dw sums the inputs each tap saw."""
    x = np.arange(9, dtype=np.float64).reshape(1, 3, 3, 1)
    w = np.ones((2, 2, 1, 1))
    dx, dw, db = backprop.conv2d_backward(np.ones((1, 2, 2, 1)), x, w)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(dw[:, :, 0, 0], [[0 + 1 + 3 + 4, 1 + 2 + 4 + 5],
                                                   [3 + 4 + 6 + 7, 4 + 5 + 7 + 8]])
    np.testing.assert_array_equal(db, [4])


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------

def tf_pool_grad(tf, x, dout, pool, stride, padding, mode):
    xt = tf.constant(x, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        pool_fn = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
        loss = tf.reduce_sum(pool_fn(xt, pool, stride, padding.upper()) * dout)
    return tape.gradient(loss, xt).numpy()


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape, pool, stride, padding", pool_cases())
def test_pool2d_backward_matches_tensorflow(tf, shape, pool, stride, padding, mode):
    rng = case_rng(shape, pool, stride, padding, mode)
    x = rng.standard_normal(shape)
    dout = rng.standard_normal(ops.pool2d(x, pool, stride, padding, mode).shape)
    expected = tf_pool_grad(tf, x, dout, pool, stride, padding, mode)
    np.testing.assert_allclose(backprop.pool2d_backward(dout, x, pool, stride, padding, mode), expected, **TOL)


@pytest.mark.parametrize("shape, pool, stride, padding", pool_cases()[::3])
def test_max_pool_ties_go_where_tensorflow_sends_them(tf, shape, pool, stride, padding):
    """Inputs drawn from {0, 1, 2} tie in almost every window; overlapping windows
    (stride < pool) make pixels collect from several windows."""
    rng = case_rng("ties", shape, pool)
    x = rng.integers(0, 3, size=shape).astype(np.float64)
    dout = rng.standard_normal(ops.pool2d(x, pool, stride, padding).shape)
    expected = tf_pool_grad(tf, x, dout, pool, stride, padding, "max")
    np.testing.assert_allclose(backprop.pool2d_backward(dout, x, pool, stride, padding), expected, **TOL)


def test_grid_has_ties_and_overlap():
    cases = pool_cases()
    assert any(s[0] < p[0] for _, p, s, _ in cases)            # overlapping windows
    assert any(pad == "same" for *_, pad in cases)


def test_max_pool_backward_by_hand():
    x = np.array([[1, 3, 3, 0],
                  [2, 3, 1, 1],
                  [0, 0, 5, 5],
                  [1, 2, 5, 1]], dtype=np.float64)[None, :, :, None]
    dx = backprop.pool2d_backward(np.array([10.0, 20, 30, 40]).reshape(1, 2, 2, 1), x)
    # top-left window: 3 appears twice, the first (row 0, col 1) takes it; bottom-right: 5 three times.
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 10, 20, 0],
                                                   [0, 0, 0, 0],
                                                   [0, 0, 40, 0],
                                                   [0, 30, 0, 0]])
    # Overlapping 3x3 windows, stride 1: the 5 at (2, 2) is the max of all four windows.
    dx = backprop.pool2d_backward(np.ones((1, 2, 2, 1)), x, pool_size=3, stride=1)
    expected = np.zeros((4, 4))
    expected[2, 2] = 4
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


def test_avg_and_sum_pool_backward_by_hand():
    x = np.zeros((1, 3, 3, 1))
    dout = np.full((1, 2, 2, 1), 12.0)
    # 'same' 2x2 pooling of 3x3 pads one row and column at the end: the last
    # windows hold 2 or 1 real pixels and share their gradient among those only.
    dx = backprop.pool2d_backward(dout, x, 2, 2, "same", mode="avg")
    np.testing.assert_array_equal(dx[0, :, :, 0], [[3, 3, 6], [3, 3, 6], [6, 6, 12]])
    dx = backprop.pool2d_backward(dout, x, 2, 1, "valid", mode="sum")
    np.testing.assert_array_equal(dx[0, :, :, 0], [[12, 24, 12], [24, 48, 24], [12, 24, 12]])


def test_max_pool_padding_never_takes_the_gradient():
    x = np.full((1, 3, 3, 1), -np.inf)   # real pixels as small as the padding value
    dx = backprop.pool2d_backward(np.ones((1, 2, 2, 1)), x, 2, 2, "same")
    assert dx.sum() == 4 and dx[0, 2, 2, 0] == 1


@pytest.mark.parametrize("mode", ["max", "avg", "sum"])
def test_pool2d_backward_matches_central_differences(mode):
    x = np.random.default_rng(5).standard_normal((2, 7, 6, 2))
    result = gradient_check(lambda x: ops.pool2d(x, 3, 2, "same", mode), [x],
                            lambda d, x: backprop.pool2d_backward(d, x, 3, 2, "same", mode))
    assert result.passed(1e-7), str(result)


def test_pool_aliases():
    x = np.random.default_rng(6).standard_normal((1, 4, 4, 2))
    dout = np.ones((1, 2, 2, 2))
    np.testing.assert_array_equal(backprop.max_pool2d_backward(dout, x), backprop.pool2d_backward(dout, x))
    np.testing.assert_array_equal(backprop.avg_pool2d_backward(dout, x),
                                  backprop.pool2d_backward(dout, x, mode="avg"))


# ---------------------------------------------------------------------------
# Activations, dense, loss
# ---------------------------------------------------------------------------

def test_relu_backward_matches_tensorflow_including_zero(tf):
    x = np.array([-2.0, -0.0, 0.0, 1e-300, 3.0]).reshape(1, 5)
    dout = np.array([[1.0, 2, 3, 4, 5]])
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(tf.nn.relu(xt) * dout)
    np.testing.assert_array_equal(backprop.relu_backward(dout, x), tape.gradient(loss, xt).numpy())
    np.testing.assert_array_equal(backprop.relu_backward(dout, x), [[0, 0, 0, 4, 5]])


def test_dense_backward_matches_tensorflow(tf):
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((6, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((6, 3))
    xt, wt, bt = tf.constant(x), tf.constant(w), tf.constant(b)
    with tf.GradientTape() as tape:
        tape.watch([xt, wt, bt])
        loss = tf.reduce_sum((xt @ wt + bt) * dout)
    expected = tape.gradient(loss, [xt, wt, bt])
    for got, want in zip(backprop.dense_backward(dout, x, w), expected):
        np.testing.assert_allclose(got, want.numpy(), **TOL)


def test_softmax_cross_entropy_matches_tensorflow(tf):
    rng = np.random.default_rng(8)
    logits = rng.standard_normal((7, 4)) * 5
    logits[0] += 800   # large logits must not overflow
    labels = rng.integers(0, 4, 7)
    lt = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(lt)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, lt))
    loss_np, dlogits = backprop.softmax_cross_entropy(logits, labels)
    np.testing.assert_allclose(loss_np, loss.numpy(), **TOL)
    np.testing.assert_allclose(dlogits, tape.gradient(loss, lt).numpy(), **TOL)
    np.testing.assert_allclose(loss_np, ops.cross_entropy(logits, labels, from_logits=True), **TOL)


def test_softmax_cross_entropy_by_hand():
    # Two equal scores: probability 1/2 each, loss log 2, gradient (1/2 - 1, 1/2) / N.
    loss, d = backprop.softmax_cross_entropy(np.zeros((1, 2)), np.array([0]))
    assert loss == pytest.approx(np.log(2))
    np.testing.assert_allclose(d, [[-0.5, 0.5]])


@pytest.mark.parametrize("name, fn, inputs", [
    ("relu", lambda x: ops.relu(x), lambda rng: [rng.standard_normal((3, 4, 4, 2))]),
    ("dense", lambda x, w, b: ops.dense(x, w, b),
     lambda rng: [rng.standard_normal((4, 6)), rng.standard_normal((6, 3)), rng.standard_normal(3)]),
])
def test_activation_and_dense_backward_match_central_differences(name, fn, inputs):
    backward = {"relu": lambda d, x: backprop.relu_backward(d, x),
                "dense": lambda d, x, w, b: backprop.dense_backward(d, x, w)}[name]
    result = gradient_check(fn, inputs(np.random.default_rng(9)), backward)
    assert result.passed(1e-7), str(result)


def test_softmax_cross_entropy_gradient_matches_central_differences():
    from cnnlib.gradcheck import numerical_gradient, relative_error
    rng = np.random.default_rng(10)
    logits, labels = rng.standard_normal((5, 6)), rng.integers(0, 6, 5)
    numeric = numerical_gradient(lambda z: backprop.softmax_cross_entropy(z, labels)[0], logits)
    assert relative_error(backprop.softmax_cross_entropy(logits, labels)[1], numeric) < 1e-7


# ---------------------------------------------------------------------------
# Dtypes and errors
# ---------------------------------------------------------------------------

def test_backward_passes_keep_float32():
    rng = np.random.default_rng(11)
    f = np.float32
    x, w = rng.standard_normal((2, 6, 6, 3)).astype(f), rng.standard_normal((3, 3, 3, 4)).astype(f)
    dx, dw, db = backprop.conv2d_backward(np.ones((2, 4, 4, 4), f), x, w)
    assert dx.dtype == dw.dtype == db.dtype == f
    assert backprop.pool2d_backward(np.ones((2, 3, 3, 3), f), x).dtype == f
    assert backprop.pool2d_backward(np.ones((2, 3, 3, 3), f), x, mode="avg").dtype == f
    assert backprop.relu_backward(x, x).dtype == f
    loss, d = backprop.softmax_cross_entropy(x[:, 0, 0, :], np.array([0, 1]))
    assert d.dtype == f and loss.dtype == f


X = np.zeros((1, 5, 5, 3))
W = np.zeros((3, 3, 3, 2))


@pytest.mark.parametrize("call, error, message", [
    (lambda: backprop.conv2d_backward(np.zeros((1, 3, 3, 1)), X, W), ValueError,
     r"dout must have the shape of conv2d's output, \(1, 3, 3, 2\), got \(1, 3, 3, 1\)"),
    (lambda: backprop.conv2d_backward(np.zeros((1, 3, 3, 2)), X, np.zeros((3, 3, 2, 2))), ValueError,
     "w has 2 input channels but x has 3"),
    (lambda: backprop.conv2d_backward(np.zeros((1, 3, 3, 2)), X, W, stride=0), ValueError, "stride"),
    (lambda: backprop.conv2d_backward(np.zeros((1, 3, 3, 2)), X[0], W), ValueError, "x must be 4-D NHWC"),
    (lambda: backprop.conv2d_backward_naive(np.zeros((1, 2, 2, 2)), X, W), ValueError, "dout must have"),
    (lambda: backprop.pool2d_backward(np.zeros((1, 3, 3, 3)), X), ValueError,
     r"dout must have the shape of pool2d's output, \(1, 2, 2, 3\)"),
    (lambda: backprop.pool2d_backward(np.zeros((1, 2, 2, 3)), X, mode="median"), ValueError, "mode must be one of"),
    (lambda: backprop.pool2d_backward(np.zeros((1, 2, 2, 3)), X, padding=2), ValueError, "smaller than pool_size"),
    (lambda: backprop.relu_backward(np.zeros(3), np.zeros(4)), ValueError, "dout must have the shape of relu"),
    (lambda: backprop.dense_backward(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((5, 3))), ValueError,
     "w has 5 input features but x has 4"),
    (lambda: backprop.dense_backward(np.zeros((2, 2)), np.zeros((2, 4)), np.zeros((4, 3))), ValueError,
     r"dout must have the shape of dense's output, \(2, 3\)"),
    (lambda: backprop.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3])), ValueError,
     r"labels must be in \[0, 3\)"),
    (lambda: backprop.softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])), TypeError, "integer"),
    (lambda: backprop.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2])), ValueError,
     r"labels must have shape \(2,\)"),
    (lambda: backprop.softmax_cross_entropy(np.zeros(3), np.array([0])), ValueError, "logits must be 2-D"),
    (lambda: backprop.relu_backward(np.array(["a"]), np.zeros(1)), TypeError, "dout must hold real numbers"),
])
def test_bad_inputs_get_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_conv2d_weight_grad_is_conv2d_backward_without_dx():
    rng = np.random.default_rng(12)
    x, w = rng.standard_normal((3, 9, 8, 2)), rng.standard_normal((3, 2, 2, 5))
    for stride, padding, dilation in [(1, "same", 1), (2, 1, 1), (1, "valid", 2)]:
        dout = rng.standard_normal(ops.conv2d(x, w, None, stride, padding, dilation).shape)
        _, dw, db = backprop.conv2d_backward(dout, x, w, stride, padding, dilation)
        dw_only, db_only = backprop.conv2d_weight_grad(dout, x, w, stride, padding, dilation)
        np.testing.assert_allclose(dw_only, dw, **TOL)
        np.testing.assert_allclose(db_only, db, **TOL)
    with pytest.raises(ValueError, match="dout must have the shape of conv2d's output"):
        backprop.conv2d_weight_grad(np.zeros((1, 1, 1, 1)), x, w)


# ---------------------------------------------------------------------------
# Global pooling and batch normalization
# ---------------------------------------------------------------------------

def tape_grads(tf, forward, inputs, dout):
    """Gradients of sum(forward(*inputs) * dout) with respect to every input, by TensorFlow."""
    tensors = [tf.constant(a) for a in inputs]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        loss = tf.reduce_sum(forward(*tensors) * dout)
    return [g.numpy() for g in tape.gradient(loss, tensors)]


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 5, 3, 4), (3, 7, 8, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("ties", [False, True])
def test_global_pooling_backward_matches_tensorflow(tf, shape, keepdims, ties):
    """Keras's global poolings; with ties, max shares the gradient equally (tf.reduce_max's rule)."""
    rng = case_rng("global", shape, keepdims, ties)
    x = rng.integers(0, 2, shape).astype(float) if ties else rng.standard_normal(shape)
    k = tf.keras.layers
    for layer, backward in ((k.GlobalAveragePooling2D(keepdims=keepdims, dtype="float64"),
                             backprop.global_avg_pool2d_backward),
                            (k.GlobalMaxPooling2D(keepdims=keepdims, dtype="float64"),
                             backprop.global_max_pool2d_backward)):
        dout = rng.standard_normal(layer(x).shape)
        (expected,) = tape_grads(tf, layer, [x], dout)
        np.testing.assert_allclose(backward(dout, x, keepdims), expected, **TOL)


def test_global_pooling_backward_matches_central_differences():
    x = np.random.default_rng(3).permutation(2 * 4 * 5 * 3).reshape(2, 4, 5, 3) / 7.0   # no ties
    for fwd, bwd in ((ops.global_avg_pool2d, backprop.global_avg_pool2d_backward),
                     (ops.global_max_pool2d, backprop.global_max_pool2d_backward)):
        result = gradient_check(fwd, [x], lambda d, x: bwd(d, x))
        assert result.passed(1e-7), str(result)


def bn_backward_cases():
    from test_ops import bn_cases
    return [(shape, eps) for shape, _, eps in bn_cases()]


@pytest.mark.parametrize("shape, epsilon", bn_backward_cases())
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_backward_matches_tensorflow(tf, shape, epsilon, training):
    """dx, dgamma and dbeta of Keras's BatchNormalization in both modes, by GradientTape."""
    from test_ops import bn_arrays

    x, gamma, beta, mean, var = bn_arrays(shape, 7 + len(shape))
    dout = case_rng("bn", shape, training).standard_normal(shape)
    layer = tf.keras.layers.BatchNormalization(epsilon=epsilon, dtype="float64")
    layer.build(x.shape)
    layer.set_weights([gamma, beta, mean, var])
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(layer(xt, training=training) * dout)
    expected = tape.gradient(loss, [xt, layer.gamma, layer.beta])
    got = backprop.batch_norm_backward(dout, x, gamma, mean, var, training, epsilon)
    for ours, theirs in zip(got, expected):
        np.testing.assert_allclose(ours, theirs.numpy(), **TOL)


@pytest.mark.parametrize("shape, epsilon", bn_backward_cases()[::2])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_backward_matches_central_differences(shape, epsilon, training):
    from cnnlib.gradcheck import numerical_gradient
    from test_ops import bn_arrays

    x, gamma, beta, mean, var = bn_arrays(shape, 11)
    dout = case_rng("bn numeric", shape).standard_normal(shape)
    dx, dgamma, dbeta = backprop.batch_norm_backward(dout, x, gamma, mean, var, training, epsilon)
    for got, wrt in ((dx, x), (dgamma, gamma), (dbeta, beta)):
        def out(v, wrt=wrt):
            args = [v if a is wrt else a for a in (x, gamma, beta)]
            return ops.batch_norm(*args, mean, var, training, 0.9, epsilon)[0]
        numeric = numerical_gradient(out, wrt.copy(), dout=dout)
        # A batch's normalized output sums to a constant, so some gradients are near 0; compare on
        # the scale of the largest one (a wrong term is off by order 1 of that scale).
        np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-7 * np.abs(numeric).max())


def test_batch_norm_backward_by_hand():
    """In training mode, a dout that is constant over the batch gives dx = 0 (the mean takes it all),
    and so does a dout proportional to xhat (the variance takes it all)."""
    x = np.array([1.0, 2.0, 4.0, 7.0]).reshape(4, 1)
    dx, dgamma, dbeta = backprop.batch_norm_backward(np.full((4, 1), 3.0), x, [2.0], [0.0], [1.0], training=True)
    np.testing.assert_allclose(dx, 0, atol=1e-12)
    np.testing.assert_allclose(dbeta, [12.0])
    xhat = (x - x.mean()) / np.sqrt(x.var() + 1e-12)       # (with a tiny epsilon, xhat has variance 1)
    dx, dgamma, _ = backprop.batch_norm_backward(xhat, x, [2.0], [0.0], [1.0], training=True, epsilon=1e-12)
    np.testing.assert_allclose(dx, 0, atol=1e-9)
    np.testing.assert_allclose(dgamma, [np.sum(xhat ** 2)])
    dx, _, _ = backprop.batch_norm_backward(np.full((4, 1), 3.0), x, [2.0], [0.0], [3.0], training=False)
    np.testing.assert_allclose(dx, 3.0 * 2.0 / np.sqrt(3.0 + 1e-3))      # inference: a plain scaling
