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

The parts, each a module of its own:

    tools.screening    looks at a submission before anything runs
    tools.supervise    runs nbgrader on one submission in its own process, under limits
    tools.gradebook    the gradebook's rows: prepared, zeroed, commented, read
    tools.status       the facts of a submission -> its status and reasons (one function, ``decide_status``)
    tools.grade_report the CSV report and the printed table

This module gathers each submission's facts in that order and runs the class.
"""

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools import course as C
from tools import gradebook, sandbox, supervise
from tools.grade_report import format_table, write_report
from tools.screening import screen
from tools.status import INCIDENTS, OUTPUT_CUT, UNSAFE, Facts, Result, decide_status, notebook_events

__all__ = ["grade", "grade_one", "gather_facts", "parallel_jobs", "released_notebooks", "submitted_students",
           "SandboxUnavailable", "Result", "write_report", "format_table", "UNSAFE", "INCIDENTS", "OUTPUT_CUT",
           "main"]


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


def gather_facts(course, assignment, student, notebooks, database_url=None, wall_limit=None, sandboxed=True):
    """Screen, autograde and score one submission; return its :class:`tools.status.Facts`.

    The gradebook is written on the way: explicit zeros for a submission that cannot be
    graded or for the test cells screening invalidates, and the flags' comments.
    """
    facts = Facts(student, sandboxed=sandboxed)
    screening = screen(Path(course) / "submitted" / student / assignment, notebooks)
    facts.fatal = screening.fatal
    if facts.fatal is None:
        facts.fatal, _ = supervise.autograde(course, assignment, student, database_url,
                                             wall_limit or supervise.wall_limit(notebooks), sandboxed)
    if facts.fatal is not None:
        gradebook.set_zero(course, assignment, student, database_url)
    else:
        if screening.zero_cells:
            gradebook.set_zero(course, assignment, student, database_url, set(screening.zero_cells))
        facts.flags = list(screening.flags)
        if facts.flags:
            gradebook.comment(course, assignment, student, database_url,
                              {flag.where: f"Flagged for the instructor: {flag.reason}." for flag in facts.flags})
    facts.cells, facts.max_score = gradebook.scores(course, assignment, student, database_url)
    if facts.fatal is None:
        facts.events = notebook_events(course, assignment, student, notebooks, facts.cells)
    return facts


def grade_one(course, assignment, student, notebooks, database_url=None, wall_limit=None, sandboxed=True):
    """Screen, autograde and score one student's submission; returns a :class:`tools.status.Result`.

    sandboxed: False only for ``--unsafe-no-sandbox``; every reason then says so.
    """
    started = time.perf_counter()
    result = decide_status(gather_facts(course, assignment, student, notebooks, database_url, wall_limit, sandboxed))
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
    gradebook.prepare(course, assignment, students, database_url)
    wall_limit = supervise.wall_limit(notebooks)
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
