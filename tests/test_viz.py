"""cnnlib.viz: the maps find the truth on models built so that the answer is known, and the
pictures show the arrays they were given.

References: models whose answer follows from their construction (a model that reads only
the top-left quadrant, a global-average-pool head where Grad-CAM is the class activation
map, a filter equal to a stored patch), SciPy's correlate2d for feature maps, and pixels
read back from the rendered canvas.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from scipy.signal import correlate2d  # noqa: E402

from cnnlib import layers as L  # noqa: E402
from cnnlib import viz  # noqa: E402
from cnnlib.model import History, Sequential  # noqa: E402


def render(fig):
    """The figure's pixels, (height, width, 3) uint8, drawn by Agg."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3]


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# -- a model that looks only at the top-left quadrant ------------------------------------------

@pytest.fixture(scope="module")
def quadrant_model(tf):
    """scores = flatten(image[:8, :8]) @ W + b on 16 x 16 images: nothing else matters."""
    k = tf.keras.layers
    inputs = tf.keras.Input((16, 16, 1))
    x = k.Flatten()(k.Cropping2D(((0, 8), (0, 8)))(inputs))
    model = tf.keras.Model(inputs, k.Dense(3, name="scores")(x))
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((64, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    model.get_layer("scores").set_weights([w, b])
    return model, w, b


def test_saliency_of_the_quadrant_model_is_its_weights_there_and_zero_elsewhere(quadrant_model):
    model, w, _ = quadrant_model
    image = np.random.default_rng(1).random((16, 16, 1))
    for label in range(3):
        sal = viz.saliency_map(model, image, label)
        expected = np.zeros((16, 16))
        expected[:8, :8] = np.abs(w[:, label]).reshape(8, 8)    # d score / d pixel = the weight
        np.testing.assert_allclose(sal, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("patch, stride", [(4, 4), (4, 2), (3, (2, 5))])
def test_occlusion_of_the_quadrant_model_matches_a_numpy_recomputation(tf, quadrant_model, patch, stride):
    model, w, b = quadrant_model
    image = np.random.default_rng(2).random((16, 16, 1)).astype(np.float32)
    label = 1
    drop = viz.occlusion_map(lambda batch: tf.nn.softmax(model(batch)).numpy(), image, label, patch, stride)
    sh, sw = (stride, stride) if np.isscalar(stride) else stride
    prob = lambda img: softmax(img[:8, :8, 0].reshape(-1).astype(np.float64) @ w + b)[label]   # noqa: E731
    assert drop.shape == ((16 - patch) // sh + 1, (16 - patch) // sw + 1)
    for (i, j), value in np.ndenumerate(drop):
        hidden = image.copy()
        hidden[i * sh:i * sh + patch, j * sw:j * sw + patch] = 0
        assert value == pytest.approx(prob(image) - prob(hidden), abs=2e-6)
        if i * sh >= 8 or j * sw >= 8:      # the patch misses the quadrant: nothing changes (up to
            assert abs(value) < 1e-6        # float32 rounding, which differs between batch sizes)
    assert np.abs(drop).max() > 1e-3


@pytest.fixture(scope="module")
def trained_quadrant_model(tf):
    """A CNN trained on noise images whose class is written only in the top-left quadrant
    (class 1: +0.4 there). It outputs probabilities: a single logit would keep a part that
    softmax cancels and training never touches (its initial weights on every pixel)."""
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 800
    y = rng.integers(0, 2, n)
    x = rng.random((n, 16, 16, 1)).astype(np.float32) * 0.6
    x[:, :8, :8, 0] += np.where(y == 1, 0.4, 0.0)[:, None, None]
    k = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((16, 16, 1)), k.Conv2D(4, 3, padding="same", activation="relu"),
                                 k.MaxPooling2D(2), k.Flatten(),
                                 k.Dense(2, activation="softmax", kernel_initializer="zeros")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    return model, x[:20], y[:20]


def test_a_trained_model_is_explained_by_the_quadrant_it_learned_from(tf, trained_quadrant_model):
    model, x, y = trained_quadrant_model
    assert np.mean(np.argmax(model(x).numpy(), axis=1) == y) == 1.0
    sal = np.mean([viz.saliency_map(model, image, int(label)) for image, label in zip(x, y)], axis=0)
    outside = (sal.sum() - sal[:8, :8].sum()) / (256 - 64)
    # Trained weights are not exactly zero on the noise, so this is a ratio, not a clean cut.
    assert sal[:8, :8].mean() > 1.5 * outside
    image, label = x[np.argmax(y)], 1        # a class-1 image: hiding the bright quadrant hurts
    drop = viz.occlusion_map(lambda b: model(b).numpy(), image, label, 4, 4)
    i, j = np.unravel_index(np.argmax(drop), drop.shape)
    assert i < 2 and j < 2                   # the biggest drop is in the top-left quadrant
    assert drop[:2, :2].mean() > 5 * max(np.abs(drop[2:, :]).mean(), np.abs(drop[:, 2:]).mean(), 1e-4)


# -- feature maps: a vertical-edge filter answers to vertical stripes ---------------------------

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)   # d/dx: vertical edges


def stripes_and_friends():
    vertical = np.tile((np.arange(12) // 2) % 2, (12, 1)).astype(np.float64)
    checker = ((np.arange(12)[:, None] // 2 + np.arange(12)[None, :] // 2) % 2).astype(np.float64)
    return {"vertical": vertical, "horizontal": vertical.T, "flat": np.full((12, 12), 0.5), "checker": checker}


@pytest.fixture()
def edge_model():
    model = Sequential([L.Conv2D(2, 3, use_bias=False, name="edges"), L.ReLU(name="relu")],
                       input_shape=(12, 12, 1), dtype="float64")
    model.layers[0].params["kernel"][...] = np.stack([SOBEL_X, SOBEL_X.T], axis=-1)[:, :, None, :]
    return model


def test_the_vertical_edge_filter_is_strongest_on_vertical_stripes(edge_model):
    images = stripes_and_friends()
    batch = np.stack(list(images.values()))[..., None]
    maps = viz.feature_maps(edge_model, batch, "edges")
    for n, img in enumerate(images.values()):
        for c, kernel in enumerate((SOBEL_X, SOBEL_X.T)):
            np.testing.assert_allclose(maps[n, :, :, c], correlate2d(img, kernel, mode="valid"), atol=1e-12)
    strength = np.abs(maps).mean(axis=(1, 2))              # (images, channels)
    names = list(images)
    assert names[np.argmax(strength[:, 0])] == "vertical"
    assert names[np.argmax(strength[:, 1])] == "horizontal"
    assert np.argmax(strength[names.index("vertical")]) == 0
    assert strength[names.index("vertical"), 1] == 0      # no horizontal change in vertical stripes


def test_feature_maps_of_cnnlib_and_keras_agree(tf, edge_model):
    from cnnlib.keras_bridge import to_keras

    image = stripes_and_friends()["checker"][:, :, None]
    keras_model = to_keras(edge_model)
    for layer in ("edges", "relu", 0, -1):
        ours, theirs = viz.feature_maps(edge_model, image, layer), viz.feature_maps(keras_model, image, layer)
        assert ours.shape == (10, 10, 2)
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_show_feature_maps_draws_one_tile_per_channel(tf, edge_model):
    from cnnlib.keras_bridge import to_keras

    image = stripes_and_friends()["vertical"]
    for model in (edge_model, to_keras(edge_model)):
        fig = viz.show_feature_maps(model, image, "edges")
        drawn = [ax for ax in fig.axes if ax.images]
        assert len(drawn) == 2
        np.testing.assert_allclose(drawn[0].images[0].get_array(), correlate2d(image, SOBEL_X, "valid"))
        render(fig)


# -- top activating patches ---------------------------------------------------------------------

def test_a_filter_equal_to_a_stored_patch_finds_that_patch_first(tf):
    """Images in (-1, 1) and a 7 x 7 patch of +-1: the patch's dot product with itself, 49, beats
    every other window (Cauchy-Schwarz), so the top unit must sit exactly on the stored patch."""
    from cnnlib.keras_bridge import to_keras

    rng = np.random.default_rng(3)
    images = rng.uniform(-0.99, 0.99, (6, 20, 20, 1))
    patch = rng.choice([-1.0, 1.0], (7, 7, 1))
    images[4, 5:12, 9:16] = patch
    model = Sequential([L.Conv2D(1, 7, padding="same", name="match"), L.ReLU(name="relu")],
                       input_shape=(20, 20, 1), dtype="float64")
    model.layers[0].params["kernel"][...] = patch[:, :, :, None]
    for m in (model, to_keras(model)):
        top = viz.top_activating_patches(m, images, "match", channel=0, k=3)
        assert (top.image_index[0], top.top[0], top.left[0]) == (4, 5, 9)
        assert top.values[0] == pytest.approx(49.0)
        np.testing.assert_array_equal(top.patches[0], patch)
        assert top.patches.shape == (3, 7, 7, 1) and np.all(np.diff(top.values) <= 0)


def test_patches_are_the_support_of_the_units_gradient(tf):
    """Through padding, pooling and a stride: the pixels a top unit depends on (nonzero gradient,
    all-positive weights and images) are exactly the window the patch was cut from."""
    from cnnlib.keras_bridge import to_keras

    model = Sequential([L.Conv2D(2, 3, padding="same", name="c1"), L.AvgPool2D(2, name="p"),
                        L.Conv2D(3, 3, strides=2, padding=1, name="c2"), L.ReLU(name="r")],
                       input_shape=(18, 18, 1), dtype="float64", seed=0)
    for layer in model.layers:
        for value in layer.params.values():
            value[...] = 1.0
    images = np.random.default_rng(4).random((3, 18, 18, 1)) + 0.1
    top = viz.top_activating_patches(model, images, "r", channel=1, k=6)
    keras_model = to_keras(model)
    assert top.patches.shape[1:3] == (8, 8)               # 1 + (3-1) + (2-1) + (3-1)*2
    again = viz.top_activating_patches(keras_model, images, "r", channel=1, k=6)
    for a, b in zip(top, again):
        np.testing.assert_allclose(a, b)
    for m in range(6):
        n = top.image_index[m]
        maps = viz.feature_maps(model, images[n], "r")
        i, j = np.argwhere(maps[:, :, 1] == top.values[m])[0]
        x = tf.constant(images[n:n + 1])
        with tf.GradientTape() as tape:
            tape.watch(x)
            unit = keras_model(x)[0, i, j, 1]
        grad = tape.gradient(unit, x).numpy()[0, :, :, 0]
        rows, cols = np.nonzero(grad)
        assert (rows.min(), cols.min()) == (max(top.top[m], 0), max(top.left[m], 0))
        assert (rows.max(), cols.max()) == (min(top.top[m] + 7, 17), min(top.left[m] + 7, 17))
        window = np.zeros((8, 8))
        r0, c0 = max(top.top[m], 0) - top.top[m], max(top.left[m], 0) - top.left[m]
        window[r0:r0 + rows.max() - rows.min() + 1, c0:c0 + cols.max() - cols.min() + 1] = \
            images[n, rows.min():rows.max() + 1, cols.min():cols.max() + 1, 0]
        np.testing.assert_array_equal(top.patches[m, :, :, 0], window)


# -- Grad-CAM -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gap_model(tf):
    """conv -> global average pool -> dense: Grad-CAM reduces to relu(A @ W[:, c]) / (h * w)."""
    k = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((10, 12, 2)), k.Conv2D(4, 3, padding="same", name="features"),
                                 k.GlobalAveragePooling2D(name="gap"), k.Dense(3, name="scores")])
    rng = np.random.default_rng(5)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def test_grad_cam_equals_the_class_activation_map_of_a_gap_model(gap_model):
    image = np.random.default_rng(6).random((10, 12, 2))
    maps = viz.feature_maps(gap_model, image, "features").astype(np.float64)
    w = gap_model.get_layer("scores").get_weights()[0].astype(np.float64)
    for label in range(3):
        cam = viz.grad_cam(gap_model, image, label, "features", upsample=False)
        np.testing.assert_allclose(cam, np.maximum(maps @ w[:, label], 0) / (10 * 12), rtol=1e-5, atol=1e-7)
    assert viz.grad_cam(gap_model, image, 0, "features").shape == (10, 12)


def test_grad_cam_lights_up_where_the_evidence_is(tf):
    k = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((16, 16, 1)),
                                 k.Conv2D(1, 3, padding="same", activation="relu", name="blob"),
                                 k.GlobalAveragePooling2D(), k.Dense(2)])
    model.set_weights([np.ones((3, 3, 1, 1), np.float32), np.zeros(1, np.float32),
                       np.array([[1.0, -1.0]], np.float32), np.zeros(2, np.float32)])
    image = np.zeros((16, 16))
    image[10:13, 2:5] = 1.0
    cam = viz.grad_cam(model, image, 0, "blob")
    i, j = np.unravel_index(np.argmax(cam), cam.shape)
    assert 10 <= i <= 12 and 2 <= j <= 4
    assert cam[:6].max() == 0 and cam[:, 8:].max() == 0
    assert viz.grad_cam(model, image, 1, "blob").max() == 0    # class 1 counts the blob against itself


# -- pictures -----------------------------------------------------------------------------------

def test_show_channels_panels_hold_the_raw_channel_values_pixel_for_pixel():
    rgb = np.random.default_rng(7).integers(0, 256, (6, 8, 3)).astype(np.uint8)
    fig = viz.show_channels(rgb)
    pixels = render(fig)
    height = pixels.shape[0]
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["RGB", "R", "G", "B"]
    for p, ax in enumerate(panels):
        box = ax.get_window_extent()          # display pixels, origin at the bottom left
        expected = rgb.copy() if p == 0 else np.zeros_like(rgb)
        if p:
            expected[:, :, p - 1] = rgb[:, :, p - 1]
        for i in range(6):
            for j in range(8):
                x = box.x0 + (j + 0.5) * box.width / 8
                y = box.y1 - (i + 0.5) * box.height / 6
                got = pixels[int(height - y), int(x)].astype(int)
                assert np.abs(got - expected[i, j]).max() <= 1, (ax.get_title(), i, j)


def test_show_matrix_writes_every_value_in_its_cell():
    img = np.arange(20, dtype=np.uint8).reshape(4, 5) * 12
    fig = viz.show_matrix(img)
    ax = fig.axes[0]
    texts = {(int(round(t.get_position()[1])), int(round(t.get_position()[0]))): t for t in ax.texts}
    assert len(texts) == 20
    for (i, j), value in np.ndenumerate(img):
        assert texts[i, j].get_text() == str(value)
    assert texts[0, 0].get_color() == "white" and texts[3, 4].get_color() == "black"   # dark cell, light cell
    assert [t.get_text() for t in viz.show_matrix(np.array([[0.125, 1.0]])).axes[0].texts] == ["0.12", "1.00"]
    np.testing.assert_array_equal(ax.images[0].get_array(), img)
    render(fig)
    with pytest.raises(ValueError, match="img is 41 x 3"):
        viz.show_matrix(np.zeros((41, 3)))


def test_show_kernels_draws_each_filter():
    w = np.random.default_rng(8).standard_normal((3, 3, 5, 4))
    fig = viz.show_kernels(w, in_channel=4)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 4
    for n, ax in enumerate(drawn):
        np.testing.assert_allclose(ax.images[0].get_array(), w[:, :, 4, n])
    assert len([ax for ax in viz.show_kernels(w[:, :, :3]).axes if ax.images]) == 4    # RGB filters
    assert len([ax for ax in viz.show_kernels(w[:, :, :1], max_filters=3).axes if ax.images]) == 3
    render(fig)
    with pytest.raises(ValueError, match="in_channel"):
        viz.show_kernels(w)
    with pytest.raises(ValueError, match="HWIO"):
        viz.show_kernels(w[0])


def test_plot_history_plots_the_numbers_it_was_given():
    history = History()
    history.history.update(loss=[1.0, 0.5, 0.3], accuracy=[0.6, 0.8, 0.9], val_loss=[1.1, 0.7, 0.6],
                           val_accuracy=[0.55, 0.75, 0.8])
    for h in (history, history.history):
        fig = viz.plot_history(h)
        assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
        lines = fig.axes[1].get_lines()
        np.testing.assert_array_equal(lines[0].get_ydata(), [0.6, 0.8, 0.9])
        np.testing.assert_array_equal(lines[1].get_ydata(), [0.55, 0.75, 0.8])
        np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])
    assert len(viz.plot_history({"loss": [2.0, 1.0]}).axes) == 1
    with pytest.raises(ValueError, match="none of the metrics"):
        viz.plot_history({"mae": [1.0]})


def test_show_images_grid():
    fig = viz.show_images(np.zeros((5, 4, 4, 1)), titles=list("abcde"), ncols=3)
    assert [ax.get_title() for ax in fig.axes if ax.images] == list("abcde")
    assert len(fig.axes) == 6
    render(fig)
    with pytest.raises(ValueError, match="titles"):
        viz.show_images(np.zeros((2, 4, 4)), titles=["a"])


# -- the demo CNN -----------------------------------------------------------------------------

def test_demo_cnn_learns_and_its_cnnlib_twin_sees_the_same(tf):
    from cnnlib.data import load_mnist_subset

    demo = viz.train_demo_cnn(epochs=1)
    val_accuracy = demo.history.history["val_accuracy"][-1]
    assert val_accuracy > 0.85
    (_, _), (x_val, y_val), (x_test, _) = load_mnist_subset(validation_size=1000)
    assert demo.model.evaluate(x_val, y_val)[1] == pytest.approx(val_accuracy, abs=2e-3)
    for layer in ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "logits"):
        ours, theirs = viz.feature_maps(demo.model, x_test[:64], layer), viz.feature_maps(demo.keras_model,
                                                                                            x_test[:64], layer)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    assert demo.model.count_params() == demo.keras_model.count_params() == 12810


# -- errors name the argument ---------------------------------------------------------------

def test_errors_name_the_bad_argument(tf, quadrant_model, edge_model, gap_model):
    model, _, _ = quadrant_model
    image = np.zeros((16, 16, 1), np.float32)
    with pytest.raises(ValueError, match="patch_size"):
        viz.occlusion_map(lambda b: model(b).numpy(), image, 0, 17, 1)
    with pytest.raises(ValueError, match="label"):
        viz.saliency_map(model, image, 3)
    with pytest.raises(ValueError, match="'nope' is not in the model"):
        viz.feature_maps(edge_model, np.zeros((12, 12)), "nope")
    with pytest.raises(ValueError, match="layer index 5"):
        viz.feature_maps(edge_model, np.zeros((12, 12)), 5)
    with pytest.raises(TypeError, match="model"):
        viz.feature_maps(object(), np.zeros((12, 12)), 0)
    with pytest.raises(ValueError, match="grad_cam needs"):
        viz.grad_cam(gap_model, np.zeros((10, 12, 2)), 0, "gap")
    with pytest.raises(ValueError, match="channel"):
        viz.top_activating_patches(edge_model, np.zeros((1, 12, 12, 1)), "edges", 2)
    with pytest.raises(ValueError, match="rgb"):
        viz.show_channels(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="rgb holds floats"):
        viz.show_channels(np.full((4, 4, 3), 2.0))


def test_every_public_function_has_a_docstring_with_shapes():
    import inspect

    for name in viz.__all__:
        doc = inspect.getdoc(getattr(viz, name))
        assert doc, name
        if inspect.isfunction(getattr(viz, name)) and name not in ("plot_history", "demo_cnn", "train_demo_cnn"):
            assert "(H, W" in doc or "(N, H, W" in doc or "HWIO" in doc, name


def test_figures_display_as_images_in_a_fresh_kernel_without_pyplot():
    # A new kernel has no figure display hook until pyplot is used; the course's figures
    # must still show as pictures, not as "<Figure size ...>".
    import subprocess
    import sys

    code = ("import numpy as np, sys\n"
            "from IPython.core.formatters import DisplayFormatter\n"
            "from cnnlib import viz\n"
            "data, _ = DisplayFormatter().format(viz.show_matrix(np.eye(3)))\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n"
            "print(sorted(data), data['image/png'][:8] == b'\\x89PNG\\r\\n\\x1a\\n')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['image/png', 'text/plain'] True"
