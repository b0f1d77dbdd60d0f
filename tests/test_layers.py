"""cnnlib.layers: each layer's forward is its op, its backward passes a gradient check,
its weights start as the initializer says, and bad arguments are named."""

import numpy as np
import pytest

from cnnlib import conv_variants, ops
from cnnlib import layers as L
from cnnlib.gradcheck import gradient_check


def layer_gradient_check(layer, x, training=False):
    """Check dL/dx and dL/dweights of a built layer by central differences."""
    layer.forward(x, training=training)
    keys = list(layer.params)

    def fn(x, *weights):
        for key, value in zip(keys, weights):
            layer.params[key][...] = value       # in place: a block's params are its sublayers' arrays
        return layer.forward(x, training=training)

    def backward(dout, x, *weights):
        fn(x, *weights)
        dx = layer.backward(dout)
        return (dx, *[layer.grads[k] for k in keys])

    return gradient_check(fn, [x, *[layer.params[k] for k in keys]], backward, names=["x", *keys])


# Seeded weights: with unseeded ones about 1 run in 30 met an entry whose central difference
# was off by just over 1e-6 relative (a tiny gradient), and the test failed by chance.
@pytest.mark.parametrize("layer, shape", [
    (L.Conv2D(3, 3, strides=2, padding="same", dtype="float64", seed=0), (2, 7, 6, 2)),
    (L.Conv2D(2, (2, 3), padding=1, dilation_rate=2, dtype="float64", seed=0), (1, 6, 7, 3)),
    (L.Conv2D(2, 3, use_bias=False, dtype="float64", seed=0), (2, 5, 5, 1)),
    (L.MaxPool2D(3, 2), (2, 7, 7, 2)),
    (L.AvgPool2D(2, padding="same"), (2, 5, 5, 2)),
    (L.ReLU(), (2, 4, 4, 3)),
    (L.Flatten(), (2, 3, 3, 2)),
    (L.Dense(4, dtype="float64", seed=0), (3, 6)),
    (L.GlobalAveragePooling2D(), (2, 3, 5, 2)),
    (L.GlobalMaxPooling2D(keepdims=True), (2, 3, 5, 2)),
    (L.DepthwiseConv2D((3, 2), strides=(2, 1), padding="same", depth_multiplier=2, dtype="float64", seed=0),
     (2, 7, 6, 2)),
    (L.SeparableConv2D(3, 3, padding=1, dilation_rate=2, dtype="float64", seed=0), (1, 6, 7, 2)),
    (L.Conv2DTranspose(3, (3, 2), strides=2, padding="same", output_padding=1, dtype="float64", seed=0),
     (2, 3, 4, 2)),
    (L.Conv2DTranspose(2, 3, padding="valid", use_bias=False, dtype="float64", seed=0), (1, 2, 3, 3)),
], ids=lambda v: repr(v)[:60] if isinstance(v, L.Layer) else None)
def test_layer_backward_passes_gradient_check(layer, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    result = layer_gradient_check(layer, x)
    assert result.passed(1e-6), str(result)


@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_layer_passes_gradient_check(training):
    """In training mode the statistics are the batch's (dx has their terms), in inference the moving ones."""
    layer = L.BatchNormalization(momentum=0.9, dtype="float64")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 3, 2)) * 2 + 1
    layer.build(x.shape[1:])
    layer.params["gamma"][...] = rng.standard_normal(2)
    layer.state["moving_variance"][...] = [0.5, 2.0]
    result = layer_gradient_check(layer, x, training=training)
    assert result.passed(1e-5), str(result)


def test_new_layers_forward_is_their_op():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 5, 3))
    dw = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, dtype="float64", seed=0)
    np.testing.assert_array_equal(dw(x), conv_variants.depthwise_conv2d(x, dw.params["kernel"], dw.params["bias"],
                                                                         1, "same"))
    sep = L.SeparableConv2D(4, 3, strides=2, dtype="float64", seed=0)
    np.testing.assert_array_equal(sep(x), conv_variants.separable_conv2d(
        x, sep.params["depthwise_kernel"], sep.params["pointwise_kernel"], sep.params["bias"], 2))
    up = L.Conv2DTranspose(2, 3, strides=2, padding="same", dtype="float64", seed=0)
    np.testing.assert_array_equal(up(x), conv_variants.conv2d_transpose(x, up.params["kernel"], up.params["bias"],
                                                                        2, "same"))
    np.testing.assert_array_equal(L.GlobalAveragePooling2D()(x), x.mean(axis=(1, 2)))
    np.testing.assert_array_equal(L.GlobalMaxPooling2D(keepdims=True)(x), x.max(axis=(1, 2), keepdims=True))


def test_batch_normalization_uses_and_updates_its_statistics():
    layer = L.BatchNormalization(momentum=0.5)
    x = np.random.default_rng(4).standard_normal((8, 3, 3, 2)).astype(np.float32) * 3 + 5
    inference = layer(x)                                      # moving mean 0, variance 1: nearly x itself
    np.testing.assert_allclose(inference, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(layer.state["moving_mean"], 0)
    trained = layer(x, training=True)
    np.testing.assert_allclose(trained.mean(axis=(0, 1, 2)), 0, atol=1e-5)    # the batch's own statistics
    np.testing.assert_allclose(layer.state["moving_mean"], 0.5 * x.mean(axis=(0, 1, 2)), rtol=1e-5)
    assert layer.count_params() == 8 and layer.count_trainable_params() == 4
    assert [name for name, _ in layer.weights()] == ["gamma", "beta", "moving_mean", "moving_variance"]


def test_deep_relu_stack_keeps_its_scale_with_he_and_shrinks_with_glorot():
    """The argument behind the initializers, measured: through 20 square dense + ReLU layers the mean
    square activation stays within 2x of the input's with He (Var(w) = 2 / fan_in) and falls by
    about 2x per layer with Glorot (Var(w) = 2 / (fan_in + fan_out) = 1 / fan_in here)."""
    x = np.random.default_rng(5).standard_normal((2000, 256))
    scales = {}
    for init in ("he_normal", "glorot_normal"):
        h = x
        for depth in range(20):
            layer = L.Dense(256, use_bias=False, kernel_initializer=init, dtype="float64", seed=depth)
            h = np.maximum(layer(h), 0)
        scales[init] = np.mean(h ** 2) / np.mean(x ** 2)
    assert 0.5 < scales["he_normal"] < 2.0
    assert 0.25 * 2.0 ** -20 < scales["glorot_normal"] < 4 * 2.0 ** -20


def test_new_layers_have_keras_weight_names_and_shapes(tf):
    k = tf.keras.layers
    pairs = [
        (L.BatchNormalization(), k.BatchNormalization(), (5, 4, 3)),
        (L.DepthwiseConv2D(3, depth_multiplier=2), k.DepthwiseConv2D(3, depth_multiplier=2), (6, 5, 3)),
        (L.SeparableConv2D(4, (3, 2), depth_multiplier=2), k.SeparableConv2D(4, (3, 2), depth_multiplier=2), (6, 5, 3)),
        (L.Conv2DTranspose(4, (3, 2), strides=2), k.Conv2DTranspose(4, (3, 2), strides=2), (6, 5, 3)),
        (L.GlobalAveragePooling2D(), k.GlobalAveragePooling2D(), (6, 5, 3)),
    ]
    for ours, theirs, shape in pairs:
        out = ours.build(shape)
        y = theirs(np.zeros((1, *shape), np.float32))
        assert out == tuple(y.shape[1:]), type(ours).__name__
        assert [(name, a.shape) for name, a in ours.weights()] == [(v.name, tuple(v.shape)) for v in theirs.weights]
        assert ours.count_params() == theirs.count_params()


def test_layer_forward_is_the_op():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 8, 3))
    conv = L.Conv2D(4, 3, strides=2, padding="same", dtype="float64", seed=0)
    np.testing.assert_array_equal(conv(x), ops.conv2d(x, conv.params["kernel"], conv.params["bias"], 2, "same"))
    np.testing.assert_array_equal(L.MaxPool2D(3, 2)(x), ops.pool2d(x, 3, 2))
    np.testing.assert_array_equal(L.AvgPool2D()(x), ops.pool2d(x, 2, mode="avg"))
    np.testing.assert_array_equal(L.ReLU()(x), ops.relu(x))
    np.testing.assert_array_equal(L.Flatten()(x), x.reshape(2, -1))


def test_output_shapes_agree_with_forward():
    x = np.zeros((1, 13, 11, 3), dtype=np.float32)
    for layer in [L.Conv2D(5, 3), L.Conv2D(5, 3, strides=2, padding="same"), L.Conv2D(2, 5, padding="full"),
                  L.Conv2D(2, 3, dilation_rate=2), L.MaxPool2D(3, 2), L.AvgPool2D(2, padding="same"),
                  L.Flatten()]:
        assert layer(x).shape[1:] == layer.output_shape, repr(layer)


def test_keras_argument_names_and_weight_layouts():
    conv = L.Conv2D(filters=8, kernel_size=(3, 5), strides=(1, 2), padding="same", dilation_rate=1)
    conv.build((10, 10, 3))
    assert conv.params["kernel"].shape == (3, 5, 3, 8) and conv.params["bias"].shape == (8,)
    dense = L.Dense(units=7)
    dense.build((12,))
    assert dense.params["kernel"].shape == (12, 7)
    assert conv.params["kernel"].dtype == np.float32       # training dtype by default
    assert L.MaxPool2D(pool_size=3, strides=2, padding="valid").strides == (2, 2)
    assert L.MaxPool2D(2).strides == (2, 2)                 # strides default to pool_size


@pytest.mark.parametrize("init, var", [
    ("he_normal", lambda fi, fo: 2 / fi), ("he_uniform", lambda fi, fo: 2 / fi),
    ("glorot_normal", lambda fi, fo: 2 / (fi + fo)), ("glorot_uniform", lambda fi, fo: 2 / (fi + fo)),
])
def test_initializers_have_the_right_variance(init, var):
    conv = L.Conv2D(64, 3, kernel_initializer=init, seed=0)
    conv.build((8, 8, 32))
    w = conv.params["kernel"]
    fan_in, fan_out = 3 * 3 * 32, 3 * 3 * 64
    assert abs(w.mean()) < 0.01 * np.sqrt(var(fan_in, fan_out)) * 10
    assert w.var() == pytest.approx(var(fan_in, fan_out), rel=0.03)
    if init.endswith("uniform"):
        assert np.abs(w).max() <= np.sqrt(3 * var(fan_in, fan_out))
    np.testing.assert_array_equal(conv.params["bias"], 0)


def test_seeds_make_weights_repeatable():
    a, b, c = (L.Dense(5, seed=s) for s in (1, 1, 2))
    for layer in (a, b, c):
        layer.build((4,))
    np.testing.assert_array_equal(a.params["kernel"], b.params["kernel"])
    assert not np.array_equal(a.params["kernel"], c.params["kernel"])


def test_dropout():
    x = np.ones((200, 50), dtype=np.float32)
    drop = L.Dropout(0.25, seed=0)
    np.testing.assert_array_equal(drop(x), x)                      # inference: identity
    y = drop(x, training=True)
    kept = y != 0
    assert 0.72 < kept.mean() < 0.78                               # about 1 - rate survive
    np.testing.assert_allclose(y[kept], 1 / 0.75)                  # survivors scaled up
    dout = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(drop.backward(dout), np.where(kept, dout / 0.75, 0), rtol=1e-6)
    assert y.dtype == np.float32


def test_lazy_build_from_the_first_input():
    conv = L.Conv2D(3, 3)
    assert not conv.built
    conv(np.zeros((1, 6, 6, 2), dtype=np.float64))
    assert conv.built and conv.params["kernel"].shape == (3, 3, 2, 3)
    assert conv.params["kernel"].dtype == np.float64
    assert "Conv2D(3, kernel_size=(3, 3)" in repr(conv)


@pytest.mark.parametrize("call, error, message", [
    (lambda: L.Conv2D(0, 3), ValueError, "filters"),
    (lambda: L.Conv2D(2, 3, padding="sideways"), ValueError, "padding must be one of"),
    (lambda: L.Conv2D(2, 3, kernel_initializer="ones"), ValueError, "kernel_initializer must be one of"),
    (lambda: L.Conv2D(2, (3, 3, 3)), ValueError, "kernel_size must be an int or a"),
    (lambda: L.Conv2D(2, 7).build((5, 5, 1)), ValueError, "kernel"),
    (lambda: L.Conv2D(2, 3).build((5, 5)), ValueError, r"needs inputs of shape \(H, W, C\)"),
    (lambda: L.Dense(3).build((4, 4, 1)), ValueError, "put a Flatten layer before it"),
    (lambda: L.Dense(-1), ValueError, "units"),
    (lambda: L.Dropout(1.0), ValueError, r"rate must be a number in \[0, 1\)"),
    (lambda: L.MaxPool2D(2, padding="full"), ValueError, "padding must be 'valid', 'same'"),
    (lambda: L.ReLU().backward(np.zeros(3)), RuntimeError, "backward called before forward"),
    (lambda: L.BatchNormalization(momentum=2), ValueError, r"momentum must be a number in \[0, 1\]"),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=0), ValueError, "depth_multiplier"),
    (lambda: L.Conv2DTranspose(2, 3, strides=2, output_padding=2).build((4, 4, 1)), ValueError,
     "output_padding must be smaller than the stride"),
    (lambda: L.GlobalAveragePooling2D().build((4, 4)), ValueError, r"needs inputs of shape \(H, W, C\)"),
])
def test_bad_arguments_get_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_wrong_input_shape_after_build_is_named():
    conv = L.Conv2D(2, 3)
    conv.build((8, 8, 1))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(batch, 8, 8, 1\)"):
        conv(np.zeros((1, 8, 8, 3)))
