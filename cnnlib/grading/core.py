"""The machinery every check shares: cases, known mistakes, running the student's code, the report.

A check builds :class:`Case` objects, a reference function and a list of
:class:`Mistake` objects, and hands them to :func:`run_cases`. That calls the
student's function on each case through :func:`call_student` (which notices
calls into cnnlib, TensorFlow, PyTorch or SciPy's filters), compares the result
with the reference, and on the first disagreement raises :class:`CheckFailed`
naming the case, the first differing entry and the mistake that explains it.

The checks set ``__tracebackhide__``: IPython then leaves their frames out of
the traceback a student sees, so the feedback shows the failing test line and
the message.
"""

import os
import re
import sys
from dataclasses import dataclass

import numpy as np

from ..gradcheck import relative_error

RTOL = 1e-7
ATOL = 1e-9
GRADCHECK_TOL = 1e-6


class CheckFailed(AssertionError):
    """A student function disagrees with the reference; the message says where and why."""


class PartialCredit(CheckFailed):
    """Part of a test cell's points: ``fraction`` (between 0 and 1) of them, and why not all.

    In a notebook it fails the cell like any check; the grader, which decides every
    score in its own process, gives the cell that share of its points instead.
    """

    def __init__(self, fraction, message):
        super().__init__(message)
        self.fraction = float(fraction)


def award(share, text, advice):
    """Report a measured result worth ``share`` (0 to 1) of a test cell's points.

    Full points print ``text``; none raise :class:`CheckFailed` with ``text`` and ``advice`` (what
    to try next); anything between raises :class:`PartialCredit` for that share.
    """
    if share == 1.0:
        print(text)
        return
    if share == 0.0:
        raise CheckFailed(f"{text}. {advice}")
    raise PartialCredit(share, text)


# What a check prints in a student's kernel during grading when the grader, not the
# notebook, measures the answer (a model the grader trains itself): the notebook's own
# result then says nothing the grader could compare.
DECIDED_BY_GRADER = "(measured by the grader, outside your notebook)"


def grading_run():
    """True in a student's kernel while the course's grader runs the notebook."""
    return os.environ.get("CNN_COURSE_GRADING") == "1"



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
            elif isinstance(value, dict) and any(isinstance(v, np.ndarray) for v in value.values()):
                shapes = ", ".join(f"{k}: {np.shape(v)}" for k, v in value.items())
                parts.append(f"{name}={{{shapes}}}")
            elif isinstance(value, (tuple, list)) and any(isinstance(v, (np.ndarray, dict, tuple, list))
                                                          for v in value):
                parts.append(f"{name}=<{type(value).__name__} of {len(value)} items>")
            elif isinstance(value, list) and len(value) > 4:
                parts.append(f"{name}=<{len(value)} items>")
            else:
                parts.append(f"{name}={value!r}")
        text = ", ".join(parts)
        return f"{text}  ({self.note})" if self.note else text

    def copy_args(self):
        """Fresh copies, so a student function that writes into its inputs spoils nothing.

        Arrays are copied, also inside dicts, lists and tuples (a network's ``params``)."""
        return {k: _fresh(v) for k, v in self.args.items()}


def _fresh(value):
    """A copy of the arrays in ``value``, however deep in dicts, lists and tuples; other values as they are."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and any(isinstance(v, (np.ndarray, dict, list, tuple)) for v in value):
        return type(value)(_fresh(v) for v in value)
    return value


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


def same_as(wrong):
    """A test for :class:`Mistake`: the student's output equals ``wrong(**case.args)``."""
    def explains(case, got):
        try:
            value = np.asarray(wrong(**case.args), dtype=np.float64)
        except Exception:  # noqa: BLE001 - any error means the variant does not apply to this case
            return False
        return measure_difference(value, got) is None
    return explains


def variant_outputs(fn, index):
    """``fn``'s result, or its ``index``-th part when it returns a tuple."""
    if index is None:
        return fn
    return lambda **kw: fn(**kw)[index]


# ---------------------------------------------------------------------------
# Running the student's function
# ---------------------------------------------------------------------------

_GRADING_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_CNNLIB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_LIBRARY_MARKERS = {
    f"{os.sep}tensorflow{os.sep}": "TensorFlow",
    f"{os.sep}keras{os.sep}": "TensorFlow",
    f"{os.sep}torch{os.sep}": "PyTorch",
    f"{os.sep}scipy{os.sep}signal{os.sep}": "SciPy",
    f"{os.sep}scipy{os.sep}ndimage{os.sep}": "SciPy",
}


def _library_of(filename):
    """'cnnlib', 'TensorFlow', ... when the code in ``filename`` is a reference library.

    cnnlib.grading itself is 'grading': the models and predict functions the
    checks hand to students live there, and students may call those.
    """
    if filename.startswith(_GRADING_DIR):
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


@dataclass
class Outcome:
    """What one call of a student's function gave.

    result: its return value (None when it raised). error: ``(exception type name,
    message)`` when it raised, else None. used: ``(library, qualified name)`` of the
    first reference-library function it called, else None. exception: the exception
    itself when the call ran in this process (for the traceback), else None.
    """

    result: object = None
    error: tuple = None
    used: tuple = None
    exception: BaseException = None


class Remote:
    """A student's function that lives in another process (the grader's sandboxed kernel).

    The grader hands a check an instance of a subclass instead of the function
    itself; :func:`invoke` then asks :meth:`invoke` to make the call where the
    function lives, so the check runs, compares and diagnoses in the grader's own
    process and sees only the data that comes back.
    """

    def invoke(self, args, name, allow_reference, forbid):
        """Call the function with keyword ``args`` where it lives; return an :class:`Outcome`."""
        raise NotImplementedError


def invoke(fn, args, name, allow_reference=False, forbid=REFERENCE_LIBRARIES):
    """Call ``fn(**args)`` and report what happened as an :class:`Outcome`; never raises.

    Unless ``allow_reference``, a profile hook notices the first call from the
    student's code into one of the ``forbid`` libraries (calls into cnnlib's
    :data:`HELPERS`, other than ``name`` itself, are allowed). A :class:`Remote`
    function is invoked where it lives, the same way.
    """
    if isinstance(fn, Remote):
        return fn.invoke(args, name, allow_reference, frozenset(forbid))
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
        # Name the function where students import it (cnnlib.viz.saliency_map, not cnnlib.viz.attribution...).
        package = sys.modules.get(module.rpartition(".")[0])
        if getattr(getattr(package, frame.f_code.co_name, None), "__code__", None) is frame.f_code:
            module = package.__name__
        used.append((library, f"{module}.{frame.f_code.co_qualname}"))

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
        return Outcome(error=(type(err).__name__, str(err)), exception=err, used=used[0] if used else None)
    return Outcome(result=result, used=used[0] if used else None)


def call_student(name, fn, case, allow_reference, forbid=REFERENCE_LIBRARIES, explain=None):
    """Call ``fn(**case.args)``; fail with the case when it raises or leans on a reference library.

    Calls into cnnlib's :data:`HELPERS` (other than the function being checked)
    are allowed; any other call from the student's code into one of the
    ``forbid`` libraries (cnnlib, TensorFlow, PyTorch, SciPy's filters) is reported.

    When the call raises, the failure says why if it can: a parameter renamed in the
    ``def`` line (:func:`_signature_diagnosis`), or whatever ``explain(kind, message,
    case)`` recognises in the error (a check's own known mistakes; None when nothing).
    """
    __tracebackhide__ = True
    outcome = invoke(fn, case.copy_args(), name, allow_reference, forbid)
    if outcome.error is not None:
        kind, message = outcome.error
        why = _signature_diagnosis(name, kind, message, case) or (explain and explain(kind, message, case))
        raise CheckFailed(
            f"{name} raised {kind}: {message}\n"
            f"  case: {case.describe()}\n"
            + (f"  diagnosis: {why}\n" if why else "")
            + "  Run your function on this case yourself and read the traceback above.") from outcome.exception
    if outcome.used is not None:
        library, where = outcome.used
        raise CheckFailed(
            f"{name} calls {where} from {library}.\n"
            f"  case: {case.describe()}\n"
            f"  The assignment asks you to compute this yourself; calling "
            f"{'the course reference' if library == 'cnnlib' else library} does not count.")
    return outcome.result


_UNEXPECTED_KEYWORD = re.compile(r"^[\w.<>]+\(\) got an unexpected keyword argument '(\w+)'")
_MISSING_ARGUMENTS = re.compile(r"^[\w.<>]+\(\) missing \d+ required (?:positional |keyword-only )?arguments?: (.+)$")


def _signature_diagnosis(name, kind, message, case):
    """Why the call itself failed when the student's ``def`` line names its parameters differently, else None.

    Checks call students' functions with keyword arguments, by the names of the
    template's ``def`` line, so a renamed parameter fails before any of the
    student's code runs.
    """
    if kind != "TypeError" or not case.args:
        return None
    expected = ", ".join(case.args)
    unexpected = _UNEXPECTED_KEYWORD.match(message)
    if unexpected and unexpected.group(1) in case.args:
        return (f"the checks call {name} with keyword arguments named as in the template's def line "
                f"({expected}), and your {name} has no parameter named {unexpected.group(1)!r}: "
                f"give your parameters exactly those names")
    missing = _MISSING_ARGUMENTS.match(message)
    if missing:
        names = re.findall(r"'(\w+)'", missing.group(1))
        if names and not set(names) & set(case.args):
            return (f"your {name} requires {', '.join(map(repr, names))}, which the checks do not pass: they call "
                    f"it with the template's parameters only ({expected}); rename your parameters to those, or "
                    f"give any extra one a default value")
    return None


def as_array(got, what):
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


def measure_difference(expected, got, rtol=RTOL, atol=ATOL):
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


def describe_difference(what, diff):
    if diff["shape"]:
        return f"{what} has shape {diff['got']}, expected {diff['expected']}"
    where = f"[{', '.join(map(str, diff['index']))}]" if diff["index"] else ""
    return (f"{what}{where} = {diff['got']:.8g}, expected {diff['expected']:.8g} "
            f"({diff['count']} of {diff['size']} entries differ)")


def run_cases(name, fn, cases, reference, mistakes, outputs=None, allow_reference=False,
               rtol=RTOL, atol=ATOL, forbid=None, validate=None, explain=None):
    """Run every case; raise :class:`CheckFailed` with a diagnosis at the first disagreement.

    ``outputs`` names the parts of a tuple result (e.g. ``("dx", "dw", "db")``);
    None means a single array. ``forbid``: the libraries the student's code may
    not call (default :data:`REFERENCE_LIBRARIES`). ``validate(got)`` may return a
    message that fails the case whatever the values (e.g. a float where an int is due).
    ``explain``: passed to :func:`call_student`, to name mistakes that make the function raise.
    """
    __tracebackhide__ = True
    for number, case in enumerate(cases, 1):
        expected = reference(**case.copy_args())
        got = call_student(name, fn, case, allow_reference, forbid or REFERENCE_LIBRARIES, explain)
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
            arr, why = as_array(part_got, label)
            if why:
                problems.append((label, why, None))
                continue
            diff = measure_difference(part_expected, arr, rtol, atol)
            if diff:
                problems.append((label, describe_difference(label, diff), arr))
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


def suite_rng(seed, suite):
    if suite not in ("public", "hidden"):
        raise ValueError(f"suite must be 'public' or 'hidden', got {suite!r}")
    return np.random.default_rng(seed + (0 if suite == "public" else 1000))


def report_gradcheck(name, what, analytic, numeric):
    __tracebackhide__ = True
    arr, why = as_array(analytic, what)
    if why or arr.shape != numeric.shape:
        raise CheckFailed(f"{name} gradient check: {why or f'{what} has shape {arr.shape}, expected {numeric.shape}'}")
    err = relative_error(arr, numeric)
    if err > GRADCHECK_TOL:
        raise CheckFailed(f"{name} gradient check: {what} differs from central differences, relative error "
                          f"{err:.2e} (tolerance {GRADCHECK_TOL:.0e})")
    print(f"{name} gradient check: {what} relative error {err:.1e}")


# ---------------------------------------------------------------------------
# Families of mistakes (added for Assignment 5; used by Assignments 2 and 5)
#
# A known mistake can be spelled many ways: a gradient that should be summed over
# the batch may hold the last example's share, the first one's, the mean, or all
# but one of them. Instead of one Mistake per spelling, these helpers decompose
# the student's output into per-example contributions and name the family.
# ---------------------------------------------------------------------------

def _example_weights(per_example, got, rtol=1e-7):
    """Weights c with ``got == sum_n c[n] * per_example[n]``, or None when no such weights are found.

    ``per_example``: array (N, *shape), each example's own contribution to a
    quantity that should be their plain sum (weights all 1). When there are
    more numbers than examples the weights are solved by least squares;
    otherwise (say a gradient of 2 numbers from a batch of 4) only the usual
    weightings are tried: one example, all but one, the same factor for all.
    """
    basis = np.asarray(per_example, dtype=np.float64).reshape(len(per_example), -1)
    target = np.asarray(got, dtype=np.float64).reshape(-1)
    if basis.shape[1] != target.size or not np.all(np.isfinite(target)):
        return None
    scale = max(np.abs(target).max(initial=0.0), np.abs(basis).max(initial=0.0), 1e-12)

    def fits(weights):
        return np.abs(basis.T @ weights - target).max(initial=0.0) <= rtol * scale

    if basis.shape[1] > basis.shape[0]:
        weights, _, rank, _ = np.linalg.lstsq(basis.T, target, rcond=None)
        if rank == basis.shape[0]:
            return weights if fits(weights) else None
    total = basis.sum(axis=0)
    n = len(basis)
    factor = float(total @ target / (total @ total)) if total @ total else 1.0
    candidates = [np.full(n, factor)] + [np.eye(n)[k] for k in range(n)] + [1 - np.eye(n)[k] for k in range(n)]
    return next((c for c in candidates if fits(c)), None)


def batch_sum_mistakes(what, per_example, output=None):
    """Mistakes of the family "``what`` is not the sum of every example's contribution".

    ``per_example(case)`` returns the contributions, shape (N, *shape of what).
    Each Mistake recognises one kind of weighting, whatever the code that
    produced it: one example only (the last, as ``=`` instead of ``+=`` gives,
    or another), every example scaled by the same factor (an average over the
    batch, or any other constant), some examples left out (a loop that stops
    early), or unequal weights.
    """
    def weights_are(test):
        def explains(case, got):
            try:
                contributions = per_example(case)
            except Exception:   # noqa: BLE001 - the family does not apply to this case
                return False
            n = len(contributions)
            if np.shape(got) != np.shape(contributions)[1:]:
                return False
            c = _example_weights(contributions, got)
            return c is not None and not np.allclose(c, 1, atol=1e-6) and test(np.round(c, 6), n)
        return explains

    def one_hot(c):
        return len(c) > 1 and np.count_nonzero(np.abs(c) > 1e-6) == 1 and np.isclose(c.max(), 1)

    return [
        Mistake(f"{what} is not summed over the batch: it holds only the last example's gradient "
                f"(= instead of +=)", weights_are(lambda c, n: one_hot(c) and np.isclose(c[-1], 1)), output),
        Mistake(f"{what} is not summed over the batch: it holds only one example's gradient (the loop over the "
                f"batch overwrites it or stops early); add every example's gradient",
                weights_are(lambda c, n: one_hot(c)), output),
        Mistake(f"{what} is averaged over the batch: the gradient of a sum is summed, not averaged",
                weights_are(lambda c, n: n > 1 and np.allclose(c, 1 / n, atol=1e-6)), output),
        Mistake(f"{what} is the batch's sum times a constant: each example's gradient must count exactly once "
                f"(no division by the batch size or the number of positions, no extra factor)",
                weights_are(lambda c, n: np.allclose(c, c[0], atol=1e-6)), output),
        Mistake(f"{what} leaves out some examples' gradients: the loop over the batch must visit every example "
                f"(range(N), not range(N - 1) or range(1, N))",
                weights_are(lambda c, n: n > 1 and np.all(np.isclose(c, 0, atol=1e-6) | np.isclose(c, 1, atol=1e-6))),
                output),
        Mistake(f"{what} weights the examples' gradients unequally: sum every example's gradient once",
                weights_are(lambda c, n: n > 1), output),
    ]


# ---------------------------------------------------------------------------
# Families of variants (added for Assignment 5; used by Assignments 5 and 6)
#
# A wrong answer is often the right computation with one or two components
# chosen wrongly (the axes of a statistic, a flatten order, a missing mask).
# A family builds every combination of components from the reference and names
# the component that is wrong in the simplest combination reproducing the output.
# ---------------------------------------------------------------------------

class MistakeFamily:
    """Variants of a reference built from named components; which of them reproduce an output.

    ``build(case)`` yields ``(components, outputs)`` pairs: ``components`` a dict
    naming the choice made for each component, ``outputs`` a dict from output
    name to array. The correct choices are ``correct``. The variants that
    reproduce a given output are found once and kept, so the many Mistakes built
    by :meth:`mistake` cost one pass over the variants per failing output.
    """

    def __init__(self, build, correct):
        self.build, self.correct = build, correct
        self._cache = (None, None, None)   # (key, matching components, unused)

    def matching(self, case, output, got):
        """The components of the variants whose ``output`` equals ``got`` (to the checks' tolerance) with
        the fewest components wrong: the simplest explanations (when the case cannot tell two mistakes
        apart, say a ReLU mask that is all ones, the one that needs fewer is taken)."""
        key = (id(case), output, np.shape(got), np.asarray(got, dtype=np.float64).tobytes())
        if self._cache[0] != key:
            found = []
            for components, outputs in self.build(case):
                value = outputs.get(output)
                if value is not None and np.shape(value) == np.shape(got) and measure_difference(value, got) is None:
                    found.append(components)
            wrong = [sum(c.get(k, v) != v for k, v in self.correct.items()) for c in found]
            self._cache = (key, [c for c, w in zip(found, wrong) if w == min(wrong)], None)
        return self._cache[1]

    def mistake(self, description, output, wrong):
        """A Mistake explained when some variant with ``wrong(components)`` true reproduces the output."""
        return Mistake(description, lambda case, got: any(wrong(c) for c in self.matching(case, output, got)),
                       output)

    def differs(self, component, values=None):
        """``wrong`` for :meth:`mistake`: the component takes one of ``values`` (default: anything but correct)."""
        if values is None:
            return lambda c: component in c and c[component] != self.correct[component]
        return lambda c: c.get(component) in values
