"""cnnlib.blocks: residual blocks against Keras functional models (float64) and central differences."""

import numpy as np
import pytest

from cnnlib import blocks
from cnnlib import layers as L
from cnnlib.blocks import ResidualBlock, resnet_block
from cnnlib.gradcheck import gradient_check
from test_layers import layer_gradient_check

TOL = dict(rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("block, shape", [
    (ResidualBlock([L.Conv2D(3, 3, padding="same", dtype="float64", seed=0), L.ReLU(),
                    L.Conv2D(3, 1, dtype="float64", seed=1)]), (2, 5, 4, 3)),
    (ResidualBlock([L.Conv2D(4, 3, strides=2, padding="same", dtype="float64", seed=0)],
                   [L.Conv2D(4, 1, strides=2, use_bias=False, dtype="float64", seed=1)]), (2, 5, 6, 2)),
], ids=["identity", "projection"])
def test_residual_block_passes_gradient_check(block, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    result = layer_gradient_check(block, x)
    assert result.passed(1e-6), str(result)


def test_resnet_block_passes_gradient_check_in_training_mode():
    block = resnet_block(4, strides=2)
    block.build((6, 5, 2), dtype="float64")
    x = np.random.default_rng(2).standard_normal((3, 6, 5, 2))
    result = layer_gradient_check(block, x, training=True)
    assert result.passed(1e-5), str(result)


def test_block_adds_its_branch_to_its_input():
    x = np.random.default_rng(3).standard_normal((2, 4, 3, 2))
    np.testing.assert_array_equal(ResidualBlock([L.ReLU()])(x), x + np.maximum(x, 0))
    dout = np.ones_like(x)
    block = ResidualBlock([L.ReLU()])
    block(x)
    np.testing.assert_array_equal(block.backward(dout), 1 + (x > 0))   # identity's 1 plus the branch's mask


def test_block_weights_are_its_layers_arrays():
    block = resnet_block(6, strides=2)
    block.build((8, 8, 3))
    conv = block.branch[0]
    assert block.params["conv2d/kernel"] is conv.params["kernel"]          # an optimizer updates the layer
    assert set(block.state) == {f"{bn}/{key}" for bn in ("batch_normalization", "batch_normalization_1",
                                                         "batch_normalization_2")
                                for key in ("moving_mean", "moving_variance")}
    assert block.count_params() == sum(layer.count_params() for layer in block.sublayers())
    assert block.count_trainable_params() == block.count_params() - 2 * (6 + 6 + 6)


def test_residual_block_shapes_must_match():
    with pytest.raises(ValueError, match=r"the branch gives \(3, 3, 4\) but the identity shortcut gives \(6, 6, 2\)"
                                         r".*1x1 Conv2D on the shortcut"):
        ResidualBlock([L.Conv2D(4, 3, strides=2, padding="same")]).build((6, 6, 2))
    assert resnet_block(8).shortcut is None and len(resnet_block(8, strides=2).shortcut) == 2
    assert len(resnet_block(8, projection=True).shortcut) == 2


@pytest.mark.parametrize("call, error, message", [
    (lambda: ResidualBlock([]), ValueError, "branch must hold at least one layer"),
    (lambda: ResidualBlock([L.ReLU(), "relu"]), TypeError, r"branch\[1\] must be a cnnlib.layers.Layer"),
    (lambda: ResidualBlock([L.ReLU()], ["relu"]), TypeError, r"shortcut\[0\] must be a cnnlib.layers.Layer"),
    (lambda: blocks.residual_block(np.ones((1, 4, 4, 2)), np.ones((1, 1, 3, 2)), np.ones(2), np.ones((1, 1, 2, 2)),
                                   np.ones(2)), ValueError,
     r"kernel has shape \(1, 1, 3, 2\), expected \(1, 1, 2, 2\)"),
])
def test_bad_blocks_get_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- the functional 1x1 block of Assignment 5 ----------------------------------------------

BLOCK_CASES = [((2, 5, 4, 3), 4, None, 1), ((3, 4, 6, 2), 3, 5, 1), ((2, 5, 7, 3), 2, 4, 2), ((1, 3, 3, 2), 2, 2, 2)]


def block_args(shape, hidden, out, stride, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[3]
    f = c if out is None else out
    return {"x": rng.standard_normal(shape), "w1": rng.standard_normal((1, 1, c, hidden)),
            "b1": rng.standard_normal(hidden), "w2": rng.standard_normal((1, 1, hidden, f)),
            "b2": rng.standard_normal(f), "w_proj": None if out is None else rng.standard_normal((1, 1, c, f)),
            "stride": stride}


def keras_block(tf, a):
    """The same block as a Keras functional model: Conv2D 1x1 (strided), ReLU, Conv2D 1x1, Add, ReLU."""
    k = tf.keras.layers
    inputs = tf.keras.Input(a["x"].shape[1:], dtype="float64")
    conv1 = k.Conv2D(a["w1"].shape[3], 1, strides=a["stride"], dtype="float64", name="first")
    conv2 = k.Conv2D(a["w2"].shape[3], 1, dtype="float64", name="second")
    h = conv2(k.ReLU(dtype="float64")(conv1(inputs)))
    side = inputs
    if a["w_proj"] is not None:
        proj = k.Conv2D(a["w_proj"].shape[3], 1, strides=a["stride"], use_bias=False, dtype="float64",
                        name="projection")
        side = proj(inputs)
        proj.set_weights([a["w_proj"]])
    out = k.ReLU(dtype="float64")(k.Add(dtype="float64")([h, side]))
    conv1.set_weights([a["w1"], a["b1"]])
    conv2.set_weights([a["w2"], a["b2"]])
    return tf.keras.Model(inputs, out)


@pytest.mark.parametrize("shape, hidden, out, stride", BLOCK_CASES)
def test_functional_block_matches_keras(tf, shape, hidden, out, stride):
    a = block_args(shape, hidden, out, stride)
    model = keras_block(tf, a)
    expected = model(a["x"]).numpy()
    np.testing.assert_allclose(blocks.residual_block(**a), expected, **TOL)
    dout = np.random.default_rng(1).standard_normal(expected.shape)
    xt = tf.constant(a["x"])
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(model(xt) * dout)
    grads = tape.gradient(loss, [xt] + model.trainable_weights)
    theirs = {v.path.split("/")[0] + "/" + v.name: g.numpy() for v, g in zip(model.trainable_weights, grads[1:])}
    dx, dw1, db1, dw2, db2, dw_proj = blocks.residual_block_backward(dout, **a)
    np.testing.assert_allclose(dx, grads[0].numpy(), **TOL)
    np.testing.assert_allclose(dw1, theirs["first/kernel"], **TOL)
    np.testing.assert_allclose(db1, theirs["first/bias"], **TOL)
    np.testing.assert_allclose(dw2, theirs["second/kernel"], **TOL)
    np.testing.assert_allclose(db2, theirs["second/bias"], **TOL)
    if out is None:
        assert dw_proj is None
    else:
        np.testing.assert_allclose(dw_proj, theirs["projection/kernel"], **TOL)


@pytest.mark.parametrize("shape, hidden, out, stride", BLOCK_CASES[1:])
def test_functional_block_backward_matches_central_differences(shape, hidden, out, stride):
    a = block_args(shape, hidden, out, stride, seed=2)
    names = ["x", "w1", "b1", "w2", "b2", "w_proj"]

    def forward(*arrays):
        return blocks.residual_block(**dict(zip(names, arrays)), stride=stride)

    def backward(dout, *arrays):
        return blocks.residual_block_backward(dout, **dict(zip(names, arrays)), stride=stride)

    result = gradient_check(forward, [a[k] for k in names], backward, names=names)
    assert result.passed(1e-6), str(result)
