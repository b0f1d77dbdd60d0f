"""The assignments through the real nbgrader loop: release, submit, autograde, feedback, export.

A scratch copy of the course (config and solutions/) is released once per
test session. For each assignment it grades the instructor's solution (must
score 100), the untouched release (must score 0 on every test cell), and every
wrong submission in tests/fixtures/<assignment>/ (must lose exactly the test
cells the fixture names, and its feedback must name the mistake).
"""

import csv
import json
import re
from pathlib import Path

import nbformat
import pytest

from tools import course

ASSIGNMENTS = course.assignment_names()
FIXTURES = Path(__file__).parent / "fixtures"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def released(tmp_path_factory):
    """A scratch course with every assignment released by nbgrader."""
    root = course.make_course(tmp_path_factory.mktemp("course"))
    for name in ASSIGNMENTS:
        course.release(root, name)
    return root


def test_there_are_six_assignments():
    assert ASSIGNMENTS == ["a1_convolution", "a2_pooling_and_backprop", "a3_training_a_cnn",
                           "a4_architectures_and_visualization", "a5_batchnorm_and_residuals",
                           "a6_network_from_scratch"]


def _notebook_json(path):
    return json.loads(Path(path).read_text())


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_committed_release_is_what_nbgrader_generates(released, name):
    committed = course.RELEASE / name
    fresh = released / "assignments" / name
    assert committed.is_dir(), f"assignments/{name} is missing: run `make release`"
    files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    assert sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file()) == files, \
        "assignments/ holds other files than nbgrader generates: run `make release`"
    for rel in files:
        if rel.suffix == ".ipynb":
            assert _notebook_json(committed / rel) == _notebook_json(fresh / rel), \
                f"assignments/{name}/{rel} differs from a fresh generation: run `make release`"
        else:
            assert (committed / rel).read_bytes() == (fresh / rel).read_bytes()


def _solution_lines(name):
    """Substantial lines of the instructor's solution blocks."""
    return {line.strip() for block in course.solution_blocks(name) for line in block.splitlines()
            if len(line.strip()) > 12 and not line.strip().startswith("#")}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_holds_no_solution_and_no_hidden_test(name):
    nb = nbformat.read(course.RELEASE / name / f"{name}.ipynb", as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", 'suite="hidden"'):
        assert marker not in code, f"the released {name} contains {marker!r}"
    leaked = sorted(line for line in _solution_lines(name) if line in code)
    assert not leaked, f"solution code in the released {name}: {leaked[:3]}"
    stubs = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("solution")]
    assert stubs and all("raise NotImplementedError()" in cell.source for cell in stubs)


def test_hidden_tests_reveal_no_expected_values():
    """Hidden test code only calls cnnlib.grading: no literal arrays or numbers to copy."""
    for name in ASSIGNMENTS:
        nb = nbformat.read(course.SOLUTIONS / name / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
                for line in block.strip().splitlines():
                    assert line.startswith("grading.check_"), f"{name}: hidden test line {line!r}"
                    assert not re.search(r"\d\.\d|\[", line), f"{name}: hidden test line {line!r}"


def test_every_cell_has_points_and_each_assignment_totals_100():
    for name in ASSIGNMENTS:
        nb = nbformat.read(course.SOLUTIONS / name / f"{name}.ipynb", as_version=4)
        tests = [c.metadata["nbgrader"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert tests and all(t["points"] > 0 for t in tests)
        assert sum(t["points"] for t in tests) == 100, name


def _fixtures(name):
    return [course.read_fixture(p) for p in sorted((FIXTURES / name).glob("*.py"))]


def _exported_scores(root, name):
    course.run_nbgrader(root, "export")
    with open(root / "grades.csv", newline="") as f:
        return {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)
                if row["assignment"] == name}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_autograde_solution_blank_and_wrong_submissions(released, name, sandboxed):
    fixtures = _fixtures(name)
    wrong = [f for f in fixtures if f.fails]
    assert len(wrong) >= 6, f"{name} needs at least six wrong submissions in tests/fixtures/{name}"
    fill = course.solution_fill(name)
    course.submit(released, name, "solution", fill)
    course.submit(released, name, "blank", {})
    for fixture in fixtures:
        course.submit(released, name, fixture.name, {**fill, **fixture.cells})
    course.run_nbgrader(released, "autograde", name, "--force")
    course.run_nbgrader(released, "generate_feedback", name, "--force")
    cells = course.cell_scores(released, name)
    totals = _exported_scores(released, name)

    assert totals["solution"] == 100, cells["solution"]
    assert all(score == top for score, top in cells["solution"].values())
    assert totals["blank"] == 0
    assert all(score == 0 for score, _ in cells["blank"].values()), cells["blank"]

    problems = []
    for fixture in fixtures:
        got = cells[fixture.name]
        unknown = set(fixture.fails) - set(got)
        if unknown:
            problems.append(f"{fixture.name}: no test cells {sorted(unknown)}")
        for cell, (score, top) in got.items():
            want = 0 if cell in fixture.fails else top
            if score != want:
                problems.append(f"{fixture.name}: {cell} scored {score} of {top}, expected {want}")
        if fixture.fails and not 0 < totals[fixture.name] < 100:
            problems.append(f"{fixture.name}: total {totals[fixture.name]} is not between 0 and 100")
        text = course.feedback_text(released, name, fixture.name)
        for expect in fixture.expect:
            if expect not in text:
                problems.append(f"{fixture.name}: feedback does not say {expect!r}")
    assert not problems, "\n".join(problems)
