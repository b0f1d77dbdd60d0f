"""Autograde a whole class, N submissions at a time, so that no submission can spoil the run.

    python -m tools.grade a1_convolution --jobs 2        (what ``make grade`` runs)

For each ``submitted/<student>/<assignment>/`` folder:

1. :func:`tools.screening.screen` looks at it before anything runs. A missing,
   renamed or unreadable notebook gets an explicit 0 with the reason; tampering is
   flagged.
2. ``nbgrader autograde --student`` grades it in its own process, under a memory
   limit (``tools.limited``; the kernel inherits it) and a wall-clock limit. The
   course's preprocessors (``tools/preprocessors.py``) turn a dead or deaf kernel
   into failed cells with reasons. If the process still has to be killed, or nbgrader
   fails, the student gets an explicit 0 and the reason.
3. Test cells that tampering invalidates are set to 0 in the gradebook
   (``auto_score``; nbgrader's own way of scoring a missing notebook).

One student's grading never touches another's rows, so every student scores as if
graded alone. Submissions run ``jobs`` at a time. SQLite allows one writer at a
time, so with the course's SQLite gradebook the grader uses one job and says why;
set ``DATABASE_URL`` to a PostgreSQL database to grade in parallel (docs/instructor.md).

The result per student (score, status, reasons) is printed as a table and written
to ``reports/<assignment>/grades.csv``.
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tools import course as C
from tools import sandbox
from tools.preprocessors import NOT_RUN, STOPPED
from tools.screening import screen
from tools.trusted import SUSPECTED

COURSE_ID = "cnn-course"
MEMORY_GIB = float(os.environ.get("CNN_COURSE_KERNEL_MEMORY_GB", "6"))
# Errors in a student's cells that mean the grader had to contain something.
INCIDENTS = {STOPPED: "kernel stopped", "CellTimeoutError": "time-out", "MemoryError": "memory limit",
             "SystemExit": "sys.exit", "KeyboardInterrupt": "interrupted"}
OUTPUT_CUT = "... output cut:"
UNSAFE = "UNSAFE: graded without a sandbox (--unsafe-no-sandbox)"


@dataclass
class Result:
    """How one student's submission was graded.

    status: ``graded`` (graded normally; a wrong answer is still just graded), ``contained`` (graded; the code hit a
    limit or stopped its kernel, and the cells it spoiled score 0), ``flagged``
    (tampering; the test cells it invalidates score 0), ``zero`` (could not be graded:
    explicit 0 on every test cell).
    """

    student: str
    status: str = "graded"
    score: float = 0.0
    max_score: float = 0.0
    cells: dict = field(default_factory=dict)      # test cell grade_id -> score
    reasons: list = field(default_factory=list)
    seconds: float = 0.0
    sandboxed: bool = True


def cell_timeout():
    """Seconds one cell may run (nbgrader_config.py reads the same variable)."""
    return int(os.environ.get("CNN_COURSE_CELL_TIMEOUT", "120"))


def parallel_jobs(jobs, database_url, log=print):
    """How many submissions may be graded at once against this gradebook."""
    url = C.gradebook_url(".", database_url)
    if jobs > 1 and url.startswith("sqlite"):
        log(f"grade: the gradebook is SQLite, which allows one writer at a time; grading with 1 job "
            f"instead of {jobs}. Set DATABASE_URL=postgresql://... to grade in parallel "
            f"(docs/instructor.md).")
        return 1
    return max(1, jobs)


def released_notebooks(course, assignment):
    """The released notebooks of ``assignment`` (what students were given)."""
    folder = Path(course) / "assignments" / assignment
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no released notebooks in {folder}: run `make release` first")
    return notebooks


def submitted_students(course, assignment):
    """Students with a ``submitted/<student>/<assignment>`` folder, sorted."""
    root = Path(course) / "submitted"
    return sorted(p.name for p in root.iterdir() if (p / assignment).is_dir()) if root.is_dir() else []


def _gradebook(course, database_url):
    return C.open_gradebook(course, database_url, COURSE_ID)


def prepare_gradebook(course, assignment, students, database_url=None):
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


def _kill_tree(process):
    """Kill ``process`` and everything it started (the kernel runs in a session of its own)."""
    import psutil

    try:
        parent = psutil.Process(process.pid)
        family = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


def _wall_limit(notebooks):
    """Seconds nbgrader may take on one submission: every code cell at its time-out, and more."""
    cells = sum(1 for path in notebooks for cell in nbformat.read(path, as_version=4).cells
                if cell.cell_type == "code")
    return cells * (cell_timeout() + 15) + 120


def _autograde(course, assignment, student, database_url, wall_limit, sandboxed=True):
    """Run nbgrader on one submission; (None, log) when it finished, (reason, log) when not."""
    command = [sys.executable, "-m", "tools.limited", str(MEMORY_GIB), "--",
               *C.nbgrader_command("autograde", assignment, "--student", student, "--force")]
    env = C.nbgrader_env(database_url)
    env.pop("CNN_COURSE_UNSAFE_NO_SANDBOX", None)
    if not sandboxed:
        env["CNN_COURSE_UNSAFE_NO_SANDBOX"] = "1"
    process = subprocess.Popen(command, cwd=course, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        log, _ = process.communicate(timeout=wall_limit)
    except subprocess.TimeoutExpired:
        _kill_tree(process)
        log, _ = process.communicate()
        return f"grading was stopped after {wall_limit} s (the notebook never finished)", log
    if process.returncode != 0:
        errors = [line for line in log.splitlines() if "ERROR" in line or "Error:" in line]
        detail = errors[-3] if len(errors) >= 3 else (errors[-1] if errors else log.strip()[-200:])
        return f"nbgrader could not grade it (exit {process.returncode}): {detail.strip()[:240]}", log
    return None, log


def _set_zero(course, assignment, student, database_url, grade_ids=None):
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


def _comment(course, assignment, student, database_url, comments):
    """Put ``comments`` (solution cell grade_id -> text) on the student's feedback page.

    nbgrader shows a solution cell's comment under it in the feedback. This uses
    ``auto_comment``, which the next autograde resets, so a fixed resubmission loses it.
    """
    with warnings.catch_warnings(), _gradebook(course, database_url) as gb:
        warnings.simplefilter("ignore")
        for notebook in gb.find_submission(assignment, student).notebooks:
            for comment in notebook.comments:
                if comment.name in comments:
                    comment.auto_comment = comments[comment.name]
        gb.db.commit()


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


def _what_happened(course, assignment, student, notebooks, result):
    """Reasons from the autograded notebooks: the student's own errors and each lost test."""
    status = "graded"
    for released in notebooks:
        path = Path(course) / "autograded" / student / assignment / released.name
        if not path.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            where = meta.get("grade_id") or f"code cell {index}"
            outputs = cell.get("outputs", [])
            if any(o.output_type == "stream" and OUTPUT_CUT in o.text for o in outputs):
                result.reasons.append(f"{where}: printed more than the output limit (cut)")
                status = "contained"
            if meta.get("grade") and any(o.output_type == "stream" and SUSPECTED in o.text for o in outputs):
                result.reasons.append(f"{where}: {SUSPECTED}: the notebook's own check and the grader's "
                                      f"disagree; the grader's result counts")
                status = "flagged"
            errors = [o for o in outputs if o.output_type == "error"]
            if not errors or errors[0].ename == NOT_RUN:
                continue
            error = _main_error(errors)
            if error.ename in INCIDENTS:
                status = "flagged" if status == "flagged" else "contained"
                result.reasons.append(f"{where}: {INCIDENTS[error.ename]}: {_error_summary(error)}")
            elif meta.get("grade") and result.cells.get(where, 0) < meta.get("points", 0):
                result.reasons.append(f"{where}: {_error_summary(error)}")
            elif meta.get("solution"):      # the student's own cell raised
                result.reasons.append(f"{where}: {_error_summary(error)}")
    return status


def _read_scores(course, assignment, student, database_url, result):
    with _gradebook(course, database_url) as gb:
        submission = gb.find_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                result.cells[grade.name] = float(grade.score or 0.0)
                result.max_score += float(grade.max_score)
    result.score = sum(result.cells.values())


def grade_one(course, assignment, student, notebooks, database_url=None, wall_limit=None, sandboxed=True):
    """Screen, autograde and score one student's submission; returns a :class:`Result`.

    sandboxed: False only for ``--unsafe-no-sandbox``; every reason then says so.
    """
    started = time.perf_counter()
    result = Result(student, sandboxed=sandboxed)
    screening = screen(Path(course) / "submitted" / student / assignment, notebooks)
    fatal = screening.fatal
    if fatal is None:
        fatal, _ = _autograde(course, assignment, student, database_url,
                              wall_limit or _wall_limit(notebooks), sandboxed)
    if fatal is not None:
        _set_zero(course, assignment, student, database_url)
        result.status, result.reasons = "zero", [fatal]
    else:
        if screening.zero_cells:
            _set_zero(course, assignment, student, database_url, set(screening.zero_cells))
        if screening.flags:
            result.status = "flagged"
            result.reasons += [f"{flag.kind}: {flag}" for flag in screening.flags]
            _comment(course, assignment, student, database_url,
                     {flag.where: f"Flagged for the instructor: {flag.reason}." for flag in screening.flags})
    _read_scores(course, assignment, student, database_url, result)
    if fatal is None:
        status = _what_happened(course, assignment, student, notebooks, result)
        if result.status == "graded":
            result.status = status
    if not sandboxed:
        result.reasons.insert(0, UNSAFE)
    result.seconds = time.perf_counter() - started
    return result


class SandboxUnavailable(RuntimeError):
    """No grading sandbox can be made on this machine; the message says why and how to fix it."""


def grade(course, assignment, jobs=1, students=None, database_url=None, log=print, progress=True,
          sandboxed=True):
    """Autograde every submission of ``assignment`` in ``course``; returns [Result] by student.

    jobs: submissions graded at once (1 with SQLite). database_url: the gradebook
    (None: the course's SQLite file). sandboxed: run every kernel in a bubblewrap
    sandbox (False only for ``--unsafe-no-sandbox``). Never raises because of what a
    student submitted.

    Raises:
        SandboxUnavailable: ``sandboxed`` and no sandbox can be made here.
        FileNotFoundError: nothing released, or nothing collected.
    """
    if sandboxed:
        problem = sandbox.unavailable()
        if problem is not None:
            raise SandboxUnavailable(f"refusing to grade: {problem}")
    course = Path(course).resolve()
    notebooks = released_notebooks(course, assignment)
    students = sorted(students or submitted_students(course, assignment))
    if not students:
        raise FileNotFoundError(f"no submissions for {assignment} under {course / 'submitted'}: "
                                f"run `nbgrader collect {assignment}` first")
    jobs = parallel_jobs(jobs, database_url, log)
    prepare_gradebook(course, assignment, students, database_url)
    wall_limit = _wall_limit(notebooks)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(students), desc=f"grading {assignment} ({jobs} job{'s' * (jobs > 1)})",
                   unit="submission", file=sys.stderr)

    def one(student):
        result = grade_one(course, assignment, student, notebooks, database_url, wall_limit, sandboxed)
        if bar is not None:
            bar.update()
        return result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, students))
    if bar is not None:
        bar.close()
    return results


def write_report(course, assignment, results):
    """Write ``reports/<assignment>/grades.csv`` (one row per student); returns its path."""
    folder = Path(course) / "reports" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "grades.csv"
    cells = list(dict.fromkeys(name for r in results for name in r.cells))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", "status", "sandbox", *cells, "reasons"])
        for r in results:
            writer.writerow([r.student, f"{r.score:g}", f"{r.max_score:g}", r.status,
                             "bubblewrap" if r.sandboxed else "NONE (unsafe)",
                             *(f"{r.cells.get(c, 0):g}" for c in cells), " | ".join(r.reasons)])
    return path


def format_table(results, width=None):
    """The grade table as text: student, score, status and the first reason (cut to ``width``,
    by default the terminal's, at least 120 columns)."""
    import shutil

    width = width or max(120, shutil.get_terminal_size().columns)
    name = max([len("student")] + [len(r.student) for r in results])
    rows = [f"{'student':<{name}}  {'score':>9}  {'status':<9}  reason"]
    for r in results:
        reason = r.reasons[0] if r.reasons else ""
        if len(r.reasons) > 1:
            reason += f" (+{len(r.reasons) - 1} more)"
        score = f"{r.score:g}/{r.max_score:g}"
        rows.append(f"{r.student:<{name}}  {score:>9}  {r.status:<9}  {reason[:max(20, width - name - 24)]}")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.grade",
                                     description="Autograde every submission of an assignment.")
    parser.add_argument("assignment", help="e.g. a1_convolution")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once (PostgreSQL only)")
    parser.add_argument("--student", action="append", help="grade only this student (repeatable)")
    parser.add_argument("--course", default=str(C.ROOT), help="the course folder (default: this repo)")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="run student code with your own rights, without the bubblewrap sandbox "
                             "(only where no sandbox can be made; the report says so on every line)")
    args = parser.parse_args(argv)
    if not (Path(args.course) / "solutions" / args.assignment).is_dir():
        known = ", ".join(C.assignment_names())
        parser.error(f"no assignment {args.assignment!r} in solutions/ (known: {known})")
    started = time.perf_counter()
    try:
        results = grade(args.course, args.assignment, args.jobs, args.student, os.environ.get("DATABASE_URL"),
                        sandboxed=not args.unsafe_no_sandbox)
    except (FileNotFoundError, SandboxUnavailable) as error:   # say what to run or install
        parser.exit(1, f"grade: {error}\n")
    if args.unsafe_no_sandbox:
        print(f"grade: WARNING: {UNSAFE}: student code ran with your rights.", file=sys.stderr)
    seconds = time.perf_counter() - started
    path = write_report(args.course, args.assignment, results)
    print(format_table(results))
    print(f"\n{len(results)} submissions in {seconds:.1f} s ({seconds / len(results):.2f} s per submission); "
          f"report: {path}")


if __name__ == "__main__":
    main()
