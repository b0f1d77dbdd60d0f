"""Seeing what a CNN sees and what it learned.

Pictures (each returns a matplotlib ``Figure`` and never calls ``pyplot``, so it
works with the Agg backend, shows once in a notebook and leaves no figure open):

    show_matrix(img)                  an image with each pixel's value written in its cell
    show_channels(rgb)                an RGB image and its R, G, B channels
    show_images(images)               a grid of images or maps (patches, for example)
    show_kernels(w)                   the filters of an HWIO kernel
    show_feature_maps(model, image, layer)   a layer's output channels for one image
    plot_history(history)             loss and accuracy per epoch (cnnlib, Keras or a dict)

Maps (NumPy arrays, no plotting):

    feature_maps(model, images, layer)       a layer's output, for cnnlib and Keras models
    occlusion_map(predict_fn, image, label, patch_size, stride, fill)
    saliency_map(model, image, label)        |d score / d pixel| with tf.GradientTape
    grad_cam(model, image, label, layer)     Grad-CAM heat map of a conv layer
    top_activating_patches(model, images, layer, channel, k)

and a real model to look at: ``train_demo_cnn()`` trains :func:`demo_cnn` (a cnnlib
network) in Keras, through ``to_keras``, on the MNIST subset in a few seconds.

``model`` is a cnnlib ``Sequential`` or a Keras model; ``layer`` a layer's name
or index. Images are NHWC, one image (H, W, C) or (H, W). TensorFlow is imported
only inside the functions that need it.
"""

import math
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from . import shapes
from .arguments import check_int, int_pair

__all__ = ["show_matrix", "show_channels", "show_images", "show_kernels", "show_feature_maps",
           "plot_history", "feature_maps", "occlusion_map", "saliency_map", "grad_cam",
           "top_activating_patches", "TopPatches", "demo_cnn", "train_demo_cnn", "DemoCNN"]

# Occluded copies are sent to predict_fn in batches of about this many bytes.
_OCCLUSION_BATCH_BYTES = 32 * 2**20


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


# -- models: one layer's output and the geometry of the layers before it -------------------

def _is_keras(model):
    return hasattr(model, "get_layer") and hasattr(model, "inputs")


def _single_input(model):
    """A Keras model's input tensor (the list of them if it has several)."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def _find_layer(model, layer):
    """(position in the model's layer list, the layer object) for a name or an index."""
    from .model import Sequential

    if isinstance(model, Sequential):
        layers = model.layers
    elif _is_keras(model):
        layers = model.layers
    else:
        raise TypeError(f"model must be a cnnlib Sequential or a Keras model, got {type(model).__name__}")
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not -len(layers) <= layer < len(layers):
            raise ValueError(f"layer index {layer} is out of range for a model of {len(layers)} layers")
        index = int(layer) % len(layers)
        return index, layers[index]
    names = [lyr.name for lyr in layers]
    if layer not in names:
        raise ValueError(f"layer {layer!r} is not in the model; its layers are {names}")
    return names.index(layer), layers[names.index(layer)]


def _as_batch(images):
    """(N, H, W, C) from a batch, one (H, W, C) image or one (H, W) image; and whether it was one."""
    images = np.asarray(images)
    if images.ndim == 4:
        return images, False
    if images.ndim in (2, 3):
        return _as_image(images)[None], True
    raise ValueError(f"images must be (N, H, W, C), (H, W, C) or (H, W), got shape {images.shape}")


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
    from .model import Sequential

    x, single = _as_batch(images)
    index, target = _find_layer(model, layer)
    if isinstance(model, Sequential):
        x = model._check_x(x)
        chunks = []
        for start in range(0, len(x), batch_size):
            out = x[start:start + batch_size]
            for lyr in model.layers[:index + 1]:
                out = lyr.forward(out)
            chunks.append(out)
    else:
        import tensorflow as tf

        sub = tf.keras.Model(_single_input(model), target.output)
        chunks = [np.asarray(sub(x[start:start + batch_size].astype(np.float32), training=False))
                  for start in range(0, len(x), batch_size)]
    out = np.concatenate(chunks)
    return out[0] if single else out


_PASS_THROUGH = ("InputLayer", "ReLU", "Activation", "LeakyReLU", "ELU", "BatchNormalization",
                 "Dropout", "SpatialDropout2D")


def _windows(model, index):
    """For each layer up to ``index``: ((kernel, stride, dilation, pad_before) for rows, for columns),
    or None for layers that do not move pixels (activations, dropout, batch norm)."""
    from . import layers as L
    from .model import Sequential

    out = []
    for lyr in model.layers[:index + 1]:
        kind = type(lyr).__name__
        if isinstance(model, Sequential):
            if isinstance(lyr, (L.ReLU, L.Dropout)):
                out.append(None)
                continue
            if isinstance(lyr, L.Conv2D):
                k, s, d, padding = lyr.kernel_size, lyr.strides, lyr.dilation_rate, lyr.padding
            elif isinstance(lyr, (L.MaxPool2D, L.AvgPool2D)):
                k, s, d, padding = lyr.pool_size, lyr.strides, (1, 1), lyr.padding
            else:
                raise ValueError(f"layer {lyr.name} ({kind}) has no spatial window: choose a conv, "
                                 f"pooling or activation layer before any Flatten")
            hw = lyr.input_shape[:2]
        else:
            if kind in _PASS_THROUGH:
                out.append(None)
                continue
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
        out.append(tuple((int(k[a]), int(s[a]), int(d[a]), int(pads[a][0])) for a in (0, 1)))
    return out


def _field_geometry(model, index):
    """Per axis, (receptive field, jump, start): output position i sees input pixels
    start + i*jump ... start + i*jump + field - 1 (start < 0 reaches into the padding)."""
    geometry = []
    for axis in (0, 1):
        windows = [w[axis] for w in _windows(model, index) if w is not None]
        field = shapes.receptive_field([(k, s, d) for k, s, d, _ in windows])
        start, jump = 0, 1
        for _, s, _, pad in windows:
            start -= pad * jump
            jump *= s
        geometry.append((field, jump, start))
    return geometry


# -- maps ------------------------------------------------------------------------------------

def _keras_model(model):
    """A Keras model for TensorFlow's gradients: Keras models as they are, cnnlib through to_keras."""
    from .model import Sequential

    if isinstance(model, Sequential):
        from .keras_bridge import to_keras

        return to_keras(model)
    if not _is_keras(model):
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

    image = _as_image(image)
    model = _keras_model(model)
    _, target = _find_layer(model, layer)
    if len(target.output.shape) != 4:
        raise ValueError(f"layer {target.name} outputs shape {tuple(target.output.shape)}; grad_cam needs "
                         f"a (batch, h, w, channels) map, such as a conv layer's")
    probe = tf.keras.Model(_single_input(model), [target.output, model.outputs[0]])
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
    it with :func:`cnnlib.shapes.receptive_field`).

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
    index, target = _find_layer(model, layer)
    acts = feature_maps(model, images, index)
    if acts.ndim != 4:
        raise ValueError(f"layer {target.name} outputs shape {acts.shape[1:]}, not a (h, w, channels) map")
    if not 0 <= channel < acts.shape[3]:
        raise ValueError(f"channel must be in [0, {acts.shape[3]}) for layer {target.name}, got {channel}")
    if not 1 <= k <= acts[..., channel].size:
        raise ValueError(f"k must be in [1, {acts[..., channel].size}] (positions in all images), got {k}")
    (fh, jh, sh), (fw, jw, sw) = _field_geometry(model, index)
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


# -- pictures ---------------------------------------------------------------------------------

class _Figure(Figure):
    """A Figure that shows itself as a PNG in Jupyter even before pyplot was ever used.

    Without pyplot, IPython has no display hook for figures yet, and a returned
    Figure would print as ``<Figure size ...>``. When the inline backend is active,
    its hook takes precedence and this method is not called.
    """

    def _repr_png_(self):
        from io import BytesIO

        buffer = BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def _figure(nrows, ncols, cell=1.6, extra_w=0.0):
    fig = _Figure(figsize=(ncols * cell + extra_w, nrows * cell), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).reshape(-1)
    return fig, axes


def _bare(ax):
    ax.set_xticks([])
    ax.set_yticks([])


def _unit_range(name, rgb):
    """float in [0, 1] from uint8/ints (0-255) or floats already in [0, 1]."""
    rgb = np.asarray(rgb)
    if rgb.dtype.kind in "ui":
        if rgb.min() < 0 or rgb.max() > 255:
            raise ValueError(f"{name} holds integers outside 0-255 (min {rgb.min()}, max {rgb.max()})")
        return rgb / 255.0
    if rgb.dtype.kind != "f":
        raise TypeError(f"{name} must hold numbers, got dtype {rgb.dtype}")
    if rgb.size and (rgb.min() < 0 or rgb.max() > 1):
        raise ValueError(f"{name} holds floats outside [0, 1] (min {rgb.min():.3g}, max {rgb.max():.3g}); "
                         f"scale it first, e.g. to img / img.max()")
    return rgb.astype(np.float64)


MAX_MATRIX_CELLS = 40


def show_matrix(img, fmt=None, cmap="gray", vmin=None, vmax=None, ax=None):
    """An image drawn as a grid of cells with each pixel's value written in its cell:
    the numbers a CNN actually receives.

    Arguments:
        img: (H, W) or (H, W, 1), at most 40 x 40 (the numbers must stay readable).
        fmt: format of the numbers, e.g. "{:.2f}"; default "{:d}" for integers and
            for floats that are all whole numbers, else "{:.2f}".
        cmap, vmin, vmax: as in ``imshow`` (default: the image's own range).
        ax: draw into these axes instead of a new figure.

    Returns:
        The matplotlib Figure. Each number is dark on light cells, light on dark ones.

    Raises:
        ValueError: img is not one gray image, or larger than 40 x 40.
    """
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim != 2:
        raise ValueError(f"img must be one gray image, (H, W) or (H, W, 1), got shape {img.shape}; "
                         f"use show_channels for color")
    h, w = img.shape
    if max(h, w) > MAX_MATRIX_CELLS:
        raise ValueError(f"img is {h} x {w}; show_matrix writes one number per pixel and stays readable "
                         f"up to {MAX_MATRIX_CELLS} x {MAX_MATRIX_CELLS}: crop it, e.g. img[:16, :16]")
    if fmt is None:
        whole = img.dtype.kind in "uib" or bool(np.all(np.mod(img, 1) == 0))
        fmt = "{:d}" if whole else "{:.2f}"
    fig = ax.figure if ax is not None else _Figure(figsize=(0.42 * w + 0.6, 0.42 * h + 0.4),
                                                  layout="constrained")
    ax = ax if ax is not None else fig.add_subplot()
    shown = ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    values = img.astype(np.int64) if fmt == "{:d}" else img
    for (i, j), value in np.ndenumerate(values):
        r, g, b, _ = shown.cmap(shown.norm(img[i, j]))
        light = 0.299 * r + 0.587 * g + 0.114 * b > 0.5
        ax.text(j, i, fmt.format(value), ha="center", va="center",
                fontsize=max(5, 9 - max(h, w) // 10), color="black" if light else "white")
    ax.set_xticks(range(w))
    ax.set_yticks(range(h))
    ax.tick_params(labelsize=6, length=0)
    return fig


def show_channels(rgb):
    """An RGB image and its three channels side by side, each channel in its own color
    (the red panel is (R, 0, 0), and so on).

    Arguments:
        rgb: (H, W, 3), floats in [0, 1] or integers in 0-255.

    Returns:
        A Figure with four panels: the image, R, G, B.

    Raises:
        ValueError: rgb is not (H, W, 3) or holds values outside its dtype's range.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3), got shape {rgb.shape}")
    rgb = _unit_range("rgb", rgb)
    fig, axes = _figure(1, 4, cell=2.4)
    axes[0].imshow(rgb, interpolation="nearest")
    axes[0].set_title("RGB")
    for c, (ax, name) in enumerate(zip(axes[1:], ("R", "G", "B"))):
        panel = np.zeros_like(rgb)
        panel[:, :, c] = rgb[:, :, c]
        ax.imshow(panel, interpolation="nearest")
        ax.set_title(name)
    for ax in axes:
        _bare(ax)
    return fig


def show_images(images, titles=None, ncols=8, cmap="gray"):
    """A grid of images or maps, each with its own color scale.

    Arguments:
        images: (N, H, W) or (N, H, W, 1) (drawn with ``cmap``) or (N, H, W, 3)
            (RGB, each image stretched to [0, 1]).
        titles: N strings, or None.
        ncols: images per row.

    Returns:
        A Figure.

    Raises:
        ValueError: images of another shape, or titles of the wrong length.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[3] == 3)) or len(images) == 0:
        raise ValueError(f"images must be (N, H, W), (N, H, W, 1) or (N, H, W, 3) with N >= 1, "
                         f"got shape {images.shape}")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles has {len(titles)} entries for {len(images)} images")
    ncols = min(check_int("ncols", ncols, 1), len(images))
    fig, axes = _figure(math.ceil(len(images) / ncols), ncols)
    for n, ax in enumerate(axes):
        _bare(ax)
        if n >= len(images):
            ax.set_axis_off()
            continue
        img = images[n]
        if img.ndim == 3:
            span = img.max() - img.min()
            ax.imshow((img - img.min()) / (span if span > 0 else 1), interpolation="nearest")
        else:
            ax.imshow(img, cmap=cmap, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[n], fontsize=8)
    return fig


def show_kernels(w, in_channel=None, max_filters=64, ncols=8):
    """The filters of a conv kernel, one tile per output channel.

    Arguments:
        w: HWIO kernel (KH, KW, C_in, C_out), e.g. ``layer.params["kernel"]`` (cnnlib)
            or ``keras_layer.get_weights()[0]``.
        in_channel: which input channel to draw. By default a 3-channel kernel is
            drawn as color (each filter stretched to [0, 1]) and a 1-channel kernel
            in gray; other depths need ``in_channel``.
        max_filters: draw at most this many filters (the first ones).
        ncols: tiles per row.

    Returns:
        A Figure. Gray tiles share one symmetric scale (0 is mid-gray), so filters
        can be compared.

    Raises:
        ValueError: w is not 4-D, or in_channel is missing or out of range.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"w must be an HWIO kernel (KH, KW, C_in, C_out), got shape {w.shape}")
    c_in, c_out = w.shape[2], min(w.shape[3], check_int("max_filters", max_filters, 1))
    if in_channel is None and c_in not in (1, 3):
        raise ValueError(f"w has {c_in} input channels: pass in_channel (0 to {c_in - 1}) to choose one")
    if in_channel is not None and not 0 <= in_channel < c_in:
        raise ValueError(f"in_channel must be in [0, {c_in}), got {in_channel}")
    ncols = min(check_int("ncols", ncols, 1), c_out)
    fig, axes = _figure(math.ceil(c_out / ncols), ncols, cell=1.1)
    color = in_channel is None and c_in == 3
    tiles = w[:, :, :, :c_out] if color else w[:, :, in_channel or 0, :c_out]
    limit = np.abs(tiles).max() or 1.0
    for n, ax in enumerate(axes):
        _bare(ax)
        if n >= c_out:
            ax.set_axis_off()
            continue
        if color:
            tile = tiles[:, :, :, n]
            span = tile.max() - tile.min()
            ax.imshow((tile - tile.min()) / (span if span > 0 else 1), interpolation="nearest")
        else:
            ax.imshow(tiles[:, :, n], cmap="gray", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(str(n), fontsize=7)
    return fig


def show_feature_maps(model, image, layer, max_maps=32, ncols=8):
    """A layer's output channels for one image, one tile each (each with its own color scale).

    Arguments:
        model: a cnnlib Sequential or a Keras model.
        image: one image, (H, W, C) or (H, W).
        layer: the layer's name or index.
        max_maps: draw at most this many channels (the first ones).
        ncols: tiles per row.

    Returns:
        A Figure titled with the layer's name and output shape.

    Raises:
        ValueError: as :func:`feature_maps`, or a layer whose output is not a map.
    """
    maps = feature_maps(model, _as_image(image), layer)
    if maps.ndim != 3:
        raise ValueError(f"layer {layer!r} outputs shape {maps.shape}, not (h, w, channels) maps")
    count = min(maps.shape[2], check_int("max_maps", max_maps, 1))
    fig = show_images(np.moveaxis(maps[:, :, :count], 2, 0), titles=[str(c) for c in range(count)],
                      ncols=ncols, cmap="viridis")
    fig.suptitle(f"{layer}: {maps.shape[0]} x {maps.shape[1]} x {maps.shape[2]}")
    return fig


def plot_history(history, metrics=("loss", "accuracy")):
    """Training curves: each metric per epoch, with its validation curve when there is one.

    Arguments:
        history: a cnnlib ``History`` (from ``Sequential.fit``), a Keras ``History``
            (from ``model.fit``) or a dict {"loss": [...], "val_loss": [...], ...}.
        metrics: the metrics to plot, one panel each, when present.

    Returns:
        A Figure with one panel per metric found; epochs count from 1.

    Raises:
        ValueError: none of ``metrics`` is in the history.
    """
    record = getattr(history, "history", history)
    found = [m for m in metrics if m in record and len(record[m])]
    if not found:
        raise ValueError(f"history has none of the metrics {tuple(metrics)}; it has {sorted(record)}")
    fig, axes = _figure(1, len(found), cell=3.2)
    for ax, metric in zip(axes, found):
        for key, label in ((metric, "training"), (f"val_{metric}", "validation")):
            if key in record and len(record[key]):
                ax.plot(np.arange(1, len(record[key]) + 1), record[key], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    return fig


# -- a real model to look at ----------------------------------------------------------------

def demo_cnn(seed=0):
    """The small CNN of the visualization notebook, in cnnlib, untrained:
    conv1 (16 @ 3x3) -> relu1 -> pool1 (2x2) -> conv2 (32 @ 3x3) -> relu2 -> pool2
    -> flatten -> logits (10), 12,810 weights, for (28, 28, 1) digits.
    ``seed`` fixes the initial weights."""
    from . import layers as L
    from .model import Sequential

    return Sequential([L.Conv2D(16, 3, name="conv1"), L.ReLU(name="relu1"), L.MaxPool2D(2, name="pool1"),
                       L.Conv2D(32, 3, name="conv2"), L.ReLU(name="relu2"), L.MaxPool2D(2, name="pool2"),
                       L.Flatten(name="flatten"), L.Dense(10, name="logits")],
                      input_shape=(28, 28, 1), seed=seed)


class DemoCNN(NamedTuple):
    """What :func:`train_demo_cnn` returns: the trained ``keras_model`` (outputs logits),
    ``model`` (the cnnlib network with the same trained weights), and the Keras
    ``history`` (loss, accuracy, val_loss, val_accuracy per epoch)."""

    keras_model: object
    model: object
    history: object


def train_demo_cnn(epochs=5, seed=0, batch_size=32, verbose=0):
    """Train :func:`demo_cnn` in Keras on the MNIST subset: a real model for the notebooks.

    The cnnlib network is built with ``seed``, turned into Keras with ``to_keras``
    (layer names kept), trained with Adam(1e-3) on the 4,000 training digits of
    :func:`cnnlib.data.load_mnist_subset`, validated on the 1,000 held-out ones,
    and its trained weights are copied back into the cnnlib network. Five epochs
    take about 7 seconds on two cores and reach about 95% held-out accuracy.
    ``tf.random.set_seed(seed)`` is called so that the shuffling repeats.

    Returns:
        A :class:`DemoCNN` (keras_model, model, history). The Keras model outputs
        logits; ``tf.nn.softmax(keras_model(x))`` or ``model.predict(x)`` gives
        probabilities.

    Raises:
        ValueError: epochs or batch_size below 1.
    """
    import tensorflow as tf

    from .data import load_mnist_subset
    from .keras_bridge import to_keras

    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    (x_train, y_train), (x_test, y_test) = load_mnist_subset()
    model = demo_cnn(seed)
    keras_model = to_keras(model)
    keras_model.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=["accuracy"])
    tf.random.set_seed(seed)
    history = keras_model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                              validation_data=(x_test, y_test), verbose=verbose)
    model.set_weights(keras_model.get_weights())
    return DemoCNN(keras_model, model, history)
