"""Feedback and Validate a student can read: one line per test first, no hidden-test code, offline maths.

Covers cnnlib.grading.results (the summary), cnnlib.grading.validate (the Validate button's
answer, run on a real kernel) and tools/feedback.py (the feedback page), then the whole
`nbgrader generate_feedback` of the course on a graded submission with a known mistake.
The hub test (tests/test_hub_browser.py) shows the same pages in Chromium.
"""

import html
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cnnlib.grading.results import cell_results, summary_lines
from tools import course as C
from tools.feedback import FeedbackExporter, ReadableTestResults, put_back_math, take_out_math

ASSIGNMENT = "a1_convolution"


def _test_cell(grade_id, points, source="grading.check_it(it)", outputs=(), score=None):
    meta = {"grade": True, "solution": False, "locked": True, "points": points, "grade_id": grade_id,
            "schema_version": 3}
    if score is not None:
        meta["score"] = score
    cell = new_code_cell(source, metadata={"nbgrader": meta})
    cell.outputs = list(outputs)
    return cell


def _error(ename, evalue, traceback=("frame 1", "frame 2")):
    return new_output("error", ename=ename, evalue=evalue, traceback=list(traceback))


CHECK_MESSAGE = ("conv2d is wrong on case 3 of 5:\n  case: stride=2\n"
                 "  diagnosis: the stride is applied to the rows only: the columns must step by it too")


def _graded_notebook():
    return new_notebook(cells=[
        new_markdown_cell("The size is $\\lfloor (W + 2P - K) / S \\rfloor + 1$ and `$HOME` is code."),
        _test_cell("test_zero_pad", 10, score=10),
        _test_cell("test_conv2d", 40, "grading.check_conv2d(conv2d)\n### BEGIN HIDDEN TESTS\n"
                   "grading.check_conv2d(conv2d, suite='hidden')\n### END HIDDEN TESTS",
                   [_error("CheckFailed", CHECK_MESSAGE, ["Cell In[3], line 3", "----> 3 grading.check_conv2d("
                                                          "conv2d, suite='hidden')", "CheckFailed: ..."])],
                   score=0),
        _test_cell("test_edges", 10, outputs=[_error("NameError", "name '<b>edges</b>' is not defined")], score=0),
    ])


def test_results_say_what_passes_and_what_fails_one_line_each():
    results = cell_results(_graded_notebook())
    assert [(r.name, r.passed) for r in results] == [("test_zero_pad", True), ("test_conv2d", False),
                                                     ("test_edges", False)]
    lines = summary_lines(results)
    assert lines[0] == "1 of 3 tests pass (10 of 60 points)."
    assert re.fullmatch(r"\s+pass\s+test_zero_pad\s+10 / 10", lines[1])
    assert lines[2].split()[:5] == ["FAIL", "test_conv2d", "0", "/", "40"]
    assert lines[2].endswith("the stride is applied to the rows only: the columns must step by it too")
    assert lines[3].endswith("NameError: name '<b>edges</b>' is not defined")
    # the check's whole message is kept for the details; a plain error also keeps its traceback
    assert results[1].message == CHECK_MESSAGE and results[1].traceback == ""
    assert "frame 1" in results[2].traceback


def test_an_ungraded_notebook_is_scored_by_nbgraders_rule():
    nb = new_notebook(cells=[_test_cell("t1", 5), _test_cell("t2", 5, outputs=[
        new_output("stream", name="stderr", text="a warning\n")])])
    results = cell_results(nb)
    assert [(r.score, r.passed) for r in results] == [(5.0, True), (0.0, False)]
    assert "stderr" in results[1].headline


def test_feedback_preprocessor_puts_results_first_and_no_test_code():
    nb, _ = ReadableTestResults().preprocess(_graded_notebook(), {})
    table = nb.cells[0].source
    assert table.startswith('<div class="cnn-results">')
    assert "the stride is applied to the rows only" in table
    assert "<b>edges</b>" not in table and "&lt;b&gt;edges&lt;/b&gt;" in table   # escaped
    conv = nb.cells[3]
    assert conv.outputs[0].traceback == [CHECK_MESSAGE]                          # no code lines
    assert nb.cells[4].outputs[0].traceback == ["NameError: name '<b>edges</b>' is not defined"]


def test_maths_becomes_mathml_but_code_stays_code():
    text, maths = take_out_math("Inline $W + 2P$, display $$\\frac{a}{b}$$, code `$x$`, money \\$5.\n"
                                "```\nprint('$not math$')\n```")
    assert len(maths) == 2 and "$x$" in text and "$not math$" in text and "\\$5" in text
    assert maths[0].startswith("<math") and 'display="block"' in maths[1] and "<mfrac>" in maths[1]
    assert put_back_math(text, maths).count("<math") == 2


def test_feedback_exporter_writes_mathml_and_loads_no_mathjax():
    exporter = FeedbackExporter(template_name="classic")
    page, _ = exporter.from_notebook_node(_graded_notebook())
    assert "<math" in page and "\\lfloor" not in page
    assert not re.search(r"<script[^>]*mathjax", page, re.I) and "MathJax.Hub" not in page
    assert "$HOME" in html.unescape(page)


@pytest.mark.slow
def test_validate_answers_with_the_summary_before_any_traceback(tmp_path):
    from cnnlib.grading.validate import validate_notebook

    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[
        new_code_cell("from cnnlib.grading import CheckFailed"),
        _test_cell("test_good", 10, "x = 1"),
        _test_cell("test_bad", 20, f"raise CheckFailed({CHECK_MESSAGE!r})"),
        _test_cell("test_name", 5, "undefined_name"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}), path)
    answer = validate_notebook(path)
    first, second = answer["failed"]
    assert first["source"] == f"raise CheckFailed({CHECK_MESSAGE!r})"
    text = first["raw_error"]
    summary, details = text.split("\n\n", 1)
    assert summary.splitlines()[0] == "1 of 3 tests pass (10 of 35 points)."
    assert [line.split()[0] for line in summary.splitlines()[1:]] == ["pass", "FAIL", "FAIL"]
    assert "Traceback" not in text and details.startswith("test_bad: conv2d is wrong on case 3 of 5")
    assert second["raw_error"].startswith("test_name: NameError: name 'undefined_name' is not defined")
    assert "The traceback:" in second["raw_error"]
    assert html.escape(text) == first["error"]

    nbformat.write(new_notebook(cells=[_test_cell("test_good", 10, "x = 1")], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}), path)
    assert validate_notebook(path) == {}


@pytest.mark.slow
def test_generate_feedback_on_a_graded_mistake(tmp_path):
    course = C.make_course(tmp_path / "course", [ASSIGNMENT])
    C.release(course, ASSIGNMENT)
    fixture = C.read_fixture(C.ROOT / "tests" / "fixtures" / ASSIGNMENT / "stride_rows_only.py")
    C.submit(course, ASSIGNMENT, "bob", {**C.solution_fill(ASSIGNMENT), **fixture.cells})
    C.run_nbgrader(course, "autograde", ASSIGNMENT)
    C.run_nbgrader(course, "generate_feedback", ASSIGNMENT)
    page = (course / "feedback" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    text = C.feedback_text(course, ASSIGNMENT, "bob")
    assert "Your results" in text and "5 of 6 tests pass (60 of 100 points)." in text
    assert "the stride is applied to the rows only: the columns must step by it too" in text
    assert "HIDDEN TESTS" not in page and "suite=" not in html.unescape(page)
    assert "mathjax" not in page.lower() and page.count("<math") > 10
    assert not re.search(r"\$[^$\n]+\$", re.sub(r"<code>.*?</code>", "", text))
