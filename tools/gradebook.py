"""What the grader writes to nbgrader's gradebook and reads back, one student's rows at a time.

    prepare(course, assignment, students, database_url)   the assignment and every student, before any job
    set_zero(course, assignment, student, ...)             explicit zeros (all test cells, or the named ones)
    comment(course, assignment, student, ..., comments)    a note under a solution cell of the feedback page
    scores(course, assignment, student, database_url)      ({test cell: score}, max score)

One student's grading never touches another's rows, so every student scores as if graded
alone, however many are graded at once.
"""

import tempfile
import warnings

from tools import course as C

__all__ = ["COURSE_ID", "prepare", "set_zero", "comment", "scores"]

COURSE_ID = "cnn-course"


def _gradebook(course, database_url):
    return C.open_gradebook(course, database_url, COURSE_ID)


def prepare(course, assignment, students, database_url=None):
    """Make sure the gradebook knows the assignment and every student, before any job starts.

    Creating rows from two processes at once could race; doing it here, once, avoids it.
    """
    from nbgrader.api import MissingEntry

    with _gradebook(course, database_url) as gb:
        try:
            gb.find_assignment(assignment)
            known = True
        except MissingEntry:
            known = False
    if not known:   # a fresh database: record the assignment's cells without touching assignments/
        with tempfile.TemporaryDirectory() as scratch:
            C.run_nbgrader(course, "generate_assignment", assignment, "--force", "--log-level=WARN",
                           f"--CourseDirectory.release_directory={scratch}", database_url=database_url)
    with _gradebook(course, database_url) as gb:
        for student in students:
            gb.update_or_create_student(student)


def set_zero(course, assignment, student, database_url, grade_ids=None):
    """Score the named test cells (all when None) 0 in the gradebook, as nbgrader does for a missing file."""
    with warnings.catch_warnings(), _gradebook(course, database_url) as gb:
        warnings.simplefilter("ignore")   # SQLAlchemy's autoflush notes from inside nbgrader
        submission = gb.update_or_create_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade_ids is None or grade.name in grade_ids:
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = False
        gb.db.commit()


def comment(course, assignment, student, database_url, comments):
    """Put ``comments`` (solution cell grade_id -> text) on the student's feedback page.

    nbgrader shows a solution cell's comment under it in the feedback. This uses
    ``auto_comment``, which the next autograde resets, so a fixed resubmission loses it.
    """
    with warnings.catch_warnings(), _gradebook(course, database_url) as gb:
        warnings.simplefilter("ignore")
        for notebook in gb.find_submission(assignment, student).notebooks:
            for note in notebook.comments:
                if note.name in comments:
                    note.auto_comment = comments[note.name]
        gb.db.commit()


def scores(course, assignment, student, database_url):
    """The student's score on every test cell, ``{grade_id: score}``, and the assignment's maximum."""
    cells, max_score = {}, 0.0
    with _gradebook(course, database_url) as gb:
        for notebook in gb.find_submission(assignment, student).notebooks:
            for grade in notebook.grades:
                cells[grade.name] = float(grade.score or 0.0)
                max_score += float(grade.max_score)
    return cells, max_score
