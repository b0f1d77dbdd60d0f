"""Shapes and sizes: the integer arithmetic of convolutional networks.

Everything here is pure integer arithmetic; nothing touches an array. The
symbols of the course's formula map onto argument names like this:

    O = floor((W + 2P - D(K - 1) - 1) / S) + 1

    W -> n          input size along one axis (height or width)
    K -> k          kernel size along that axis
    P -> padding    zeros added on each side (or "valid", "same", "full")
    S -> stride     step between neighbouring kernel positions
    D -> dilation   spacing between the kernel's taps

``D(K - 1) + 1`` is the kernel's *effective* size: the span of input it covers.

Every function raises ``ValueError`` with the numbers in the message when the
request is impossible, so widgets and notebooks can show the message as-is.
"""

from .arguments import check_int, int_pair, spatial_padding

__all__ = [
    "effective_kernel_size",
    "padding_amounts",
    "conv_output_size",
    "same_padding",
    "full_padding",
    "pool_output_size",
    "conv_transpose_output_size",
    "conv_transpose_padding",
    "conv_param_count",
    "receptive_field",
    "receptive_field_geometry",
    "padding_amounts_2d",
    "conv_output_hw",
    "pool_output_hw",
    "conv_transpose_output_hw",
    "conv_transpose_padding_2d",
]

PADDING_MODES = ("valid", "same", "full")


def effective_kernel_size(k, dilation=1):
    """Span of input covered by a kernel of size ``k`` with the given dilation.

    Returns ``dilation * (k - 1) + 1``: a 3-tap kernel with dilation 2 covers 5
    pixels. Raises ``ValueError`` when ``k`` or ``dilation`` is below 1.
    """
    k = check_int("k", k, 1)
    dilation = check_int("dilation", dilation, 1)
    return dilation * (k - 1) + 1


def padding_amounts(n, k, padding=0, stride=1, dilation=1):
    """Zeros added before and after one axis, as ``(before, after)``.

    Arguments:
        n: input size along the axis (>= 1).
        k: kernel size along the axis (>= 1).
        padding: an int P (P zeros on each side), a pair ``(before, after)``, or
            one of
            - ``"valid"``: no padding;
            - ``"same"``: TensorFlow's SAME, the least padding that gives
              ``ceil(n / stride)`` outputs, with the odd pixel at the end
              (bottom or right);
            - ``"full"``: ``dilation * (k - 1)`` on each side, so every
              overlap of kernel and input, however small, gives an output.
        stride, dilation: ints >= 1 (they matter only for ``"same"``).

    Returns:
        ``(before, after)``, two non-negative ints.

    Raises:
        ValueError: unknown mode, negative padding, or a size or stride below 1.
        TypeError: padding of the wrong type.
    """
    n = check_int("n", n, 1)
    ke = effective_kernel_size(k, dilation)
    stride = check_int("stride", stride, 1)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0)
        if mode == "full":
            return (ke - 1, ke - 1)
        if mode == "same":
            out = -(-n // stride)  # ceil(n / stride)
            total = max((out - 1) * stride + ke - n, 0)
            return (total // 2, total - total // 2)
        raise ValueError(f"padding must be an int, a (before, after) pair or one of "
                         f"{PADDING_MODES}, got {padding!r}")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(f"padding as a sequence must be (before, after), got {padding!r}")
        before = _check_padding_int(padding[0], padding)
        after = _check_padding_int(padding[1], padding)
        return (before, after)
    p = _check_padding_int(padding, padding)
    return (p, p)


def _check_padding_int(value, whole):
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"padding must be an int, a (before, after) pair or one of "
                        f"{PADDING_MODES}, got {whole!r}")
    return check_int("padding", value, 0)


def _output_size(n, k, padding, stride, dilation, strict, kernel_name):
    """Shared body of conv_output_size and pool_output_size."""
    n = check_int("n", n, 1)
    k = check_int(kernel_name, k, 1)
    stride = check_int("stride", stride, 1)
    dilation = check_int("dilation", dilation, 1)
    before, after = padding_amounts(n, k, padding, stride, dilation)
    ke = dilation * (k - 1) + 1
    padded = n + before + after
    span = f"{kernel_name}={k}" if dilation == 1 else f"{kernel_name}={k} with dilation {dilation} (spans {ke})"
    if ke > padded:
        raise ValueError(f"kernel {span} does not fit in the padded input: "
                         f"n + padding = {n} + {before + after} = {padded} < {ke}")
    leftover = (padded - ke) % stride
    if strict and leftover:
        raise ValueError(
            f"stride {stride} does not tile the padded input: ({padded} - {ke}) = {padded - ke} "
            f"is not a multiple of {stride}, so the last {leftover} pixel(s) at the bottom/right "
            f"are never covered by the kernel")
    return (padded - ke) // stride + 1


def conv_output_size(n, k, padding=0, stride=1, dilation=1, strict=False):
    """Output size of a convolution along one axis.

    Computes ``floor((n + before + after - dilation*(k-1) - 1) / stride) + 1``,
    which is the course's ``floor((W + 2P - D(K-1) - 1) / S) + 1`` when the
    padding is symmetric. With ``padding="same"`` this is ``ceil(n / stride)``.

    Arguments:
        n: input size (height or width), >= 1.
        k: kernel size along the same axis, >= 1.
        padding: int, ``(before, after)``, ``"valid"``, ``"same"`` or
            ``"full"`` (see :func:`padding_amounts`).
        stride: step between kernel positions, >= 1.
        dilation: spacing between kernel taps, >= 1.
        strict: if True, also raise when the stride leaves pixels at the
            bottom/right that no kernel position covers.

    Returns:
        The output size, an int >= 1.

    Raises:
        ValueError: kernel larger than the padded input, sizes or stride < 1,
            negative padding, or (strict) a stride that does not tile.

    >>> conv_output_size(227, 11, padding=0, stride=4)   # AlexNet's first layer
    55
    """
    return _output_size(n, k, padding, stride, dilation, strict, "k")


def same_padding(k, dilation=1):
    """Padding P on each side that keeps the size at stride 1: ``(K_eff - 1) / 2``.

    Only kernels of odd effective size have a symmetric answer. For an even one
    the ``ValueError`` explains how ``padding="same"`` splits it instead.

    >>> same_padding(3), same_padding(5), same_padding(3, dilation=2)
    (1, 2, 2)
    """
    ke = effective_kernel_size(k, dilation)
    if ke % 2 == 0:
        raise ValueError(f"a kernel spanning {ke} pixels (even) has no symmetric 'same' padding: "
                         f"it needs {ke - 1} zeros in all; padding='same' puts {(ke - 1) // 2} "
                         f"before and {ke // 2} after")
    return (ke - 1) // 2


def full_padding(k, dilation=1):
    """Padding on each side for a 'full' convolution: ``dilation * (k - 1)``.

    With it, every position where the kernel overlaps the input by at least one
    pixel produces an output, so the output is ``n + K_eff - 1`` at stride 1.
    """
    return effective_kernel_size(k, dilation) - 1


def pool_output_size(n, pool_size, stride=None, padding=0):
    """Output size of a pooling layer along one axis.

    Same arithmetic as a convolution with kernel ``pool_size``; the stride
    defaults to ``pool_size`` (non-overlapping windows), as in Keras.

    >>> pool_output_size(55, 3, stride=2)   # AlexNet's overlapping pooling
    27
    """
    stride = pool_size if stride is None else stride
    return _output_size(n, pool_size, padding, stride, 1, False, "pool_size")


def _transpose_geometry(n, k, padding, stride, dilation, output_padding):
    """``(output_size, before, after, extra)`` of a transposed convolution along one axis.

    ``before``/``after`` are the zeros the matching forward convolution (on an
    input of ``output_size``) adds; ``extra`` is the output padding actually
    used (the rows at the end that the forward convolution's stride skips).
    """
    n = check_int("n", n, 1)
    ke = effective_kernel_size(k, dilation)
    stride = check_int("stride", stride, 1)
    extra = None
    if output_padding is not None:
        extra = check_int("output_padding", output_padding, 0)
        if extra >= stride:
            raise ValueError(f"output_padding must be smaller than the stride: got {extra} with stride "
                             f"{stride}; adding a whole stride would make the forward convolution give "
                             f"{n + 1} outputs instead of {n}")
    if isinstance(padding, str) and padding.lower() == "same":
        out = n * stride if extra is None else (n - 1) * stride + ke % 2 + extra
        # TensorFlow's SAME gives ceil(out / stride) outputs: the forward conv must map out back to n.
        if out < 1 or -(-out // stride) != n:
            lowest = 1 - ke % 2
            fix = (f"use output_padding between {lowest} and {stride - 1}, or None" if lowest <= stride - 1
                   else "with this stride and an even kernel only output_padding=None works")
            raise ValueError(
                f"padding='same' with output_padding={extra} gives output size (n-1)*S + K_eff % 2 + "
                f"output_padding = {(n - 1) * stride} + {ke % 2} + {extra} = {out}, and a 'same' "
                f"convolution of {out} pixels with stride {stride} gives {-(-out // stride)} outputs, "
                f"not {n}: {fix}")
        before, after = padding_amounts(out, k, "same", stride, dilation)
    else:
        before, after = padding_amounts(n, k, padding, stride, dilation)
        if extra is None:   # Keras's default for 'valid': the output covers n strides at least
            extra = max(stride - ke, 0) if isinstance(padding, str) and padding.lower() == "valid" else 0
        out = (n - 1) * stride + ke - before - after + extra
        if out < 1:
            raise ValueError(
                f"the padding removes more than the transposed convolution produces: (n-1)*S + K_eff "
                f"- padding + output_padding = {(n - 1) * stride} + {ke} - {before + after} + {extra} "
                f"= {out} < 1")
    return out, before, after, out - ((n - 1) * stride + ke - before - after)


def conv_transpose_output_size(n, k, padding=0, stride=1, dilation=1, output_padding=None):
    """Output size of a transposed convolution along one axis.

    A transposed convolution maps an input of size ``n`` back to a size ``O``
    that a convolution with the same ``k``, ``padding``, ``stride`` and
    ``dilation`` would turn into ``n``. Several sizes do (the forward
    formula rounds down), so ``output_padding`` (0 <= a < stride) picks one:

        O = (n - 1) * S + D(K - 1) + 1 - P_before - P_after + a

    which is the relation of Dumoulin and Visin's convolution-arithmetic guide,
    ``o' = s(i' - 1) + a + k - 2p``.

    Arguments:
        n: input size, >= 1.
        k: kernel size, >= 1.
        padding: an int, ``(before, after)``, ``"valid"`` (0), ``"full"``
            (``D(K-1)`` on each side) or ``"same"``. For ``"same"`` the
            amounts are TensorFlow's SAME for a convolution of ``O`` pixels, and
            ``O = (n - 1) * S + K_eff % 2 + a`` (Keras's rule).
        stride, dilation: ints >= 1.
        output_padding: None or an int in [0, stride). None means Keras's
            default: ``n * S`` for ``"same"``, ``(n - 1) * S + max(K_eff, S)``
            for ``"valid"``, and ``a = 0`` for explicit or ``"full"`` padding.

    Returns:
        The output size, an int >= 1.

    Raises:
        ValueError: an output padding of a whole stride or more, a padding that
            removes everything, or a ``"same"`` setting whose size the forward
            convolution would not map back to ``n``.

    >>> conv_transpose_output_size(7, 3, "same", stride=2)    # upsample 7 -> 14
    14
    >>> conv_transpose_output_size(3, 3, 1, stride=2)         # undoes conv_output_size(5, 3, 1, 2)
    5
    """
    return _transpose_geometry(n, k, padding, stride, dilation, output_padding)[0]


def conv_transpose_padding(n, k, padding=0, stride=1, dilation=1, output_padding=None):
    """Padding of the forward convolution that a transposed convolution undoes: ``(before, after, a)``.

    Same arguments as :func:`conv_transpose_output_size`. ``before`` and
    ``after`` are the zeros the forward convolution, run on an input of the
    transposed convolution's output size, adds on each side (for ``"same"``
    they depend on that size); ``a`` is the output padding used: the last
    ``a`` output pixels are ones the forward convolution's stride skips.
    """
    _, before, after, extra = _transpose_geometry(n, k, padding, stride, dilation, output_padding)
    return before, after, extra


def conv_param_count(kh, kw, c_in, c_out, bias=True):
    """Trainable parameters of a conv layer: ``kh*kw*c_in*c_out`` weights plus ``c_out`` biases.

    >>> conv_param_count(11, 11, 3, 96)   # AlexNet conv1
    34944
    """
    kh = check_int("kh", kh, 1)
    kw = check_int("kw", kw, 1)
    c_in = check_int("c_in", c_in, 1)
    c_out = check_int("c_out", c_out, 1)
    return kh * kw * c_in * c_out + (c_out if bias else 0)


def receptive_field(layers):
    """Receptive field, in input pixels, of one unit after a stack of layers.

    Arguments:
        layers: sequence of ``(kernel, stride)`` or ``(kernel, stride, dilation)``
            tuples, first layer first. Pooling layers count as layers too.

    Returns:
        The side length r of the input square that one output unit sees:
        ``r = 1 + sum_l D_l (K_l - 1) * prod_{m<l} S_m``.

    >>> receptive_field([(3, 1), (3, 1)])   # two 3x3 convs see 5x5
    5
    """
    return receptive_field_geometry(layers)[0]


def receptive_field_geometry(layers):
    """Where one unit after a stack of layers looks, along one axis: ``(field, jump, start)``.

    Arguments:
        layers: sequence of ``(kernel, stride)``, ``(kernel, stride, dilation)`` or
            ``(kernel, stride, dilation, pad_before)`` tuples, first layer first;
            ``pad_before`` is the zeros the layer adds at the top (or left).

    Returns:
        Output position i sees input pixels ``start + i*jump`` to
        ``start + i*jump + field - 1``: ``field`` is :func:`receptive_field`,
        ``jump = prod_l S_l`` (input pixels between neighbouring units) and
        ``start = -sum_l pad_before_l * prod_{m<l} S_m`` (below 0 when the first
        unit's field reaches into the padding).

    >>> receptive_field_geometry([(3, 1, 1, 1), (2, 2)])   # a 'same' 3x3 conv, then 2x2 pooling
    (4, 2, -1)
    """
    field, jump, start = 1, 1, 0
    for i, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) not in (2, 3, 4):
            raise ValueError(f"layers[{i}] must be (kernel, stride), (kernel, stride, dilation) or "
                             f"(kernel, stride, dilation, pad_before), got {layer!r}")
        k, s = layer[0], layer[1]
        d = layer[2] if len(layer) >= 3 else 1
        ke = effective_kernel_size(k, d)
        s = check_int(f"layers[{i}] stride", s, 1)
        pad = check_int(f"layers[{i}] pad_before", layer[3], 0) if len(layer) == 4 else 0
        field += (ke - 1) * jump
        start -= pad * jump
        jump *= s
    return field, jump, start


# ---------------------------------------------------------------------------
# Both axes at once: (height, width)
# ---------------------------------------------------------------------------
#
# The functions above work on one axis. An image has two; these apply them to
# (height, width) pairs and say which axis failed. Every size argument may be an
# int (both axes) or a (height, width) pair.

def padding_amounts_2d(hw, kernel_hw, padding=0, stride=1, dilation=1):
    """Zeros added around an image, as ``((top, bottom), (left, right))``.

    Arguments:
        hw: the input's (height, width).
        kernel_hw: the kernel's (or window's) size, int or pair.
        padding: ``"valid"``, ``"same"``, ``"full"`` (resolved per axis by
            :func:`padding_amounts`), or explicit amounts: an int, ``(ph, pw)``
            or ``((top, bottom), (left, right))``.
        stride, dilation: int or pair (they matter only for ``"same"``).

    Raises:
        ValueError, TypeError: as :func:`padding_amounts`.
    """
    if isinstance(padding, str):
        return tuple(padding_amounts(n, k, padding, s, d) for n, k, s, d in
                     zip(hw, int_pair(kernel_hw, "kernel_size", 1), int_pair(stride, "stride", 1),
                         int_pair(dilation, "dilation", 1)))
    return spatial_padding(padding, "padding")


def _per_axis(what, sizes):
    """``what(*args)`` for the height's arguments and the width's; a ValueError names the axis."""
    out = []
    for axis, args in zip(("height", "width"), sizes):
        try:
            out.append(what(*args))
        except ValueError as err:
            raise ValueError(f"along the {axis} axis: {err}") from None
    return tuple(out)


def conv_output_hw(hw, kernel_hw, padding=0, stride=1, dilation=1, kernel_names=("KH", "KW")):
    """Output (height, width) of a convolution on an image of ``hw``: :func:`conv_output_size` per axis.

    Arguments:
        hw: the input's (height, width).
        kernel_hw, padding, stride, dilation: as :func:`padding_amounts_2d`.
        kernel_names: how the error messages name the kernel's height and width.

    Raises:
        ValueError: a kernel that does not fit (the message names the axis), bad sizes.

    >>> conv_output_hw((28, 27), 3, padding="same", stride=2)
    (14, 14)
    """
    kernel_hw = int_pair(kernel_hw, "kernel_size", 1)
    stride_hw, dilation_hw = int_pair(stride, "stride", 1), int_pair(dilation, "dilation", 1)
    pads = padding_amounts_2d(hw, kernel_hw, padding, stride_hw, dilation_hw)
    return _per_axis(lambda n, k, p, s, d, name: _output_size(n, k, p, s, d, False, name),
                     zip(hw, kernel_hw, pads, stride_hw, dilation_hw, kernel_names))


def pool_output_hw(hw, pool_size, stride=None, padding=0, kernel_names=("pool_h", "pool_w")):
    """Output (height, width) of pooling on an image of ``hw``: :func:`pool_output_size` per axis.

    ``stride`` defaults to ``pool_size``. Padding (``"valid"``, ``"same"`` or explicit
    amounts) must be smaller than the window on each side, or some window would hold
    only padding.

    Raises:
        ValueError: a window that does not fit, or padding as wide as the window.
    """
    pool_hw = int_pair(pool_size, "pool_size", 1)
    stride_hw = pool_hw if stride is None else int_pair(stride, "stride", 1)
    pads = padding_amounts_2d(hw, pool_hw, padding, stride_hw)
    for axis, (before, after), k in zip(("height", "width"), pads, pool_hw):
        if max(before, after) >= k:
            raise ValueError(f"padding {(before, after)} along the {axis} axis must be smaller "
                             f"than pool_size {k}, or some window would hold only padding")
    return conv_output_hw(hw, pool_hw, pads, stride_hw, 1, kernel_names)


def conv_transpose_output_hw(hw, kernel_hw, padding=0, stride=1, dilation=1, output_padding=None):
    """Output (height, width) of a transposed convolution: :func:`conv_transpose_output_size` per axis.

    Arguments as :func:`conv_transpose_output_size`, each size an int or a
    (height, width) pair; ``padding`` a mode name or explicit amounts as in
    :func:`padding_amounts_2d`.

    Raises:
        ValueError: as :func:`conv_transpose_output_size`; the message names the axis.
    """
    return tuple(out for out, _ in _transpose_2d(hw, kernel_hw, padding, stride, dilation, output_padding))


def conv_transpose_padding_2d(hw, kernel_hw, padding=0, stride=1, dilation=1, output_padding=None):
    """Padding ``((top, bottom), (left, right))`` of the convolution a transposed one undoes.

    Per axis the ``(before, after)`` of :func:`conv_transpose_padding`; same
    arguments as :func:`conv_transpose_output_hw`.
    """
    return tuple(pads for _, pads in _transpose_2d(hw, kernel_hw, padding, stride, dilation, output_padding))


def _transpose_2d(hw, kernel_hw, padding, stride, dilation, output_padding):
    kernel_hw = int_pair(kernel_hw, "kernel_size", 1)
    stride_hw, dilation_hw = int_pair(stride, "stride", 1), int_pair(dilation, "dilation", 1)
    specs = (padding, padding) if isinstance(padding, str) else spatial_padding(padding, "padding")
    extras = (None, None) if output_padding is None else int_pair(output_padding, "output_padding", 0)

    def one(n, k, spec, s, d, extra):
        out, before, after, _ = _transpose_geometry(n, k, spec, s, d, extra)
        return out, (before, after)
    return _per_axis(one, zip(hw, kernel_hw, specs, stride_hw, dilation_hw, extras))
