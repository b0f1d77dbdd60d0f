"""Interactive explorers for the notebooks: conv sizes, a step-by-step convolution, kernels, pooling, shapes.

The file has two halves.

1. Pure functions (no widgets, no drawing). They turn control values into the
   numbers and sentences a widget shows, and they get every number from
   :mod:`cnnlib.shapes` or :mod:`cnnlib.ops`; nothing here re-derives a
   formula. Tests call them directly, without a browser.
2. Widget classes, each a thin view over those functions:

   ConvSizeExplorer   sliders for W, K, P, S, D; the formula, the output size, a drawing;
                      a transposed mode shows how a small input grows (sizes explained in
                      :mod:`cnnlib.transposed_sizes`)
   ConvStepper        play through a convolution one output pixel at a time
   KernelPlayground   edit or pick a kernel, see the filtered image and its ReLU
   PoolingExplorer    pool size, stride and mode over a small matrix, window by window
   ShapeTracer        a stack of conv/pool/flatten/dense layers, its shapes and parameters

Every widget has one observer that recomputes everything from the current
control values, so quick slider moves always end in a consistent view; when
code sets several controls at once (a preset), the observer runs once at the
end. Figures are drawn into one matplotlib figure per widget and shown as a
PNG in an ``ipywidgets.Image``, so a redraw swaps the picture instead of
clearing and re-creating the output (no flicker).

Display a widget by making it the last expression of a cell, or with
``IPython.display.display(widget)``; ``widget.ui`` is its root ipywidget.
Importing this module imports ipywidgets and matplotlib (``import cnnlib``
does not).
"""

import html
import io
import math
from contextlib import contextmanager

import numpy as np

from . import ops, shapes
from .arguments import check_int
from .transposed_sizes import conv_transpose_axis_layout, conv_transpose_size_formula, explain_conv_transpose_size

__all__ = [
    "LECTURE_IMAGE",
    "LECTURE_KERNEL",
    "CURVE_DETECTOR",
    "KERNEL_PRESETS",
    "conv_axis_layout",
    "explain_conv_size",
    "conv_size_formula",
    "layer_summary",
    "conv_transpose_axis_layout",
    "explain_conv_transpose_size",
    "conv_transpose_size_formula",
    "conv_steps",
    "apply_kernel",
    "pool_windows",
    "trace_layers",
    "ConvSizeExplorer",
    "ConvStepper",
    "KernelPlayground",
    "PoolingExplorer",
    "ShapeTracer",
]

# The course's first worked example: a 5x5 binary image and a 3x3 kernel.
LECTURE_IMAGE = np.array([[1, 1, 1, 0, 0],
                          [0, 1, 1, 1, 0],
                          [0, 0, 1, 1, 1],
                          [0, 0, 1, 1, 0],
                          [0, 1, 1, 0, 0]])
LECTURE_KERNEL = np.array([[1, 0, 1],
                           [0, 1, 0],
                           [1, 0, 1]])

# The 7x7 curve detector of the beginner's guide: 30 along a line that bends to the right.
CURVE_DETECTOR = np.zeros((7, 7))
CURVE_DETECTOR[[0, 1, 2, 3, 4, 5], [5, 4, 3, 3, 3, 3]] = 30

KERNEL_PRESETS = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=float),
    "box blur": np.full((3, 3), 1 / 9),
    "Gaussian blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float),
    "Sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),
    "Sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float),
    "Laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float),
    "curve detector (7x7)": CURVE_DETECTOR,
}


# ---------------------------------------------------------------------------
# Pure functions: conv output sizes
# ---------------------------------------------------------------------------

def conv_axis_layout(n, k, padding=0, stride=1, dilation=1):
    """Where a kernel lands along one axis of the padded input.

    Arguments:
        n, k, padding, stride, dilation: as in :func:`cnnlib.shapes.conv_output_size`
            (padding may be an int, a ``(before, after)`` pair or ``"valid"``,
            ``"same"``, ``"full"``).

    Returns:
        A dict with
        ``before``, ``after`` (zeros added on each side), ``padded`` (length
        of the padded axis), ``span`` (the kernel's effective size),
        ``output_size`` (from shapes), ``starts`` (padded index where each
        kernel position begins), ``taps`` (offsets of the kernel's taps from
        its start) and ``leftover`` (padded indices that no position covers,
        at the bottom/right). Padded index ``p`` is input pixel ``p - before``.

    Raises:
        ValueError, TypeError: as :func:`cnnlib.shapes.conv_output_size` does,
            for instance when the kernel does not fit.
    """
    before, after = shapes.padding_amounts(n, k, padding, stride, dilation)
    span = shapes.effective_kernel_size(k, dilation)
    out = shapes.conv_output_size(n, k, padding, stride, dilation)
    starts = tuple(range(0, out * stride, stride))
    padded = n + before + after
    return {"before": before, "after": after, "padded": padded, "span": span, "output_size": out,
            "starts": starts, "taps": tuple(range(0, span, dilation)),
            "leftover": tuple(range(starts[-1] + span, padded))}


def _pixel_range(first, last):
    return f"{first}" if first == last else f"{first} to {last}"


def explain_conv_size(n, k, padding=0, stride=1, dilation=1):
    """Output size of a convolution along one axis, and a sentence that explains it.

    Arguments:
        n, k, padding, stride, dilation: as in :func:`cnnlib.shapes.conv_output_size`.

    Returns:
        ``(output_size, message)``: the size from
        :func:`cnnlib.shapes.conv_output_size`, or ``None`` when the
        combination is impossible (kernel larger than the padded input, or an
        invalid argument). The message says how many positions fit, which
        pixels a stride that does not tile leaves uncovered, or why there is
        no output. It never raises.
    """
    try:
        lay = conv_axis_layout(n, k, padding, stride, dilation)
    except (TypeError, ValueError):
        return None, _explain_impossible(n, k, padding, stride, dilation)
    out, before, after = lay["output_size"], lay["before"], lay["after"]
    parts = [f"Output size {out}: the kernel (spanning {lay['span']} pixel"
             f"{'s' if lay['span'] != 1 else ''}) fits at {out} position{'s' if out != 1 else ''}"
             + (f", {stride} pixel{'s' if stride != 1 else ''} apart." if out > 1 else ".")]
    if before != after:
        parts.append(f"The padding is uneven: {before} zero(s) before and {after} after "
                     f"(TensorFlow puts the odd one at the bottom/right).")
    leftover = lay["leftover"]
    if not leftover:
        parts.append("The last position ends exactly at the edge of the padded input: the stride tiles it.")
    else:
        real = [p - before for p in leftover if 0 <= p - before < n]
        zeros = len(leftover) - len(real)
        what = []
        if real:
            what.append(f"input pixel{'s' if len(real) > 1 else ''} {_pixel_range(real[0], real[-1])} "
                        f"(counting from 0)")
        if zeros:
            what.append(f"{zeros} padding zero{'s' if zeros > 1 else ''}")
        parts.append(f"The stride does not tile: {len(leftover)} pixel{'s' if len(leftover) > 1 else ''} "
                     f"at the bottom/right {'are' if len(leftover) > 1 else 'is'} left over, "
                     f"never covered by the kernel: {' and '.join(what)}.")
        if not real:
            parts.append("Only padding is lost, so every image pixel still counts.")
    return out, " ".join(parts)


def _explain_impossible(n, k, padding, stride, dilation):
    """The sentence for a combination that has no output."""
    try:
        before, after = shapes.padding_amounts(n, k, padding, stride, dilation)
        span = shapes.effective_kernel_size(k, dilation)
        check_int("stride", stride, 1)
    except (TypeError, ValueError) as bad:
        return f"Invalid setting: {bad}."
    pad_text = f"{before} + {after}" if before != after else f"2·{before}"
    dil_text = f" with dilation {dilation}" if dilation != 1 else ""
    return (f"Impossible: the kernel (K={k}{dil_text}) spans {span} pixels, but the padded input "
            f"is only {n + before + after} wide (W + padding = {n} + {pad_text}), so there is no "
            f"position where it fits and no output. Use a smaller kernel or dilation, or more "
            f"padding.")


def conv_size_formula(n, k, padding=0, stride=1, dilation=1):
    """The output-size formula with the numbers substituted, as one line of text.

    ``O = ⌊(W + 2P − D(K−1) − 1) / S⌋ + 1 = ⌊(7 + 2·1 − 1·(3−1) − 1) / 2⌋ + 1 = ⌊4 / 2⌋ + 1 = 3``.
    The final number is :func:`cnnlib.shapes.conv_output_size`. Uneven padding
    is written ``W + P_before + P_after``. For an impossible combination the
    line ends with the reason instead of a number; invalid arguments give the
    bare formula. Never raises.
    """
    try:
        before, after = shapes.padding_amounts(n, k, padding, stride, dilation)
        span = shapes.effective_kernel_size(k, dilation)
        check_int("stride", stride, 1)
    except (TypeError, ValueError):
        return "O = ⌊(W + 2P − D(K−1) − 1) / S⌋ + 1"
    if before == after:
        general, pad = "O = ⌊(W + 2P − D(K−1) − 1) / S⌋ + 1", f"2·{before}"
    else:
        general, pad = "O = ⌊(W + P_before + P_after − D(K−1) − 1) / S⌋ + 1", f"{before} + {after}"
    numerator = n + before + after - span
    line = f"{general} = ⌊({n} + {pad} − {dilation}·({k}−1) − 1) / {stride}⌋ + 1 = ⌊{numerator} / {stride}⌋ + 1"
    try:
        return f"{line} = {shapes.conv_output_size(n, k, padding, stride, dilation)}"
    except ValueError:
        return f"{line}: the numerator is negative, the kernel does not fit, no output"


def layer_summary(h, w, c_in, filters, k, padding=0, stride=1, dilation=1, transposed=False, output_padding=None):
    """A whole conv layer: input H×W×C, ``filters`` kernels of k×k×C, output and parameters.

    Arguments:
        h, w, c_in: input height, width and channels.
        filters: number of kernels (output channels).
        k, padding, stride, dilation: as in :func:`cnnlib.shapes.conv_output_size`,
            the same along both axes.
        transposed: a transposed convolution instead (Keras's Conv2DTranspose:
            kernels (k, k, filters, C), sizes from
            :func:`cnnlib.shapes.conv_transpose_output_size`), with ``output_padding``.

    Returns:
        ``(out_shape, params, message)``: out_shape is ``(OH, OW, filters)``
        (None when the kernel does not fit along an axis or an argument is
        invalid), params the count from :func:`cnnlib.shapes.conv_param_count`
        (None when invalid; the same for both kinds), and a one-line description. Never raises.
    """
    try:
        params = shapes.conv_param_count(k, k, c_in, filters)
    except (TypeError, ValueError) as err:
        return None, None, f"Invalid setting: {err}."
    sizes = []
    for axis, n in (("height", h), ("width", w)):
        size, why = (explain_conv_transpose_size(n, k, padding, stride, dilation, output_padding) if transposed
                     else explain_conv_size(n, k, padding, stride, dilation))
        if size is None:
            return None, params, f"Along the {axis}: {why}"
        sizes.append(size)
    out = (sizes[0], sizes[1], filters)
    kernels = (f"{filters} transposed kernels of {k}×{k}×{filters} (each input channel has one)" if transposed
               else f"{filters} filters of {k}×{k}×{c_in}")
    return out, params, (f"Input {h}×{w}×{c_in} → {kernels} → output {out[0]}×{out[1]}×{filters}. "
                         f"Parameters: {k}·{k}·{c_in}·{filters} weights + {filters} biases = {params:,}.")


# ---------------------------------------------------------------------------
# Pure functions: a convolution step by step, kernels on images
# ---------------------------------------------------------------------------

def conv_steps(image, kernel, stride=1, padding=0):
    """Every step of a single-channel convolution (cross-correlation), in reading order.

    Arguments:
        image: 2-D array (H, W).
        kernel: 2-D array (KH, KW).
        stride: int >= 1.
        padding: int, ``"valid"``, ``"same"`` or ``"full"`` (same along both axes).

    Returns:
        ``(padded, output, steps)``: the zero-padded image (from
        :func:`cnnlib.ops.zero_pad`), the output (OH, OW) from
        :func:`cnnlib.ops.conv2d`, and a list of OH*OW dicts, one per output
        pixel in row-major order, with ``row``, ``col`` (output position),
        ``top``, ``left`` (the window's corner in the padded image), ``window``
        (KH, KW), ``products`` (window * kernel) and ``value`` (output[row, col]).

    Raises:
        ValueError, TypeError: as :func:`cnnlib.ops.conv2d` does (kernel
            larger than the padded image, bad stride or padding, not 2-D).
    """
    image = np.asarray(image)
    kernel = np.asarray(kernel)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"image and kernel must be 2-D, got image.shape={image.shape}, "
                         f"kernel.shape={kernel.shape}")
    output = ops.conv2d(image[None, :, :, None], kernel[:, :, None, None], stride=stride,
                        padding=padding)[0, :, :, 0]
    pads = tuple(shapes.padding_amounts(n, k, padding, stride) for n, k in zip(image.shape, kernel.shape))
    padded = ops.zero_pad(image[None, :, :, None], pads)[0, :, :, 0]
    kh, kw = kernel.shape
    steps = []
    for row in range(output.shape[0]):
        for col in range(output.shape[1]):
            top, left = row * stride, col * stride
            window = padded[top:top + kh, left:left + kw]
            steps.append({"row": row, "col": col, "top": top, "left": left, "window": window,
                          "products": window * kernel, "value": output[row, col]})
    return padded, output, steps


def apply_kernel(image, kernel):
    """Filter a grayscale image with a kernel, and rectify the result.

    Arguments:
        image: 2-D array (H, W).
        kernel: 2-D array (KH, KW).

    Returns:
        ``(filtered, rectified)``, both (H, W): :func:`cnnlib.ops.correlate2d`
        with ``mode="same"`` (cross-correlation, as a conv layer computes it),
        and :func:`cnnlib.ops.relu` of that.

    Raises:
        ValueError, TypeError: as :func:`cnnlib.ops.correlate2d` does.
    """
    filtered = ops.correlate2d(np.asarray(image, dtype=float), np.asarray(kernel, dtype=float), mode="same")
    return filtered, ops.relu(filtered)


def pool_windows(x, pool_size=2, stride=None, mode="max"):
    """Every window of a 2-D pooling and the number it gives.

    Arguments:
        x: 2-D array (H, W).
        pool_size: int >= 1, the window's side.
        stride: int >= 1, or None for ``pool_size`` (windows that do not overlap).
        mode: ``"max"``, ``"avg"`` or ``"sum"``.

    Returns:
        ``(output, windows)``: the (OH, OW) result of :func:`cnnlib.ops.pool2d`
        and a list, in row-major order, of dicts with ``row``, ``col``,
        ``top``, ``left``, ``values`` (the window, (pool_size, pool_size)) and
        ``value`` (output[row, col]).

    Raises:
        ValueError, TypeError: as :func:`cnnlib.ops.pool2d` does (window
            larger than x, unknown mode, bad sizes).
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (H, W), got shape {x.shape}")
    output = ops.pool2d(x[None, :, :, None], pool_size, stride, 0, mode)[0, :, :, 0]
    stride = pool_size if stride is None else stride
    windows = []
    for row in range(output.shape[0]):
        for col in range(output.shape[1]):
            top, left = row * stride, col * stride
            windows.append({"row": row, "col": col, "top": top, "left": left,
                            "values": x[top:top + pool_size, left:left + pool_size],
                            "value": output[row, col]})
    return output, windows


# ---------------------------------------------------------------------------
# Pure functions: shapes through a stack of layers
# ---------------------------------------------------------------------------

LAYER_KINDS = ("conv", "maxpool", "avgpool", "flatten", "dense")


def _trace_one(shape, layer):
    """(output shape, params) of one layer on an input of ``shape``; raises ValueError."""
    kind = layer.get("kind")
    if kind == "conv":
        if len(shape) != 3:
            raise ValueError(f"conv needs an H×W×C input, got {_shape_text(shape)}: "
                             f"put it before the flatten")
        k, s, p = layer.get("kernel_size", 3), layer.get("strides", 1), layer.get("padding", "valid")
        filters = layer.get("filters", 1)
        oh = shapes.conv_output_size(shape[0], k, p, s)
        ow = shapes.conv_output_size(shape[1], k, p, s)
        return (oh, ow, filters), shapes.conv_param_count(k, k, shape[2], filters)
    if kind in ("maxpool", "avgpool"):
        if len(shape) != 3:
            raise ValueError(f"pooling needs an H×W×C input, got {_shape_text(shape)}")
        size, s = layer.get("pool_size", 2), layer.get("strides")
        return (shapes.pool_output_size(shape[0], size, s), shapes.pool_output_size(shape[1], size, s),
                shape[2]), 0
    if kind == "flatten":
        return (math.prod(shape),), 0
    if kind == "dense":
        if len(shape) != 1:
            raise ValueError(f"dense needs a flat input, got {_shape_text(shape)}: add a flatten first")
        units = layer.get("units", 10)
        # A dense layer is a 1x1 convolution on a 1x1 "image" with shape[0] channels.
        return (units,), shapes.conv_param_count(1, 1, shape[0], units)
    raise ValueError(f"layer kind must be one of {LAYER_KINDS}, got {kind!r}")


def _shape_text(shape):
    return "×".join(str(d) for d in shape)


def trace_layers(input_shape, layers):
    """Output shape and parameter count of every layer of a stack, or why it cannot be built.

    Arguments:
        input_shape: ``(H, W, C)`` of one example (no batch axis).
        layers: list of dicts, first layer first, with ``kind`` one of
            ``"conv"`` (keys ``filters``, ``kernel_size``, ``strides``,
            ``padding``), ``"maxpool"``/``"avgpool"`` (``pool_size``,
            ``strides``, None for pool_size), ``"flatten"``, ``"dense"``
            (``units``). Names follow Keras; sizes are square.

    Returns:
        A list with one dict per layer: ``shape`` (output shape tuple, or
        None), ``params`` (int, or None) and ``error`` (None, or the reason
        the layer cannot be built; layers after a failing one get
        ``"skipped: an earlier layer failed"``). Sizes come from
        :mod:`cnnlib.shapes`. Never raises on a bad layer; raises ValueError
        when ``input_shape`` is not three integers >= 1.
    """
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (H, W, C), got {input_shape!r}")
    shape = tuple(check_int(f"input_shape[{i}]", d, 1) for i, d in enumerate(input_shape))
    rows = []
    for layer in layers:
        if shape is None:
            rows.append({"shape": None, "params": None, "error": "skipped: an earlier layer failed"})
            continue
        try:
            shape, params = _trace_one(shape, layer)
            rows.append({"shape": shape, "params": params, "error": None})
        except (TypeError, ValueError) as err:
            shape = None
            rows.append({"shape": None, "params": None, "error": str(err)})
    return rows


# ---------------------------------------------------------------------------
# Shared view helpers
# ---------------------------------------------------------------------------

def _fmt(v):
    """A number as students write it: 4 not 4.0, 0.333 not 0.3333333."""
    v = float(v)
    if v == int(v) and abs(v) < 1e12:
        return str(int(v))
    return f"{v:.3g}"


def _table(values, highlight=(), filled=None, caption="", cell_class=None):
    """A small HTML table of numbers; cells in ``highlight`` (a set of (r, c)) get a colour.

    ``filled``: when given, a set of (r, c); other cells are shown empty.
    ``cell_class``: optional function (r, c) -> extra CSS style for that cell.
    """
    rows = []
    for r, line in enumerate(np.atleast_2d(values)):
        cells = []
        for c, v in enumerate(line):
            style = "border:1px solid #999;padding:2px 6px;text-align:center;min-width:1.6em;"
            if (r, c) in highlight:
                style += "background:#ffd54f;font-weight:bold;"
            if cell_class is not None:
                style += cell_class(r, c)
            text = _fmt(v) if filled is None or (r, c) in filled else "&nbsp;"
            cells.append(f'<td style="{style}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f'<caption style="caption-side:top;font-size:90%">{html.escape(caption)}</caption>' if caption else ""
    return f'<table style="border-collapse:collapse;margin:4px 10px;display:inline-table">{cap}{"".join(rows)}</table>'


def _png(fig):
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return buf.getvalue()


def _new_figure(width, height, dpi=72):
    """A matplotlib Figure that pyplot does not know about (so nothing displays it twice)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


class _View:
    """Base of the widget classes: a root ipywidget in ``ui``, one refresh, a re-entrancy guard."""

    ui = None

    def __init__(self):
        self._busy = False

    def _observe(self, *controls):
        for control in controls:
            control.observe(self._on_change, names="value")

    def _on_change(self, change=None):
        if not self._busy:
            self.refresh()

    @contextmanager
    def _batch(self):
        """Set several controls; refresh once at the end (nested batches refresh once)."""
        outer = not self._busy
        self._busy = True
        try:
            yield
        finally:
            if outer:
                self._busy = False
                self.refresh()

    def refresh(self):
        """Recompute everything from the controls' current values."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        return self.ui._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.ui)


def _widgets():
    import ipywidgets

    return ipywidgets


# ---------------------------------------------------------------------------
# 1. ConvSizeExplorer
# ---------------------------------------------------------------------------

PAD_MODES = ("explicit", "valid", "same", "full")
EXPLORER_MODES = ("convolution", "transposed")


class ConvSizeExplorer(_View):
    """Sliders for W, K, P, S, D; shows the formula, the output size and a drawing.

    Controls (ipywidgets; set ``.value`` from code to drive it):
        ``mode`` (``"convolution"``, or ``"transposed"``: how a transposed
        convolution grows an input of size W), ``input_size`` (W),
        ``kernel_size`` (K), ``padding`` (P, zeros on each side; in transposed
        mode the padding of the convolution it undoes), ``stride`` (S),
        ``dilation`` (D), ``output_padding`` (transposed mode only: None for
        Keras's default, or 0 to 7), ``padding_mode`` (``"explicit"``
        uses the padding slider; ``"valid"``, ``"same"`` and ``"full"`` set it,
        and follow the other sliders), ``view`` (``"one axis"`` or ``"whole
        layer"``), and for the layer view ``channels`` (C) and ``filters``.

    Read back:
        ``output_size`` (int, or None when impossible), ``message`` (the
        explanation shown), ``formula`` (the substituted formula),
        ``layer_text`` (the whole-layer line), ``layer_shape``, ``layer_params``.
    """

    def __init__(self, input_size=7, kernel_size=3, padding=0, stride=1, dilation=1,
                 channels=3, filters=8, mode="convolution", output_padding=None):
        super().__init__()
        w = _widgets()
        style = {"description_width": "110px"}
        lay = w.Layout(width="420px")

        def slider(name, value, lo, hi, css):
            s = w.IntSlider(value=value, min=lo, max=hi, description=name, style=style, layout=lay)
            s.add_class(css)
            return s

        self.input_size = slider("input W", input_size, 1, 32, "cnn-input-size")
        self.kernel_size = slider("kernel K", kernel_size, 1, 15, "cnn-kernel-size")
        self.padding = slider("padding P", padding, 0, 12, "cnn-padding")
        self.stride = slider("stride S", stride, 1, 8, "cnn-stride")
        self.dilation = slider("dilation D", dilation, 1, 4, "cnn-dilation")
        self.padding_mode = w.ToggleButtons(options=PAD_MODES, value="explicit", description="padding",
                                            style={"description_width": "110px", "button_width": "70px"})
        self.view = w.ToggleButtons(options=("one axis", "whole layer"), value="one axis",
                                    description="view", style={"description_width": "110px"})
        self.mode = w.ToggleButtons(options=EXPLORER_MODES, value=mode, description="mode",
                                    style={"description_width": "110px", "button_width": "100px"})
        self.mode.add_class("cnn-mode")
        self.output_padding = w.Dropdown(options=[("None (Keras's default)", None)] + [(str(a), a) for a in range(8)],
                                         value=output_padding, description="output pad a", style=style)
        self.output_padding.add_class("cnn-output-padding")
        self.channels = slider("channels C", channels, 1, 64, "cnn-channels")
        self.filters = slider("filters", filters, 1, 128, "cnn-filters")
        self.formula_html = w.HTML().add_class("cnn-formula")
        self.size_html = w.HTML().add_class("cnn-output-size")
        self.message_html = w.HTML().add_class("cnn-message")
        self.layer_html = w.HTML().add_class("cnn-layer")
        self.image = w.Image(format="png").add_class("cnn-figure")
        self.layer_box = w.VBox([self.channels, self.filters, self.layer_html])
        self.ui = w.VBox([self.mode, self.input_size, self.kernel_size, self.padding_mode, self.padding,
                          self.stride, self.dilation, self.output_padding, self.view, self.layer_box,
                          self.formula_html, self.size_html, self.message_html, self.image]).add_class("cnn-conv-size")
        self._setup_figure()
        self._observe(self.input_size, self.kernel_size, self.stride, self.dilation, self.channels,
                      self.filters, self.view, self.mode, self.output_padding)
        self.padding.observe(self._on_padding, names="value")
        self.padding_mode.observe(self._on_change, names="value")
        self.refresh()

    def _on_padding(self, change):
        if not self._busy:   # the user moved the padding slider: it is explicit from now on
            with self._batch():
                self.padding_mode.value = "explicit"

    def padding_arg(self):
        """The padding argument for cnnlib.shapes: the mode's name, or the slider's value."""
        mode = self.padding_mode.value
        return self.padding.value if mode == "explicit" else mode

    def refresh(self):
        """Recompute the formula, output size, message, layer line and drawing from the sliders."""
        n, k, s, d = (self.input_size.value, self.kernel_size.value, self.stride.value,
                      self.dilation.value)
        pad = self.padding_arg()
        transposed = self.mode.value == "transposed"
        a = self.output_padding.value
        if pad != self.padding.value:   # a preset: show its (before) amount on the slider
            try:
                before = (shapes.conv_transpose_padding(n, k, pad, s, d, a) if transposed
                          else shapes.padding_amounts(n, k, pad, s, d))[0]
            except ValueError:
                before = 0
            self._busy, was = True, self._busy
            try:
                self.padding.value = min(before, self.padding.max)
            finally:
                self._busy = was
        self.output_padding.layout.display = "" if transposed else "none"
        if transposed:
            self._refresh_transposed(n, k, pad, s, d, a)
            return
        self.output_size, self.message = explain_conv_size(n, k, pad, s, d)
        self.formula = conv_size_formula(n, k, pad, s, d)
        self.size_html.value = ("<b>output size: " + (str(self.output_size) if self.output_size is not None
                                                        else "none (impossible)") + "</b>")
        color = "#b00020" if self.output_size is None else "#333"
        self.message_html.value = f'<span style="color:{color}">{html.escape(self.message)}</span>'
        self.formula_html.value = f"<code>{html.escape(self.formula)}</code>"
        self.layer_shape, self.layer_params, self.layer_text = layer_summary(
            n, n, self.channels.value, self.filters.value, k, pad, s, d)
        self.layer_html.value = html.escape(self.layer_text)
        self.layer_box.layout.display = "" if self.view.value == "whole layer" else "none"
        self._draw(n, k, pad, s, d)

    def _show_texts(self):
        self.size_html.value = ("<b>output size: " + (str(self.output_size) if self.output_size is not None
                                                        else "none (impossible)") + "</b>")
        color = "#b00020" if self.output_size is None else "#333"
        self.message_html.value = f'<span style="color:{color}">{html.escape(self.message)}</span>'
        self.formula_html.value = f"<code>{html.escape(self.formula)}</code>"
        self.layer_html.value = html.escape(self.layer_text)
        self.layer_box.layout.display = "" if self.view.value == "whole layer" else "none"

    def _refresh_transposed(self, n, k, pad, s, d, a):
        """The transposed mode: an input of W pixels grows; sizes from cnnlib.transposed_sizes."""
        self.output_size, self.message = explain_conv_transpose_size(n, k, pad, s, d, a)
        self.formula = conv_transpose_size_formula(n, k, pad, s, d, a)
        self.layer_shape, self.layer_params, self.layer_text = layer_summary(
            n, n, self.channels.value, self.filters.value, k, pad, s, d, transposed=True, output_padding=a)
        self._show_texts()
        self._draw_transposed(n, k, pad, s, d, a)

    def _setup_figure(self):
        """One figure, two axes and their artists, made once; _draw only updates them."""
        from matplotlib.collections import LineCollection
        from matplotlib.colors import ListedColormap

        self._fig = _new_figure(8, 3.4)
        left, right = self._axes = self._fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        self._fig.subplots_adjust(left=0.02, right=0.98, bottom=0.03, top=0.85, wspace=0.1)
        # cell categories: 0 padding, 1 input, 2 left over, 3 first kernel position, 4 last one
        cmap = ListedColormap(["#d9d9d9", "#ffffff", "#ef9a9a", "#42a5f5", "#ffb74d"])
        self._grid_img = left.imshow(np.zeros((1, 1)), cmap=cmap, vmin=-0.5, vmax=4.5)
        self._out_img = right.imshow(np.zeros((1, 1)), cmap=ListedColormap(["#a5d6a7"]), vmin=0, vmax=1)
        self._cmaps = {"categories": cmap, "output": ListedColormap(["#a5d6a7"])}
        self._corners = left.scatter([], [], s=12, c="k", marker="o", zorder=3)
        self._lines = [ax.add_collection(LineCollection([], colors="#777", linewidths=0.5)) for ax in (left, right)]
        self._nofit = left.text(0.5, 0.5, "", ha="center", va="center", color="#b00020", fontsize=13,
                                transform=left.transAxes)
        for ax in (left, right):
            ax.set_xticks([])
            ax.set_yticks([])

    def _draw(self, n, k, pad, s, d):
        left, right = self._axes
        self._out_img.set_cmap(self._cmaps["output"])
        self._out_img.set_clim(0, 1)
        try:
            lay = conv_axis_layout(n, k, pad, s, d)
        except (TypeError, ValueError):
            lay = None
        for artist in (self._grid_img, self._out_img, self._corners, *self._lines, right):
            artist.set_visible(lay is not None)
        if lay is None:
            self._nofit.set_text("the kernel does not fit:\nno output")
            left.set_title("")
            right.set_title("")
            self.image.value = _png(self._fig)
            return
        self._nofit.set_text("")
        size, before, o = lay["padded"], lay["before"], lay["output_size"]
        inside = np.zeros(size, bool)
        inside[before:before + n] = True
        grid = np.where(inside[:, None] & inside[None, :], 1, 0)
        left_over = np.zeros(size, bool)
        left_over[list(lay["leftover"])] = True
        grid[left_over[:, None] | left_over[None, :]] = 2
        for code, start in ((4, lay["starts"][-1]), (3, 0)):
            taps = [start + t for t in lay["taps"]]
            grid[np.ix_(taps, taps)] = code
        corners = np.array(lay["starts"])
        yy, xx = np.meshgrid(corners, corners, indexing="ij")
        self._corners.set_offsets(np.column_stack([xx.ravel(), yy.ravel()]))
        self._show_grids(grid, np.ones((o, o)))
        left.set_title(f"padded input {size}×{size}: grey = padding, blue/orange = first/last kernel "
                       f"position,\ndots = every position's corner, red = left over", fontsize=8)
        right.set_title(f"output {o}×{o}", fontsize=9)
        self.image.value = _png(self._fig)

    def _show_grids(self, left_values, right_values):
        """Show two square grids of cells, one per axes, each with its grid lines."""
        for ax, img, lines, values in zip(self._axes, (self._grid_img, self._out_img), self._lines,
                                          (left_values, right_values)):
            m = len(values)
            img.set_data(values)
            img.set_extent((-0.5, m - 0.5, m - 0.5, -0.5))
            ax.set_xlim(-0.5, m - 0.5)
            ax.set_ylim(m - 0.5, -0.5)
            edges = np.arange(m + 1) - 0.5
            lines.set_segments([[(e, -0.5), (e, m - 0.5)] for e in edges]
                               + [[(-0.5, e), (m - 0.5, e)] for e in edges])

    def _draw_transposed(self, n, k, pad, s, d, a):
        """Left: the input, its first and last pixel marked. Right: the stamped output (what the padding
        crops in grey, the output padding in red, the first and last pixel's stamps in blue and orange)."""
        left, right = self._axes
        try:
            lay = conv_transpose_axis_layout(n, k, pad, s, d, a)
        except (TypeError, ValueError):
            lay = None
        for artist in (self._grid_img, self._out_img, *self._lines, right):
            artist.set_visible(lay is not None)
        self._corners.set_visible(False)
        if lay is None:
            self._nofit.set_text("impossible setting:\nno output")
            left.set_title("")
            right.set_title("")
            self.image.value = _png(self._fig)
            return
        self._nofit.set_text("")
        first, last = lay["window"]
        size = max(lay["stamped"], last)             # stamped pixels, and the output padding's after them
        kept = np.zeros(size, bool)
        kept[first:last] = True
        line = np.where(kept, 1, 0)
        line[lay["stamped"]:] = np.where(kept[lay["stamped"]:], 2, 0)
        grid = np.minimum(line[:, None], line[None, :])
        for code, start in ((4, lay["starts"][-1]), (3, lay["starts"][0])):
            taps = [start + t for t in lay["taps"]]
            grid[np.ix_(taps, taps)] = code
        source = np.ones((n, n))
        source[-1, -1], source[0, 0] = 4, 3
        self._out_img.set_cmap(self._cmaps["categories"])
        self._out_img.set_clim(-0.5, 4.5)
        self._show_grids(source, grid)
        o = lay["output_size"]
        left.set_title(f"input {n}×{n}: each pixel stamps the kernel into the output,\n{s} apart; "
                       f"blue/orange = the first/last pixel and its stamp", fontsize=8)
        right.set_title(f"output {o}×{o}\ngrey = cropped by the padding, red = output padding", fontsize=8)
        self.image.value = _png(self._fig)


# ---------------------------------------------------------------------------
# 2. ConvStepper
# ---------------------------------------------------------------------------

class ConvStepper(_View):
    """Play through a convolution: receptive field, element-wise products, their sum, the output.

    Arguments:
        image: 2-D array; default the course's 5×5 binary image.
        kernel: 2-D array; default the course's 3×3 kernel.
        stride: int >= 1.
        padding: int, ``"valid"``, ``"same"`` or ``"full"``.

    Controls: ``play`` (ipywidgets.Play) linked to ``step`` (IntSlider over the
    output positions, row by row). Read back ``output`` (the full result,
    from cnnlib.ops), ``current`` (the step's dict from :func:`conv_steps`) and
    ``html`` (the HTML widget showing the step).

    Raises:
        ValueError: the kernel does not fit (the message says why).
    """

    def __init__(self, image=None, kernel=None, stride=1, padding=0):
        super().__init__()
        w = _widgets()
        self.image = LECTURE_IMAGE if image is None else np.asarray(image)
        self.kernel = LECTURE_KERNEL if kernel is None else np.asarray(kernel)
        self.padded, self.output, self.steps = conv_steps(self.image, self.kernel, stride, padding)
        last = len(self.steps) - 1
        self.play = w.Play(value=0, min=0, max=last, interval=800, description="play")
        self.step = w.IntSlider(value=0, min=0, max=last, description="step").add_class("cnn-step")
        w.jslink((self.play, "value"), (self.step, "value"))
        self.html = w.HTML().add_class("cnn-stepper")
        self.ui = w.VBox([w.HBox([self.play, self.step]), self.html])
        self._observe(self.step)
        self.refresh()

    def refresh(self):
        """Show the step the slider points at."""
        step = self.current = self.steps[self.step.value]
        kh, kw = self.kernel.shape
        field = {(step["top"] + r, step["left"] + c) for r in range(kh) for c in range(kw)}
        done = {(s["row"], s["col"]) for s in self.steps[:self.step.value + 1]}
        terms = " + ".join(f"{_fmt(a)}·{_fmt(b)}" for a, b in zip(step["window"].ravel(), self.kernel.ravel()))
        self.sum_text = f"{terms} = {_fmt(step['value'])}"
        self.html.value = (
            _table(self.padded, highlight=field, caption="input (receptive field in yellow)")
            + _table(self.kernel, caption="kernel")
            + _table(step["products"], caption="window × kernel")
            + _table(self.output, highlight={(step["row"], step["col"])}, filled=done,
                     caption=f"output, cell ({step['row']}, {step['col']})")
            + f"<p>sum of the products: {html.escape(self.sum_text)}</p>")


# ---------------------------------------------------------------------------
# 3. KernelPlayground
# ---------------------------------------------------------------------------

class KernelPlayground(_View):
    """Edit a kernel cell by cell or pick a preset; see the filtered image and its ReLU.

    Arguments:
        image: 2-D grayscale array; default scikit-image's camera, 128×128, in [0, 1].

    Controls: ``preset`` (Dropdown over :data:`KERNEL_PRESETS` plus
    ``"custom"``) and ``cells`` (list of lists of FloatText, one per kernel
    entry; the 7×7 preset swaps in a 7×7 editor). Read back ``kernel``,
    ``filtered`` and ``rectified`` (from :func:`apply_kernel`) and
    ``stats_text``.
    """

    def __init__(self, image=None, preset="identity"):
        super().__init__()
        w = _widgets()
        if image is None:
            from skimage import data

            image = data.camera()[::4, ::4] / 255.0
        self.image = np.asarray(image, dtype=float)
        if self.image.ndim != 2:
            raise ValueError(f"image must be 2-D (grayscale), got shape {self.image.shape}")
        self.preset = w.Dropdown(options=list(KERNEL_PRESETS) + ["custom"], value=preset,
                                 description="preset")
        self.editor = w.GridBox(layout=w.Layout(grid_gap="2px"))
        self.stats = w.HTML().add_class("cnn-kernel-stats")
        self.picture = w.Image(format="png")
        self.ui = w.VBox([w.HBox([w.VBox([self.preset, self.editor]), self.stats]), self.picture])
        self.cells = []
        self._fig = _new_figure(9, 3.2)
        axes = self._fig.subplots(1, 3)
        self._fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.9, wspace=0.05)
        self._artists = []
        for ax, title in zip(axes, ("image", "filtered (cross-correlation)", "ReLU(filtered)")):
            self._artists.append(ax.imshow(self.image, cmap="gray"))
            ax.set_title(title, fontsize=9)
            ax.set_axis_off()
        self.preset.observe(self._on_preset, names="value")
        self._load(KERNEL_PRESETS[preset])

    def _build_editor(self, size):
        w = _widgets()
        self.cells = [[w.FloatText(layout=w.Layout(width="58px")) for _ in range(size)] for _ in range(size)]
        self.editor.children = [c for row in self.cells for c in row]
        self.editor.layout.grid_template_columns = f"repeat({size}, 60px)"
        for row in self.cells:
            for cell in row:
                cell.observe(self._on_cell, names="value")

    def _load(self, kernel):
        with self._batch():
            if len(self.cells) != kernel.shape[0]:
                self._build_editor(kernel.shape[0])
            for row, values in zip(self.cells, kernel):
                for cell, v in zip(row, values):
                    cell.value = float(v)

    def _on_preset(self, change):
        if not self._busy and change["new"] != "custom":
            self._load(KERNEL_PRESETS[change["new"]])

    def _on_cell(self, change):
        if not self._busy:   # a hand edit: the kernel is no longer the preset
            with self._batch():
                self.preset.value = "custom"

    def refresh(self):
        """Filter the image with the kernel in the editor and redraw."""
        self.kernel = np.array([[c.value for c in row] for row in self.cells])
        self.filtered, self.rectified = apply_kernel(self.image, self.kernel)
        for artist, values in zip(self._artists[1:], (self.filtered, self.rectified)):
            artist.set_data(values)
            lo, hi = float(values.min()), float(values.max())
            artist.set_clim(lo, hi if hi > lo else lo + 1)
        self.stats_text = (f"kernel sum {_fmt(self.kernel.sum())}; filtered values from "
                           f"{_fmt(self.filtered.min())} to {_fmt(self.filtered.max())}; ReLU zeroes "
                           f"{int((self.filtered < 0).sum())} of {self.filtered.size} pixels")
        self.stats.value = html.escape(self.stats_text)
        self.picture.value = _png(self._fig)


# ---------------------------------------------------------------------------
# 4. PoolingExplorer
# ---------------------------------------------------------------------------

DEFAULT_POOL_INPUT = np.array([[1, 3, 2, 0, 5, 1],
                               [4, 6, 1, 2, 0, 3],
                               [0, 2, 5, 4, 1, 1],
                               [7, 1, 3, 8, 2, 6],
                               [2, 5, 0, 1, 4, 0],
                               [3, 0, 9, 2, 1, 7]])


class PoolingExplorer(_View):
    """Pool a small matrix window by window: pool size, stride and max/avg/sum.

    Arguments:
        x: 2-D array; default a 6×6 matrix of small integers.

    Controls: ``pool_size``, ``stride`` (IntSliders), ``mode`` (ToggleButtons),
    ``window`` (IntSlider: which window to highlight) and the preset buttons
    ``plain_button`` (2/2) and ``overlap_button`` (3/2, AlexNet's overlapping
    pooling). Read back ``output`` (None when the window does not fit),
    ``windows`` (from :func:`pool_windows`) and ``message``.
    """

    def __init__(self, x=None, pool_size=2, stride=2, mode="max"):
        super().__init__()
        w = _widgets()
        self.x = DEFAULT_POOL_INPUT if x is None else np.asarray(x)
        if self.x.ndim != 2:
            raise ValueError(f"x must be 2-D (H, W), got shape {self.x.shape}")
        biggest = max(self.x.shape)
        self.pool_size = w.IntSlider(value=pool_size, min=1, max=biggest + 1, description="pool size")
        self.stride = w.IntSlider(value=stride, min=1, max=biggest, description="stride")
        self.mode = w.ToggleButtons(options=ops.POOL_MODES, value=mode, description="mode")
        self.window = w.IntSlider(value=0, min=0, max=0, description="window")
        self.plain_button = w.Button(description="2/2 (no overlap)")
        self.overlap_button = w.Button(description="3/2 (overlapping)")
        self.plain_button.on_click(lambda _: self.set(2, 2))
        self.overlap_button.on_click(lambda _: self.set(3, 2))
        self.html = w.HTML().add_class("cnn-pooling")
        self.ui = w.VBox([w.HBox([self.pool_size, self.stride]), self.mode,
                          w.HBox([self.plain_button, self.overlap_button]), self.window, self.html])
        self._observe(self.pool_size, self.stride, self.mode, self.window)
        self.refresh()

    def set(self, pool_size, stride):
        """Set pool size and stride together (one refresh)."""
        with self._batch():
            self.pool_size.value = pool_size
            self.stride.value = stride

    def refresh(self):
        """Recompute every window and redraw the selected one."""
        k, s, mode = self.pool_size.value, self.stride.value, self.mode.value
        try:
            self.output, self.windows = pool_windows(self.x, k, s, mode)
        except ValueError as err:
            self.output, self.windows = None, []
            self.message = f"Impossible: {err}."
            self.html.value = (_table(self.x, caption="input")
                               + f'<p style="color:#b00020">{html.escape(self.message)}</p>')
            return
        self._busy, was = True, self._busy
        try:
            self.window.max = len(self.windows) - 1
        finally:
            self._busy = was
        win = self.windows[self.window.value]
        field = {(win["top"] + r, win["left"] + c) for r in range(k) for c in range(k)}
        oh, ow = self.output.shape
        overlap = " The windows overlap: some numbers belong to two windows." if s < k else ""
        skipped = (" The stride is larger than the window: some numbers are never looked at."
                   if s > k else "")
        self.message = (f"{len(self.windows)} windows of {k}×{k}, stride {s}: output {oh}×{ow}. "
                        f"Window {self.window.value} gives {mode} = {_fmt(win['value'])}.{overlap}{skipped}")
        self.html.value = (_table(self.x, highlight=field, caption="input (window in yellow)")
                           + _table(win["values"], caption=f"window {self.window.value}")
                           + _table(self.output, highlight={(win["row"], win["col"])},
                                    caption=f"{mode} pooling output")
                           + f"<p>{html.escape(self.message)}</p>")


# ---------------------------------------------------------------------------
# 5. ShapeTracer
# ---------------------------------------------------------------------------

class _LayerRow:
    """One editable layer: a kind dropdown, its fields, the result and a remove button."""

    def __init__(self, tracer, kind, filters=8, kernel_size=3, strides=1, padding="valid",
                 pool_size=2, units=10):
        w = _widgets()
        def small():   # one Layout per control: each is shown or hidden on its own
            return w.Layout(width="130px")

        style = {"description_width": "62px"}
        self.kind = w.Dropdown(options=LAYER_KINDS, value=kind, layout=w.Layout(width="95px"))
        self.filters = w.BoundedIntText(value=filters, min=1, max=4096, description="filters",
                                        layout=small(), style=style)
        self.kernel_size = w.BoundedIntText(value=kernel_size, min=1, max=99, description="kernel",
                                            layout=small(), style=style)
        self.pool_size = w.BoundedIntText(value=pool_size, min=1, max=99, description="pool",
                                          layout=small(), style=style)
        self.strides = w.BoundedIntText(value=strides, min=1, max=99, description="strides",
                                        layout=small(), style=style)
        self.padding = w.Dropdown(options=shapes.PADDING_MODES, value=padding, description="padding",
                                  layout=w.Layout(width="150px"), style=style)
        self.units = w.BoundedIntText(value=units, min=1, max=100000, description="units",
                                      layout=small(), style=style)
        self.result = w.HTML(layout=w.Layout(min_width="260px")).add_class("cnn-trace-result")
        self.remove = w.Button(description="remove", layout=w.Layout(width="70px"))
        self.remove.on_click(lambda _: tracer.remove_layer(tracer.rows.index(self)))
        self.fields = {"filters": self.filters, "kernel_size": self.kernel_size,
                       "pool_size": self.pool_size, "strides": self.strides, "padding": self.padding,
                       "units": self.units}
        self.box = w.HBox([self.kind, *self.fields.values(), self.result, self.remove])
        for control in (self.kind, *self.fields.values()):
            control.observe(tracer._on_change, names="value")

    USES = {"conv": ("filters", "kernel_size", "strides", "padding"),
            "maxpool": ("pool_size", "strides"), "avgpool": ("pool_size", "strides"),
            "flatten": (), "dense": ("units",)}

    def spec(self):
        """The layer as a dict for :func:`trace_layers`."""
        kind = self.kind.value
        return {"kind": kind, **{name: self.fields[name].value for name in self.USES[kind]}}

    def show(self, row):
        for name, control in self.fields.items():
            control.layout.display = "" if name in self.USES[self.kind.value] else "none"
        if row["error"] is None:
            self.result.value = (f"→ <b>{_shape_text(row['shape'])}</b>, "
                                 f"{row['params']:,} params")
        else:
            self.result.value = f'<span style="color:#b00020">⚠ {html.escape(row["error"])}</span>'


class ShapeTracer(_View):
    """Build a stack of layers and watch the shapes flow through it.

    Arguments:
        input_shape: ``(H, W, C)`` of one example.
        layers: optional list of layer dicts (see :func:`trace_layers`) to start with;
            default conv 3×3/8, max pool 2, flatten, dense 10.

    Methods ``add_layer(kind, **fields)``, ``remove_layer(index)``; attribute
    ``rows`` (each with ``kind`` and field widgets and a ``result`` HTML).
    Read back ``trace`` (from :func:`trace_layers`) and ``total_params``.
    A layer that cannot be built shows its reason in red in its own row.
    """

    def __init__(self, input_shape=(28, 28, 1), layers=None):
        super().__init__()
        w = _widgets()
        self.input_shape = tuple(input_shape)
        trace_layers(self.input_shape, [])  # checks input_shape
        self.rows = []
        self.header = w.HTML()
        self.rows_box = w.VBox()
        self.new_kind = w.Dropdown(options=LAYER_KINDS, value="conv", layout=w.Layout(width="95px"))
        self.add_button = w.Button(description="add layer")
        self.add_button.on_click(lambda _: self.add_layer(self.new_kind.value))
        self.footer = w.HTML()
        self.ui = w.VBox([self.header, self.rows_box, w.HBox([self.new_kind, self.add_button]),
                          self.footer]).add_class("cnn-tracer")
        if layers is None:
            layers = [{"kind": "conv", "filters": 8, "kernel_size": 3},
                      {"kind": "maxpool", "pool_size": 2}, {"kind": "flatten"},
                      {"kind": "dense", "units": 10}]
        with self._batch():
            for layer in layers:
                self.add_layer(**layer)

    def add_layer(self, kind="conv", **fields):
        """Append a layer of ``kind`` (one of LAYER_KINDS) with the given fields; returns its row."""
        if kind not in LAYER_KINDS:
            raise ValueError(f"kind must be one of {LAYER_KINDS}, got {kind!r}")
        if fields.get("strides") is None:   # Keras's defaults: 1 for conv, the window for pooling
            fields["strides"] = fields.get("pool_size", 2) if kind in ("maxpool", "avgpool") else 1
        row = _LayerRow(self, kind, **fields)
        self.rows.append(row)
        self.rows_box.children = [r.box for r in self.rows]
        self._on_change()
        return row

    def remove_layer(self, index):
        """Remove the layer at ``index`` (0 is the first layer)."""
        del self.rows[index]
        self.rows_box.children = [r.box for r in self.rows]
        self._on_change()

    def layers(self):
        """The current stack as a list of layer dicts."""
        return [row.spec() for row in self.rows]

    def refresh(self):
        """Trace the current stack and update every row."""
        self.trace = trace_layers(self.input_shape, self.layers())
        for row, result in zip(self.rows, self.trace):
            row.show(result)
        ok = all(r["error"] is None for r in self.trace)
        self.total_params = sum(r["params"] for r in self.trace) if ok else None
        self.header.value = f"input <b>{_shape_text(self.input_shape)}</b>"
        self.footer.value = (f"total parameters: <b>{self.total_params:,}</b>" if ok
                             else '<span style="color:#b00020">the stack cannot be built as it is</span>')
