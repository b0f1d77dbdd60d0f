"""A synthetic class of 30 for assignment 1: honest, wrong, blank and hostile submissions.

Each :class:`Case` says how a student changes the notebook they fetched, and what
grading must make of it: the total, the test cells that score 0, the status and a
phrase the reason must contain. ``make grade-demo``, ``tests/test_class.py`` and
``bench/bench_class.py`` all use :func:`cases`.

Hostile code sits in the last answer cell (``vertical_edges``) unless the point is
elsewhere: there it costs 10 points when contained, and every earlier test must keep
its points. ``os._exit`` sits in ``conv_single_step`` to show that the cells after a
dead kernel score 0 with a reason, and the ones before keep theirs.
"""

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tools import course as C

ASSIGNMENT = "a1_convolution"
FIXTURES = C.ROOT / "tests" / "fixtures" / ASSIGNMENT
POINTS = {"test_zero_pad": 10, "test_conv_output_size": 15, "test_conv_single_step": 15,
          "test_conv2d": 40, "test_edges": 10, "test_vertical_edges": 10}
# The class's 11 students with a known mistake: these fixtures of tests/fixtures/a1_convolution (the folder
# holds more; tests/test_assignments.py grades all of them, and the class stays 30 students).
CLASS_FIXTURES = ("bias_in_every_product", "bias_missing", "calls_reference", "edge_kernel_bright_to_dark",
                  "flipped_kernel", "noisy_but_correct", "pad_every_axis", "padding_ignored",
                  "size_without_plus_one", "stride_ignored", "stride_rows_only")


@dataclass
class Case:
    """One student: what they did to the notebook and what grading must say."""

    student: str
    kind: str                                   # correct, mistake, blank, hostile
    what: str                                   # one line, in words
    fill: dict = field(default_factory=dict)    # solution grade_id -> code (None: keep the stub)
    zero: tuple = ()                            # test cells that must score 0
    status: str = "graded"
    reason: str = ""                            # text the reasons must contain
    edit: object = None                         # extra change to the notebook, or to the folder

    @property
    def score(self):
        return sum(points for cell, points in POINTS.items() if cell not in self.zero)


def _answer(code, extra=""):
    return code + ("\n" + extra if extra else "")


def _delete_cell(grade_id):
    def edit(nb, folder):
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
        return nb
    return edit


def _edit_cell(grade_id, source):
    def edit(nb, folder):
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
                cell.source = source
        return nb
    return edit


def _invalid_json(nb, folder):
    (folder / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(nb)[:-40])   # cut off mid-way
    return None


def _renamed(nb, folder):
    nbformat.write(nb, folder / "my_convolution_final.ipynb")
    (folder / f"{ASSIGNMENT}.ipynb").unlink()
    return None


def cases():
    """The 30 students, in a fixed order."""
    answers = C.solution_fill(ASSIGNMENT)
    last = "vertical_edges"
    everything_after_single_step = ("test_conv_single_step", "test_conv2d", "test_edges", "test_vertical_edges")
    out = [Case(f"correct_{i}", "correct", "the instructor's answers") for i in range(1, 6)]
    for name in CLASS_FIXTURES:
        fixture = C.read_fixture(FIXTURES / f"{name}.py")
        out.append(Case(f"mistake_{fixture.name}", "mistake", fixture.mistake, dict(fixture.cells),
                        tuple(fixture.fails), reason=fixture.expect[0]))
    out += [Case(f"blank_{i}", "blank", "opened the notebook and submitted it untouched",
                 {gid: None for gid in answers}, tuple(POINTS), reason="NotImplementedError")
            for i in (1, 2)]
    hostile = [
        ("infinite_loop", "a `while True: pass` loop", {last: "while True:\n    pass\n"},
         ("test_vertical_edges",), "contained", "time-out"),
        ("swallows_interrupt", "a loop that catches KeyboardInterrupt",
         {last: "import time\nwhile True:\n    try:\n        time.sleep(0.2)\n"
                "    except KeyboardInterrupt:\n        pass\n"},
         ("test_vertical_edges",), "contained", "ignored the interrupt"),
        ("sys_exit", "calls sys.exit()", {last: "import sys\nsys.exit()\n"},
         ("test_vertical_edges",), "contained", "sys.exit"),
        ("os_exit", "calls os._exit(1), which ends the kernel",
         {"conv_single_step": "import os\nos._exit(1)\n"}, everything_after_single_step,
         "contained", "kernel died"),
        ("import_error", "imports a module that does not exist",
         {"conv2d": "import cnn_answers_from_last_year\n" + answers["conv2d"]},
         ("test_conv2d", "test_edges"), "graded", "ModuleNotFoundError"),
        ("prints_100mb", "prints 100 MB in one line",
         {"zero_pad": _answer(answers["zero_pad"], "print('x' * 100_000_000)\n")}, (), "contained",
         "output limit"),
        ("allocates_20gb", "tries to allocate 20 GB",
         {last: "big = np.ones(20 * 2**30 // 8)\nvertical_edge_kernel = np.eye(3)\n"},
         ("test_vertical_edges",), "contained", "MemoryError"),
        ("deleted_test_cell", "deleted the test cell of the last question", {},
         ("test_vertical_edges",), "flagged", "deleted"),
        ("edited_test_cell", "replaced test_conv2d by `pass` and wrote no convolution",
         {"conv2d": "def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):\n    return 0\n"},
         ("test_conv2d", "test_edges"), "flagged", "edited"),
        ("redefined_check", "wrote a wrong conv2d and replaced grading.check_conv2d by a no-op",
         {"conv2d": "def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):\n    return 0\n\n"
                    "grading.check_conv2d = lambda *args, **kwargs: None\n"},
         tuple(POINTS), "flagged", "grading.check_conv2d"),
        ("invalid_json", "a notebook file cut off half-way (not valid JSON)", {}, tuple(POINTS), "zero",
         "not valid JSON"),
        ("renamed_file", "renamed the notebook to my_convolution_final.ipynb", {}, tuple(POINTS), "zero",
         "renamed"),
    ]
    edits = {"deleted_test_cell": _delete_cell("test_vertical_edges"),
             "edited_test_cell": _edit_cell("test_conv2d", "pass\n"),
             "invalid_json": _invalid_json, "renamed_file": _renamed}
    for name, what, fill, zero, status, reason in hostile:
        out.append(Case(f"hostile_{name}", "hostile", what, fill, zero, status, reason, edits.get(name)))
    return out


def write_submission(case, folder):
    """Turn the fetched (released) notebook in ``folder`` into ``case``'s submission."""
    folder = Path(folder)
    path = folder / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    answers = C.solution_fill(ASSIGNMENT)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            code = case.fill.get(gid, answers[gid])
            if code is not None:
                cell.source = code
    if case.edit is not None:
        nb = case.edit(nb, folder)
    if nb is not None:
        nbformat.write(nb, path)


def submit_directly(course, case):
    """Put ``case``'s submission in ``course``/submitted without the exchange (for grading tests)."""
    folder = Path(course) / "submitted" / case.student / ASSIGNMENT
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(Path(course) / "assignments" / ASSIGNMENT, folder)
    write_submission(case, folder)
    return folder
