"""How a transposed convolution makes a small input grow: the numbers and sentences the widgets show.

Pure functions, no widgets and no drawing, for the transposed mode of
:class:`cnnlib.widgets.ConvSizeExplorer` (and any notebook): every size comes
from :func:`cnnlib.shapes.conv_transpose_output_size` and
:func:`cnnlib.shapes.conv_transpose_padding`; nothing here re-derives them.
Along one axis, with the symbols of the course's formula,

    O = (W - 1) * S + D(K - 1) + 1 - P_before - P_after + a

each input pixel stamps the kernel (spanning ``D(K - 1) + 1`` pixels) into the
output, stamps ``S`` apart; the padding of the convolution being transposed is
cropped off the ends, and the output padding ``a`` adds pixels at the end.

    conv_transpose_axis_layout     where the stamps land, what is cropped, what is added
    explain_conv_transpose_size    the output size and a sentence (never raises)
    conv_transpose_size_formula    the formula with the numbers substituted

A whole Conv2DTranspose layer's shapes and parameters: :func:`cnnlib.widgets.layer_summary`
with ``transposed=True``.
"""

from . import shapes

__all__ = ["conv_transpose_axis_layout", "explain_conv_transpose_size", "conv_transpose_size_formula"]


def conv_transpose_axis_layout(n, k, padding=0, stride=1, dilation=1, output_padding=None):
    """Where the stamps of a transposed convolution land along one axis.

    Arguments:
        n, k, padding, stride, dilation, output_padding: as in
            :func:`cnnlib.shapes.conv_transpose_output_size`.

    Returns:
        A dict with ``span`` (the kernel's effective size), ``stamped`` (the
        length the stamps cover, ``(n - 1) * stride + span``), ``starts``
        (where input pixel i's stamp begins, ``i * stride``), ``taps`` (the
        stamp's taps from its start), ``before``/``after`` (pixels cropped
        off the start and the end: the convolution's padding), ``extra`` (the
        output padding: pixels added after the stamps, reached by no stamp),
        ``output_size``, ``cover`` (for each position of the stamped length,
        how many stamps' taps reach it) and ``window`` (``(first, last + 1)``,
        the stamped positions kept in the output; positions past ``stamped``
        are the extra ones).

    Raises:
        ValueError, TypeError: as :func:`cnnlib.shapes.conv_transpose_output_size`.
    """
    out = shapes.conv_transpose_output_size(n, k, padding, stride, dilation, output_padding)
    before, after, extra = shapes.conv_transpose_padding(n, k, padding, stride, dilation, output_padding)
    span = shapes.effective_kernel_size(k, dilation)
    stamped = (n - 1) * stride + span
    taps = tuple(range(0, span, dilation))
    cover = [0] * stamped
    for i in range(n):
        for t in taps:
            cover[i * stride + t] += 1
    return {"span": span, "stamped": stamped, "starts": tuple(i * stride for i in range(n)), "taps": taps,
            "before": before, "after": after, "extra": extra, "output_size": out, "cover": tuple(cover),
            "window": (before, before + out)}


def _plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def explain_conv_transpose_size(n, k, padding=0, stride=1, dilation=1, output_padding=None):
    """Output size of a transposed convolution along one axis, and sentences that explain it.

    Returns:
        ``(output_size, message)``; output_size is None when the setting is
        impossible (an output padding of a whole stride, a padding that crops
        everything, a 'same' setting the convolution would not map back), and
        the message says why. Never raises.
    """
    try:
        lay = conv_transpose_axis_layout(n, k, padding, stride, dilation, output_padding)
    except (TypeError, ValueError) as err:
        return None, f"Impossible: {err}."
    out, span, stamped = lay["output_size"], lay["span"], lay["stamped"]
    parts = [f"Output size {out}: each of the {_plural(n, 'input pixel')} stamps the kernel (spanning "
             f"{_plural(span, 'pixel')}) into the output, {_plural(stride, 'pixel')} apart, so the stamps "
             f"cover (W − 1)·S + K_eff = {stamped}."]
    if span > stride and n > 1:
        parts.append(f"Neighbouring stamps overlap by {_plural(span - stride, 'pixel')}: there the output adds "
                     f"up several contributions.")
    elif span < stride and n > 1:
        parts.append(f"The stamps leave gaps of {_plural(stride - span, 'pixel')} that no input reaches "
                     f"(zeros before the bias): the checkerboard pattern of transposed convolutions.")
    if lay["before"] or lay["after"]:
        parts.append(f"The padding of the convolution it undoes crops {lay['before']} at the start and "
                     f"{lay['after']} at the end.")
    if lay["extra"]:
        back, beyond = min(lay["extra"], lay["after"]), max(0, lay["extra"] - lay["after"])
        what = [f"{back} that the padding had cropped"] if back else []
        what += [f"{beyond} beyond the last stamp, reached by no input"] if beyond else []
        parts.append(f"The output padding adds {_plural(lay['extra'], 'pixel')} at the end: {' and '.join(what)}.")
    parts.append(f"A convolution with the same kernel, padding and stride maps {out} pixels back to {n}.")
    return out, " ".join(parts)


def conv_transpose_size_formula(n, k, padding=0, stride=1, dilation=1, output_padding=None):
    """The transposed output-size formula with the numbers substituted, as one line of text.

    ``O = (W − 1)·S + D(K−1) + 1 − P_before − P_after + a = (3 − 1)·2 + 1·(3−1) + 1 − 1 − 1 + 1 = 6``;
    for an impossible setting the line ends with the reason. Never raises.
    """
    general = "O = (W − 1)·S + D(K−1) + 1 − P_before − P_after + a"
    try:
        before, after, extra = shapes.conv_transpose_padding(n, k, padding, stride, dilation, output_padding)
        out = shapes.conv_transpose_output_size(n, k, padding, stride, dilation, output_padding)
    except (TypeError, ValueError) as err:
        return f"{general}: impossible here ({err})"
    return (f"{general} = ({n} − 1)·{stride} + {dilation}·({k}−1) + 1 − {before} − {after} + {extra} = {out}")
