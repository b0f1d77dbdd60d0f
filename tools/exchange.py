"""The whole nbgrader loop through an exchange folder, for a class of synthetic students.

    python -m tools.exchange [--jobs N] [--postgres] [--keep DIR]    (``make grade-demo``)

Instructor steps run the real ``nbgrader`` commands in a scratch copy of the course:
``release_assignment``, ``collect``, ``autograde`` (through :mod:`tools.grade`),
``generate_feedback``, ``release_feedback`` and ``export``. Student steps (fetch,
submit, fetch feedback) call nbgrader's exchange classes directly, each with its own
student id and home folder: the same code ``nbgrader fetch_assignment`` and
``nbgrader submit --student`` run, without starting nbgrader 90 times.
"""

import argparse
import csv
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from tools import course as C
from tools import demo_class as D
from tools import grade as G

COURSE_ID = "cnn-course"


def _student_config(exchange, home, assignment, student):
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.course_id = COURSE_ID
    config.CourseDirectory.assignment_id = assignment
    config.CourseDirectory.student_id = student
    config.Exchange.root = str(exchange / "root")
    config.Exchange.cache = str(exchange / "cache" / student)
    config.Exchange.assignment_dir = str(home)
    config.Exchange.path_includes_course = False
    return config


def _student_action(kind, exchange, home, assignment, student):
    """Run nbgrader's exchange step ``kind`` (fetch_assignment, submit, fetch_feedback) as ``student``."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeFetchFeedback, ExchangeSubmit

    step = {"fetch_assignment": ExchangeFetchAssignment, "submit": ExchangeSubmit,
            "fetch_feedback": ExchangeFetchFeedback}[kind]
    config = _student_config(exchange, home, assignment, student)
    coursedir = CourseDirectory(config=config)
    step(coursedir=coursedir, authenticator=Authenticator(config=config), config=config).start()


def _instructor(course, exchange, *args, database_url=None):
    return C.run_nbgrader(course, *args, f"--Exchange.root={exchange / 'root'}",
                          f"--CourseDirectory.course_id={COURSE_ID}", database_url=database_url)


def run_class(work, cases, jobs=1, database_url=None, log=print, sandboxed=True, before_grading=None):
    """Release, fetch, submit, collect, autograde, feedback and export for ``cases``.

    work: an empty folder (the course, the exchange and the students' homes go in it).
    sandboxed: False grades with ``--unsafe-no-sandbox``. before_grading: called with
    the course folder after collecting (the attack tests plant secrets there).
    Returns (results by student, seconds spent autograding, path of nbgrader's CSV export).
    """
    work = Path(work)
    course, exchange, homes = work / "course", work / "exchange", work / "homes"
    assignment = D.ASSIGNMENT
    C.make_course(course, [assignment])
    C.run_nbgrader(course, "generate_assignment", assignment, "--force", database_url=database_url)
    log(f"== release_assignment {assignment} to the exchange")
    (exchange / "root").mkdir(parents=True)
    _instructor(course, exchange, "release_assignment", assignment, database_url=database_url)

    log(f"== {len(cases)} students fetch, work and submit")
    for case in cases:
        home = homes / case.student
        home.mkdir(parents=True)
        _student_action("fetch_assignment", exchange, home, assignment, case.student)
        D.write_submission(case, home / assignment)
        _student_action("submit", exchange, home, assignment, case.student)

    log("== collect")
    _instructor(course, exchange, "collect", assignment, database_url=database_url)
    if before_grading is not None:
        before_grading(course)
    started = time.perf_counter()
    results = G.grade(course, assignment, jobs=jobs, database_url=database_url, log=log, sandboxed=sandboxed)
    seconds = time.perf_counter() - started

    log("== generate_feedback, release_feedback, students fetch feedback")
    # A submission that could not be graded has no autograded notebook, hence no feedback;
    # nbgrader then reports an error for that student only, and goes on with the others.
    C.run_nbgrader(course, "generate_feedback", assignment, "--force", check=False,
                   database_url=database_url)
    _instructor(course, exchange, "release_feedback", assignment, database_url=database_url)
    for case in cases:
        _student_action("fetch_feedback", exchange, homes / case.student, assignment, case.student)

    export = course / "reports" / "nbgrader-grades.csv"
    export.parent.mkdir(parents=True, exist_ok=True)
    C.run_nbgrader(course, "export", f"--to={export}", database_url=database_url)
    G.write_report(course, assignment, results)
    return results, seconds, export


def read_export(path):
    """nbgrader's export CSV as {student: (score, max_score)} for the demo assignment."""
    with open(path, newline="") as handle:
        return {row["student_id"]: (float(row["score"]), float(row["max_score"]))
                for row in csv.DictReader(handle) if row["assignment"] == D.ASSIGNMENT}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.exchange",
                                     description="Grade a synthetic class of 30 through nbgrader's exchange.")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once (PostgreSQL only)")
    parser.add_argument("--postgres", action="store_true",
                        help="grade against a throwaway PostgreSQL server on 127.0.0.1")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    import os

    with ExitStack() as stack:
        if args.keep:
            work = Path(args.keep)
            if work.exists() and any(work.iterdir()):
                parser.error(f"--keep {work}: the folder must be empty or missing")
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="grade-demo-")))
        database_url = os.environ.get("DATABASE_URL")
        if args.postgres:
            from tools.postgres import TempPostgres
            database_url = stack.enter_context(TempPostgres())
        cases = D.cases()
        results, seconds, export = run_class(work, cases, args.jobs, database_url)
        by_case = {case.student: case for case in cases}
        print()
        print(G.format_table(results))
        print()
        per = seconds / len(results)
        jobs = G.parallel_jobs(args.jobs, database_url, lambda *_: None)
        print(f"{len(results)} submissions autograded in {seconds:.1f} s: {per:.2f} s per submission "
              f"({'PostgreSQL' if database_url else 'SQLite'}, {jobs} job{'s' * (jobs > 1)}).")
        wrong = [r.student for r in results if (r.score, r.status) != (by_case[r.student].score,
                                                                       by_case[r.student].status)]
        print("every student scored as expected" if not wrong else f"NOT as expected: {', '.join(wrong)}")
        if args.keep:
            print(f"course, exchange and homes kept in {work}; grade report in "
                  f"{work / 'course' / 'reports' / D.ASSIGNMENT / 'grades.csv'}")
        return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
