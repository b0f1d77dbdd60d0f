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

import operator

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
]

PADDING_MODES = ("valid", "same", "full")


def _check_int(name, value, minimum):
    """Return ``value`` as an int, or raise if it is not an integer >= minimum.

    Python and numpy integers pass; floats (even 3.0) and bools do not.
    """
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def effective_kernel_size(k, dilation=1):
    """Span of input covered by a kernel of size ``k`` with the given dilation.

    Returns ``dilation * (k - 1) + 1``: a 3-tap kernel with dilation 2 covers 5
    pixels. Raises ``ValueError`` when ``k`` or ``dilation`` is below 1.
    """
    k = _check_int("k", k, 1)
    dilation = _check_int("dilation", dilation, 1)
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
    n = _check_int("n", n, 1)
    ke = effective_kernel_size(k, dilation)
    stride = _check_int("stride", stride, 1)
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
    return _check_int("padding", value, 0)


def _output_size(n, k, padding, stride, dilation, strict, kernel_name):
    """Shared body of conv_output_size and pool_output_size."""
    n = _check_int("n", n, 1)
    k = _check_int(kernel_name, k, 1)
    stride = _check_int("stride", stride, 1)
    dilation = _check_int("dilation", dilation, 1)
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
    n = _check_int("n", n, 1)
    ke = effective_kernel_size(k, dilation)
    stride = _check_int("stride", stride, 1)
    extra = None
    if output_padding is not None:
        extra = _check_int("output_padding", output_padding, 0)
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
    kh = _check_int("kh", kh, 1)
    kw = _check_int("kw", kw, 1)
    c_in = _check_int("c_in", c_in, 1)
    c_out = _check_int("c_out", c_out, 1)
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
    r, jump = 1, 1
    for i, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) not in (2, 3):
            raise ValueError(f"layers[{i}] must be (kernel, stride) or (kernel, stride, dilation), "
                             f"got {layer!r}")
        k, s = layer[0], layer[1]
        d = layer[2] if len(layer) == 3 else 1
        ke = effective_kernel_size(k, d)
        s = _check_int(f"layers[{i}] stride", s, 1)
        r += (ke - 1) * jump
        jump *= s
    return r
