"""Pictures of images, kernels, feature maps and training curves (listed in :mod:`cnnlib.viz`).

Each function (show_matrix, show_channels, show_images, show_kernels, show_feature_maps,
plot_history) returns a matplotlib ``Figure`` made by :mod:`cnnlib.figures` and never calls
``pyplot``, so it works with the Agg backend, shows once in a notebook and leaves no figure open.
"""

import math

import numpy as np

from ..arguments import check_int
from ..figures import new_figure
from .inspection import as_image, feature_maps

__all__ = ["show_matrix", "show_channels", "show_images", "show_kernels", "show_feature_maps", "plot_history",
           "MAX_MATRIX_CELLS"]


def _grid(nrows, ncols, cell=1.6, extra_w=0.0):
    fig = new_figure(ncols * cell + extra_w, nrows * cell, layout="constrained")
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
    fig = ax.figure if ax is not None else new_figure(0.42 * w + 0.6, 0.42 * h + 0.4, layout="constrained")
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
    fig, axes = _grid(1, 4, cell=2.4)
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
    fig, axes = _grid(math.ceil(len(images) / ncols), ncols)
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
    fig, axes = _grid(math.ceil(c_out / ncols), ncols, cell=1.1)
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
    maps = feature_maps(model, as_image(image), layer)
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
    fig, axes = _grid(1, len(found), cell=3.2)
    for ax, metric in zip(axes, found):
        for key, label in ((metric, "training"), (f"val_{metric}", "validation")):
            if key in record and len(record[key]):
                ax.plot(np.arange(1, len(record[key]) + 1), record[key], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    return fig
