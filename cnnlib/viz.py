"""Seeing what a CNN looks at: occlusion and saliency maps.

``occlusion_map`` needs only a function from images to probabilities, so it
works with cnnlib and Keras models alike. ``saliency_map`` differentiates the
model with TensorFlow, which is imported when it is called.
"""

import numpy as np

from . import shapes

__all__ = ["occlusion_map", "saliency_map"]

# Occluded copies are sent to predict_fn in batches of about this many bytes.
_OCCLUSION_BATCH_BYTES = 32 * 2**20


def _pair(name, value):
    """(rows, columns) from an int or a pair of positive ints."""
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _as_image(image):
    """An (H, W, C) array; (H, W) gains a channel axis."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"image must be one image, (H, W, C) or (H, W), got shape {image.shape}")
    return image


def _class_column(probs, label, what):
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"{what} must return (N, classes) scores, got shape {probs.shape}")
    if not 0 <= label < probs.shape[1]:
        raise ValueError(f"label must be in [0, {probs.shape[1]}) for {probs.shape[1]} classes, got {label}")
    return probs[:, label].astype(np.float64)


def occlusion_map(predict_fn, image, label, patch_size, stride, fill=0.0):
    """How much the probability of ``label`` drops when each square of the image is hidden.

    A ``patch_size`` square slides over the image in steps of ``stride`` (no
    padding, like a 'valid' convolution); at each position its pixels are set to
    ``fill`` in every channel and the occluded image is classified again.

    Arguments:
        predict_fn: maps images (N, H, W, C) to class probabilities (N, classes),
            e.g. a cnnlib ``Sequential.predict`` or ``lambda b: keras_model(b).numpy()``.
        image: one image, (H, W, C) or (H, W).
        label: the class to explain, an int in [0, classes).
        patch_size: int or (rows, columns), at most the image's size.
        stride: int or (rows, columns).
        fill: the value hidden pixels get.

    Returns:
        float64 array (OH, OW), OH = floor((H - patch_h) / stride_h) + 1 (OW alike):
        entry [i, j] is p(label | image) - p(label | image with the patch at row
        i*stride_h, column j*stride_w hidden). High means the region mattered.

    Raises:
        ValueError: bad image shape, patch larger than the image, bad sizes, or a
            label outside predict_fn's classes.
    """
    image = _as_image(image)
    (ph, pw), (sh, sw) = _pair("patch_size", patch_size), _pair("stride", stride)
    h, w, _ = image.shape
    if ph > h or pw > w:
        raise ValueError(f"patch_size {(ph, pw)} is larger than the image ({h}, {w})")
    oh, ow = shapes.conv_output_size(h, ph, stride=sh), shapes.conv_output_size(w, pw, stride=sw)
    base = _class_column(predict_fn(image[None]), label, "predict_fn")[0]
    positions = [(i, j) for i in range(oh) for j in range(ow)]
    chunk = max(1, _OCCLUSION_BATCH_BYTES // max(image.nbytes, 1))
    drops = np.empty(len(positions))
    for start in range(0, len(positions), chunk):
        part = positions[start:start + chunk]
        batch = np.repeat(image[None], len(part), axis=0)
        for n, (i, j) in enumerate(part):
            batch[n, i * sh:i * sh + ph, j * sw:j * sw + pw, :] = fill
        drops[start:start + len(part)] = base - _class_column(predict_fn(batch), label, "predict_fn")
    return drops.reshape(oh, ow)


def saliency_map(model, image, label):
    """Gradient-based saliency: how strongly each pixel moves the class score.

    Computes ``max over channels of |d model(image)[0, label] / d image|`` with
    ``tf.GradientTape``, the model's output taken as it is (logits or
    probabilities).

    Arguments:
        model: a Keras model, or any callable TensorFlow can differentiate, mapping
            a (1, H, W, C) float32 tensor to (1, classes).
        image: one image, (H, W, C) or (H, W).
        label: the class whose score is differentiated.

    Returns:
        float64 array (H, W), >= 0.

    Raises:
        ValueError: bad image shape or a label outside the model's classes.
    """
    import tensorflow as tf

    image = _as_image(image)
    x = tf.convert_to_tensor(image.astype(np.float32)[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = model(x)
        if len(scores.shape) != 2 or not 0 <= label < scores.shape[1]:
            raise ValueError(f"label must index the model's (1, classes) output, got label {label} "
                             f"for output shape {tuple(scores.shape)}")
        score = scores[0, label]
    gradient = tape.gradient(score, x)[0].numpy().astype(np.float64)
    return np.abs(gradient).max(axis=-1)
