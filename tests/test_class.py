"""Grading a real class: the exchange loop, hostile submissions contained, PostgreSQL in parallel.

The class is tools/demo_class.py's 30 students for assignment 1: 5 correct, 11 of the
fixture submissions of tests/fixtures/a1_convolution (demo_class.CLASS_FIXTURES), 2 blank and 12 hostile. Each
case states, by hand, the test cells it must lose, its status and a phrase of its
reason; the honest ones lose exactly what their fixture says when graded alone
(tests/test_assignments.py checks that).
"""

import csv
import subprocess
import sys
import zipfile

import pytest

from tools import bundle, course, demo_class, exchange, grade, postgres, screening

CASES = demo_class.cases()
BY_STUDENT = {case.student: case for case in CASES}
CELL_TIMEOUT = "15"


# ---------------------------------------------------------------- fast: the pieces

def test_the_class_has_30_students_of_every_kind():
    kinds = [case.kind for case in CASES]
    assert len(CASES) == 30 and len(BY_STUDENT) == 30
    assert {k: kinds.count(k) for k in set(kinds)} == {"correct": 5, "mistake": 11, "blank": 2, "hostile": 12}


def test_limited_turns_a_huge_allocation_into_memory_error():
    code = "bytearray(3 * 2**30)"
    run = subprocess.run([sys.executable, "-m", "tools.limited", "1", "--", sys.executable, "-c", code],
                         cwd=course.ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "MemoryError" in run.stderr
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert free.returncode == 0, "without the limit the same allocation works: the limit is what stops it"


def test_sqlite_grades_one_at_a_time_and_says_why():
    said = []
    assert grade.parallel_jobs(4, None, said.append) == 1
    assert "SQLite" in said[0] and "DATABASE_URL" in said[0]
    assert grade.parallel_jobs(4, "postgresql://u@127.0.0.1:5432/g", said.append) == 4


@pytest.fixture(scope="module")
def released_a1(tmp_path_factory):
    root = course.make_course(tmp_path_factory.mktemp("screening"), [demo_class.ASSIGNMENT])
    course.release(root, demo_class.ASSIGNMENT)
    return root


def _screen(root, case):
    folder = demo_class.submit_directly(root, case)
    return screening.screen(folder, grade.released_notebooks(root, demo_class.ASSIGNMENT))


@pytest.mark.parametrize("student", [c.student for c in CASES if c.kind != "hostile"])
def test_honest_submissions_are_not_flagged(released_a1, student):
    result = _screen(released_a1, BY_STUDENT[student])
    assert result.fatal is None and result.flags == []


@pytest.mark.parametrize("name", course.assignment_names())
def test_the_instructors_answers_are_not_flagged(tmp_path, name):
    root = course.make_course(tmp_path, [name])
    course.release(root, name)
    folder = course.submit(root, name, "s", fill=course.solution_fill(name)).parent
    result = screening.screen(folder, grade.released_notebooks(root, name))
    assert result.fatal is None and result.flags == []


@pytest.mark.parametrize("code, expect", [
    ("def check_conv2d(f):\n    pass\n", "defines check_conv2d"),
    ("grading.check_conv2d = print\n", "changes grading.check_conv2d"),
    ("setattr(grading, 'check_conv2d', print)\n", "calls setattr on grading"),
    ("import numpy\nnumpy.allclose = lambda *a, **k: True\n", "changes numpy.allclose"),
    ("import sys\nsys.modules['cnnlib.grading'] = None\n", "changes sys.modules"),
    ("grading = None\n", "rebinds grading"),
    ("import fake_checks as grading\n", "imports something else under the name grading"),
])
def test_code_that_changes_the_checks_is_flagged(released_a1, code, expect):
    case = demo_class.Case("tamper", "hostile", "", {"zero_pad": code})
    result = _screen(released_a1, case)
    assert any(expect in str(flag) for flag in result.flags), [str(f) for f in result.flags]
    assert result.zero_cells == sorted(demo_class.POINTS)


def test_setting_matplotlib_options_is_not_tampering(released_a1):
    code = "plt.rcParams['figure.figsize'] = (4, 4)\n" + course.solution_fill(demo_class.ASSIGNMENT)["zero_pad"]
    result = _screen(released_a1, demo_class.Case("style", "correct", "", {"zero_pad": code}))
    assert result.flags == []


def test_the_student_bundle_holds_no_instructor_material(tmp_path):
    out = tmp_path / "bundle.zip"
    files = bundle.build(out)
    assert any(f.startswith("assignments/a1_convolution/") for f in files)
    assert any(f.startswith("cnnlib/grading/") for f in files) and "README.md" in files
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert not any(part in name for name in names
                   for part in ("/solutions/", "/tests/", "/tools/", "gradebook", "nbgrader_config"))
    planted = tmp_path / "planted.zip"
    with zipfile.ZipFile(planted, "w") as archive:
        archive.writestr("cnn-course/notebooks/x.ipynb", "### BEGIN HIDDEN TESTS\n")
    with pytest.raises(ValueError, match="BEGIN HIDDEN TESTS"):
        bundle.check(planted)


# ---------------------------------------------------------------- slow: the whole class

@pytest.fixture(scope="module")
def sqlite_class(tmp_path_factory, sandboxed):
    """The 30 students through the exchange, graded one at a time against SQLite."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CNN_COURSE_CELL_TIMEOUT", CELL_TIMEOUT)
    work = tmp_path_factory.mktemp("class-sqlite")
    try:
        results, seconds, export = exchange.run_class(work, CASES, jobs=1, log=lambda *a: None)
    finally:
        mp.undo()
    print(f"\nsequential SQLite: {seconds:.1f} s for {len(results)} submissions")
    return work, {r.student: r for r in results}, export


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(BY_STUDENT))
def test_every_student_gets_the_grade_their_case_states(sqlite_class, student):
    _, results, _ = sqlite_class
    case, result = BY_STUDENT[student], results[student]
    zero = sorted(cell for cell, score in result.cells.items() if score == 0)
    assert (zero, result.status, result.score) == (sorted(case.zero), case.status, case.score), result.reasons
    assert result.max_score == 100
    if case.kind in ("hostile", "blank"):
        assert any(case.reason in reason for reason in result.reasons), result.reasons


@pytest.mark.slow
def test_no_student_is_left_unscored_in_the_gradebook(sqlite_class):
    work, results, export = sqlite_class
    with course.open_gradebook(work / "course") as gb:
        unscored = [(s.student_id, g.name) for s in gb.assignment_submissions(demo_class.ASSIGNMENT)
                    for nb in s.notebooks for g in nb.grades if g.auto_score is None and g.manual_score is None]
        students = {s.student_id for s in gb.assignment_submissions(demo_class.ASSIGNMENT)}
    assert unscored == [] and students == set(BY_STUDENT)
    exported = exchange.read_export(export)
    assert exported == {s: (r.score, r.max_score) for s, r in results.items()}


@pytest.mark.slow
def test_students_fetch_their_feedback_through_the_exchange(sqlite_class):
    work, results, _ = sqlite_class
    for student, result in results.items():
        pages = list((work / "homes" / student / demo_class.ASSIGNMENT / "feedback").glob("*/*.html"))
        if result.status == "zero":      # nothing was autograded, so there is no feedback page
            assert pages == []
        else:
            assert len(pages) == 1, student
    page = next((work / "homes" / "mistake_flipped_kernel").rglob("*.html")).read_text()
    assert "the kernel is flipped" in page
    # the student whose code replaced a check reads why every test scored 0
    page = next((work / "homes" / "hostile_redefined_check").rglob("*.html")).read_text()
    assert "Flagged for the instructor" in page and "grading.check_conv2d" in page


@pytest.mark.slow
def test_a_100_mb_print_is_cut_before_it_reaches_a_file(sqlite_class):
    work, _, _ = sqlite_class
    student = "hostile_prints_100mb"
    graded = work / "course" / "autograded" / student / demo_class.ASSIGNMENT / f"{demo_class.ASSIGNMENT}.ipynb"
    feedback = next((work / "course" / "feedback" / student).rglob("*.html"))
    assert graded.stat().st_size < 2_000_000 and feedback.stat().st_size < 2_000_000
    assert "output cut" in graded.read_text()


@pytest.mark.slow
def test_regrading_one_student_leaves_everyone_else_untouched(sqlite_class, monkeypatch):
    work, results, _ = sqlite_class
    root = work / "course"

    def snapshot():
        with course.open_gradebook(root) as gb:
            return {(s.student_id, g.name): (g.auto_score, g.manual_score)
                    for s in gb.assignment_submissions(demo_class.ASSIGNMENT) for nb in s.notebooks for g in nb.grades}

    before = snapshot()
    monkeypatch.setenv("CNN_COURSE_CELL_TIMEOUT", CELL_TIMEOUT)
    [again] = grade.grade(root, demo_class.ASSIGNMENT, students=["hostile_os_exit"], progress=False)
    after = snapshot()
    assert (again.score, again.status) == (results["hostile_os_exit"].score, "contained")
    assert after == before


@pytest.mark.slow
def test_the_grader_writes_a_report_an_instructor_can_read(sqlite_class):
    work, results, _ = sqlite_class
    with open(work / "course" / "reports" / demo_class.ASSIGNMENT / "grades.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(results)
    invalid = rows["hostile_invalid_json"]
    assert invalid["status"] == "zero" and "not valid JSON" in invalid["reasons"]
    assert float(rows["correct_1"]["score"]) == 100 and rows["correct_1"]["reasons"] == ""


@pytest.mark.slow
def test_postgres_with_two_jobs_grades_like_sequential_sqlite(sqlite_class, tmp_path, monkeypatch):
    if postgres.server_binaries() is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does)")
    _, sequential, sqlite_export = sqlite_class
    monkeypatch.setenv("CNN_COURSE_CELL_TIMEOUT", CELL_TIMEOUT)
    # A third of the class, every status among them, a time-out and a kernel that kills itself running beside
    # honest work (the whole class on PostgreSQL is bench/bench_class.py's job).
    chosen = {"correct_1", "correct_2", "mistake_flipped_kernel", "mistake_padding_ignored", "blank_1",
              "hostile_infinite_loop", "hostile_os_exit", "hostile_redefined_check", "hostile_invalid_json",
              "hostile_allocates_20gb"}
    cases = [case for case in CASES if case.student in chosen]
    with postgres.TempPostgres() as url:
        results, seconds, export = exchange.run_class(tmp_path / "work", cases, jobs=2, database_url=url,
                                                      log=lambda *a: None)
    print(f"\nPostgreSQL, 2 jobs: {seconds:.1f} s for {len(results)} submissions")
    parallel = {r.student: r for r in results}
    assert set(parallel) == chosen
    assert {sequential[student].status for student in chosen} == {"graded", "contained", "flagged", "zero"}, \
        "the subset holds every status"
    everyone = exchange.read_export(sqlite_export)
    assert exchange.read_export(export) == {student: everyone[student] for student in chosen}
    for student in chosen:
        assert (parallel[student].cells, parallel[student].status) == \
               (sequential[student].cells, sequential[student].status), student
