"""A student's grading status and its reasons, decided by one function from facts gathered first.

The grader (:mod:`tools.grade`) first gathers the :class:`Facts` of a submission: why it
could not be graded at all (screening or nbgrader said so), what screening flagged, the
scores the gradebook holds, and the :class:`Event` s the autograded notebooks show
(:func:`notebook_events`). Then :func:`decide_status` turns the facts into a :class:`Result`:

    zero        could not be graded: explicit 0 on every test cell, and why
    flagged     tampering (screening flagged it, or the notebook's own check and the
                grader's disagreed): the test cells it invalidates score 0
    contained   graded; the code hit a limit (time, memory, output) or stopped its kernel,
                and the cells it spoiled score 0
    graded      graded normally (a wrong answer is still just graded)

in that order of precedence: the first that applies is the status.
"""

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tools.preprocessors import NOT_RUN, STOPPED
from tools.trusted import SUSPECTED

__all__ = ["Result", "Facts", "Event", "notebook_events", "decide_status", "INCIDENTS", "OUTPUT_CUT", "UNSAFE"]

# Errors in a student's cells that mean the grader had to contain something.
INCIDENTS = {STOPPED: "kernel stopped", "CellTimeoutError": "time-out", "MemoryError": "memory limit",
             "SystemExit": "sys.exit", "KeyboardInterrupt": "interrupted"}
OUTPUT_CUT = "... output cut:"
UNSAFE = "UNSAFE: graded without a sandbox (--unsafe-no-sandbox)"


@dataclass
class Result:
    """How one student's submission was graded.

    status: ``graded``, ``contained``, ``flagged`` or ``zero`` (see the module's docstring).
    """

    student: str
    status: str = "graded"
    score: float = 0.0
    max_score: float = 0.0
    cells: dict = field(default_factory=dict)      # test cell grade_id -> score
    reasons: list = field(default_factory=list)
    seconds: float = 0.0
    sandboxed: bool = True


@dataclass
class Event:
    """Something an autograded notebook shows about one cell (``where``: its grade_id or "code cell N").

    kind: ``cut`` (printed past the output limit), ``suspected`` (a test cell whose notebook
    result and the grader's disagree), ``incident`` (a limit hit or the kernel stopped),
    ``lost`` (a test cell that lost points, and the error), ``error`` (the student's own
    cell raised). ``text`` is the reason as the report writes it.
    """

    where: str
    kind: str
    text: str


@dataclass
class Facts:
    """Everything known about one graded submission, gathered before anything is decided."""

    student: str
    sandboxed: bool = True
    fatal: str = None                               # why it could not be graded at all, or None
    flags: list = field(default_factory=list)       # screening's flags (each has .kind and a str)
    cells: dict = field(default_factory=dict)       # test cell grade_id -> score, from the gradebook
    max_score: float = 0.0
    events: list = field(default_factory=list)      # [Event], from the autograded notebooks


def decide_status(facts):
    """The :class:`Result` the facts call for: status, score and reasons (the report's order).

    Reasons: the unsafe-mode warning first when graded without a sandbox; then, for a
    submission that could not be graded, why; else screening's flags, then the
    notebooks' events in cell order.
    """
    result = Result(facts.student, cells=dict(facts.cells), score=sum(facts.cells.values()),
                    max_score=facts.max_score, sandboxed=facts.sandboxed)
    kinds = {event.kind for event in facts.events}
    if facts.fatal is not None:
        result.status, result.reasons = "zero", [facts.fatal]
    else:
        result.reasons = [f"{flag.kind}: {flag}" for flag in facts.flags] + [e.text for e in facts.events]
        if facts.flags or "suspected" in kinds:
            result.status = "flagged"
        elif kinds & {"incident", "cut"}:
            result.status = "contained"
    if not facts.sandboxed:
        result.reasons.insert(0, UNSAFE)
    return result


def notebook_events(course, assignment, student, notebooks, cells):
    """The :class:`Event` s of the student's autograded notebooks, in notebook and cell order.

    ``notebooks``: the released notebooks (their names); ``cells``: the test cells' scores,
    to tell which tests lost points.
    """
    events = []
    for released in notebooks:
        path = Path(course) / "autograded" / student / assignment / released.name
        if not path.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                events += _cell_events(cell, index, cells)
    return events


def _cell_events(cell, index, cells):
    meta = cell.metadata.get("nbgrader", {})
    where = meta.get("grade_id") or f"code cell {index}"
    outputs = cell.get("outputs", [])
    events = []
    if any(o.output_type == "stream" and OUTPUT_CUT in o.text for o in outputs):
        events.append(Event(where, "cut", f"{where}: printed more than the output limit (cut)"))
    if meta.get("grade") and any(o.output_type == "stream" and SUSPECTED in o.text for o in outputs):
        events.append(Event(where, "suspected", f"{where}: {SUSPECTED}: the notebook's own check and the "
                                                f"grader's disagree; the grader's result counts"))
    errors = [o for o in outputs if o.output_type == "error"]
    if not errors or errors[0].ename == NOT_RUN:
        return events
    error = _main_error(errors)
    if error.ename in INCIDENTS:
        events.append(Event(where, "incident", f"{where}: {INCIDENTS[error.ename]}: {_error_summary(error)}"))
    elif meta.get("grade") and cells.get(where, 0) < meta.get("points", 0):
        events.append(Event(where, "lost", f"{where}: {_error_summary(error)}"))
    elif meta.get("solution"):      # the student's own cell raised
        events.append(Event(where, "error", f"{where}: {_error_summary(error)}"))
    return events


def _error_summary(output, limit=240):
    """``ename: first line``, and the check's diagnosis or hint when it gives one."""
    lines = [line.strip() for line in str(output.get("evalue", "")).strip().splitlines()] or [""]
    text = f"{output.get('ename', 'Error')}: {lines[0]}"
    advice = [line for line in lines[1:] if line.startswith(("diagnosis:", "hint:"))]
    if advice:
        text += f" ({advice[0]})"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _main_error(errors):
    """The error that tells the story: a stopped kernel, then a time-out, then the first one."""
    for name in (STOPPED, "CellTimeoutError"):
        for error in errors:
            if error.ename == name:
                return error
    return errors[0]
