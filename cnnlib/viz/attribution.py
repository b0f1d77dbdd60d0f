"""Which pixels a prediction depends on: occlusion maps, saliency maps and Grad-CAM.

    occlusion_map(predict_fn, image, label, patch_size, stride, fill)   hide each square, measure the drop
    saliency_map(model, image, label)                                    |d score / d pixel| (TensorFlow)
    grad_cam(model, image, label, layer)                                 where a conv layer found the evidence

Images are one image, (H, W, C) or (H, W). The two gradient maps differentiate with
``tf.GradientTape``: TensorFlow is imported when they run.
"""

import numpy as np

from .. import shapes
from ..arguments import int_pair
from .inspection import as_image, find_layer, is_keras_model, keras_inputs

__all__ = ["occlusion_map", "saliency_map", "grad_cam"]

# Occluded copies are sent to predict_fn in batches of about this many bytes.
_OCCLUSION_BATCH_BYTES = 32 * 2**20


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
    image = as_image(image)
    (ph, pw), (sh, sw) = int_pair(patch_size, "patch_size", 1), int_pair(stride, "stride", 1)
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

    image = as_image(image)
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


def _keras_model(model):
    """A Keras model for TensorFlow's gradients: Keras models as they are, cnnlib through to_keras."""
    from ..model import Sequential

    if isinstance(model, Sequential):
        from ..keras_bridge import to_keras

        return to_keras(model)
    if not is_keras_model(model):
        raise TypeError(f"model must be a Keras model or a cnnlib Sequential, got {type(model).__name__}")
    return model


def grad_cam(model, image, label, layer, upsample=True):
    """Grad-CAM (Selvaraju et al. 2017): where in the image a conv layer found evidence for ``label``.

    With A (h, w, K) the layer's output and y the model's score for ``label``
    (its output as it is: use logits, not probabilities, for sharp maps), each
    channel gets the weight ``alpha_k = mean over (i, j) of dy / dA[i, j, k]`` and the
    map is ``relu(sum_k alpha_k A[:, :, k])``. For a global-average-pool + dense head
    this is the class activation map ``relu(A @ W[:, label]) / (h * w)``.

    With a flatten + dense head every position has its own weights, so the
    channel weights can cancel and the map can be all zero after the final ReLU,
    most often at a ReLU or pooling layer. Explaining the conv layer before its
    ReLU usually gives a usable map (notebook 10 shows both).

    Arguments:
        model: a Keras model (or a cnnlib Sequential, converted with to_keras)
            mapping (1, H, W, C) to (1, classes).
        image: one image, (H, W, C) or (H, W).
        label: the class to explain.
        layer: name or index of a layer with a (h, w, K) output, usually the last conv.
        upsample: resize the map bilinearly to the image's (H, W).

    Returns:
        float64 array, (H, W) with ``upsample`` else (h, w), >= 0, not normalized.

    Raises:
        ValueError: bad image shape, a layer without a spatial output, or a label
            outside the model's classes.
    """
    import tensorflow as tf

    image = as_image(image)
    model = _keras_model(model)
    _, target = find_layer(model, layer)
    if len(target.output.shape) != 4:
        raise ValueError(f"layer {target.name} outputs shape {tuple(target.output.shape)}; grad_cam needs "
                         f"a (batch, h, w, channels) map, such as a conv layer's")
    probe = tf.keras.Model(keras_inputs(model), [target.output, model.outputs[0]])
    x = tf.convert_to_tensor(image.astype(np.float32)[None])
    with tf.GradientTape() as tape:
        maps, scores = probe(x, training=False)
        if len(scores.shape) != 2 or not 0 <= label < scores.shape[1]:
            raise ValueError(f"label must index the model's (1, classes) output, got label {label} "
                             f"for output shape {tuple(scores.shape)}")
        score = scores[0, label]
    grads = tape.gradient(score, maps)[0].numpy().astype(np.float64)
    maps = maps[0].numpy().astype(np.float64)
    cam = np.maximum(maps @ grads.mean(axis=(0, 1)), 0.0)
    if upsample:
        cam = tf.image.resize(cam[:, :, None], image.shape[:2], method="bilinear").numpy()[:, :, 0]
    return cam.astype(np.float64)
