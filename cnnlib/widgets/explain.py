"""What the widgets show, as plain functions: numbers and sentences, no widgets and no drawing.

Every number comes from :mod:`cnnlib.shapes` or :mod:`cnnlib.ops` (nothing here re-derives
a formula), so tests call these directly, without a browser, and a notebook can print them.

    conv_axis_layout(n, k, padding, stride, dilation)     where a kernel lands along one axis
    explain_conv_size(n, k, ...)                          the output size and a sentence that explains it
    conv_size_formula(n, k, ...)                          the formula with the numbers substituted
    layer_summary(h, w, c_in, filters, k, ...)            a whole conv (or transposed conv) layer in one line
    conv_steps(image, kernel, stride, padding)            every step of a single-channel convolution
    apply_kernel(image, kernel)                           a filtered image and its ReLU
    pool_windows(x, pool_size, stride, mode)              every pooling window and the number it gives
    trace_layers(input_shape, layers)                     shapes and parameters through a stack of layers

The transposed convolution's explanations are in :mod:`cnnlib.transposed_sizes`.
"""

import numpy as np

from .. import ops, shapes
from ..arguments import check_int
from ..specs import Conv, Dense, Flatten, Pool
from ..tracing import walk
from ..transposed_sizes import explain_conv_transpose_size

__all__ = ["conv_axis_layout", "explain_conv_size", "conv_size_formula", "layer_summary", "conv_steps",
           "apply_kernel", "pool_windows", "trace_layers", "layer_node", "LAYER_KINDS"]


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


LAYER_KINDS = ("conv", "maxpool", "avgpool", "flatten", "dense")


class _UnknownKind:
    """A layer dict of a kind the widget does not know: the row that says so."""

    name = None

    def __init__(self, kind):
        self.kind = kind

    def trace_step(self, shape):
        raise ValueError(f"layer kind must be one of {LAYER_KINDS}, got {self.kind!r}")

    def describe(self):
        return repr(self.kind)


def layer_node(layer):
    """The :mod:`cnnlib.specs` node that a widget's layer dict stands for (see :func:`trace_layers`)."""
    kind = layer.get("kind")
    if kind == "conv":
        return Conv(layer.get("filters", 1), layer.get("kernel_size", 3), layer.get("strides", 1),
                    layer.get("padding", "valid"), activation=None)
    if kind in ("maxpool", "avgpool"):
        return Pool(layer.get("pool_size", 2), layer.get("strides"), mode=kind[:3])
    if kind == "flatten":
        return Flatten()
    if kind == "dense":
        return Dense(layer.get("units", 10), activation=None)
    return _UnknownKind(kind)


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
        :mod:`cnnlib.shapes`, through the course's one tracer (:func:`cnnlib.tracing.walk`,
        each dict made a :mod:`cnnlib.specs` node by :func:`layer_node`). Never raises
        on a bad layer; raises ValueError when ``input_shape`` is not three integers >= 1.
    """
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (H, W, C), got {input_shape!r}")
    shape = tuple(check_int(f"input_shape[{i}]", d, 1) for i, d in enumerate(input_shape))
    return [{"shape": row.output_shape, "params": row.params, "error": row.error}
            for row in walk([layer_node(layer) for layer in layers], shape, record_errors=True)]
