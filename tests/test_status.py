"""tools/status.py: one function decides a student's status from the facts the grader gathered.

Facts are written here by hand (no grading runs); tests/test_class.py and tests/test_sandbox.py
grade real submissions end to end.
"""

from dataclasses import dataclass

import nbformat
import pytest

from tools.status import INCIDENTS, OUTPUT_CUT, UNSAFE, Event, Facts, decide_status, notebook_events
from tools.preprocessors import STOPPED
from tools.trusted import SUSPECTED


@dataclass
class Flag:
    kind: str
    where: str
    reason: str

    def __str__(self):
        return f"{self.where}: {self.reason}"


CELLS = {"test_a": 10.0, "test_b": 0.0}


def facts(**changes):
    return Facts("alice", cells=dict(CELLS), max_score=20.0, **changes)


def test_a_plain_submission_is_graded_with_its_score():
    result = decide_status(facts())
    assert (result.status, result.score, result.max_score, result.reasons) == ("graded", 10.0, 20.0, [])
    lost = Event("test_b", "lost", "test_b: CheckFailed: conv2d is wrong")
    assert decide_status(facts(events=[lost])).status == "graded"   # a wrong answer is still just graded


@pytest.mark.parametrize("kind", ["incident", "cut"])
def test_a_limit_hit_is_contained(kind):
    result = decide_status(facts(events=[Event("test_b", kind, "test_b: why")]))
    assert result.status == "contained" and result.reasons == ["test_b: why"]


def test_tampering_is_flagged_whatever_else_happened():
    flag = Flag("tamper", "test_a", "the test cell was edited")
    events = [Event("test_a", "suspected", "test_a: suspected"), Event("test_b", "cut", "test_b: cut")]
    for case in (facts(flags=[flag]), facts(events=events), facts(flags=[flag], events=events[::-1])):
        assert decide_status(case).status == "flagged"
    result = decide_status(facts(flags=[flag], events=events))
    assert result.reasons == ["tamper: test_a: the test cell was edited", "test_a: suspected", "test_b: cut"]


def test_a_submission_that_could_not_be_graded_is_zero_with_the_reason_only():
    result = decide_status(facts(fatal="no notebook named a1_convolution.ipynb", flags=[Flag("tamper", "x", "y")],
                          events=[Event("test_b", "cut", "test_b: cut")]))
    assert (result.status, result.reasons) == ("zero", ["no notebook named a1_convolution.ipynb"])


def test_without_a_sandbox_every_report_says_so_first():
    assert decide_status(facts(sandboxed=False)).reasons == [UNSAFE]
    assert decide_status(facts(sandboxed=False, fatal="why")).reasons == [UNSAFE, "why"]


def _cell(source, outputs, **nbgrader):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = outputs
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


def test_the_events_are_read_from_the_autograded_notebooks(tmp_path):
    error = nbformat.v4.new_output
    nb = nbformat.v4.new_notebook(cells=[
        _cell("x = 1", [error("stream", name="stdout", text=f"{OUTPUT_CUT} 9 characters")], solution=True,
              grade_id="answer"),
        _cell("check()", [error("error", ename="CheckFailed", evalue="wrong\n  diagnosis: the stride", traceback=[])],
              grade=True, points=10, grade_id="test_b"),
        _cell("check()", [error("stream", name="stdout", text=SUSPECTED),
                          error("error", ename=STOPPED, evalue="the kernel died", traceback=[])],
              grade=True, points=10, grade_id="test_a"),
    ])
    folder = tmp_path / "autograded" / "alice" / "a1"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "a1.ipynb")
    events = notebook_events(tmp_path, "a1", "alice", [tmp_path / "released" / "a1.ipynb"], CELLS)
    assert [(e.where, e.kind) for e in events] == [("answer", "cut"), ("test_b", "lost"), ("test_a", "suspected"),
                                                   ("test_a", "incident")]
    assert events[1].text == "test_b: CheckFailed: wrong (diagnosis: the stride)"
    assert events[3].text == f"test_a: {INCIDENTS[STOPPED]}: {STOPPED}: the kernel died"
    assert decide_status(facts(events=events)).status == "flagged"
