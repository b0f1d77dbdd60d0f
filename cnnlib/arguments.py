"""Argument checks that every cnnlib module shares.

cnnlib's functions refuse bad arguments the same way everywhere, with an error that
names the argument, says what was expected and shows what came. The checks live here,
once, so that every module uses the same ones (Keras keeps its own in one module too,
``keras.src.utils.argument_validation``). This module is internal: students call the
ops, layers and shapes functions, which call these.

Integers and (height, width) pairs:

    check_int(name, value, minimum)          an int >= minimum; NumPy ints pass, floats and bools do not
    int_pair(value, name, minimum)           an int or a pair of ints, as a checked (height, width) pair
    spatial_padding(padding, name)           explicit padding as ((top, bottom), (left, right))

Arrays:

    as_real_array(name, x)                   np.asarray(x), refusing anything that is not real numbers
    check_array(name, x, ndim, layout)       the same, of a given rank
    check_conv_operands(x, w, ...)           an NHWC batch and a 4-D kernel whose input channels match it
    as_float(x), result_dtype(x, *others)    the dtypes the ops compute in (see cnnlib.ops)
    cast_together(*arrays)                   arrays in the dtype the first one's op returns
    check_images(x)                          a non-empty NHWC batch
    check_bias(b, size, x, w, what)          one bias per output, zeros when None
    check_dout(dout, expected_shape, op)     an upstream gradient with the shape of the op's output

Padding modes and output sizes are integer arithmetic: they are in :mod:`cnnlib.shapes`.
"""

import operator

import numpy as np

__all__ = ["check_int", "int_pair", "spatial_padding", "as_real_array", "check_array", "as_float",
           "result_dtype", "cast_together", "check_images", "check_bias", "check_dout", "check_conv_operands", "NHWC"]

# The layout named in the errors about image batches.
NHWC = "NHWC (batch, height, width, channels)"


# ---------------------------------------------------------------------------
# Integers and (height, width) pairs
# ---------------------------------------------------------------------------

def check_int(name, value, minimum):
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``.

    Python and NumPy integers pass; floats (even 3.0) and bools do not.

    Raises:
        TypeError: value is not an integer.
        ValueError: value is below minimum.
    """
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def int_pair(value, name="value", minimum=0):
    """An int or a pair of ints, as a checked ``(height, width)`` pair of ints >= ``minimum``.

    ``int_pair(3, "stride", 1)`` is ``(3, 3)``; ``int_pair((2, 1), "stride", 1)`` is ``(2, 1)``.

    Raises:
        ValueError: a sequence that is not a pair, or a value below minimum.
        TypeError: a value that is not an integer.
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}")
        return (check_int(f"{name}[0]", value[0], minimum), check_int(f"{name}[1]", value[1], minimum))
    value = check_int(name, value, minimum)
    return (value, value)


def spatial_padding(padding, name="pad"):
    """An explicit padding as ``((top, bottom), (left, right))``.

    Accepts an int (all four sides), ``(ph, pw)`` (symmetric per axis) or
    ``((top, bottom), (left, right))``: the forms of Keras's ZeroPadding2D.
    ``name`` is the argument's name in the caller, for the error messages.

    Raises:
        TypeError: any other form.
        ValueError: a negative amount.
    """
    bad = TypeError(f"{name} must be an int, (pad_h, pad_w) or ((top, bottom), (left, right)), "
                    f"got {padding!r}")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise bad
        out = []
        for axis_name, p in zip(("height", "width"), padding):
            if isinstance(p, (tuple, list)):
                if len(p) != 2:
                    raise bad
                out.append((check_int(f"{name} ({axis_name}, before)", p[0], 0),
                            check_int(f"{name} ({axis_name}, after)", p[1], 0)))
            else:
                p = check_int(f"{name} ({axis_name})", p, 0)
                out.append((p, p))
        return tuple(out)
    if isinstance(padding, bool) or not hasattr(type(padding), "__index__"):
        raise bad
    p = check_int(name, padding, 0)
    return ((p, p), (p, p))


# ---------------------------------------------------------------------------
# Arrays
# ---------------------------------------------------------------------------

def as_real_array(name, x):
    """``np.asarray(x)``, refusing anything that is not real numbers (bools and integers pass)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def check_array(name, x, ndim, layout):
    """:func:`as_real_array` of rank ``ndim``; the error names the ``layout`` expected."""
    arr = as_real_array(name, x)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {arr.shape}")
    return arr


def check_conv_operands(x, w, kernel_layout, in_axis, mismatch):
    """``x`` as a 4-D NHWC batch and ``w`` as a 4-D kernel, both non-empty, whose axis ``in_axis`` matches x's channels.

    kernel_layout: the kernel's layout as the rank error names it. mismatch: the channel error's text, a
    ``str.format`` template with ``{k}`` (w's input channels), ``{c}`` (x's), ``{x}`` and ``{w}`` (the shapes).
    Returns the two arrays (:func:`check_array`). Raises ValueError (ranks, channels, emptiness) or
    TypeError (not real numbers), naming the argument.
    """
    x = check_array("x", x, 4, NHWC)
    w = check_array("w", w, 4, kernel_layout)
    if w.shape[in_axis] != x.shape[3]:
        raise ValueError(mismatch.format(k=w.shape[in_axis], c=x.shape[3], x=x.shape, w=w.shape))
    if 0 in x.shape or 0 in w.shape:
        raise ValueError(f"x and w must not be empty (x.shape={x.shape}, w.shape={w.shape})")
    return x, w


def as_float(x):
    """Floating arrays unchanged; integer and bool arrays as float64."""
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def result_dtype(x, *others):
    """x's dtype when it is floating point, else what NumPy would pick for all of them."""
    if x.dtype.kind == "f":
        return x.dtype
    return np.result_type(x, *others)


def cast_together(*arrays):
    """The arrays in ``result_dtype(*arrays)``: what an op on them computes in (no copy when already so)."""
    dtype = result_dtype(*arrays)
    return tuple(a.astype(dtype, copy=False) for a in arrays)


def check_images(x):
    """x as a non-empty 4-D NHWC array of real numbers."""
    x = check_array("x", x, 4, NHWC)
    if 0 in x.shape:
        raise ValueError(f"x must not be empty, got shape {x.shape}")
    return x


def check_bias(b, size, x, w, what="per output of w"):
    """b as an array of shape ``(size,)``, one bias per output; zeros (in x and w's dtype) when None.

    ``what`` says what the size counts, for the error message.
    """
    if b is None:
        return np.zeros(size, dtype=result_dtype(x, w))
    b = as_real_array("b", b)
    if b.shape != (size,):
        raise ValueError(f"b must have shape ({size},), one bias {what}, got {b.shape} (w.shape={w.shape})")
    return b


def check_dout(dout, expected_shape, op):
    """dout as an array of the op's output shape, with an error that names both shapes."""
    dout = as_real_array("dout", dout)
    if dout.shape != tuple(expected_shape):
        raise ValueError(f"dout must have the shape of {op}'s output, {tuple(expected_shape)}, "
                         f"got {dout.shape}")
    return dout
