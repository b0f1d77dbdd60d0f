"""What each test cell of an executed notebook says: one line per test, passes and failures alike.

Validate (:mod:`cnnlib.grading.validate`) and the feedback pages (``tools/feedback.py``)
both start with this summary, so a student reads what passes and what fails, and why,
before any traceback::

    4 of 6 tests pass (45 of 100 points).
      pass  test_zero_pad           10 / 10
      FAIL  test_conv2d              0 / 40   the stride is applied to the rows only: ...

A test cell is an nbgrader cell with ``grade: true`` that is not a solution cell. Its
score is nbgrader's: the one the gradebook wrote into the cell's metadata (feedback),
or, for a notebook just executed (Validate), nbgrader's own rule (an error or anything
on stderr scores 0).
"""

import re
from dataclasses import dataclass

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class CellResult:
    """One test cell: its name (nbgrader's grade_id), points, score, source and what went wrong."""

    name: str
    points: float
    score: float
    source: str = ""
    message: str = ""       # the check's whole message ("" when the test passes)
    traceback: str = ""     # only for errors that are not a check's verdict (a NameError, ...)

    @property
    def passed(self):
        return self.score >= self.points and not self.message

    @property
    def headline(self):
        """The diagnosis when the check found one, else the message's first line."""
        lines = [line.strip() for line in self.message.splitlines() if line.strip()]
        for line in lines:
            if line.startswith("diagnosis:"):
                return line[len("diagnosis:"):].strip()
        return lines[0] if lines else ""


def strip_ansi(text):
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


def is_test_cell(cell):
    """True for an autograded test cell (nbgrader metadata ``grade`` and not ``solution``)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


def _failure(cell):
    """(message, traceback) of a test cell's outputs: the exception's message, never its code lines."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            name, value = output.get("ename", "Error"), strip_ansi(output.get("evalue", ""))
            if name == "CheckFailed":       # the course's checks: the message is the whole story
                return value, ""
            return f"{name}: {value}", strip_ansi("\n".join(output.get("traceback", [])))
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            first = strip_ansi(output.get("text", "")).strip().splitlines()[:1]
            return f"the cell wrote to stderr, which scores 0: {first[0] if first else ''}", ""
    return "", ""


def _score(cell, points):
    meta = cell["metadata"]["nbgrader"]
    if meta.get("score") is not None:
        return float(meta["score"])
    from nbgrader.utils import determine_grade   # nbgrader's rule for an executed, ungraded cell

    score, _ = determine_grade(cell)
    return float(score if score is not None else points)


def cell_results(nb):
    """A :class:`CellResult` per test cell of ``nb`` (a NotebookNode or dict), in notebook order."""
    results = []
    for cell in nb["cells"]:
        if not is_test_cell(cell):
            continue
        meta = cell["metadata"]["nbgrader"]
        points = float(meta.get("points", 0))
        score = _score(cell, points)
        message, traceback = _failure(cell)
        if not message and score < points:
            message = f"partial credit: {score:g} of {points:g} points"
        results.append(CellResult(meta.get("grade_id", "test"), points, score, cell.get("source", ""),
                                  message, traceback))
    return results


def summary_lines(results):
    """The summary as lines of text: a count, then ``pass``/``FAIL``, name, score and headline per test."""
    passed = sum(r.passed for r in results)
    score, points = sum(r.score for r in results), sum(r.points for r in results)
    width = max((len(r.name) for r in results), default=0)
    lines = [f"{passed} of {len(results)} tests pass ({score:g} of {points:g} points)."]
    for r in results:
        verdict = "pass" if r.passed else "FAIL"
        line = f"  {verdict}  {r.name:<{width}}  {r.score:>3g} / {r.points:g}"
        lines.append(f"{line}   {r.headline}" if not r.passed else line)
    return lines
