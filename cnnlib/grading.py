"""Checks for the assignments: run a student's function, compare it with cnnlib, name the mistake.

Every ``check_*`` function takes the student's function, runs it on fixed and
seeded random cases, and compares each result with cnnlib's reference. It
prints one line when everything agrees. On the first disagreement it raises
:class:`CheckFailed` (an ``AssertionError``, so nbgrader scores the test cell
0) whose message gives

- the case (argument shapes and settings),
- what differs: the shape, or the first index that disagrees with the expected
  and the actual value,
- a diagnosis: which known mistake reproduces the student's output exactly
  (a flipped kernel, an ignored stride, a gradient not summed over the batch,
  ...), found by running known-wrong variants of the reference on the same case.

``suite="public"`` runs the cases students can run while they work;
``suite="hidden"`` runs more, generated here from a seed, so that the hidden
test cells of a notebook reveal no expected values.

While a student function runs, any call it makes into cnnlib or TensorFlow (or
SciPy's filters) is noticed, and the check fails saying so: the assignments ask
for the computation written with NumPy. Pass ``allow_reference=True`` to turn
this off (the lecture notebooks' self-checks and the course's own tests use it).

The cases are small so that loop implementations finish in well under a second.
"""

import os
import sys
from dataclasses import dataclass

import numpy as np

from . import backprop, ops, shapes
from .gradcheck import numerical_gradient, relative_error

__all__ = [
    "CheckFailed",
    "check_zero_pad",
    "check_conv_output_size",
    "check_conv_single_step",
    "check_conv2d",
    "check_edge_image",
    "check_vertical_edge_answer",
    "check_pool2d",
    "check_pool2d_backward",
    "check_relu_backward",
    "check_conv2d_backward",
    "check_softmax_cross_entropy",
    "check_dense_backward",
    "check_model_accuracy",
    "check_layer_table",
    "check_occlusion_map",
    "check_saliency_map",
]

RTOL = 1e-7
ATOL = 1e-9
GRADCHECK_TOL = 1e-6


class CheckFailed(AssertionError):
    """A student function disagrees with the reference; the message says where and why."""


# ---------------------------------------------------------------------------
# Cases and variants
# ---------------------------------------------------------------------------

@dataclass
class Case:
    """Arguments for one call, and how to print them."""

    args: dict
    note: str = ""

    def describe(self):
        parts = []
        for name, value in self.args.items():
            if isinstance(value, np.ndarray) and value.ndim > 0:
                parts.append(f"{name}.shape={value.shape}")
            elif callable(value):
                parts.append(f"{name}=<a model given by the check>")
            elif isinstance(value, list) and len(value) > 4:
                parts.append(f"{name}=<{len(value)} items>")
            else:
                parts.append(f"{name}={value!r}")
        text = ", ".join(parts)
        return f"{text}  ({self.note})" if self.note else text

    def copy_args(self):
        """Fresh copies, so a student function that writes into its inputs spoils nothing."""
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.args.items()}


@dataclass
class Mistake:
    """A known mistake: a description and a test of whether it explains the student's output.

    ``output`` names the part of the result it concerns (None for single
    results). ``explains(case, got)`` returns True when the mistake reproduces
    ``got`` (that part of the student's result) on ``case``.
    """

    description: str
    explains: object
    output: str = None


def _same_as(wrong):
    """A test for :class:`Mistake`: the student's output equals ``wrong(**case.args)``."""
    def explains(case, got):
        try:
            value = np.asarray(wrong(**case.args), dtype=np.float64)
        except Exception:  # the variant does not apply to this case
            return False
        return _difference(value, got) is None
    return explains


def _variant_outputs(fn, index):
    """``fn``'s result, or its ``index``-th part when it returns a tuple."""
    if index is None:
        return fn
    return lambda **kw: fn(**kw)[index]


# ---------------------------------------------------------------------------
# Running the student's function
# ---------------------------------------------------------------------------

_CNNLIB_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_GRADING_FILE = os.path.abspath(__file__)
_LIBRARY_MARKERS = {
    f"{os.sep}tensorflow{os.sep}": "TensorFlow",
    f"{os.sep}keras{os.sep}": "TensorFlow",
    f"{os.sep}torch{os.sep}": "PyTorch",
    f"{os.sep}scipy{os.sep}signal{os.sep}": "SciPy",
    f"{os.sep}scipy{os.sep}ndimage{os.sep}": "SciPy",
}


def _library_of(filename):
    """'cnnlib', 'TensorFlow', ... when the code in ``filename`` is a reference library.

    This module itself is 'grading': the models and predict functions the
    checks hand to students live here, and students may call those.
    """
    if filename == _GRADING_FILE:
        return "grading"
    if filename.startswith(_CNNLIB_DIR):
        return "cnnlib"
    for marker, library in _LIBRARY_MARKERS.items():
        if marker in filename:
            return library
    return None


# Course functions a student may call from their own code: earlier assignments' answers.
HELPERS = frozenset({"zero_pad", "conv_output_size", "pool_output_size"})


REFERENCE_LIBRARIES = frozenset({"cnnlib", "TensorFlow", "PyTorch", "SciPy"})


def _call_student(name, fn, case, allow_reference, forbid=REFERENCE_LIBRARIES):
    """Call ``fn(**case.args)``; fail with the case when it raises or leans on a reference library.

    Calls into cnnlib's :data:`HELPERS` (other than the function being checked)
    are allowed; any other call from the student's code into one of the
    ``forbid`` libraries (cnnlib, TensorFlow, PyTorch, SciPy's filters) is reported.
    """
    used = []
    allowed = HELPERS - {name}

    def watch(frame, event, arg):
        if event != "call" or used:
            return
        library = _library_of(frame.f_code.co_filename)
        if library not in forbid:
            return
        caller = frame.f_back
        if caller is not None and caller is not here and _library_of(caller.f_code.co_filename):
            return  # inside a library: only the call that entered it matters
        if library == "cnnlib" and frame.f_code.co_name in allowed:
            return
        module = frame.f_globals.get("__name__", "?")
        used.append((library, f"{module}.{frame.f_code.co_qualname}"))

    args = case.copy_args()
    here = sys._getframe()   # the student's function is called from this frame
    try:
        if not allow_reference:
            sys.setprofile(watch)
        try:
            result = fn(**args)
        finally:
            if not allow_reference:
                sys.setprofile(None)
    except Exception as err:  # noqa: BLE001 - any student error becomes a readable failure
        raise CheckFailed(
            f"{name} raised {type(err).__name__}: {err}\n"
            f"  case: {case.describe()}\n"
            f"  Run your function on this case yourself and read the traceback above.") from err
    if used:
        library, where = used[0]
        raise CheckFailed(
            f"{name} calls {where} from {library}.\n"
            f"  case: {case.describe()}\n"
            f"  The assignment asks you to compute this yourself; calling "
            f"{'the course reference' if library == 'cnnlib' else library} does not count.")
    return result


def _as_array(got, what):
    """The student's result as a float64 array, or a message saying why it is not one."""
    if got is None:
        return None, f"{what} is None: did you forget a return statement?"
    try:
        arr = np.asarray(got)
    except Exception as err:  # noqa: BLE001
        return None, f"{what} could not be read as an array ({type(err).__name__}: {err})"
    if arr.dtype.kind not in "biuf":
        return None, f"{what} is not numeric (it is {type(got).__name__} with dtype {arr.dtype})"
    return arr.astype(np.float64), None


def _difference(expected, got, rtol=RTOL, atol=ATOL):
    """None when equal (to tolerance); otherwise a dict describing the first difference."""
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if expected.shape != got.shape:
        return {"shape": True, "expected": expected.shape, "got": got.shape}
    close = np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=False)
    if close.all():
        return None
    bad = np.argwhere(~close)
    index = tuple(int(i) for i in bad[0])
    return {"shape": False, "index": index, "expected": expected[index], "got": got[index],
            "count": len(bad), "size": expected.size}


def _describe_difference(what, diff):
    if diff["shape"]:
        return f"{what} has shape {diff['got']}, expected {diff['expected']}"
    where = f"[{', '.join(map(str, diff['index']))}]" if diff["index"] else ""
    return (f"{what}{where} = {diff['got']:.8g}, expected {diff['expected']:.8g} "
            f"({diff['count']} of {diff['size']} entries differ)")


def _run_cases(name, fn, cases, reference, mistakes, outputs=None, allow_reference=False,
               rtol=RTOL, atol=ATOL, forbid=None, validate=None):
    """Run every case; raise :class:`CheckFailed` with a diagnosis at the first disagreement.

    ``outputs`` names the parts of a tuple result (e.g. ``("dx", "dw", "db")``);
    None means a single array. ``forbid``: the libraries the student's code may
    not call (default :data:`REFERENCE_LIBRARIES`). ``validate(got)`` may return a
    message that fails the case whatever the values (e.g. a float where an int is due).
    """
    for number, case in enumerate(cases, 1):
        expected = reference(**case.copy_args())
        got = _call_student(name, fn, case, allow_reference, forbid or REFERENCE_LIBRARIES)
        complaint = validate(got) if validate else None
        if complaint:
            raise CheckFailed(f"{complaint}\n  case: {case.describe()}")
        if outputs is None:
            expected_parts, got_parts, labels = [expected], [got], ["the output"]
        else:
            if not isinstance(got, (tuple, list)) or len(got) != len(outputs):
                count = len(got) if isinstance(got, (tuple, list)) else "one value"
                raise CheckFailed(f"{name} must return a tuple {tuple(outputs)}, got {count}: "
                                  f"{type(got).__name__}\n  case: {case.describe()}")
            expected_parts, got_parts, labels = list(expected), list(got), list(outputs)
        problems = []
        for label, part_expected, part_got in zip(labels, expected_parts, got_parts):
            arr, why = _as_array(part_got, label)
            if why:
                problems.append((label, why, None))
                continue
            diff = _difference(part_expected, arr, rtol, atol)
            if diff:
                problems.append((label, _describe_difference(label, diff), arr))
        if not problems:
            continue
        lines = [f"{name} is wrong on case {number} of {len(cases)}:", f"  case: {case.describe()}"]
        diagnoses, unexplained = [], False
        for label, text, arr in problems:
            lines.append(f"  {text}")
            if arr is None:
                continue
            part = None if outputs is None else label
            found = [m.description for m in mistakes if m.output == part and m.explains(case, arr)]
            diagnoses += found[:1]
            unexplained |= not found
        lines += [f"  diagnosis: {d}" for d in dict.fromkeys(diagnoses)]
        if unexplained and not diagnoses:
            lines.append("  diagnosis: none of the usual mistakes explains this output; "
                         "compare your result with a small example worked by hand.")
        raise CheckFailed("\n".join(lines))
    print(f"{name}: all {len(cases)} cases agree with the reference.")


def _rng(seed, suite):
    if suite not in ("public", "hidden"):
        raise ValueError(f"suite must be 'public' or 'hidden', got {suite!r}")
    return np.random.default_rng(seed + (0 if suite == "public" else 1000))


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ---------------------------------------------------------------------------
# Assignment 1: convolution
# ---------------------------------------------------------------------------

def _zero_pad_cases(suite):
    rng = _rng(1, suite)
    shapes_pads = [((1, 3, 4, 1), 1), ((2, 4, 3, 3), 2), ((3, 2, 5, 2), 1)]
    if suite == "hidden":
        shapes_pads += [((2, 5, 4, 3), (1, 2)), ((1, 3, 3, 4), (2, 0)), ((2, 2, 2, 1), 3)]
    return [Case({"x": rng.normal(size=s), "pad": p}) for s, p in shapes_pads]


def check_zero_pad(zero_pad, suite="public", allow_reference=False):
    """Check ``zero_pad(x, pad)``: zeros around height and width only.

    Cases: x (N, H, W, C) with H != W and several N and C; pad an int (public)
    and also ``(ph, pw)`` pairs (hidden).

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    def padded(x, pad, axes):
        ph, pw = _pair(pad)
        widths = [(0, 0)] * 4
        for axis in axes:
            widths[axis] = (ph, ph) if axis in (0, 1) else (pw, pw)
        return np.pad(x, widths)

    mistakes = [
        Mistake("every axis is padded, the batch and channel axes too: pad only height "
                "and width (axes 1 and 2 of NHWC)", _same_as(lambda x, pad: padded(x, pad, (0, 1, 2, 3)))),
        Mistake("the batch axis is padded as well: pad only height and width (axes 1 and 2)",
                _same_as(lambda x, pad: padded(x, pad, (0, 1, 2)))),
        Mistake("the channel axis is padded as well: pad only height and width (axes 1 and 2)",
                _same_as(lambda x, pad: padded(x, pad, (1, 2, 3)))),
        Mistake("only the top and left (or only the bottom and right) are padded: pad both sides",
                lambda case, got: got.shape[1:3] == tuple(
                    n + p for n, p in zip(case.args["x"].shape[1:3], _pair(case.args["pad"])))),
        Mistake("height and width paddings are swapped: (ph, pw) means ph rows, pw columns",
                _same_as(lambda x, pad: padded(x, _pair(pad)[::-1], (1, 2)))),
    ]
    _run_cases("zero_pad", zero_pad, _zero_pad_cases(suite), ops.zero_pad, mistakes,
               allow_reference=allow_reference)


def _conv_size_cases(suite):
    # (n, k, padding, stride, dilation): sizes that divide and sizes that do not.
    cases = [(7, 3, 0, 1, 1), (7, 3, 0, 2, 1), (227, 11, 0, 4, 1), (5, 3, 1, 1, 1),
             (8, 3, 1, 2, 1), (10, 3, 0, 3, 1), (9, 3, 0, 1, 2)]
    if suite == "hidden":
        rng = _rng(2, suite)
        while len(cases) < 30:
            n, k = int(rng.integers(4, 40)), int(rng.integers(1, 8))
            p, s, d = int(rng.integers(0, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
            if n + 2 * p >= d * (k - 1) + 1:
                cases.append((n, k, p, s, d))
    return [Case({"n": n, "k": k, "padding": p, "stride": s, "dilation": d})
            for n, k, p, s, d in cases]


def check_conv_output_size(conv_output_size, suite="public", allow_reference=False):
    """Check ``conv_output_size(n, k, padding, stride, dilation)`` with integer arguments.

    The answer must be the int ``floor((n + 2p - d(k - 1) - 1) / s) + 1``.

    Raises:
        CheckFailed: on the first wrong size, with a diagnosis.
    """
    def must_be_int(got):
        if not isinstance(got, (int, np.integer)):
            return (f"conv_output_size must return an int, got {got!r} ({type(got).__name__}): "
                    f"use floor division //")
        return None

    def formula(fn):
        return _same_as(lambda n, k, padding, stride, dilation: fn(n, k, padding, stride, dilation))

    mistakes = [
        Mistake("the '+ 1' is missing: there is one more position than steps",
                formula(lambda n, k, p, s, d: (n + 2 * p - d * (k - 1) - 1) // s)),
        Mistake("off by one: the formula is floor((n + 2p - d(k-1) - 1) / s) + 1",
                formula(lambda n, k, p, s, d: (n + 2 * p - d * (k - 1)) // s + 1)),
        Mistake("rounded up instead of down: a kernel position that does not fit is not an output",
                formula(lambda n, k, p, s, d: -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1)),
        Mistake("the padding is counted once: it is added on both sides (2p)",
                formula(lambda n, k, p, s, d: (n + p - d * (k - 1) - 1) // s + 1)),
        Mistake("the stride is ignored: divide by it",
                formula(lambda n, k, p, s, d: n + 2 * p - d * (k - 1))),
        Mistake("the dilation is ignored: a dilated kernel spans d(k-1) + 1 pixels",
                formula(lambda n, k, p, s, d: (n + 2 * p - k) // s + 1)),
        Mistake("the dilated kernel is taken to span d*k pixels; it spans d(k-1) + 1",
                formula(lambda n, k, p, s, d: (n + 2 * p - d * k) // s + 1)),
    ]

    def reference(n, k, padding, stride, dilation):
        return shapes.conv_output_size(n, k, padding=padding, stride=stride, dilation=dilation)

    _run_cases("conv_output_size", conv_output_size, _conv_size_cases(suite), reference, mistakes,
               allow_reference=allow_reference, validate=must_be_int)


def _single_step_cases(suite):
    rng = _rng(3, suite)
    sizes = [(3, 3, 1), (2, 4, 3), (5, 3, 2)]
    if suite == "hidden":
        sizes += [(1, 1, 4), (4, 2, 5), (3, 5, 1)]
    return [Case({"a_slice": rng.normal(size=s), "w": rng.normal(size=s), "b": rng.normal(size=(1, 1, 1))})
            for s in sizes]


def check_conv_single_step(conv_single_step, suite="public", allow_reference=False):
    """Check ``conv_single_step(a_slice, w, b)`` = ``sum(a_slice * w) + b``, one number.

    Cases: windows (kh, kw, c_in) with kh != kw and several channels; b of shape (1, 1, 1).

    Raises:
        CheckFailed: on the first wrong value, with a diagnosis.
    """
    mistakes = [
        Mistake("the bias is added to every product (np.sum(a_slice * w + b)): add it once, "
                "after the sum", _same_as(lambda a_slice, w, b: np.sum(a_slice * w) + b.item() * a_slice.size)),
        Mistake("the bias is missing: add b after the sum",
                _same_as(lambda a_slice, w, b: np.sum(a_slice * w))),
        Mistake("the products are not summed: return one number, np.sum(a_slice * w) + b",
                lambda case, got: got.shape == case.args["a_slice"].shape),
        Mistake("the products are summed over only some axes: sum over all three (kh, kw, c_in)",
                lambda case, got: 0 < got.ndim < 3 or (got.ndim == 3 and got.shape != case.args["a_slice"].shape)),
        Mistake("the kernel is flipped: the window and the kernel are multiplied position by "
                "position, unflipped (cross-correlation)",
                _same_as(lambda a_slice, w, b: np.sum(a_slice * w[::-1, ::-1]) + b.item())),
    ]

    def reference(a_slice, w, b):
        return ops.conv_single_step(a_slice, w, b)

    _run_cases("conv_single_step", conv_single_step, _single_step_cases(suite), reference,
               mistakes, allow_reference=allow_reference)


# (N, H, W, C, kh, kw, F, stride, padding): H != W, C != F, non-square kernels.
_CONV_PUBLIC = [
    (1, 5, 6, 1, 3, 3, 2, 1, 0),
    (2, 6, 5, 3, 3, 2, 4, 1, 1),
    (2, 7, 6, 2, 3, 3, 3, 2, 0),
    (1, 8, 7, 3, 2, 3, 2, (2, 3), 1),
    (2, 5, 7, 2, 3, 3, 1, 2, (2, 1)),
]
_CONV_HIDDEN = [
    (3, 9, 6, 2, 4, 2, 3, (3, 2), 2),
    (1, 6, 9, 4, 1, 1, 2, 2, 0),
    (2, 7, 7, 1, 5, 3, 2, (1, 2), (2, 1)),
    (1, 4, 6, 3, 3, 3, 5, 3, 2),
    (2, 10, 8, 2, 3, 4, 3, (2, 1), 1),
]


def _conv_cases(suite, seed=4):
    rng = _rng(seed, suite)
    table = _CONV_PUBLIC if suite == "public" else _CONV_PUBLIC + _CONV_HIDDEN
    cases = []
    for n, h, w, c, kh, kw, f, stride, padding in table:
        cases.append(Case({"x": rng.normal(size=(n, h, w, c)), "w": rng.normal(size=(kh, kw, c, f)),
                           "b": rng.normal(size=f), "stride": stride, "padding": padding}))
    return cases


def _conv_shape_mistakes(x, pad_name="padding"):
    """Mistakes recognised from the output's shape alone (conv2d and pool2d)."""
    def off_by_one(case, got):
        expected = _expected_shape(case)
        if got.ndim != 4 or got.shape[0] != expected[0] or got.shape[3] != expected[3]:
            return False
        dh, dw = got.shape[1] - expected[1], got.shape[2] - expected[2]
        return {abs(dh), abs(dw)} <= {0, 1} and (dh or dw)

    def batch_padded(case, got):
        p = _pair(case.args.get(pad_name, 0))[0]
        return p > 0 and got.ndim == 4 and got.shape[0] == case.args[x].shape[0] + 2 * p

    return [
        Mistake("the output is one row or column too big or too small: the output size is "
                "floor((H + 2P - K) / S) + 1", off_by_one),
        Mistake("the padding is applied to the batch axis too (there are 2P extra images): pad "
                "only height and width", batch_padded),
    ]


def _expected_shape(case):
    if "w" in case.args:
        return ops.conv2d(**case.copy_args()).shape
    return ops.pool2d(**case.copy_args()).shape


def check_conv2d(conv2d, suite="public", allow_reference=False):
    """Check ``conv2d(x, w, b, stride, padding)`` (cross-correlation, NHWC and HWIO, dilation 1).

    Cases: x (N, H, W, C) with H != W, kernels (kh, kw, C, F) with kh != kw and
    C != F, strides 1, 2, 3 and pairs, paddings 0, 1, 2 and ``(ph, pw)`` pairs.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    ref = ops.conv2d

    def with_stride(stride_fn):
        return _same_as(lambda x, w, b, stride, padding: ref(x, w, b, stride_fn(_pair(stride)), padding))

    mistakes = [
        Mistake("the kernel is flipped: that is a convolution; CNN layers compute "
                "cross-correlation (multiply each window by the kernel as it is)",
                _same_as(lambda x, w, b, stride, padding: ref(x, w[::-1, ::-1], b, stride, padding))),
        Mistake("the bias is missing: add b[f] to every output of filter f",
                _same_as(lambda x, w, b, stride, padding: ref(x, w, None, stride, padding))),
        Mistake("the bias is added per pixel of the window (once per product) instead of once per output",
                _same_as(lambda x, w, b, stride, padding: ref(x, w, b * w.shape[0] * w.shape[1] * w.shape[2],
                                                              stride, padding))),
        Mistake("the bias is added once per input channel instead of once per output",
                _same_as(lambda x, w, b, stride, padding: ref(x, w, b * w.shape[2], stride, padding))),
        Mistake("the stride is ignored: the window must move S pixels between outputs",
                with_stride(lambda s: 1)),
        Mistake("the stride is applied to the rows only: the columns must step by it too",
                with_stride(lambda s: (s[0], 1))),
        Mistake("the stride is applied to the columns only: the rows must step by it too",
                with_stride(lambda s: (1, s[1]))),
        Mistake("the vertical and horizontal strides are swapped: stride=(sh, sw) means sh rows, sw columns",
                with_stride(lambda s: (s[1], s[0]))),
        Mistake("the window starts at i instead of i * stride: the output has the right size "
                "but the windows overlap as if the stride were 1",
                _same_as(lambda x, w, b, stride, padding: ref(x, w, b, 1, padding)[
                    :, :_expected_rows(x, w, stride, padding)[0], :_expected_rows(x, w, stride, padding)[1]])),
        Mistake("the padding is ignored: pad the input with P zeros on every side first",
                _same_as(lambda x, w, b, stride, padding: ref(x, w, b, stride, 0))),
        Mistake("the vertical and horizontal paddings are swapped: padding=(ph, pw) means ph rows, pw columns",
                _same_as(lambda x, w, b, stride, padding: ref(x, w, b, stride, _pair(padding)[::-1]))),
        *_conv_shape_mistakes("x"),
    ]
    _run_cases("conv2d", conv2d, _conv_cases(suite), ref, mistakes, allow_reference=allow_reference)


def _expected_rows(x, w, stride, padding):
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    return (shapes.conv_output_size(x.shape[1], w.shape[0], ph, sh),
            shapes.conv_output_size(x.shape[2], w.shape[1], pw, sw))


def check_edge_image(edges, image, kernel):
    """Check that ``edges`` is the conv2d of a gray ``image`` (H, W) with a ``kernel`` (kh, kw), no padding.

    ``edges`` may be (H', W') or the NHWC (1, H', W', 1) that conv2d returns.

    Raises:
        CheckFailed: wrong shape or values, with a hint.
    """
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    expected = ops.conv2d(image[None, :, :, None], kernel[:, :, None, None])[0, :, :, 0]
    got, why = _as_array(edges, "edges")
    if why:
        raise CheckFailed(why)
    got = got.reshape(got.shape[1:3]) if got.ndim == 4 and got.shape[0] == got.shape[3] == 1 else got
    diff = _difference(expected, got, rtol=1e-6, atol=1e-6)
    if diff is None:
        print(f"edges: {got.shape} image agrees with the reference.")
        return
    hint = "apply your conv2d to image[None, :, :, None] with kernel[:, :, None, None], no padding"
    if not diff["shape"] and _difference(ops.conv2d(image[None, :, :, None],
                                                    kernel[::-1, ::-1, None, None])[0, :, :, 0], got) is None:
        hint = "the kernel is flipped: use it as it is (cross-correlation)"
    raise CheckFailed(f"{_describe_difference('edges', diff)}\n  hint: {hint}")


def check_vertical_edge_answer(answer, kernels):
    """Check which of the named ``kernels`` (name -> (kh, kw) array) the student says finds vertical edges.

    The right answer is computed here: the kernel whose response to an image
    with one vertical edge is largest relative to its response to the same
    image turned by 90 degrees.

    Raises:
        CheckFailed: the answer is not one of the names, or not the right one.
    """
    if answer not in kernels:
        raise CheckFailed(f"answer must be one of {sorted(kernels)}, got {answer!r}")
    step = np.zeros((12, 12))
    step[:, 6:] = 1.0                    # dark left half, bright right half: one vertical edge

    def strength(kernel, image):
        kernel = np.asarray(kernel, dtype=np.float64)
        return np.abs(ops.conv2d(image[None, :, :, None], kernel[:, :, None, None])).max()

    scores = {name: strength(k, step) / max(strength(k, step.T), 1e-12) for name, k in kernels.items()}
    best = max(scores, key=scores.get)
    if answer != best:
        chosen = scores[answer]
        kind = ("horizontal edges" if chosen < 0.5 else "edges in every direction" if chosen < 2
                else "vertical edges, but less selectively")
        raise CheckFailed(f"kernel {answer!r} responds to {kind}: its response to a vertical edge is "
                          f"{chosen:.3g} times its response to a horizontal one. Look at the edge images "
                          f"again: which kernel lights up along the vertical outlines?")
    print(f"Right: kernel {answer!r} finds vertical edges.")


# ---------------------------------------------------------------------------
# Assignment 2: pooling and backpropagation
# ---------------------------------------------------------------------------

# (N, H, W, C, pool_size, stride): H != W, overlapping windows, strides that do not divide.
_POOL_PUBLIC = [(1, 4, 6, 1, 2, None), (2, 6, 5, 3, 2, 2), (2, 7, 6, 2, 3, 2), (1, 6, 8, 2, (2, 3), (2, 1))]
_POOL_HIDDEN = [(3, 9, 7, 2, 3, 1), (2, 8, 5, 3, (3, 2), (2, 3)), (1, 5, 5, 4, 2, 3), (2, 6, 9, 1, 4, 2)]


def _pool_cases(suite, modes, seed=5, ties=False):
    rng = _rng(seed, suite)
    table = _POOL_PUBLIC if suite == "public" else _POOL_PUBLIC + _POOL_HIDDEN
    cases = []
    for mode in modes:
        for n, h, w, c, size, stride in table:
            if ties:  # few distinct values, so windows hold tied maxima
                x = rng.integers(0, 3, size=(n, h, w, c)).astype(np.float64)
            else:
                x = rng.normal(size=(n, h, w, c))
            cases.append(Case({"x": x, "pool_size": size, "stride": stride, "mode": mode},
                              "values with ties" if ties else ""))
    return cases


def check_pool2d(pool2d, suite="public", allow_reference=False):
    """Check ``pool2d(x, pool_size, stride, mode)`` for mode 'max' and 'avg', no padding.

    Cases: x (N, H, W, C) with H != W; square and rectangular windows;
    ``stride=None`` (the window size), overlapping windows and pairs.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    ref = ops.pool2d

    def variant(**changes):
        def wrong(x, pool_size, stride, mode):
            args = {"pool_size": pool_size, "stride": stride, "mode": mode}
            args.update({k: (v(args) if callable(v) else v) for k, v in changes.items()})
            return ref(x, **args)
        return _same_as(wrong)

    mistakes = [
        Mistake("max and average are swapped: mode='max' takes the largest value, 'avg' the mean",
                variant(mode=lambda a: "avg" if a["mode"] == "max" else "max")),
        Mistake("the window is summed instead of averaged: divide by the window's size",
                variant(mode=lambda a: "sum" if a["mode"] == "avg" else "x")),
        Mistake("stride=None must mean 'the window size' (non-overlapping windows), not 1",
                lambda case, got: case.args["stride"] is None and _same_as(
                    lambda x, pool_size, stride, mode: ref(x, pool_size, 1, mode=mode))(case, got)),
        Mistake("the stride is ignored: the window must move S pixels between outputs",
                variant(stride=1)),
        Mistake("the window's height and width are swapped: pool_size=(ph, pw) means ph rows, pw columns",
                variant(pool_size=lambda a: _pair(a["pool_size"])[::-1])),
        Mistake("the channels are pooled together: pool each channel on its own (the output keeps C channels)",
                lambda case, got: got.ndim == 3 or (got.ndim == 4 and got.shape[3] == 1 != case.args["x"].shape[3])),
        *_conv_shape_mistakes("x"),
    ]
    _run_cases("pool2d", pool2d, _pool_cases(suite, ("max", "avg")), ref, mistakes,
               allow_reference=allow_reference)


def _max_pool_backward_variant(dout, x, pool_size, stride, rule):
    """Wrong max-pool backward passes, written with loops: 'all_ties', 'last' or 'overwrite'."""
    (ph, pw), (sh, sw) = _pair(pool_size), _pair(stride if stride is not None else pool_size)
    dx = np.zeros_like(x, dtype=np.float64)
    n, oh, ow, c = dout.shape
    for i in range(oh):
        for j in range(ow):
            win = x[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].reshape(n, -1, c)
            top = win.max(axis=1, keepdims=True)
            hit = win == top
            if rule == "last":
                last = hit.shape[1] - 1 - np.argmax(hit[:, ::-1, :], axis=1)
                hit = np.zeros_like(hit)
                np.put_along_axis(hit, last[:, None, :], True, axis=1)
            elif rule == "overwrite":
                first = np.argmax(hit, axis=1)
                hit = np.zeros_like(hit)
                np.put_along_axis(hit, first[:, None, :], True, axis=1)
            share = (hit * dout[:, i:i + 1, j:j + 1, :].reshape(n, 1, c)).reshape(n, ph, pw, c)
            region = dx[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :]
            if rule == "overwrite":
                region[hit.reshape(n, ph, pw, c)] = share[hit.reshape(n, ph, pw, c)]
            else:
                region += share
    return dx


def _with_dout(cases, forward, seed):
    """Add a random upstream gradient of forward's output shape to each case."""
    rng = np.random.default_rng(seed)
    out = []
    for case in cases:
        y = forward(**case.copy_args())
        args = {"dout": rng.normal(size=np.shape(y)), **case.args}
        out.append(Case(args, case.note))
    return out


def check_pool2d_backward(pool2d_backward, suite="public", allow_reference=False):
    """Check ``pool2d_backward(dout, x, pool_size, stride, mode)`` for 'max' and 'avg', no padding.

    Max pooling sends each window's gradient to the first largest input in
    row-major order; cases include tied maxima and overlapping windows. Also
    runs a gradient check against central differences of ``cnnlib.ops.pool2d``.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    ref = backprop.pool2d_backward
    cases = (_pool_cases(suite, ("max", "avg"), seed=6)
             + _pool_cases(suite, ("max",), seed=7, ties=True))
    cases = _with_dout(cases, ops.pool2d, seed=8)

    def max_rule(rule):
        return lambda case, got: case.args["mode"] == "max" and _same_as(
            lambda dout, x, pool_size, stride, mode: _max_pool_backward_variant(dout, x, pool_size, stride, rule))(
                case, got)

    def when(mode, explains):
        return lambda case, got: case.args["mode"] == mode and explains(case, got)

    mistakes = [
        Mistake("max-pool backward sends the gradient to every position of the window: only "
                "the position that held the maximum gets it", when("max", _same_as(
                    lambda dout, x, pool_size, stride, mode: ref(dout, x, pool_size, stride, mode="sum")))),
        Mistake("max-pool backward sends the gradient to all tied maxima: only the first "
                "maximum (row-major order) gets it", max_rule("all_ties")),
        Mistake("max-pool backward picks the last of tied maxima: the first one (row-major) gets the gradient",
                max_rule("last")),
        Mistake("overlapping windows overwrite each other's gradient (dx[...] = ...): add them up (+=)",
                max_rule("overwrite")),
        Mistake("average-pool backward is not divided by the window size: each of the ph*pw "
                "pixels gets dout / (ph*pw)", when("avg", _same_as(
                    lambda dout, x, pool_size, stride, mode: ref(dout, x, pool_size, stride, mode="sum")))),
        Mistake("average-pool backward is treated like max pooling: the mean depends on every "
                "pixel of the window equally", when("avg", _same_as(
                    lambda dout, x, pool_size, stride, mode: ref(dout, x, pool_size, stride, mode="max")))),
        Mistake("the stride is ignored: window (i, j) starts at row i*S, column j*S",
                lambda case, got: case.args["stride"] not in (1, None) and got.shape == case.args["x"].shape
                and _stride_one_windows(case, got)),
        Mistake("dx must have x's shape (N, H, W, C): one gradient per input pixel",
                lambda case, got: got.shape != case.args["x"].shape),
    ]
    _run_cases("pool2d_backward", pool2d_backward, cases, ref, mistakes, allow_reference=allow_reference)
    _gradient_check_pool(pool2d_backward, allow_reference)


def _stride_one_windows(case, got):
    """True when got is what the windows of stride 1, cut to the right count, would give."""
    a = case.args
    (ph, pw), (sh, sw) = _pair(a["pool_size"]), _pair(a["stride"] if a["stride"] is not None else a["pool_size"])
    if (sh, sw) == (1, 1):
        return False
    n, oh, ow, c = a["dout"].shape
    x = a["x"][:, :oh + ph - 1, :ow + pw - 1, :]
    wrong = np.zeros_like(a["x"])
    wrong[:, :oh + ph - 1, :ow + pw - 1, :] = backprop.pool2d_backward(a["dout"], x, (ph, pw), 1, mode=a["mode"])
    return _difference(wrong, got) is None


def _gradient_check_pool(fn, allow_reference):
    rng = np.random.default_rng(9)
    x = rng.permutation(2 * 5 * 6 * 2).reshape(2, 5, 6, 2) / 10.0   # distinct values: no ties
    for mode in ("max", "avg"):
        dout = rng.normal(size=ops.pool2d(x, 2, 2, mode=mode).shape)
        case = Case({"dout": dout, "x": x, "pool_size": 2, "stride": 2, "mode": mode}, "gradient check")
        analytic = _call_student("pool2d_backward", fn, case, allow_reference)
        numeric = numerical_gradient(lambda v: ops.pool2d(v, 2, 2, mode=mode), x.copy(), eps=1e-6, dout=dout)
        _report_gradcheck("pool2d_backward", f"dx ({mode})", analytic, numeric)


def _report_gradcheck(name, what, analytic, numeric):
    arr, why = _as_array(analytic, what)
    if why or arr.shape != numeric.shape:
        raise CheckFailed(f"{name} gradient check: {why or f'{what} has shape {arr.shape}, expected {numeric.shape}'}")
    err = relative_error(arr, numeric)
    if err > GRADCHECK_TOL:
        raise CheckFailed(f"{name} gradient check: {what} differs from central differences, relative error "
                          f"{err:.2e} (tolerance {GRADCHECK_TOL:.0e})")
    print(f"{name} gradient check: {what} relative error {err:.1e}")


def check_relu_backward(relu_backward, suite="public", allow_reference=False):
    """Check ``relu_backward(dout, x)``: dout where x > 0, else 0 (0 at exactly x == 0).

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    rng = _rng(10, suite)
    sizes = [(2, 3, 4, 2), (5, 7)] + ([(1, 6, 5, 3), (4,), (3, 2, 2, 1)] if suite == "hidden" else [])
    cases = []
    for size in sizes:
        x = rng.normal(size=size)
        x.flat[::5] = 0.0            # exact zeros: the gradient there is 0
        cases.append(Case({"dout": rng.normal(size=size), "x": x}, "x has exact zeros"))
    mistakes = [
        Mistake("ReLU backward does not mask: dout must be zeroed where x <= 0",
                _same_as(lambda dout, x: dout)),
        Mistake("ReLU backward returns the mask (x > 0) alone: multiply it by dout",
                _same_as(lambda dout, x: (x > 0).astype(float))),
        Mistake("ReLU backward masks on dout > 0; the mask comes from the forward input x",
                _same_as(lambda dout, x: np.where(dout > 0, dout, 0))),
        Mistake("at exactly x == 0 the gradient must be 0 (use x > 0, not x >= 0)",
                _same_as(lambda dout, x: np.where(x >= 0, dout, 0))),
        Mistake("this is ReLU forward applied to dout; the mask must come from x",
                _same_as(lambda dout, x: np.maximum(dout, 0))),
        Mistake("this is ReLU forward (max(x, 0)); backward passes dout through where x > 0",
                _same_as(lambda dout, x: np.maximum(x, 0))),
    ]
    _run_cases("relu_backward", relu_backward, cases, backprop.relu_backward, mistakes,
               allow_reference=allow_reference)
    x = rng.normal(size=(3, 4, 5, 2))
    dout = rng.normal(size=x.shape)
    analytic = _call_student("relu_backward", relu_backward, Case({"dout": dout, "x": x}, "gradient check"),
                             allow_reference)
    _report_gradcheck("relu_backward", "dx", analytic, numerical_gradient(ops.relu, x.copy(), dout=dout))


def check_conv2d_backward(conv2d_backward, suite="public", allow_reference=False):
    """Check ``conv2d_backward(dout, x, w, stride, padding)`` -> ``(dx, dw, db)``, dilation 1.

    Compares all three gradients with the reference on the same cases as
    :func:`check_conv2d`, then runs a gradient check against central
    differences of ``cnnlib.ops.conv2d``.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    ref = backprop.conv2d_backward

    def conv_case_to_backward(case):
        return {k: case.args[k] for k in ("x", "w", "stride", "padding")}

    cases = [Case(conv_case_to_backward(c)) for c in _conv_cases(suite, seed=11)]
    cases = _with_dout(cases, ops.conv2d, seed=12)

    def part(i, fn):
        return _same_as(_variant_outputs(fn, i))

    def per_example(dout, x, w, stride, padding, i):
        return np.stack([ref(dout[n:n + 1], x[n:n + 1], w, stride, padding)[i] for n in range(len(x))])

    mistakes = [
        Mistake("dw is not summed over the batch: it holds one gradient per example; sum them",
                lambda case, got: got.shape == (len(case.args["x"]),) + case.args["w"].shape and _same_as(
                    lambda **a: per_example(**a, i=1))(case, got), "dw"),
        Mistake("dw is not summed over the batch: it holds only the last example's gradient "
                "(= instead of +=)", part(1, lambda dout, x, w, stride, padding:
                                          ref(dout[-1:], x[-1:], w, stride, padding)), "dw"),
        Mistake("dw is averaged over the batch: the gradient of a sum is summed, not averaged",
                _same_as(lambda dout, x, w, stride, padding: ref(dout, x, w, stride, padding)[1] / len(x)), "dw"),
        Mistake("dw is flipped: the weight gradient of cross-correlation is not rotated",
                _same_as(lambda dout, x, w, stride, padding: ref(dout, x, w, stride, padding)[1][::-1, ::-1]), "dw"),
        Mistake("db is not summed over the batch: it holds one gradient per example; sum them",
                lambda case, got: got.shape == (len(case.args["x"]), case.args["w"].shape[3]), "db"),
        Mistake("db is not summed over the batch: it holds only the last example's gradient (= instead of +=)",
                part(2, lambda dout, x, w, stride, padding: ref(dout[-1:], x[-1:], w, stride, padding)), "db"),
        Mistake("db is averaged over the batch: sum dout over the batch and every position",
                _same_as(lambda dout, x, w, stride, padding: ref(dout, x, w, stride, padding)[2] / len(x)), "db"),
        Mistake("db is not summed over the positions: sum dout over N, height and width",
                lambda case, got: got.ndim >= 3 and got.shape[-1] == case.args["w"].shape[3], "db"),
        Mistake("dx uses a flipped kernel (the gradient of a convolution, not of cross-correlation)",
                part(0, lambda dout, x, w, stride, padding: ref(dout, x, w[::-1, ::-1], stride, padding)), "dx"),
        Mistake("dx still includes the padding: cut the P padded rows and columns off before returning",
                lambda case, got: got.ndim == 4 and got.shape[1:3] == tuple(
                    n + 2 * p for n, p in zip(case.args["x"].shape[1:3], _pair(case.args["padding"])))
                and got.shape != case.args["x"].shape, "dx"),
        Mistake("dx has the wrong shape: it must be x's shape (N, H, W, C)",
                lambda case, got: got.shape != case.args["x"].shape, "dx"),
        Mistake("dw has the wrong shape: it must be w's shape (kh, kw, C, F)",
                lambda case, got: got.shape != case.args["w"].shape, "dw"),
    ]
    _run_cases("conv2d_backward", conv2d_backward, cases, ref, mistakes, outputs=("dx", "dw", "db"),
               allow_reference=allow_reference)
    _gradient_check_conv(conv2d_backward, allow_reference)


def _gradient_check_conv(fn, allow_reference):
    rng = np.random.default_rng(13)
    x, w, b = rng.normal(size=(2, 5, 6, 2)), rng.normal(size=(3, 2, 2, 3)), rng.normal(size=3)
    stride, padding = (2, 1), 1
    dout = rng.normal(size=ops.conv2d(x, w, b, stride, padding).shape)
    case = Case({"dout": dout, "x": x, "w": w, "stride": stride, "padding": padding}, "gradient check")
    got = _call_student("conv2d_backward", fn, case, allow_reference)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CheckFailed("conv2d_backward must return (dx, dw, db)")
    dx, dw, db = got
    _report_gradcheck("conv2d_backward", "dx", dx,
                      numerical_gradient(lambda v: ops.conv2d(v, w, b, stride, padding), x.copy(), dout=dout))
    _report_gradcheck("conv2d_backward", "dw", dw,
                      numerical_gradient(lambda v: ops.conv2d(x, v, b, stride, padding), w.copy(), dout=dout))
    _report_gradcheck("conv2d_backward", "db", db,
                      numerical_gradient(lambda v: ops.conv2d(x, w, v, stride, padding), b.copy(), dout=dout))


# ---------------------------------------------------------------------------
# Assignment 3: the loss, the dense layer and a trained model
# ---------------------------------------------------------------------------

def check_softmax_cross_entropy(softmax_cross_entropy, suite="public", allow_reference=False):
    """Check ``softmax_cross_entropy(logits, labels)`` -> ``(mean loss, dlogits)``.

    Cases include a batch of one, many classes, and logits of several hundred
    (where exp overflows unless the row maximum is subtracted first).

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    rng = _rng(14, suite)
    sizes = [(4, 3), (1, 10), (6, 5)] + ([(8, 2), (3, 7)] if suite == "hidden" else [])
    cases = [Case({"logits": rng.normal(scale=2, size=s), "labels": rng.integers(0, s[1], size=s[0])})
             for s in sizes]
    big = rng.normal(scale=300, size=(4, 6))
    big[0, 0] = 800.0
    cases.append(Case({"logits": big, "labels": np.array([0, 5, 2, 3])}, "large logits"))
    ref = backprop.softmax_cross_entropy

    def probs(logits):
        return ops.softmax(logits, axis=1)

    mistakes = [
        Mistake("the loss is summed over the batch: return the mean",
                _same_as(lambda logits, labels: ref(logits, labels)[0] * len(logits)), "loss"),
        Mistake("the loss is not a single number: average -log p[label] over the batch",
                lambda case, got: got.ndim > 0, "loss"),
        Mistake("exp overflowed (nan or inf): subtract each row's maximum from the logits before exp",
                lambda case, got: not np.all(np.isfinite(got)), "loss"),
        Mistake("the loss uses log(p) without the minus sign", _same_as(
            lambda logits, labels: -ref(logits, labels)[0]), "loss"),
        Mistake("dlogits is not divided by N: the loss is a mean, so its gradient carries 1/N",
                _same_as(lambda logits, labels: ref(logits, labels)[1] * len(logits)), "dlogits"),
        Mistake("dlogits is the softmax alone: subtract 1 at each row's true class",
                _same_as(lambda logits, labels: probs(logits) / len(logits)), "dlogits"),
        Mistake("dlogits is the softmax alone and not divided by N: (softmax - one_hot) / N",
                _same_as(lambda logits, labels: probs(logits)), "dlogits"),
        Mistake("dlogits has the wrong sign: it is (softmax - one_hot) / N",
                _same_as(lambda logits, labels: -ref(logits, labels)[1]), "dlogits"),
        Mistake("exp overflowed (nan or inf): subtract each row's maximum from the logits before exp",
                lambda case, got: not np.all(np.isfinite(got)), "dlogits"),
        Mistake("dlogits must have the logits' shape (N, K)",
                lambda case, got: got.shape != case.args["logits"].shape, "dlogits"),
    ]
    _run_cases("softmax_cross_entropy", softmax_cross_entropy, cases, ref, mistakes,
               outputs=("loss", "dlogits"), allow_reference=allow_reference)
    logits, labels = rng.normal(size=(5, 4)), rng.integers(0, 4, size=5)
    got = _call_student("softmax_cross_entropy", softmax_cross_entropy,
                        Case({"logits": logits, "labels": labels}, "gradient check"), allow_reference)
    numeric = numerical_gradient(lambda v: ops.cross_entropy(v, labels, from_logits=True), logits.copy())
    _report_gradcheck("softmax_cross_entropy", "dlogits", got[1] if isinstance(got, (tuple, list)) else got,
                      numeric)


def check_dense_backward(dense_backward, suite="public", allow_reference=False):
    """Check ``dense_backward(dout, x, w)`` -> ``(dx, dw, db)`` for ``x @ w + b``.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    rng = _rng(15, suite)
    sizes = [(4, 3, 2), (1, 5, 3), (6, 2, 7)] + ([(3, 8, 4), (7, 1, 1)] if suite == "hidden" else [])
    cases = [Case({"dout": rng.normal(size=(n, m)), "x": rng.normal(size=(n, d)), "w": rng.normal(size=(d, m))})
             for n, d, m in sizes]
    ref = backprop.dense_backward
    mistakes = [
        Mistake("dx uses w instead of its transpose: dx = dout @ w.T",
                lambda case, got: got.shape != case.args["x"].shape, "dx"),
        Mistake("dw is transposed: dw = x.T @ dout has w's shape (D, M)",
                _same_as(lambda dout, x, w: (x.T @ dout).T), "dw"),
        Mistake("dw has the wrong shape: it must be w's shape (D, M), x.T @ dout",
                lambda case, got: got.shape != case.args["w"].shape, "dw"),
        Mistake("dw is averaged over the batch: sum, x.T @ dout", _same_as(
            lambda dout, x, w: x.T @ dout / len(x)), "dw"),
        Mistake("db is not summed over the batch: db = dout.sum(axis=0)",
                lambda case, got: got.shape == case.args["dout"].shape and len(case.args["dout"]) > 1, "db"),
        Mistake("db is summed over the wrong axis: sum over the batch (axis 0), one value per unit",
                lambda case, got: got.shape == (len(case.args["dout"]),) != (case.args["dout"].shape[1],), "db"),
        Mistake("db is averaged over the batch: db = dout.sum(axis=0)", _same_as(
            lambda dout, x, w: dout.mean(axis=0)), "db"),
        Mistake("db is not summed over the batch: it holds only the last example's gradient",
                _same_as(lambda dout, x, w: dout[-1]), "db"),
    ]
    _run_cases("dense_backward", dense_backward, cases, ref, mistakes, outputs=("dx", "dw", "db"),
               allow_reference=allow_reference)


def check_model_accuracy(model, minimum, library="cnnlib"):
    """Check a trained model's accuracy on the 1,000 held-out digits of ``load_mnist_subset``.

    The accuracy is computed here, from the model's predictions on the test
    split, and the model must contain a convolution layer.

    Arguments:
        model: a ``cnnlib.Sequential`` (library='cnnlib') or a ``tf.keras.Model`` (library='keras').
        minimum: the accuracy to reach, in [0, 1].

    Returns None (nbgrader would read a number left as a test cell's output as
    partial credit); the accuracy is printed.

    Raises:
        CheckFailed: the model is of the wrong kind, has no convolution, or falls short.
    """
    from . import data
    from .layers import Conv2D
    from .model import Sequential

    _, (x_test, y_test) = data.load_mnist_subset()
    if library == "cnnlib":
        if not isinstance(model, Sequential):
            raise CheckFailed(f"expected a cnnlib Sequential model, got {type(model).__name__}")
        if not any(isinstance(layer, Conv2D) for layer in model.layers):
            raise CheckFailed("the model has no Conv2D layer: this assignment asks for a CNN")
        probs = model.predict(x_test)
    elif library == "keras":
        if not hasattr(model, "layers") or not hasattr(model, "predict"):
            raise CheckFailed(f"expected a Keras model, got {type(model).__name__}")
        if not any(type(layer).__name__ in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")
                   for layer in model.layers):
            raise CheckFailed("the Keras model has no Conv2D layer: this assignment asks for a CNN")
        probs = np.asarray(model.predict(x_test, verbose=0))
    else:
        raise ValueError(f"library must be 'cnnlib' or 'keras', got {library!r}")
    if probs.shape != (len(x_test), 10):
        raise CheckFailed(f"the model's predictions have shape {probs.shape}, expected ({len(x_test)}, 10): "
                          f"one score per digit class")
    accuracy = float(np.mean(probs.argmax(axis=1) == y_test))
    if not accuracy >= minimum:
        raise CheckFailed(f"held-out accuracy {accuracy:.1%} is below the required {minimum:.0%}: "
                          f"train longer, or check the learning rate and the architecture")
    print(f"held-out accuracy {accuracy:.1%} (required {minimum:.0%})")


# ---------------------------------------------------------------------------
# Assignment 4: architectures and visualization
# ---------------------------------------------------------------------------

def _keras_layer_rows(layers, input_shape):
    """(output shape, parameter count) of each layer spec, as Keras builds it.

    Specs: ``("conv", filters, kernel, stride, padding)``, ``("maxpool", size, stride)``,
    ``("avgpool", size, stride)``, ``("flatten",)``, ``("dense", units)``. Integer conv
    padding becomes a ZeroPadding2D in front of a 'valid' Conv2D (Keras has no
    integer padding); the row reports the Conv2D.
    """
    import tensorflow as tf

    k = tf.keras.layers
    x = tf.keras.Input(tuple(input_shape))
    rows = []
    for spec in layers:
        kind = spec[0]
        if kind == "conv":
            _, filters, size, stride, padding = spec
            if padding:
                x = k.ZeroPadding2D(padding)(x)
            layer = k.Conv2D(filters, size, strides=stride)
        elif kind in ("maxpool", "avgpool"):
            _, size, stride = spec
            layer = (k.MaxPooling2D if kind == "maxpool" else k.AveragePooling2D)(size, stride)
        elif kind == "flatten":
            layer = k.Flatten()
        elif kind == "dense":
            layer = k.Dense(spec[1])
        else:
            raise ValueError(f"unknown layer kind {kind!r} in {spec!r}")
        x = layer(x)
        rows.append((tuple(int(d) for d in x.shape[1:]), int(layer.count_params())))
    return rows


def _layer_row_diagnosis(spec, shape_in, expected, got):
    """Why a student's (shape, params) row for ``spec`` differs from Keras's, when a usual mistake explains it."""
    (exp_shape, exp_params), (got_shape, got_params) = expected, got
    kind = spec[0]
    if kind in ("maxpool", "avgpool", "flatten") and got_params != 0:
        return "pooling and flattening have no parameters: they only rearrange or summarise values"
    if kind == "conv" and got_params != exp_params:
        _, f, k, _, _ = spec
        c = shape_in[-1]
        if got_params == k * k * c * f:
            return "the conv layer's bias is missing: each filter has one bias (+F)"
        if got_params == k * k * f + f:
            return "the kernel's depth is missing: each filter spans all C_in input channels (K*K*C_in*F + F)"
        if got_params == (k * k + 1) * c * f:
            return "the bias is counted per input channel: each filter has one bias, (K*K*C_in + 1)*F"
    if kind == "dense" and got_params != exp_params:
        units, d = spec[1], shape_in[-1] if len(shape_in) == 1 else None
        if d is not None and got_params == d * units:
            return "the dense layer's bias is missing: D*units + units"
        if len(shape_in) > 1:
            return "a dense layer needs a flat input: flatten first"
    if kind == "conv" and got_shape != exp_shape and len(shape_in) == 3:
        _, f, k, s, p = spec
        h, w, _ = shape_in
        if got_shape == ((h - k) // s + 1, (w - k) // s + 1, f):
            return "the padding is ignored in the output size: use (H + 2P - K) // S + 1"
        if got_shape == (h + 2 * p - k + 1, w + 2 * p - k + 1, f):
            return "the stride is ignored in the output size: divide by S"
        if got_shape[:2] == exp_shape[:2] and got_shape[2] == shape_in[2]:
            return "a conv layer's output has one channel per filter (F), not the input's channel count"
    if kind in ("maxpool", "avgpool") and got_shape != exp_shape and len(shape_in) == 3:
        _, size, stride = spec
        h, w, c = shape_in
        if got_shape == (h - size + 1, w - size + 1, c):
            return "the pooling stride is ignored in the output size: (H - size) // stride + 1"
    if kind == "flatten" and got_shape != exp_shape:
        return "flatten gives one axis holding H*W*C values"
    return None


def check_layer_table(layer_table, layers, input_shape, network="the network"):
    """Check ``layer_table(layers, input_shape)``: each layer's output shape and parameter count.

    Arguments:
        layer_table: the student's function; it returns one ``(output_shape, params)``
            per layer spec, the shape without the batch axis as a tuple of ints.
        layers: the network as specs (see :func:`_keras_layer_rows` for the format).
        input_shape: (H, W, C).
        network: its name, for messages.

    The expected rows come from building the same layers in Keras
    (``layer.output.shape``, ``layer.count_params()``).

    Raises:
        CheckFailed: at the first layer that differs, with a diagnosis.
    """
    expected = _keras_layer_rows(layers, input_shape)
    case = Case({"layers": list(layers), "input_shape": tuple(input_shape)}, network)
    got = _call_student("layer_table", layer_table, case, allow_reference=False)
    try:
        rows = [(tuple(int(d) for d in shape), int(params)) for shape, params in got]
    except Exception as err:  # noqa: BLE001
        raise CheckFailed(f"layer_table must return a list of (output_shape, params) pairs, one per layer; "
                          f"got {type(got).__name__} ({type(err).__name__}: {err})") from None
    if len(rows) != len(expected):
        raise CheckFailed(f"layer_table returned {len(rows)} rows for the {len(layers)} layers of {network}")
    shape_in = tuple(input_shape)
    for number, (spec, want, have) in enumerate(zip(layers, expected, rows), 1):
        if want != have:
            lines = [f"layer_table is wrong for {network} at layer {number} {spec!r} (input {shape_in}):",
                     f"  expected output shape {want[0]} and {want[1]:,} parameters (Keras),",
                     f"  got output shape {have[0]} and {have[1]:,} parameters"]
            why = _layer_row_diagnosis(spec, shape_in, want, have)
            if why:
                lines.append(f"  diagnosis: {why}")
            raise CheckFailed("\n".join(lines))
        shape_in = want[0]
    total = sum(p for _, p in rows)
    print(f"layer_table: all {len(rows)} layers of {network} agree with Keras ({total:,} parameters).")


def _pair_of(v):
    return (int(v), int(v)) if np.isscalar(v) else tuple(int(a) for a in v)


class _QuadrantModel:
    """A classifier whose scores depend only on the top-left quadrant of the image.

    ``predict(batch)`` maps (N, H, W, C) images to (N, 3) probabilities; the
    logits are fixed functions of the mean value of each channel in the
    top-left quadrant. Occluding anything else changes nothing.
    """

    def __init__(self, h, w, c, seed):
        rng = np.random.default_rng(seed)
        self.h, self.w = h // 2, w // 2
        self.weights = rng.normal(size=(c, 3)) * 4
        self.bias = rng.normal(size=3)

    def predict(self, batch):
        batch = np.asarray(batch, dtype=np.float64)
        features = batch[:, :self.h, :self.w, :].mean(axis=(1, 2))
        logits = np.tanh(features @ self.weights) * 3 + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


# (H, W, C, patch, stride, fill, label)
_OCCLUSION_PUBLIC = [(8, 8, 1, 2, 2, 0.0, 0), (10, 12, 3, 3, 1, 0.5, 2), (9, 7, 2, (2, 3), (1, 2), 0.0, 1)]
_OCCLUSION_HIDDEN = [(12, 10, 1, 4, 2, 0.0, 1), (7, 9, 3, (3, 2), (2, 1), 0.25, 0), (6, 6, 2, 1, 1, 1.0, 2)]


def _occlusion_cases(suite):
    rng = _rng(16, suite)
    table = _OCCLUSION_PUBLIC + (_OCCLUSION_HIDDEN if suite == "hidden" else [])
    cases = []
    for number, (h, w, c, patch, stride, fill, label) in enumerate(table):
        model = _QuadrantModel(h, w, c, seed=100 + number)
        cases.append(Case({"predict_fn": model.predict, "image": rng.random((h, w, c)), "label": label,
                           "patch_size": patch, "stride": stride, "fill": fill},
                          "the model looks only at the top-left quadrant"))
    return cases


def _shifted_stride_map(predict_fn, image, label, patch_size, stride, fill, transpose=False):
    """Occlusion drop with every patch at (i, j) stride 1 (a 'stride ignored' map), or with axes swapped."""
    from .viz import occlusion_map

    if transpose:
        ph, pw = _pair_of(patch_size)
        sh, sw = _pair_of(stride)
        flipped = occlusion_map(lambda b: predict_fn(np.swapaxes(b, 1, 2)), np.swapaxes(image, 0, 1), label,
                                (pw, ph), (sw, sh), fill)
        return flipped.T
    return occlusion_map(predict_fn, image, label, patch_size, 1, fill)


def check_occlusion_map(occlusion_map, suite="public", allow_reference=False):
    """Check ``occlusion_map(predict_fn, image, label, patch_size, stride, fill)`` against cnnlib.viz.

    Each case's classifier depends only on the top-left quadrant of the image,
    so the right map is zero wherever the patch misses that quadrant. Entry
    [i, j] is p(label | image) minus p(label | image with the patch at
    (i*stride, j*stride) set to ``fill``).

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    from . import viz

    def reference(predict_fn, image, label, patch_size, stride, fill):
        return viz.occlusion_map(predict_fn, image, label, patch_size, stride, fill)

    def drop_from(fn):
        return _same_as(fn)

    mistakes = [
        Mistake("the map holds p(label) of the occluded images; the course's map is the drop, "
                "p(label | original) - p(label | occluded), so that high means important",
                drop_from(lambda predict_fn, image, label, patch_size, stride, fill:
                          predict_fn(image[None])[0, label] - reference(predict_fn, image, label, patch_size,
                                                                        stride, fill))),
        Mistake("the drop has the wrong sign: p(label | original) - p(label | occluded)",
                drop_from(lambda **a: -reference(**a))),
        Mistake("the stride is ignored: patch (i, j) starts at row i*stride, column j*stride",
                drop_from(lambda **a: _shifted_stride_map(**a))),
        Mistake("rows and columns are swapped: entry [i, j] is the patch at row i*sh, column j*sw "
                "(patch_size and stride are (rows, columns))",
                drop_from(lambda **a: _shifted_stride_map(**a, transpose=True))),
        Mistake("the patch is filled with 0 whatever `fill` says",
                drop_from(lambda **a: reference(**{**a, "fill": 0.0}))),
        Mistake("the map must have one entry per patch position: "
                "((H - patch_h) // stride_h + 1, (W - patch_w) // stride_w + 1)",
                lambda case, got: got.ndim != 2),
    ]
    _run_cases("occlusion_map", occlusion_map, _occlusion_cases(suite), reference, mistakes,
               allow_reference=allow_reference, rtol=1e-6, atol=1e-9)


def _quadrant_keras_model(h, w, c, seed):
    """A small Keras CNN (logits out) whose class scores use only the top-left quadrant's activations."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    k = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((h, w, c)), k.Conv2D(4, 3, padding="same", activation="tanh"),
                                 k.Flatten(), k.Dense(3)])
    conv_w = rng.normal(size=(3, 3, c, 4)).astype(np.float32)
    conv_b = rng.normal(size=4).astype(np.float32) * 0.1
    mask = np.zeros((h, w, 4), np.float32)
    mask[:h // 2 - 1, :w // 2 - 1, :] = 1.0        # the receptive fields stay inside the quadrant
    dense_w = (rng.normal(size=(h * w * 4, 3)) * mask.reshape(-1, 1)).astype(np.float32)
    model.set_weights([conv_w, conv_b, dense_w, np.zeros(3, np.float32)])
    return model


def _input_gradient(model, image, label):
    import tensorflow as tf

    x = tf.convert_to_tensor(np.asarray(image, dtype=np.float32)[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = model(x)[0, label]
    return tape.gradient(score, x)[0].numpy().astype(np.float64)


def check_saliency_map(saliency_map, suite="public", allow_reference=False):
    """Check ``saliency_map(model, image, label)`` (max over channels of |d score / d pixel|) against cnnlib.viz.

    Each case's Keras model uses only the top-left quadrant of the image, so
    the right map is exactly zero outside it. The student may (and should) use
    TensorFlow; calling cnnlib's own saliency_map fails.

    Raises:
        CheckFailed: on the first case that disagrees, with a diagnosis.
    """
    from . import viz

    rng = _rng(17, suite)
    table = [(8, 8, 1, 0), (10, 12, 3, 2)] + ([(12, 9, 2, 1), (6, 10, 3, 0)] if suite == "hidden" else [])
    cases = [Case({"model": _quadrant_keras_model(h, w, c, seed=200 + i), "image": rng.random((h, w, c)),
                   "label": label}, "the model looks only at the top-left quadrant")
             for i, (h, w, c, label) in enumerate(table)]

    def gradient_variant(reduce):
        return _same_as(lambda model, image, label: reduce(_input_gradient(model, image, label)))

    mistakes = [
        Mistake("the absolute value is missing: saliency is the size of the gradient, max |g| over channels",
                gradient_variant(lambda g: g.max(axis=-1))),
        Mistake("the channels are summed: take the maximum of |gradient| over the channel axis",
                gradient_variant(lambda g: np.abs(g).sum(axis=-1))),
        Mistake("the channels are averaged: take the maximum of |gradient| over the channel axis",
                gradient_variant(lambda g: np.abs(g).mean(axis=-1))),
        Mistake("the map keeps the channel axis: reduce |gradient| with a max over it, giving (H, W)",
                lambda case, got: got.shape == case.args["image"].shape and got.ndim == 3),
        Mistake("the gradient is taken of another class's score: use model(x)[0, label]",
                lambda case, got: any(_difference(np.abs(_input_gradient(case.args["model"], case.args["image"], c))
                                                  .max(axis=-1), got, 1e-4, 1e-6) is None
                                      for c in range(3) if c != case.args["label"])),
    ]

    def reference(model, image, label):
        return viz.saliency_map(model, image, label)

    _run_cases("saliency_map", saliency_map, cases, reference, mistakes, allow_reference=allow_reference,
               rtol=1e-4, atol=1e-6, forbid=frozenset({"cnnlib"}))
