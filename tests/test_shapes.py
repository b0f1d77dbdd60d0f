"""cnnlib.shapes against the shapes TensorFlow actually produces, and hand-computed cases."""

import itertools

import numpy as np
import pytest

from cnnlib import shapes
from cnnlib.shapes import (conv_output_size, conv_param_count, conv_transpose_output_size, conv_transpose_padding,
                           full_padding, pool_output_size, receptive_field, same_padding)

GRID = list(itertools.product(range(1, 13), range(1, 6), range(1, 4), range(1, 3)))  # n, k, s, d


def tf_conv_out(tf, n, k, s, d, padding):
    """Output length TensorFlow gives for a 1 x n x 1 x 1 input, or None if it refuses."""
    x = np.ones((1, n, 1, 1))
    w = np.ones((k, 1, 1, 1))
    try:
        return tf.nn.conv2d(x, w, strides=[1, s, 1, 1], padding=padding, dilations=[1, d, 1, 1]).shape[1]
    except Exception:  # noqa: BLE001 - TensorFlow refuses a kernel that does not fit (its error types vary)
        return None


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_output_size_matches_tensorflow_exhaustively(tf, padding):
    checked = refused = 0
    for n, k, s, d in GRID:
        expected = tf_conv_out(tf, n, k, s, d, padding.upper())
        if expected is None or expected == 0:
            with pytest.raises(ValueError, match="does not fit"):
                conv_output_size(n, k, padding, s, d)
            refused += 1
        else:
            assert conv_output_size(n, k, padding, s, d) == expected, (n, k, s, d, padding)
            checked += 1
    assert checked + refused == len(GRID) == 360
    # By hand: a kernel spans more than n in 10 (n, k) pairs at dilation 1 and 20 at
    # dilation 2, times 3 strides, so VALID refuses 90 of the 360 cases.
    assert checked == 360 if padding == "same" else (checked, refused) == (270, 90)


def test_explicit_and_full_padding_match_tensorflow(tf):
    for n, k, s, d in GRID:
        for p in [0, 1, 2, "full"]:
            amount = full_padding(k, d) if p == "full" else p
            expected = tf_conv_out(tf, n, k, s, d, [[0, 0], [amount, amount], [0, 0], [0, 0]])
            if expected:
                assert conv_output_size(n, k, p, s, d) == expected, (n, k, s, d, p)
            else:
                with pytest.raises(ValueError):
                    conv_output_size(n, k, p, s, d)


def test_same_padding_split_matches_tensorflow(tf):
    """padding_amounts('same') reproduces TF's SAME output values, extra pixel at the end."""
    rng = np.random.default_rng(0)
    for n, k, s, d in GRID:
        x = rng.standard_normal((1, n, 1, 1))
        w = rng.standard_normal((k, 1, 1, 1))
        before, after = shapes.padding_amounts(n, k, "same", s, d)
        assert after - before in (0, 1)
        same = tf.nn.conv2d(x, w, [1, s, 1, 1], "SAME", dilations=[1, d, 1, 1]).numpy()
        explicit = tf.nn.conv2d(x, w, [1, s, 1, 1], [[0, 0], [before, after], [0, 0], [0, 0]],
                                dilations=[1, d, 1, 1]).numpy()
        np.testing.assert_allclose(explicit, same, rtol=1e-12, atol=1e-12)


def test_course_formula_examples():
    assert conv_output_size(7, 3, 0, 1) == 5          # 7x7 with 3x3, stride 1
    assert conv_output_size(7, 3, 0, 2) == 3          # stride 2
    assert conv_output_size(227, 11, 0, 4) == 55      # AlexNet conv1
    assert conv_output_size(32, 5, 2, 1) == 32        # 'same' for a 5x5 kernel
    assert conv_output_size(5, 3, "full") == 7
    assert conv_output_size(5, 3, "same", stride=2) == 3
    assert conv_output_size(7, 3, 0, 1, dilation=2) == 3
    assert conv_output_size(6, 3, (0, 1)) == 5


def test_strict_names_the_leftover_pixels():
    with pytest.raises(ValueError, match=r"last 1 pixel"):
        conv_output_size(7, 3, 0, 3, strict=True)     # the stride that does not fit
    assert conv_output_size(7, 3, 0, 3) == 2          # without strict: floor
    assert conv_output_size(7, 3, 0, 2, strict=True) == 3
    # Over the grid, strict raises exactly when some bottom rows are never covered.
    for n, k, s, d in GRID:
        ke = d * (k - 1) + 1
        if ke > n:
            continue
        out = (n - ke) // s + 1
        uncovered = n - ((out - 1) * s + ke)          # rows after the last window ends
        if uncovered:
            with pytest.raises(ValueError, match=rf"last {uncovered} pixel"):
                conv_output_size(n, k, 0, s, d, strict=True)
        else:
            assert conv_output_size(n, k, 0, s, d, strict=True) == out


def test_same_and_full_padding():
    assert [same_padding(k) for k in (1, 3, 5, 7)] == [0, 1, 2, 3]   # (K-1)/2
    assert same_padding(3, dilation=2) == 2
    assert full_padding(3) == 2 and full_padding(3, dilation=3) == 6
    with pytest.raises(ValueError, match="even.*1 before and 2 after"):
        same_padding(4)


def test_same_padding_keeps_the_size_in_tensorflow(tf):
    for k in (1, 3, 5, 7):
        for d in (1, 2):
            p = same_padding(k, d)
            assert tf_conv_out(tf, 12, k, 1, d, [[0, 0], [p, p], [0, 0], [0, 0]]) == 12


def test_pool_output_size_matches_tensorflow(tf):
    for n in range(1, 13):
        for pool in range(1, 4):
            for stride in (None, 1, 2, 3):
                for padding in ("valid", "same"):
                    x = np.ones((1, n, 1, 1))
                    s = pool if stride is None else stride
                    try:
                        expected = tf.nn.max_pool2d(x, [pool, 1], [s, 1], padding.upper()).shape[1]
                    except Exception:  # noqa: BLE001 - TensorFlow refuses a window that does not fit
                        expected = 0
                    if expected:
                        assert pool_output_size(n, pool, stride, padding) == expected
                    else:
                        with pytest.raises(ValueError, match="pool_size"):
                            pool_output_size(n, pool, stride, padding)
    assert pool_output_size(55, 3, 2) == 27   # AlexNet's overlapping pooling


# ---------------------------------------------------------------------------
# Transposed convolutions
# ---------------------------------------------------------------------------

def tf_transpose_sizes(tf, n, span, s, padding):
    """Every output size TensorFlow's conv2d_transpose accepts for a 1 x n x 1 x 1 input and a kernel
    spanning ``span`` pixels (a dilated kernel written out with zeros), tried from 1 to n*s + span."""
    x, w = np.ones((1, n, 1, 1)), np.ones((span, 1, 1, 1))
    accepted = set()
    for o in range(1, n * s + span + 1):
        try:
            tf.nn.conv2d_transpose(x, w, [1, o, 1, 1], [1, s, 1, 1], padding)
            accepted.add(o)
        except Exception:  # noqa: BLE001 - TensorFlow refuses sizes its forward conv would not map to n
            pass
    return accepted


@pytest.mark.parametrize("padding", ["valid", "same", 1, "full"])
def test_conv_transpose_sizes_are_exactly_the_ones_tensorflow_accepts(tf, padding):
    """Over the whole grid, the sizes conv_transpose_output_size gives for every output_padding
    (None and 0 .. S-1) are the sizes tf.nn.conv2d_transpose accepts, no more, no fewer."""
    cache = {}
    for n, k, s, d in GRID:
        span = d * (k - 1) + 1
        tf_padding = padding.upper() if padding in ("valid", "same") else None
        if tf_padding is None:
            amount = span - 1 if padding == "full" else padding
            tf_padding = [[0, 0], [amount, amount], [0, 0], [0, 0]]
        key = (n, span, s, repr(tf_padding))
        if key not in cache:
            cache[key] = tf_transpose_sizes(tf, n, span, s, tf_padding)
        ours = set()
        for a in [None, *range(s)]:
            try:
                ours.add(conv_transpose_output_size(n, k, padding, s, d, a))
            except ValueError:
                assert padding == "same" and a == 0 and span % 2 == 0 or padding in (1, "full")
        assert ours == cache[key], (n, k, s, d, padding)
        for size in ours:   # and the forward convolution maps each of them back to n
            assert conv_output_size(size, k, padding if padding != "same" else "same", s, d) == n


def test_conv_transpose_default_size_is_keras(tf):
    """output_padding=None gives the size Keras's Conv2DTranspose computes; so does each explicit one."""
    k_layers = tf.keras.layers
    for n, k, s, d in GRID:
        if s > 1 and d > 1:
            continue   # Keras refuses strides > 1 with dilation > 1
        for padding in ("valid", "same"):
            for a in [None, *range(s)]:
                layer = k_layers.Conv2DTranspose(1, (k, 1), strides=(s, 1), padding=padding, dilation_rate=(d, 1),
                                                 output_padding=None if a is None else (a, 0))
                keras = layer.compute_output_shape((1, n, 1, 1))[1]
                try:
                    assert conv_transpose_output_size(n, k, padding, s, d, a) == keras, (n, k, s, d, padding, a)
                except ValueError:   # a size Keras computes but TensorFlow then refuses
                    assert padding == "same" and a == 0 and (d * (k - 1) + 1) % 2 == 0
                    assert keras not in tf_transpose_sizes(tf, n, d * (k - 1) + 1, s, "SAME")


def test_conv_transpose_by_hand():
    """The convolution-arithmetic guide's relation o = s(i - 1) + a + k - 2p, on its own examples."""
    assert conv_output_size(5, 3, 1, 2) == conv_output_size(6, 3, 1, 2) == 3   # two inputs give 3 ...
    assert conv_transpose_output_size(3, 3, 1, 2, output_padding=0) == 5       # ... a picks which comes back
    assert conv_transpose_output_size(3, 3, 1, 2, output_padding=1) == 6
    assert conv_transpose_output_size(5, 3, 0, 1) == 7          # stride 1, no padding: o = i + k - 1
    assert conv_transpose_output_size(5, 3, "full") == 3        # 'full' undoes a full conv: 3 -> 5
    assert conv_transpose_output_size(7, 3, "same", 2) == 14    # Keras's default: n * S
    assert conv_transpose_output_size(7, 2, "valid", 3) == 21   # kernel smaller than the stride: n * S
    assert conv_transpose_padding(7, 4, "same", 2) == (1, 1, 0)  # (14 + 1 + 1 - 4) / 2 + 1 = 7
    assert conv_transpose_padding(3, 3, 1, 2, output_padding=1) == (1, 1, 1)


@pytest.mark.parametrize("call, message", [
    (lambda: conv_transpose_output_size(3, 3, 0, 2, output_padding=2), r"output_padding must be smaller than "
                                                                         r"the stride: got 2 with stride 2"),
    (lambda: conv_transpose_output_size(3, 4, "same", 2, output_padding=0), r"gives 2 outputs, not 3.*between 1 and 1"),
    (lambda: conv_transpose_output_size(1, 3, 2), r"removes more than .* = -1 < 1"),
    (lambda: conv_transpose_output_size(4, 2, "same", 1, output_padding=0), r"only output_padding=None works"),
    (lambda: conv_transpose_output_size(0, 3), r"n must be >= 1, got 0"),
    (lambda: conv_transpose_output_size(3, 3, output_padding=-1), r"output_padding must be >= 0, got -1"),
])
def test_impossible_transposed_sizes_are_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_conv_param_count_matches_keras(tf):
    for kh, kw, c_in, c_out, bias in [(3, 3, 3, 64, True), (11, 11, 3, 96, True),
                                      (5, 5, 6, 16, True), (1, 1, 256, 64, False), (3, 1, 2, 5, True)]:
        layer = tf.keras.layers.Conv2D(c_out, (kh, kw), use_bias=bias)
        layer.build((None, 16, 16, c_in))
        assert conv_param_count(kh, kw, c_in, c_out, bias) == layer.count_params()


def tf_receptive_field(tf, layers, size=64):
    """Receptive field measured in TF: the span of input pixels that move one output unit."""
    x = tf.Variable(np.ones((1, size, 1, 1)))
    with tf.GradientTape() as tape:
        h = x
        for k, s, d in layers:
            h = tf.nn.convolution(h, np.ones((k, 1, 1, 1)), strides=[s, 1], dilations=[d, 1],
                                  padding="VALID")
        unit = h[0, h.shape[1] // 2, 0, 0]
    touched = np.nonzero(tape.gradient(unit, x).numpy()[0, :, 0, 0])[0]
    return touched.max() - touched.min() + 1


@pytest.mark.parametrize("layers", [
    [(3, 1, 1)], [(3, 1, 1), (3, 1, 1)], [(3, 1, 1)] * 3, [(5, 1, 1), (2, 2, 1), (5, 1, 1)],
    [(3, 2, 1), (3, 2, 1), (3, 2, 1)], [(3, 1, 2), (3, 1, 4)], [(7, 2, 1), (3, 2, 1), (3, 1, 1)],
])
def test_receptive_field_matches_a_gradient_in_tensorflow(tf, layers):
    strides_ok = all(s == 1 or d == 1 for _, s, d in layers)  # TF refuses stride>1 with dilation>1
    assert strides_ok
    assert receptive_field(layers) == tf_receptive_field(tf, layers)
    if all(d == 1 for _, _, d in layers):
        assert receptive_field([(k, s) for k, s, _ in layers]) == receptive_field(layers)


def test_receptive_field_by_hand():
    assert receptive_field([]) == 1
    assert receptive_field([(3, 1), (3, 1)]) == 5            # two 3x3 convs see 5x5
    assert receptive_field([(3, 1), (3, 1), (3, 1)]) == 7    # three see 7x7
    assert receptive_field([(2, 2), (3, 1)]) == 6


@pytest.mark.parametrize("call, message", [
    (lambda: conv_output_size(3, 5), r"k=5 does not fit.*3 \+ 0 = 3 < 5"),
    (lambda: conv_output_size(5, 3, dilation=3), r"dilation 3 \(spans 7\).*5 < 7"),
    (lambda: conv_output_size(5, 3, stride=0), r"stride must be >= 1, got 0"),
    (lambda: conv_output_size(5, 0), r"k must be >= 1, got 0"),
    (lambda: conv_output_size(0, 3), r"n must be >= 1, got 0"),
    (lambda: conv_output_size(5, 3, padding=-1), r"padding must be >= 0, got -1"),
    (lambda: conv_output_size(5, 3, padding=(1, -2)), r"padding must be >= 0, got -2"),
    (lambda: conv_output_size(5, 3, padding="half"), r"'valid', 'same', 'full'.*'half'"),
    (lambda: conv_output_size(5, 3, dilation=0), r"dilation must be >= 1, got 0"),
    (lambda: pool_output_size(2, 3), r"pool_size=3 does not fit"),
    (lambda: receptive_field([(3, 0)]), r"layers\[0\] stride must be >= 1, got 0"),
    (lambda: receptive_field([3]), r"layers\[0\] must be \(kernel, stride\)"),
    (lambda: conv_param_count(3, 3, 0, 8), r"c_in must be >= 1, got 0"),
])
def test_impossible_requests_raise_value_error_with_numbers(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("call", [
    lambda: conv_output_size(5.0, 3), lambda: conv_output_size(5, 3, stride=1.5),
    lambda: conv_output_size(5, True), lambda: conv_output_size(5, 3, padding=1.0),
])
def test_non_integers_raise_type_error(call):
    with pytest.raises(TypeError, match="must be an integer|must be an int"):
        call()


def test_numpy_integers_are_accepted():
    assert conv_output_size(np.int64(28), np.int32(5), np.int8(2)) == 28
