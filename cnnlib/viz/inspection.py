"""Looking inside a model: one layer's output, and the image patches that excite one of its channels.

    feature_maps(model, images, layer)                       a layer's output, for cnnlib and Keras models
    top_activating_patches(model, images, layer, channel, k) the k input patches one channel responds to most

and the helpers the other :mod:`cnnlib.viz` modules share: ``as_image``, ``as_batch``,
``find_layer``, ``is_keras_model``. ``model`` is a cnnlib ``Sequential`` or a Keras model,
``layer`` a layer's name or index. TensorFlow is imported only for Keras models.
"""

from typing import NamedTuple

import numpy as np

from .. import shapes

__all__ = ["feature_maps", "top_activating_patches", "TopPatches", "as_image", "as_batch", "find_layer",
           "is_keras_model", "keras_inputs", "field_geometry"]


def as_image(image):
    """An (H, W, C) array; (H, W) gains a channel axis."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"image must be one image, (H, W, C) or (H, W), got shape {image.shape}")
    return image


def as_batch(images):
    """(N, H, W, C) from a batch, one (H, W, C) image or one (H, W) image; and whether it was one."""
    images = np.asarray(images)
    if images.ndim == 4:
        return images, False
    if images.ndim in (2, 3):
        return as_image(images)[None], True
    raise ValueError(f"images must be (N, H, W, C), (H, W, C) or (H, W), got shape {images.shape}")


def is_keras_model(model):
    """Whether ``model`` looks like a Keras model (it has ``get_layer`` and ``inputs``)."""
    return hasattr(model, "get_layer") and hasattr(model, "inputs")


def keras_inputs(model):
    """A Keras model's input tensor (the list of them if it has several)."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def find_layer(model, layer):
    """(position in the model's layer list, the layer object) for a name or an index.

    Raises:
        TypeError: model is neither a cnnlib Sequential nor a Keras model.
        ValueError: an unknown name or an index out of range.
    """
    from ..model import Sequential

    if not isinstance(model, Sequential) and not is_keras_model(model):
        raise TypeError(f"model must be a cnnlib Sequential or a Keras model, got {type(model).__name__}")
    layers = model.layers
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not -len(layers) <= layer < len(layers):
            raise ValueError(f"layer index {layer} is out of range for a model of {len(layers)} layers")
        index = int(layer) % len(layers)
        return index, layers[index]
    names = [lyr.name for lyr in layers]
    if layer not in names:
        raise ValueError(f"layer {layer!r} is not in the model; its layers are {names}")
    return names.index(layer), layers[names.index(layer)]


def feature_maps(model, images, layer, batch_size=256):
    """The output of one layer of a model for some images.

    Arguments:
        model: a built cnnlib ``Sequential`` or a Keras model.
        images: (N, H, W, C), or one image (H, W, C) or (H, W).
        layer: the layer's name or its index in ``model.layers``.
        batch_size: images run through the model at a time.

    Returns:
        The layer's output: (N, h, w, channels) for a batch, (h, w, channels)
        for one image (or (N, D) / (D,) after a Flatten or Dense layer), a NumPy
        array in the model's dtype.

    Raises:
        TypeError: model is neither a cnnlib Sequential nor a Keras model.
        ValueError: an unknown layer name, an index out of range, or images of
            the wrong shape for the model.
    """
    from ..model import Sequential

    x, single = as_batch(images)
    index, target = find_layer(model, layer)
    if isinstance(model, Sequential):
        x = model.check_input(x)
        chunks = []
        for start in range(0, len(x), batch_size):
            out = x[start:start + batch_size]
            for lyr in model.layers[:index + 1]:
                out = lyr.forward(out)
            chunks.append(out)
    else:
        import tensorflow as tf

        sub = tf.keras.Model(keras_inputs(model), target.output)
        chunks = [np.asarray(sub(x[start:start + batch_size].astype(np.float32), training=False))
                  for start in range(0, len(x), batch_size)]
    out = np.concatenate(chunks)
    return out[0] if single else out


_PASS_THROUGH = ("InputLayer", "ReLU", "Activation", "LeakyReLU", "ELU", "BatchNormalization",
                 "Dropout", "SpatialDropout2D")


def _windows(model, index):
    """For each layer up to ``index``: ((kernel, stride, dilation, pad_before) for rows, for columns),
    or None for layers that do not move pixels (activations, dropout, batch norm)."""
    from ..model import Sequential
    from ..tracing import NO_FIELD

    if isinstance(model, Sequential):   # cnnlib's layers say it themselves (the tracer's windows)
        windows = [lyr.window(lyr.input_shape) for lyr in model.layers[:index + 1]]
        for lyr, window in zip(model.layers, windows):
            if window is NO_FIELD:
                raise ValueError(f"layer {lyr.name} ({type(lyr).__name__}) is not a conv, pooling or activation "
                                 f"layer; top_activating_patches cannot trace its receptive field")
        return windows
    return [_keras_window(lyr) for lyr in model.layers[:index + 1]]


def _keras_window(lyr):
    """A Keras layer's window, as cnnlib's layers give theirs (:meth:`cnnlib.layers.Layer.window`)."""
    kind = type(lyr).__name__
    if kind in _PASS_THROUGH:
        return None
    hw = tuple(int(n) for n in lyr.input.shape[1:3]) if not isinstance(lyr.input, list) else None
    if kind == "Conv2D" and hw is not None:
        k, s, d, padding = lyr.kernel_size, lyr.strides, lyr.dilation_rate, lyr.padding
    elif kind in ("MaxPooling2D", "AveragePooling2D") and hw is not None:
        k, s, d, padding = lyr.pool_size, lyr.strides, (1, 1), lyr.padding
    elif kind == "ZeroPadding2D":
        k, s, d, padding = (1, 1), (1, 1), (1, 1), tuple(tuple(p) for p in lyr.padding)
    else:
        raise ValueError(f"layer {lyr.name} ({kind}) is not a conv, pooling, padding or "
                         f"activation layer in a chain; top_activating_patches cannot trace "
                         f"its receptive field")
    pads = shapes.padding_amounts_2d(hw, tuple(k), padding, tuple(s), tuple(d))
    return tuple((int(k[a]), int(s[a]), int(d[a]), int(pads[a][0])) for a in (0, 1))


def field_geometry(model, index):
    """Per axis, ``(field, jump, start)`` of the units after layer ``index``
    (:func:`cnnlib.shapes.receptive_field_geometry`): output position i sees input pixels
    start + i*jump ... start + i*jump + field - 1 (start < 0 reaches into the padding)."""
    windows = [w for w in _windows(model, index) if w is not None]
    return [shapes.receptive_field_geometry([w[axis] for w in windows]) for axis in (0, 1)]


class TopPatches(NamedTuple):
    """What :func:`top_activating_patches` returns, k entries each, strongest first:
    ``patches`` (k, field_h, field_w, C), ``values`` (k,) the activations,
    ``image_index`` (k,), and ``top``, ``left`` (k,) the patches' top-left corners in
    input pixels (negative where the field reaches into the padding)."""

    patches: np.ndarray
    values: np.ndarray
    image_index: np.ndarray
    top: np.ndarray
    left: np.ndarray


def top_activating_patches(model, images, layer, channel, k=9):
    """The k image patches that excite one channel of a layer the most.

    Every position of the layer's output ``channel`` over all images is ranked by
    its activation; for each of the k largest the function cuts out the input
    region that unit sees (its receptive field, traced through the layers before
    it with :func:`cnnlib.shapes.receptive_field_geometry`).

    Arguments:
        model: a cnnlib Sequential or a Keras model whose layers up to ``layer``
            form a chain of conv, pooling, zero-padding and activation layers.
        images: (N, H, W, C).
        layer: name or index of the layer.
        channel: an output channel of that layer.
        k: how many patches (at most N * h * w).

    Returns:
        A :class:`TopPatches`. Pixels of a field that fall outside the image
        (into the padding) are 0 in ``patches``.

    Raises:
        ValueError: images not (N, H, W, C), a layer that has no spatial output or
            whose field cannot be traced, channel or k out of range.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be a batch (N, H, W, C), got shape {images.shape}")
    index, target = find_layer(model, layer)
    acts = feature_maps(model, images, index)
    if acts.ndim != 4:
        raise ValueError(f"layer {target.name} outputs shape {acts.shape[1:]}, not a (h, w, channels) map")
    if not 0 <= channel < acts.shape[3]:
        raise ValueError(f"channel must be in [0, {acts.shape[3]}) for layer {target.name}, got {channel}")
    if not 1 <= k <= acts[..., channel].size:
        raise ValueError(f"k must be in [1, {acts[..., channel].size}] (positions in all images), got {k}")
    (fh, jh, sh), (fw, jw, sw) = field_geometry(model, index)
    flat = acts[..., channel].reshape(-1)
    best = np.argsort(-flat, kind="stable")[:k]
    n, i, j = np.unravel_index(best, acts.shape[:3])
    top, left = sh + i * jh, sw + j * jw
    height, width = images.shape[1:3]
    patches = np.zeros((k, fh, fw, images.shape[3]), dtype=images.dtype)
    for m in range(k):
        r0, r1 = max(top[m], 0), min(top[m] + fh, height)
        c0, c1 = max(left[m], 0), min(left[m] + fw, width)
        patches[m, r0 - top[m]:r1 - top[m], c0 - left[m]:c1 - left[m]] = images[n[m], r0:r1, c0:c1]
    return TopPatches(patches, flat[best], n, top, left)
