"""cnnlib.ops against TensorFlow (float64, to 1e-10), SciPy for the textbook flip, and hand-worked cases."""

import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cnnlib import ops
from cnnlib.data import LECTURE_IMAGE as IMAGE  # the course's worked example (lecture texts): 5x5, binary
from cnnlib.data import LECTURE_KERNEL as KERNEL  # and its 3x3 kernel

TOL = dict(rtol=1e-10, atol=1e-10)

FEATURE_MAP = np.array([[4, 3, 4],
                        [2, 4, 3],
                        [2, 3, 4]])


# ---------------------------------------------------------------------------
# The randomized grid of convolutions
# ---------------------------------------------------------------------------

def conv_cases(count=160, seed=2026):
    """Random convolutions over the grid of the issue: batch 1-3, H/W 1-12, channels 1-4,
    kernels 1-5, strides 1-3, dilations 1-2, paddings valid/same/explicit."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n, h, w = rng.integers(1, 4), rng.integers(1, 13), rng.integers(1, 13)
        c_in, c_out = rng.integers(1, 5), rng.integers(1, 5)
        kh, kw = rng.integers(1, 6), rng.integers(1, 6)
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = [None, "valid", "same", 0, 1, 2][rng.integers(0, 6)] or "valid"
        if rng.random() < 0.5:  # half the cases square, like most real layers
            w, kw, stride, dilation = h, kh, (stride[0],) * 2, (dilation[0],) * 2
        p = 0 if isinstance(padding, str) else padding
        span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
        if padding != "same" and (span_h > h + 2 * p or span_w > w + 2 * p):
            continue  # impossible; the error path is tested separately
        cases.append(((int(n), int(h), int(w), int(c_in)), (int(kh), int(kw), int(c_in), int(c_out)),
                      stride, padding, dilation))
    return cases


CASES = conv_cases()


def dilate_kernel(w, dilation):
    """Insert zeros between the taps: a dilated kernel written as an ordinary one."""
    dh, dw = dilation
    kh, kw = w.shape[:2]
    out = np.zeros((dh * (kh - 1) + 1, dw * (kw - 1) + 1) + w.shape[2:])
    out[::dh, ::dw] = w
    return out


def tf_conv(tf, x, w, b, stride, padding, dilation):
    """TensorFlow's answer. A dilated kernel is spelled out with zeros, which TensorFlow
    accepts at any stride (its own dilations= refuses stride > 1 on some paths)."""
    if isinstance(padding, int):
        padding = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    else:
        padding = padding.upper()
    out = tf.nn.conv2d(x, dilate_kernel(w, dilation), strides=[1, *stride, 1], padding=padding)
    return tf.nn.bias_add(out, b).numpy()


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation", CASES)
def test_conv2d_and_naive_match_tensorflow(tf, x_shape, w_shape, stride, padding, dilation):
    rng = np.random.default_rng(zlib.crc32(repr((x_shape, w_shape, stride, padding, dilation)).encode()))
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[3])
    expected = tf_conv(tf, x, w, b, stride, padding, dilation)
    fast = ops.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    naive = ops.conv2d_naive(x, w, b, stride=stride, padding=padding, dilation=dilation)
    assert fast.shape == naive.shape == expected.shape
    np.testing.assert_allclose(fast, expected, **TOL)
    np.testing.assert_allclose(naive, expected, **TOL)


def test_grid_covers_what_it_claims():
    strides = {s for _, _, s, _, _ in CASES}
    paddings = {p for _, _, _, p, _ in CASES}
    dilations = {d for _, _, _, _, d in CASES}
    assert {(1, 1), (2, 2), (3, 3)} <= strides and any(s[0] != s[1] for s in strides)
    assert {"valid", "same", 1, 2} <= paddings
    assert {(1, 1), (2, 2)} <= dilations
    assert any(d != (1, 1) and s != (1, 1) for _, _, s, _, d in CASES)
    assert any(xs[1] != xs[2] for xs, *_ in CASES) and any(ws[0] != ws[1] for _, ws, *_ in CASES)


def test_dilation_matches_tensorflows_own_dilated_convolution(tf):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 11, 9, 3))
    w = rng.standard_normal((3, 2, 3, 4))
    for padding in ("VALID", "SAME"):
        expected = tf.nn.convolution(x, w, strides=1, padding=padding, dilations=2).numpy()
        np.testing.assert_allclose(ops.conv2d(x, w, padding=padding.lower(), dilation=2), expected, **TOL)


def test_large_batch_is_split_into_chunks_without_changing_the_result(tf):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 64, 64, 3))   # each image gives 32 * 32 rows of 27 float64s
    w = rng.standard_normal((3, 3, 3, 5))
    images_per_chunk = ops._CONV_CHUNK_BYTES // (32 * 32 * 27 * 8)
    assert 1 <= images_per_chunk < x.shape[0] / 2   # really several chunks, the last one partial
    assert x.shape[0] % images_per_chunk != 0
    expected = tf.nn.conv2d(x, w, 2, "SAME").numpy()
    np.testing.assert_allclose(ops.conv2d(x, w, stride=2, padding="same"), expected, **TOL)


def test_conv2d_is_safe_to_call_from_several_threads():
    """conv2d reuses scratch buffers; each thread must get its own."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(20)
    problems = [(rng.standard_normal((4, 9 + i, 8, 2)), rng.standard_normal((3, 3, 2, 3)), i % 3)
                for i in range(12)]
    expected = [ops.conv2d_naive(x, w, padding=p) for x, w, p in problems]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            results = list(pool.map(lambda args: ops.conv2d(args[0], args[1], padding=args[2]), problems))
            for got, want in zip(results, expected):
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_full_padding_matches_tensorflow(tf):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 6, 5, 2))
    w = rng.standard_normal((3, 3, 2, 2))
    expected = tf.nn.conv2d(x, w, 1, [[0, 0], [2, 2], [2, 2], [0, 0]]).numpy()
    np.testing.assert_allclose(ops.conv2d(x, w, padding="full"), expected, **TOL)


def test_asymmetric_padding_matches_tensorflow(tf):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 7, 6, 2))
    w = rng.standard_normal((2, 3, 2, 3))
    expected = tf.nn.conv2d(x, w, 1, [[0, 0], [0, 1], [2, 1], [0, 0]]).numpy()
    np.testing.assert_allclose(ops.conv2d(x, w, padding=((0, 1), (2, 1))), expected, **TOL)
    np.testing.assert_allclose(ops.conv2d_naive(x, w, padding=((0, 1), (2, 1))), expected, **TOL)


# ---------------------------------------------------------------------------
# The worked example, padding, one step, im2col
# ---------------------------------------------------------------------------

def test_worked_example_from_the_course():
    assert np.array_equal(ops.correlate2d(IMAGE, KERNEL), FEATURE_MAP)
    x, w = IMAGE[None, :, :, None], KERNEL[:, :, None, None]
    assert np.array_equal(ops.conv2d(x, w)[0, :, :, 0], FEATURE_MAP)
    assert np.array_equal(ops.conv2d_naive(x, w)[0, :, :, 0], FEATURE_MAP)
    # The first number by hand: the top-left 3x3 patch has ones under 4 of the kernel's ones.
    assert ops.conv_single_step(IMAGE[:3, :3, None], KERNEL[:, :, None], 0) == 4


def test_zero_pad(tf):
    x = np.arange(2 * 3 * 4 * 2, dtype=np.float64).reshape(2, 3, 4, 2)
    padded = ops.zero_pad(x, 2)
    assert padded.shape == (2, 7, 8, 2)
    np.testing.assert_array_equal(padded, tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]]).numpy())
    uneven = ops.zero_pad(x, ((1, 0), (0, 3)))
    np.testing.assert_array_equal(uneven, tf.pad(x, [[0, 0], [1, 0], [0, 3], [0, 0]]).numpy())
    np.testing.assert_array_equal(ops.zero_pad(x, (1, 2)),
                                  tf.pad(x, [[0, 0], [1, 1], [2, 2], [0, 0]]).numpy())
    assert ops.zero_pad(x.astype(np.float32), 1).dtype == np.float32


def test_conv_single_step_by_hand():
    a = np.arange(12.0).reshape(2, 2, 3)
    w = np.ones((2, 2, 3))
    assert ops.conv_single_step(a, w, 0.5) == sum(range(12)) + 0.5
    assert ops.conv_single_step(a, w, np.array([[[0.5]]])) == 66.5   # a (1, 1, 1) bias works too
    assert ops.conv_single_step(a.astype(np.float32), w.astype(np.float32), 0).dtype == np.float32


def test_im2col_times_kernel_is_a_convolution(tf):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 5, 3))
    w = rng.standard_normal((3, 2, 3, 4))
    cols, (oh, ow) = ops.im2col(x, (3, 2), stride=2, padding="same")
    assert cols.shape == (2 * oh * ow, 3 * 2 * 3)
    # 'same' at stride 2 pads 6x5 only at the bottom and right (one row, one column), so
    # row 0 is the top-left 3x2 window of the image itself, in (kh, kw, c) order.
    np.testing.assert_array_equal(cols[0], x[0, 0:3, 0:2, :].ravel())
    out = (cols @ w.reshape(-1, 4)).reshape(2, oh, ow, 4)
    np.testing.assert_allclose(out, tf.nn.conv2d(x, w, 2, "SAME").numpy(), **TOL)


# ---------------------------------------------------------------------------
# The flip: correlate2d against convolve2d, and SciPy as the textbook reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("k_shape", [(3, 3), (1, 5), (5, 3)])
def test_correlate_and_convolve_match_scipy(mode, k_shape):
    from scipy import signal

    rng = np.random.default_rng(6)
    image = rng.standard_normal((9, 7))
    kernel = rng.standard_normal(k_shape)
    np.testing.assert_allclose(ops.correlate2d(image, kernel, mode),
                               signal.correlate2d(image, kernel, mode), **TOL)
    np.testing.assert_allclose(ops.convolve2d(image, kernel, mode),
                               signal.convolve2d(image, kernel, mode), **TOL)


@pytest.mark.parametrize("mode", ["valid", "full"])
def test_even_kernels_match_scipy(mode):
    from scipy import signal

    rng = np.random.default_rng(7)
    image, kernel = rng.standard_normal((6, 8)), rng.standard_normal((2, 4))
    np.testing.assert_allclose(ops.correlate2d(image, kernel, mode), signal.correlate2d(image, kernel, mode), **TOL)
    np.testing.assert_allclose(ops.convolve2d(image, kernel, mode), signal.convolve2d(image, kernel, mode), **TOL)


def test_even_kernel_same_mode_follows_tensorflow(tf):
    rng = np.random.default_rng(8)
    image, kernel = rng.standard_normal((6, 8)), rng.standard_normal((2, 4))
    expected = tf.nn.conv2d(image[None, :, :, None], kernel[:, :, None, None], 1, "SAME").numpy()[0, :, :, 0]
    np.testing.assert_allclose(ops.correlate2d(image, kernel, "same"), expected, **TOL)


def test_flip_matters_only_for_asymmetric_kernels():
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    assert np.array_equal(ops.convolve2d(IMAGE, KERNEL), ops.correlate2d(IMAGE, KERNEL))  # symmetric
    assert np.array_equal(ops.convolve2d(IMAGE, sobel), -ops.correlate2d(IMAGE, sobel))   # anti-symmetric


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------

def pool_cases():
    rng = np.random.default_rng(9)
    cases = []
    for _ in range(60):
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 10)), int(rng.integers(1, 10)), int(rng.integers(1, 4)))
        pool = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        padding = ["valid", "same"][rng.integers(0, 2)]
        if padding == "valid" and (pool[0] > shape[1] or pool[1] > shape[2]):
            continue
        cases.append((shape, pool, stride, padding))
    return cases


def tf_sum_pool(tf, x, pool, stride, padding):
    """Sum pooling in TF: each channel convolved with a kernel of ones over zero padding."""
    n, h, w, c = x.shape
    planes = x.transpose(0, 3, 1, 2).reshape(n * c, h, w, 1)
    sums = tf.nn.conv2d(planes, np.ones(tuple(pool) + (1, 1)), [1, *stride, 1], padding).numpy()
    return sums.reshape(n, c, *sums.shape[1:3]).transpose(0, 2, 3, 1)


@pytest.mark.parametrize("shape, pool, stride, padding", pool_cases())
def test_pool2d_matches_tensorflow(tf, shape, pool, stride, padding):
    x = np.random.default_rng(sum(shape) + sum(pool)).standard_normal(shape)
    xt = tf.constant(x, dtype=tf.float64)  # a bare ndarray is read as float32 by TF's pooling
    max_tf = tf.nn.max_pool2d(xt, pool, stride, padding.upper()).numpy()
    avg_tf = tf.nn.avg_pool2d(xt, pool, stride, padding.upper()).numpy()
    sum_tf = tf_sum_pool(tf, x, pool, stride, padding.upper())
    np.testing.assert_allclose(ops.pool2d(x, pool, stride, padding, "max"), max_tf, **TOL)
    np.testing.assert_allclose(ops.pool2d(x, pool, stride, padding, "avg"), avg_tf, **TOL)
    np.testing.assert_allclose(ops.pool2d(x, pool, stride, padding, "sum"), sum_tf, **TOL)
    np.testing.assert_allclose(ops.max_pool2d(x, pool, stride, padding), max_tf, **TOL)
    np.testing.assert_allclose(ops.avg_pool2d(x, pool, stride, padding), avg_tf, **TOL)


def test_pool2d_explicit_padding_matches_tensorflow(tf):
    x = np.random.default_rng(10).standard_normal((2, 7, 6, 3)) - 5  # all negative: padding must not win
    expected = tf.nn.max_pool2d(tf.constant(x, dtype=tf.float64), 3, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]).numpy()
    np.testing.assert_allclose(ops.pool2d(x, 3, 2, padding=1), expected, **TOL)
    # Average over real pixels only: the ratio of two zero-padded sums.
    pad = [[0, 0], [1, 1], [1, 1], [0, 0]]
    sums = tf_sum_pool(tf, tf.pad(x, pad).numpy(), (3, 3), (2, 2), "VALID")
    counts = tf_sum_pool(tf, tf.pad(np.ones_like(x), pad).numpy(), (3, 3), (2, 2), "VALID")
    np.testing.assert_allclose(ops.pool2d(x, 3, 2, padding=1, mode="avg"), sums / counts, **TOL)


def test_pool_defaults_and_overlapping_pooling_by_hand():
    x = np.array([[1, 3, 2, 4],
                  [5, 7, 6, 8],
                  [0, 2, 1, 3],
                  [4, 6, 5, 9]], dtype=np.float64)[None, :, :, None]
    np.testing.assert_array_equal(ops.pool2d(x)[0, :, :, 0], [[7, 8], [6, 9]])       # 2x2, stride 2
    np.testing.assert_array_equal(ops.pool2d(x, mode="avg")[0, :, :, 0], [[4, 5], [3, 4.5]])
    np.testing.assert_array_equal(ops.pool2d(x, mode="sum")[0, :, :, 0], [[16, 20], [12, 18]])
    np.testing.assert_array_equal(ops.pool2d(x, 3, 1)[0, :, :, 0], [[7, 8], [7, 9]])  # overlapping
    ints = ops.pool2d(x.astype(np.int32))
    assert ints.dtype == np.int32 and ops.avg_pool2d(x.astype(np.int32)).dtype == np.float64


# ---------------------------------------------------------------------------
# Activations, softmax, cross-entropy, dense, flatten
# ---------------------------------------------------------------------------

EXTREMES = np.array([[-1000.0, -30.0, -1.5, 0.0, 1e-8, 2.0, 40.0, 1000.0]])


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activations_match_tensorflow(tf, name):
    x = np.concatenate([EXTREMES, np.random.default_rng(11).standard_normal((3, 8)) * 4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow on the extremes
        ours = getattr(ops, name)(x)
    np.testing.assert_allclose(ours, getattr(tf.nn, name)(x).numpy(), **TOL)


def test_softmax_and_log_softmax_match_tensorflow(tf):
    x = np.concatenate([EXTREMES, np.random.default_rng(12).standard_normal((4, 8)) * 10])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(ops.softmax(x), tf.nn.softmax(x).numpy(), **TOL)
        np.testing.assert_allclose(ops.log_softmax(x), tf.nn.log_softmax(x).numpy(), **TOL)
        np.testing.assert_allclose(ops.softmax(x, axis=0), tf.nn.softmax(x, axis=0).numpy(), **TOL)
    assert np.all(np.isfinite(ops.log_softmax(x)))
    np.testing.assert_allclose(ops.softmax(x).sum(axis=1), 1, **TOL)


def test_cross_entropy_matches_tensorflow(tf):
    rng = np.random.default_rng(13)
    logits = rng.standard_normal((16, 10)) * 3
    logits[0, 0] = 500.0                       # stable for huge logits
    labels = rng.integers(0, 10, 16)
    expected = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)).numpy()
    np.testing.assert_allclose(ops.cross_entropy(logits, labels, from_logits=True), expected, **TOL)
    probs = tf.nn.softmax(logits[1:]).numpy()  # rows away from Keras's 1e-7 clipping
    expected = np.mean(tf.keras.losses.sparse_categorical_crossentropy(labels[1:], probs).numpy())
    np.testing.assert_allclose(ops.cross_entropy(probs, labels[1:]), expected, **TOL)
    one_hot = np.eye(10)[labels]
    expected = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(one_hot, logits)).numpy()
    np.testing.assert_allclose(ops.cross_entropy(logits, one_hot, from_logits=True), expected, **TOL)


def test_cross_entropy_by_hand():
    probs = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    assert np.isclose(ops.cross_entropy(probs, [0, 1]), -(np.log(0.5) + np.log(0.8)) / 2)
    assert ops.cross_entropy(np.array([[1.0, 0.0]]), [1]) == np.inf


def test_dense_and_flatten_match_tensorflow(tf):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((3, 4, 5, 2))
    flat = ops.flatten(x)
    np.testing.assert_array_equal(flat, tf.reshape(x, (3, -1)).numpy())
    np.testing.assert_array_equal(flat.astype(np.float32), tf.keras.layers.Flatten()(x).numpy())
    w, b = rng.standard_normal((40, 7)), rng.standard_normal(7)
    np.testing.assert_allclose(ops.dense(flat, w, b), (tf.matmul(flat, w) + b).numpy(), **TOL)
    np.testing.assert_allclose(ops.dense(flat, w), tf.matmul(flat, w).numpy(), **TOL)


def test_one_by_one_conv_is_a_dense_layer_per_pixel(tf):
    """A 1x1 convolution mixes the channels of each pixel on its own: the same numbers as a dense
    layer applied to every pixel's channel vector (and as Keras's Dense on an NHWC tensor)."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((3, 5, 7, 4))
    w, b = rng.standard_normal((4, 6)), rng.standard_normal(6)
    conv = ops.conv2d(x, w[None, None], b)
    per_pixel = ops.dense(x.reshape(-1, 4), w, b).reshape(3, 5, 7, 6)
    np.testing.assert_allclose(conv, per_pixel, **TOL)
    dense = tf.keras.layers.Dense(6, dtype="float64")
    dense.build((None, 4))
    dense.set_weights([w, b])
    np.testing.assert_allclose(conv, dense(x).numpy(), **TOL)   # Keras's Dense acts on the last axis
    np.testing.assert_allclose(conv[1, 2, 3], x[1, 2, 3] @ w + b, **TOL)


# ---------------------------------------------------------------------------
# Global pooling and batch normalization
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 5, 3, 4), (3, 7, 8, 2), (1, 1, 9, 3)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_matches_keras(tf, shape, keepdims):
    x = np.random.default_rng(sum(shape)).standard_normal(shape)
    k = tf.keras.layers
    np.testing.assert_allclose(ops.global_avg_pool2d(x, keepdims),
                               k.GlobalAveragePooling2D(keepdims=keepdims, dtype="float64")(x).numpy(), **TOL)
    np.testing.assert_array_equal(ops.global_max_pool2d(x, keepdims),
                                  k.GlobalMaxPooling2D(keepdims=keepdims, dtype="float64")(x).numpy())


def bn_cases():
    """Random batch norms: images with odd and non-square sizes, flat features, a batch of one,
    channels 1-5, several momentums and epsilons."""
    rng = np.random.default_rng(22)
    shapes = [(4, 5, 3, 2), (1, 3, 7, 5), (2, 1, 1, 3), (6, 4), (1, 9), (3, 6, 6, 1), (5, 2, 9, 4)]
    return [(shape, float(rng.choice([0.99, 0.9, 0.5, 0.0])), float(rng.choice([1e-3, 1e-5, 0.1])))
            for shape in shapes]


def bn_arrays(shape, seed):
    rng = np.random.default_rng(seed)
    c = shape[-1]
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3, c) + rng.uniform(-2, 2, c)
    return x, rng.standard_normal(c), rng.standard_normal(c), rng.standard_normal(c), rng.uniform(0.2, 2, c)


@pytest.mark.parametrize("shape, momentum, epsilon", bn_cases())
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_keras(tf, shape, momentum, epsilon, training):
    """Output and new moving statistics equal Keras's BatchNormalization layer's, in both modes."""
    x, gamma, beta, mean, var = bn_arrays(shape, len(shape) + shape[-1])
    layer = tf.keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, dtype="float64")
    layer.build(x.shape)
    layer.set_weights([gamma, beta, mean, var])
    expected = layer(x, training=training).numpy()
    out, new_mean, new_var = ops.batch_norm(x, gamma, beta, mean, var, training, momentum, epsilon)
    np.testing.assert_allclose(out, expected, **TOL)
    np.testing.assert_allclose(new_mean, layer.moving_mean.numpy(), **TOL)
    np.testing.assert_allclose(new_var, layer.moving_variance.numpy(), **TOL)
    if not training:
        np.testing.assert_array_equal(new_mean, mean)
        np.testing.assert_array_equal(new_var, var)


def test_batch_norm_matches_tf_nn_moments(tf):
    """The training statistics are tf.nn.moments over (N, H, W): the biased variance."""
    x, gamma, beta, mean, var = bn_arrays((4, 3, 5, 3), 0)
    m, v = tf.nn.moments(tf.constant(x), axes=[0, 1, 2])
    expected = tf.nn.batch_normalization(x, m, v, beta, gamma, 1e-3).numpy()
    out, new_mean, new_var = ops.batch_norm(x, gamma, beta, mean, var, training=True)
    np.testing.assert_allclose(out, expected, **TOL)
    np.testing.assert_allclose(new_var, 0.99 * var + 0.01 * v.numpy(), **TOL)


def test_batch_norm_by_hand():
    """One channel holding 1, 2, 3, 4 (mean 2.5, biased variance 1.25), gamma 2, beta 1, epsilon 0.25."""
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(2, 1, 2, 1)
    out, mean, var = ops.batch_norm(x, [2.0], [1.0], [0.0], [1.0], training=True, momentum=0.9, epsilon=0.25)
    np.testing.assert_allclose(out.ravel(), 2 * (np.array([1, 2, 3, 4]) - 2.5) / np.sqrt(1.5) + 1, **TOL)
    np.testing.assert_allclose(mean, [0.25], **TOL)          # 0.9 * 0 + 0.1 * 2.5
    np.testing.assert_allclose(var, [1.025], **TOL)          # 0.9 * 1 + 0.1 * 1.25
    out, _, _ = ops.batch_norm(x, [2.0], [1.0], [0.0], [1.0], training=False, epsilon=0.25)
    np.testing.assert_allclose(out.ravel(), 2 * np.array([1, 2, 3, 4]) / np.sqrt(1.25) + 1, **TOL)


def test_batch_norm_does_not_change_its_arguments():
    x, gamma, beta, mean, var = bn_arrays((3, 2, 2, 2), 1)
    saved = [a.copy() for a in (x, gamma, beta, mean, var)]
    for training in (True, False):
        _, new_mean, _ = ops.batch_norm(x, gamma, beta, mean, var, training)
        assert new_mean is not mean
    for before, after in zip(saved, (x, gamma, beta, mean, var)):
        np.testing.assert_array_equal(before, after)


# ---------------------------------------------------------------------------
# Dtypes: float32 stays float32, float64 stays float64
# ---------------------------------------------------------------------------

def _all_ops(x4, dt):
    w = np.ones((2, 2, x4.shape[3], 3), dtype=dt)
    flat = ops.flatten(x4)
    return {
        "zero_pad": ops.zero_pad(x4, 1),
        "conv2d": ops.conv2d(x4, w, np.zeros(3, dt), padding="same"),
        "conv2d_naive": ops.conv2d_naive(x4, w, stride=2),
        "conv_single_step": ops.conv_single_step(x4[0, :2, :2], w[..., 0], np.zeros(1, dt)),
        "correlate2d": ops.correlate2d(x4[0, :, :, 0], w[:, :, 0, 0], "full"),
        "convolve2d": ops.convolve2d(x4[0, :, :, 0], w[:, :, 0, 0], "same"),
        "pool2d max": ops.pool2d(x4, padding="same"),
        "pool2d avg": ops.pool2d(x4, mode="avg", padding="same"),
        "pool2d sum": ops.pool2d(x4, mode="sum"),
        "relu": ops.relu(x4), "sigmoid": ops.sigmoid(x4), "tanh": ops.tanh(x4),
        "softmax": ops.softmax(flat), "log_softmax": ops.log_softmax(flat),
        "cross_entropy": ops.cross_entropy(flat, np.zeros(len(flat), int), from_logits=True),
        "dense": ops.dense(flat, np.ones((flat.shape[1], 2), dt), np.zeros(2, dt)),
        "flatten": flat,
        "global_avg_pool2d": ops.global_avg_pool2d(x4), "global_max_pool2d": ops.global_max_pool2d(x4),
        "batch_norm": ops.batch_norm(x4, *[np.ones(x4.shape[3], dt)] * 4, training=True)[0],
        "batch_norm moving": ops.batch_norm(x4, *[np.ones(x4.shape[3], dt)] * 4, training=True)[2],
    }


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_every_op_preserves_float_dtype(dt):
    x4 = np.random.default_rng(15).standard_normal((2, 5, 4, 2)).astype(dt)
    for name, out in _all_ops(x4, dt).items():
        assert out.dtype == dt, f"{name} returned {out.dtype} for {np.dtype(dt).name} input"


# ---------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------

@st.composite
def conv_problem(draw):
    n, h, w, c = (draw(st.integers(1, 2)), draw(st.integers(3, 9)), draw(st.integers(3, 9)),
                  draw(st.integers(1, 3)))
    kh, kw, f = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    elems = st.floats(-10, 10, allow_nan=False, width=64)
    x1 = draw(hnp.arrays(np.float64, (n, h, w, c), elements=elems))
    x2 = draw(hnp.arrays(np.float64, (n, h, w, c), elements=elems))
    k = draw(hnp.arrays(np.float64, (kh, kw, c, f), elements=elems))
    stride = draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same", 0, 1]))
    return x1, x2, k, stride, padding


@given(conv_problem(), st.floats(-3, 3), st.floats(-3, 3))
def test_conv_is_linear_in_its_input(problem, a, c):
    x1, x2, k, stride, padding = problem
    lhs = ops.conv2d(a * x1 + c * x2, k, stride=stride, padding=padding)
    rhs = a * ops.conv2d(x1, k, stride=stride, padding=padding) + c * ops.conv2d(x2, k, stride=stride, padding=padding)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9)


@given(conv_problem())
def test_loops_and_vectorized_agree(problem):
    x1, _, k, stride, padding = problem
    np.testing.assert_allclose(ops.conv2d(x1, k, stride=stride, padding=padding),
                               ops.conv2d_naive(x1, k, stride=stride, padding=padding), rtol=1e-12, atol=1e-12)


@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_one_hot_kernel_shifts_the_image(kh, kw, data):
    u, v = data.draw(st.integers(0, kh - 1)), data.draw(st.integers(0, kw - 1))
    image = data.draw(hnp.arrays(np.float64, (1, 8, 7, 1), elements=st.floats(-5, 5)))
    kernel = np.zeros((kh, kw, 1, 1))
    kernel[u, v] = 1.0
    out = ops.conv2d(image, kernel)
    oh, ow = 8 - kh + 1, 7 - kw + 1
    np.testing.assert_array_equal(out, image[:, u:u + oh, v:v + ow, :])


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 2), st.integers(2, 8), st.integers(2, 8), st.integers(1, 3)),
                  elements=st.floats(-100, 100)),
       st.integers(1, 2), st.integers(1, 2), st.sampled_from(["valid", "same"]))
def test_max_pool_is_at_least_avg_pool(x, pool, stride, padding):
    assert np.all(ops.pool2d(x, pool, stride, padding, "max") >= ops.pool2d(x, pool, stride, padding, "avg") - 1e-12)


# ---------------------------------------------------------------------------
# Bad inputs: every error names the argument, what was expected and what came
# ---------------------------------------------------------------------------

X = np.zeros((1, 5, 5, 3))
W = np.zeros((3, 3, 3, 4))


@pytest.mark.parametrize("call, error, message", [
    (lambda: ops.conv2d(X[0], W), ValueError, r"x must be 4-D NHWC .* got shape \(5, 5, 3\)"),
    (lambda: ops.conv2d(X, W[0]), ValueError, r"w must be 4-D HWIO .* got shape \(3, 3, 4\)"),
    (lambda: ops.conv2d(X, W[:, :, :2]), ValueError,
     r"w has 2 input channels but x has 3 \(x.shape=\(1, 5, 5, 3\), w.shape=\(3, 3, 2, 4\)\)"),
    (lambda: ops.conv2d_naive(X, W[:, :, :2]), ValueError, r"w has 2 input channels but x has 3"),
    (lambda: ops.conv2d(X, W, b=np.zeros(3)), ValueError, r"b must have shape \(4,\).* got \(3,\)"),
    (lambda: ops.conv2d(X, W, b=np.zeros((1, 4))), ValueError, r"b must have shape \(4,\).* got \(1, 4\)"),
    (lambda: ops.conv2d(X, np.zeros((7, 3, 3, 1))), ValueError,
     r"height axis: kernel KH=7 does not fit in the padded input.*5 \+ 0 = 5 < 7"),
    (lambda: ops.conv2d(X, W, dilation=3), ValueError, r"KH=3 with dilation 3 \(spans 7\)"),
    (lambda: ops.conv2d(X, W, stride=0), ValueError, r"stride must be >= 1, got 0"),
    (lambda: ops.conv2d(X, W, stride=(1, 2, 3)), ValueError, r"stride must be an int or a \(height, width\) pair"),
    (lambda: ops.conv2d(X, W, stride=1.5), TypeError, r"stride must be an integer, got 1.5"),
    (lambda: ops.conv2d(X, W, padding=-1), ValueError, r"padding must be >= 0, got -1"),
    (lambda: ops.conv2d(X, W, padding="half"), ValueError, r"one of \('valid', 'same', 'full'\), got 'half'"),
    (lambda: ops.conv2d(X, W, padding=1.5), TypeError, r"padding must be an int, \(pad_h, pad_w\)"),
    (lambda: ops.conv2d(X + 1j, W), TypeError, r"x must hold real numbers, got dtype complex128"),
    (lambda: ops.conv2d(np.zeros((0, 5, 5, 3)), W), ValueError, r"must not be empty"),
    (lambda: ops.zero_pad(X, ((1, 2, 3), (0, 0))), TypeError, r"pad must be an int, \(pad_h, pad_w\)"),
    (lambda: ops.zero_pad(X[0], 1), ValueError, r"x must be 4-D"),
    (lambda: ops.conv_single_step(np.zeros((3, 3, 2)), np.zeros((3, 3, 3)), 0), ValueError,
     r"a_slice.shape=\(3, 3, 2\), w.shape=\(3, 3, 3\)"),
    (lambda: ops.conv_single_step(np.zeros((3, 3, 3)), np.zeros((3, 3, 3)), np.zeros(2)), ValueError,
     r"b must be a single number, got shape \(2,\)"),
    (lambda: ops.correlate2d(np.zeros((5, 5, 1)), KERNEL), ValueError, r"image must be 2-D"),
    (lambda: ops.convolve2d(IMAGE, np.zeros((3, 3, 1))), ValueError, r"kernel must be 2-D"),
    (lambda: ops.correlate2d(IMAGE, KERNEL, "circular"), ValueError, r"mode must be one of .*'circular'"),
    (lambda: ops.correlate2d(IMAGE, np.ones((6, 6))), ValueError, r"KH=6 does not fit"),
    (lambda: ops.pool2d(X, mode="median"), ValueError, r"mode must be one of \('max', 'avg', 'sum'\), got 'median'"),
    (lambda: ops.pool2d(X, 2, padding=2), ValueError,
     r"padding \(2, 2\) along the height axis must be smaller than pool_size 2"),
    (lambda: ops.pool2d(X, 6), ValueError, r"pool_h=6 does not fit"),
    (lambda: ops.pool2d(X, 2, stride=0), ValueError, r"stride must be >= 1, got 0"),
    (lambda: ops.pool2d(X[0]), ValueError, r"x must be 4-D"),
    (lambda: ops.cross_entropy(np.ones((2, 3)), [0, 1]), ValueError, r"rows must be probabilities.*from_logits=True"),
    (lambda: ops.cross_entropy(np.zeros((2, 3)), [0, 3], from_logits=True), ValueError,
     r"labels must be in \[0, 3\).* got 3"),
    (lambda: ops.cross_entropy(np.zeros((2, 3)), [0.0, 1.0], from_logits=True), TypeError,
     r"labels must be integers, got dtype float64"),
    (lambda: ops.cross_entropy(np.zeros((2, 3)), [0, 1, 2], from_logits=True), ValueError,
     r"labels must have shape \(2,\).*got \(3,\)"),
    (lambda: ops.cross_entropy(np.zeros(3), [0], from_logits=True), ValueError, r"probs_or_logits must be 2-D"),
    (lambda: ops.dense(np.zeros((2, 5)), np.zeros((4, 3))), ValueError,
     r"w has 4 input features but x has 5 \(x.shape=\(2, 5\), w.shape=\(4, 3\)\)"),
    (lambda: ops.dense(np.zeros((2, 4)), np.zeros((4, 3)), np.zeros(4)), ValueError, r"b must have shape \(3,\)"),
    (lambda: ops.dense(X, W), ValueError, r"x must be 2-D \(batch, features\); flatten images first"),
    (lambda: ops.flatten(np.zeros(3)), ValueError, r"x must have a batch axis"),
    (lambda: ops.relu(np.array(["a"])), TypeError, r"x must hold real numbers"),
    (lambda: ops.global_avg_pool2d(np.zeros((2, 3))), ValueError, r"x must be 4-D NHWC"),
    (lambda: ops.global_max_pool2d(np.zeros((2, 0, 3, 1))), ValueError, r"x must not be empty"),
    (lambda: ops.batch_norm(X, np.ones(2), np.ones(3), np.ones(3), np.ones(3)), ValueError,
     r"gamma must have shape \(3,\), one value per channel of x \(x.shape=\(1, 5, 5, 3\)\), got \(2,\)"),
    (lambda: ops.batch_norm(X, *[np.ones(3)] * 3, -np.ones(3)), ValueError, r"moving_var must be >= 0"),
    (lambda: ops.batch_norm(X, *[np.ones(3)] * 4, momentum=1.5), ValueError, r"momentum must be a number in \[0, 1\]"),
    (lambda: ops.batch_norm(X, *[np.ones(3)] * 4, epsilon=0), ValueError, r"epsilon must be a positive number"),
    (lambda: ops.batch_norm(np.zeros(3), *[np.ones(3)] * 4), ValueError,
     r"x must be a non-empty batch with channels last"),
])
def test_bad_inputs_get_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
