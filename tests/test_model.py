"""cnnlib.model.Sequential and cnnlib.keras_bridge: Keras's numbers for the same networks,
the same outputs and gradients through to_keras, and a CNN that really learns digits."""

import numpy as np
import pytest

from bench.bench_resnet import small_resnet   # the networks the benchmarks time
from bench.bench_train import course_cnn
from cnnlib import backprop
from cnnlib import layers as L
from cnnlib.blocks import ResidualBlock, resnet_block
from cnnlib.data import load_mnist_subset
from cnnlib.keras_bridge import to_keras
from cnnlib.model import History, Sequential
from cnnlib.optim import SGD, Adam




# Three networks, each written twice by hand: once in cnnlib, once in Keras.
def networks(tf):
    k = tf.keras.layers
    return {
        "course_cnn": (course_cnn(), tf.keras.Sequential([
            tf.keras.Input((28, 28, 1)), k.Conv2D(16, 3), k.ReLU(), k.MaxPooling2D(2),
            k.Conv2D(32, 3), k.ReLU(), k.MaxPooling2D(2), k.Flatten(), k.Dense(10)])),
        "lenet_like": (Sequential([
            L.Conv2D(6, 5, padding="same"), L.ReLU(), L.AvgPool2D(2), L.Conv2D(16, 5), L.ReLU(),
            L.AvgPool2D(2), L.Flatten(), L.Dense(120), L.ReLU(), L.Dense(84), L.ReLU(), L.Dense(10)],
            input_shape=(28, 28, 1)), tf.keras.Sequential([
            tf.keras.Input((28, 28, 1)), k.Conv2D(6, 5, padding="same"), k.ReLU(), k.AveragePooling2D(2),
            k.Conv2D(16, 5), k.ReLU(), k.AveragePooling2D(2), k.Flatten(), k.Dense(120), k.ReLU(),
            k.Dense(84), k.ReLU(), k.Dense(10)])),
        "strided_rgb": (Sequential([
            L.Conv2D(24, 5, strides=2, padding="same"), L.ReLU(), L.MaxPool2D(3, 2, padding="same"),
            L.Conv2D(48, (3, 1), dilation_rate=2, use_bias=False), L.ReLU(), L.Flatten(), L.Dropout(0.5),
            L.Dense(100), L.ReLU(), L.Dense(7)], input_shape=(33, 31, 3)), tf.keras.Sequential([
            tf.keras.Input((33, 31, 3)), k.Conv2D(24, 5, strides=2, padding="same"), k.ReLU(),
            k.MaxPooling2D(3, 2, padding="same"), k.Conv2D(48, (3, 1), dilation_rate=2, use_bias=False),
            k.ReLU(), k.Flatten(), k.Dropout(0.5), k.Dense(100), k.ReLU(), k.Dense(7)])),
    }


def keras_basic_block(tf, input_shape, filters, strides, projection, name):
    """ResNet's basic block written by hand as a nested Keras model (conv-BN-ReLU-conv-BN + shortcut)."""
    k = tf.keras.layers
    inputs = tf.keras.Input(input_shape)
    h = k.Conv2D(filters, 3, strides, padding="same", use_bias=False)(inputs)
    h = k.ReLU()(k.BatchNormalization()(h))
    h = k.BatchNormalization()(k.Conv2D(filters, 3, padding="same", use_bias=False)(h))
    side = inputs
    if projection:
        side = k.BatchNormalization()(k.Conv2D(filters, 1, strides, padding="same", use_bias=False)(inputs))
    return tf.keras.Model(inputs, k.Add()([h, side]), name=name)


def modern_networks(tf):
    """Networks with the new layers, written twice by hand like networks(): a small ResNet and a
    MobileNet-like stack with depthwise, separable and transposed convolutions."""
    k = tf.keras.layers
    return {
        "small_resnet": (Sequential([
            L.Conv2D(8, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(),
            resnet_block(8), L.ReLU(), resnet_block(16, strides=2), L.ReLU(),
            L.GlobalAveragePooling2D(), L.Dense(10)], input_shape=(28, 28, 1)), tf.keras.Sequential([
            tf.keras.Input((28, 28, 1)), k.Conv2D(8, 3, padding="same", use_bias=False), k.BatchNormalization(),
            k.ReLU(), keras_basic_block(tf, (28, 28, 8), 8, 1, False, "b1"), k.ReLU(),
            keras_basic_block(tf, (28, 28, 8), 16, 2, True, "b2"), k.ReLU(), k.GlobalAveragePooling2D(),
            k.Dense(10)])),
        "mobile_like": (Sequential([
            L.Conv2D(6, 3, strides=2, padding="same"), L.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
            L.BatchNormalization(), L.ReLU(), L.SeparableConv2D(12, (3, 5), strides=(2, 1)),
            L.Conv2DTranspose(5, 3, strides=2, padding="same", output_padding=1), L.GlobalMaxPooling2D(),
            L.Dense(4)], input_shape=(31, 27, 3)), tf.keras.Sequential([
            tf.keras.Input((31, 27, 3)), k.Conv2D(6, 3, strides=2, padding="same"),
            k.DepthwiseConv2D(3, padding="same", depth_multiplier=2), k.BatchNormalization(), k.ReLU(),
            k.SeparableConv2D(12, (3, 5), strides=(2, 1)),
            k.Conv2DTranspose(5, 3, strides=2, padding="same", output_padding=1), k.GlobalMaxPooling2D(),
            k.Dense(4)])),
    }


@pytest.mark.parametrize("name", ["course_cnn", "lenet_like", "strided_rgb", "small_resnet", "mobile_like"])
def test_summary_numbers_equal_keras(tf, name, capsys):
    ours, theirs = {**networks(tf), **modern_networks(tf)}[name]
    rows = ours.table()
    assert [(shape, count) for _, _, shape, count in rows] == \
           [(tuple(layer.output.shape), layer.count_params()) for layer in theirs.layers]
    assert ours.count_params() == theirs.count_params()
    ours.summary()
    printed = capsys.readouterr().out
    assert f"Total params: {theirs.count_params():,}" in printed
    trainable = sum(int(np.prod(v.shape)) for v in theirs.trainable_weights)
    assert f"Trainable params: {trainable:,}" in printed
    assert f"Non-trainable params: {theirs.count_params() - trainable:,}" in printed
    for layer in theirs.layers:
        assert str(tuple(layer.output.shape)) in printed


def test_summary_can_expand_a_block(capsys):
    model = modern_networks_cnnlib_resnet()
    model.summary(expand_nested=True)
    printed = capsys.readouterr().out
    assert "residual_block (ResidualBlock)" in printed and "  conv2d (Conv2D)" in printed
    rows = model.table(expand_nested=True)
    start = [r[0] for r in rows].index("residual_block_1")
    inner = []
    for row in rows[start + 1:]:
        if not row[0].startswith("  "):
            break
        inner.append(row)
    assert len(inner) == 7 and rows[start][3] == sum(r[3] for r in inner) == 3776
    assert len(model.table()) == 9


def modern_networks_cnnlib_resnet():
    return Sequential([L.Conv2D(8, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(),
                       resnet_block(8), L.ReLU(), resnet_block(16, strides=2), L.ReLU(),
                       L.GlobalAveragePooling2D(), L.Dense(10)], input_shape=(28, 28, 1))


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 1e-6)])
def test_to_keras_gives_the_same_outputs_and_gradients(tf, dtype, tol):
    model = Sequential([L.Conv2D(4, 3, padding=1), L.ReLU(), L.MaxPool2D(2), L.Conv2D(6, 3, strides=2, padding="same"),
                        L.ReLU(), L.AvgPool2D(2, padding="same"), L.Conv2D(5, 2, padding="full"), L.ReLU(),
                        L.Flatten(), L.Dropout(0.3), L.Dense(10)], input_shape=(12, 12, 2), seed=1, dtype=dtype)
    keras_model = to_keras(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 12, 12, 2)).astype(dtype)
    y = rng.integers(0, 10, 5)
    np.testing.assert_allclose(keras_model(x).numpy(), model.forward(x), rtol=tol, atol=tol)
    with_softmax = to_keras(model, softmax=True)
    np.testing.assert_allclose(with_softmax(x).numpy(), model.predict(x), rtol=tol, atol=tol)
    # Keras's predict() feeds its input through float32 whatever the model's dtype.
    np.testing.assert_allclose(with_softmax.predict(x, verbose=0), model.predict(x), rtol=1e-6, atol=1e-6)

    logits = model.forward(x)
    _, dlogits = backprop.softmax_cross_entropy(logits, y)
    model.backward(dlogits)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, keras_model(x)))
    keras_grads = tape.gradient(loss, keras_model.trainable_weights)
    assert len(keras_grads) == len(model.gradients())
    for ours, theirs in zip(model.gradients(), keras_grads):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=10 * tol, atol=10 * tol)


def keras_weights_by_path(keras_model):
    """{(layer name, weight name): variable} over the model and the models nested in it."""
    out = {}

    def walk(layers, prefix):
        for layer in layers:
            if hasattr(layer, "layers"):       # a nested model: its layers under its name
                walk(layer.layers, prefix + (layer.name,))
            for v in layer.weights if not hasattr(layer, "layers") else []:
                out[("/".join(prefix + (layer.name,)), v.name)] = v
    walk(keras_model.layers, ())
    return out


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-11), ("float32", 2e-5)])
def test_to_keras_covers_every_new_layer(tf, dtype, tol):
    """Every new layer, blocks included: equal outputs in inference and training mode, equal
    gradients in training mode, equal moving statistics after a training step, weights both ways."""
    model = Sequential([
        L.Conv2D(6, 3, padding="same", use_bias=False), L.BatchNormalization(momentum=0.9), L.ReLU(),
        ResidualBlock([L.Conv2D(6, 3, padding="same"), L.ReLU(), L.DepthwiseConv2D(3, padding="same")]), L.ReLU(),
        resnet_block(8, strides=2), L.ReLU(),
        L.SeparableConv2D(8, 3, padding="same", depth_multiplier=2), L.BatchNormalization(),
        L.Conv2DTranspose(4, 3, strides=2, padding="valid", output_padding=1),
        L.GlobalAveragePooling2D(), L.Dense(5)], input_shape=(9, 8, 2), seed=4, dtype=dtype)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((6, 9, 8, 2)).astype(dtype), rng.integers(0, 5, 6)
    model.forward(x, training=True)                   # move the moving statistics off their start
    keras_model = to_keras(model)
    for a, b in zip(keras_model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(keras_model(x, training=False).numpy(), model.forward(x), rtol=tol, atol=tol)

    logits = model.forward(x, training=True)
    _, dlogits = backprop.softmax_cross_entropy(logits, y)
    model.backward(dlogits)
    with tf.GradientTape() as tape:
        keras_logits = keras_model(x, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, keras_logits))
    np.testing.assert_allclose(keras_logits.numpy(), logits, rtol=tol, atol=tol)
    variables = keras_weights_by_path(keras_model)
    ours = [(layer, key, grad) for (layer, key, _), grad in zip(model.parameters(), model.gradients())]
    keras_grads = tape.gradient(loss, [variables[(f"{layer}/{key}".rsplit("/", 1)[0],
                                                  key.rsplit("/", 1)[-1])] for layer, key, _ in ours])
    assert len(ours) == len(keras_model.trainable_weights)
    for (layer, key, grad), theirs in zip(ours, keras_grads):
        np.testing.assert_allclose(grad, theirs.numpy(), rtol=10 * tol, atol=10 * tol, err_msg=f"{layer}/{key}")
    for a, b in zip(keras_model.get_weights(), model.get_weights()):   # the same step moved both
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    model.set_weights(keras_model.get_weights())                     # and back


def test_fit_trains_in_training_mode_and_evaluates_in_inference_mode():
    """fit moves BatchNormalization's moving averages; evaluate, predict and validation leave them alone
    and use them; the training-mode output (batch statistics) differs from the inference one."""
    rng = np.random.default_rng(6)
    x, y = (rng.random((64, 8, 8, 1), dtype=np.float32) * 4 + 2), rng.integers(0, 3, 64)
    model = Sequential([L.Conv2D(4, 3), L.BatchNormalization(momentum=0.5), L.ReLU(),
                        L.GlobalAveragePooling2D(), L.Dense(3)], input_shape=(8, 8, 1), seed=0)
    bn = model.layers[1]
    model.fit(x, y, epochs=1, batch_size=16, validation_data=(x[:8], y[:8]), verbose=0)
    moved = bn.state["moving_mean"].copy()
    assert not np.allclose(moved, 0)
    model.evaluate(x, y)
    model.predict(x)
    np.testing.assert_array_equal(bn.state["moving_mean"], moved)
    inference = model.forward(x[:16])
    np.testing.assert_array_equal(bn.state["moving_mean"], moved)
    np.testing.assert_allclose(model.predict_logits(x[:16]), inference, rtol=1e-6)
    training = model.forward(x[:16], training=True)
    assert not np.allclose(inference, training)
    assert not np.allclose(bn.state["moving_mean"], moved)      # a training-mode forward moves them


def test_whole_model_with_batch_norm_and_a_block_passes_gradient_check():
    from cnnlib.gradcheck import numerical_gradient
    model = Sequential([L.Conv2D(3, 3, padding="same"), L.BatchNormalization(), L.ReLU(), resnet_block(3),
                        L.ReLU(), L.GlobalAveragePooling2D(), L.Dense(3)],
                       input_shape=(5, 5, 2), seed=3, dtype="float64")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 5, 5, 2)), rng.integers(0, 3, 4)
    _, dlogits = backprop.softmax_cross_entropy(model.forward(x, training=True), y)
    model.backward(dlogits)
    analytic = [g.copy() for g in model.gradients()]
    loss = lambda _: backprop.softmax_cross_entropy(model.forward(x, training=True), y)[0]  # noqa: E731
    for (name, key, w), g in zip(model.parameters(), analytic):
        numeric = numerical_gradient(loss, w)
        assert np.abs(g - numeric).max() <= 1e-6 * max(np.abs(numeric).max(), 1e-3), (name, key)


def test_to_keras_refuses_what_keras_cannot_express():
    with pytest.raises(NotImplementedError, match="explicit pooling padding"):
        to_keras(Sequential([L.MaxPool2D(3, 2, padding=1), L.Flatten(), L.Dense(2)], input_shape=(8, 8, 1)))
    with pytest.raises(RuntimeError, match="needs a built model"):
        to_keras(Sequential([L.Flatten(), L.Dense(2)]))
    with pytest.raises(NotImplementedError, match="pads only 'valid' or 'same'"):
        to_keras(Sequential([L.Conv2DTranspose(2, 3, padding="full"), L.Flatten(), L.Dense(2)], input_shape=(8, 8, 1)))


def test_backward_is_the_gradient_of_the_loss():
    """The whole model's backward against central differences, in float64."""
    from cnnlib.gradcheck import numerical_gradient, relative_error
    model = Sequential([L.Conv2D(2, 3, padding="same"), L.ReLU(), L.MaxPool2D(2), L.Flatten(), L.Dense(3)],
                       input_shape=(6, 6, 1), seed=3, dtype="float64")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 6, 6, 1)), rng.integers(0, 3, 4)
    _, dlogits = backprop.softmax_cross_entropy(model.forward(x), y)
    dx = model.backward(dlogits)
    analytic = [g.copy() for g in model.gradients()]
    loss = lambda _: backprop.softmax_cross_entropy(model.forward(x), y)[0]  # noqa: E731
    for (_, _, w), g in zip(model.parameters(), analytic):
        assert relative_error(g, numerical_gradient(loss, w)) < 1e-6

    def loss_of_x(z):
        return backprop.softmax_cross_entropy(model.forward(z), y)[0]

    assert relative_error(dx, numerical_gradient(loss_of_x, x)) < 1e-6


def test_same_seed_same_model_and_training_is_repeatable():
    rng = np.random.default_rng(2)
    x, y = rng.random((64, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, 64)

    def make():
        return Sequential([L.Conv2D(3, 3), L.ReLU(), L.Flatten(), L.Dropout(0.2), L.Dense(3)],
                          input_shape=(8, 8, 1), seed=7)
    a, b = make(), make()
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    ha = a.fit(x, y, epochs=2, batch_size=16, optimizer=SGD(0.1, 0.9), verbose=0)
    hb = b.fit(x, y, epochs=2, batch_size=16, optimizer=SGD(0.1, 0.9), verbose=0)
    assert ha["loss"] == hb["loss"]
    assert not np.array_equal(a.get_weights()[0], make().get_weights()[0])   # it did train


def test_fit_history_evaluate_predict():
    rng = np.random.default_rng(3)
    x, y = rng.random((50, 6, 6, 1), dtype=np.float32), rng.integers(0, 4, 50)
    model = Sequential([L.Flatten(), L.Dense(4)], seed=0)
    history = model.fit(x, y, epochs=3, batch_size=8, validation_data=(x[:10], y[:10]), verbose=0)
    assert isinstance(history, History)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "time"}
    assert all(len(v) == 3 for v in history.history.values())
    loss, acc = model.evaluate(x, y)
    probs = model.predict(x)
    assert probs.shape == (50, 4) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    assert acc == np.mean(probs.argmax(axis=1) == y)
    assert loss == pytest.approx(-np.mean(np.log(probs[np.arange(50), y])), rel=1e-5)


def test_fit_shows_a_progress_bar(capsys):
    x, y = np.zeros((20, 4, 4, 1), np.float32), np.zeros(20, np.int64)
    Sequential([L.Flatten(), L.Dense(2)], seed=0).fit(x, y, epochs=2, batch_size=5, verbose=1)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "4/4" in err


@pytest.mark.parametrize("call, error, message", [
    (lambda m: m.fit(np.zeros((4, 5, 5, 1)), np.zeros(4, int), verbose=0), ValueError,
     r"takes examples of shape \(6, 6, 1\), got x.shape=\(4, 5, 5, 1\)"),
    (lambda m: m.fit(np.zeros((4, 6, 6, 1)), np.zeros(3, int), verbose=0), ValueError,
     r"y must hold one integer class per example"),
    (lambda m: m.fit(np.zeros((4, 6, 6, 1)), np.zeros(4), verbose=0), TypeError, "integer classes"),
    (lambda m: m.fit(np.zeros((4, 6, 6, 1)), np.full(4, 3), verbose=0), ValueError, r"labels must be in \[0, 3\)"),
    (lambda m: m.fit(np.zeros((4, 6, 6, 1)), np.zeros(4, int), epochs=0), ValueError, "epochs"),
    (lambda m: m.evaluate(np.zeros((0, 6, 6, 1)), np.zeros(0, int)), ValueError, "non-empty batch"),
    (lambda m: Sequential([L.Conv2D(2, 7), L.Flatten()], input_shape=(6, 6, 1)), ValueError,
     r"layer conv2d .* cannot take inputs of shape \(6, 6, 1\)"),
    (lambda m: Sequential([L.Dense(2), "relu"]), TypeError, r"layers\[1\] must be a cnnlib.layers.Layer"),
    (lambda m: Sequential([L.Flatten()]).table(), RuntimeError, "needs the model built"),
])
def test_bad_calls_get_clear_errors(call, error, message):
    model = Sequential([L.Flatten(), L.Dense(3)], input_shape=(6, 6, 1))
    with pytest.raises(error, match=message):
        call(model)


@pytest.mark.slow
def test_cnn_learns_mnist_and_beats_a_dense_network():
    """The lecture texts' claim, measured: on the 1,000 held-out digits a small CNN
    reaches 95% and a dense network with seven times its weights does measurably worse."""
    (x_train, y_train), (x_test, y_test) = load_mnist_subset()
    cnn = course_cnn(seed=0)
    history = cnn.fit(x_train, y_train, epochs=6, batch_size=32, optimizer=Adam(1e-3),
                      validation_data=(x_test, y_test), verbose=0)
    dense = Sequential([L.Flatten(), L.Dense(128, kernel_initializer="he_uniform"), L.ReLU(), L.Dense(10)],
                       input_shape=(28, 28, 1), seed=0)
    dense.fit(x_train, y_train, epochs=6, batch_size=32, optimizer=Adam(1e-3), verbose=0)
    cnn_acc = cnn.evaluate(x_test, y_test)[1]
    dense_acc = dense.evaluate(x_test, y_test)[1]
    assert history["val_accuracy"][-1] == cnn_acc
    assert cnn_acc >= 0.95, history.history
    assert dense.count_params() > 7 * cnn.count_params()
    assert round((cnn_acc - dense_acc) * 1000) >= 10, (cnn_acc, dense_acc)   # at least 10 more digits right


@pytest.mark.slow
def test_small_resnet_learns_mnist_at_least_as_well_as_the_course_cnn():
    """The issue's bar, measured here with equal training (3 epochs, Adam 1e-3, batch 32): the small
    ResNet of bench/bench_resnet.py (batch normalization, three residual blocks, global average
    pooling) reaches at least the course CNN's held-out accuracy. bench/RESULTS.md has 10 epochs."""
    (x_train, y_train), (x_test, y_test) = load_mnist_subset()
    accuracy = {}
    for name, build in (("resnet", small_resnet), ("cnn", course_cnn)):
        model = build(seed=0)
        model.fit(x_train, y_train, epochs=3, batch_size=32, optimizer=Adam(1e-3), verbose=0)
        accuracy[name] = model.evaluate(x_test, y_test)[1]
    assert accuracy["resnet"] >= max(accuracy["cnn"], 0.95), accuracy


def test_backward_without_input_gradient_fills_the_same_grads():
    model = Sequential([L.Conv2D(3, 3), L.ReLU(), L.Flatten(), L.Dense(2)], input_shape=(6, 6, 1), seed=0,
                       dtype="float64")
    x = np.random.default_rng(4).standard_normal((2, 6, 6, 1))
    dlogits = np.random.default_rng(5).standard_normal((2, 2))
    model.forward(x)
    assert model.backward(dlogits).shape == x.shape
    full = [g.copy() for g in model.gradients()]
    assert model.backward(dlogits, input_grad=False) is None
    for a, b in zip(model.gradients(), full):
        np.testing.assert_array_equal(a, b)
