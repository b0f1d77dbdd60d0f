"""Benchmark: seconds per submission to autograde the 30-student class, one job and two.

Run with ``make bench`` (or ``python bench/bench_class.py``). Rewrites the
"grading a class" section of bench/RESULTS.md.

The class is tools/demo_class.py's (honest, wrong, blank and hostile submissions
for assignment 1), passed through nbgrader's exchange by tools/exchange.py; only the
autograding step (``tools.grade``) is timed. Runs: the course's SQLite gradebook with
one job, then a throwaway PostgreSQL server with one job and with two. Goal: two jobs
at least 1.7 times faster than one, on 2 cores. Every run must give every student the
grade their case states, or the benchmark stops.
"""

import os
import sys
import tempfile
from contextlib import ExitStack
from datetime import date
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_conv import machine_line  # noqa: E402
from bench.results import write_section  # noqa: E402
from tools import demo_class, exchange  # noqa: E402
from tools.postgres import TempPostgres  # noqa: E402

GOAL = 1.7
CELL_TIMEOUT = "20"     # what make grade-demo uses


class _TFVersion:
    __version__ = metadata.version("tensorflow-cpu")


def time_class(jobs, postgres, honest_only=False):
    """Seconds spent autograding the class with ``jobs`` jobs, on SQLite or a fresh PostgreSQL.

    honest_only: leave out the 12 hostile students, whose time-outs are waiting that two
    jobs can overlap; what remains measures the speed-up on real grading work alone.
    """
    cases = [case for case in demo_class.cases() if not (honest_only and case.kind == "hostile")]
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:   # the server stops first
        url = stack.enter_context(TempPostgres()) if postgres else None
        results, seconds, _ = exchange.run_class(Path(tmp) / "work", cases, jobs, url, log=lambda *a: None)
    expected = {case.student: (case.score, case.status) for case in cases}
    wrong = [r.student for r in results if (r.score, r.status) != expected[r.student]]
    if wrong:
        raise RuntimeError(f"{jobs} job(s), {'PostgreSQL' if postgres else 'SQLite'}: not as expected: {wrong}")
    return seconds, len(results)


def main():
    os.environ["CNN_COURSE_CELL_TIMEOUT"] = CELL_TIMEOUT
    runs = []
    for label, jobs, postgres, honest in (("SQLite, 1 job", 1, False, False), ("PostgreSQL, 1 job", 1, True, False),
                                          ("PostgreSQL, 2 jobs", 2, True, False),
                                          ("PostgreSQL, 1 job, 18 honest students", 1, True, True),
                                          ("PostgreSQL, 2 jobs, 18 honest students", 2, True, True)):
        seconds, n = time_class(jobs, postgres, honest)
        runs.append((label, seconds, n))
        print(f"  {label}: {seconds:.1f} s, {seconds / n:.2f} s per submission", file=sys.stderr)
    write_results(runs)


def write_results(runs):
    """Write the section of RESULTS.md from (label, seconds, submissions) rows, in main()'s order."""
    lines = [f"Machine: {machine_line(_TFVersion)}; {date.today().isoformat()}.", "",
             f"`tools.grade` on the 30 students of tools/demo_class.py (a1_convolution; 5 correct, 11 known "
             f"mistakes, 2 blank, 12 hostile), cell time-out {CELL_TIMEOUT} s, each submission in its own "
             f"`nbgrader autograde` process. Every run gave every student the grade their case states.", "",
             "| run | submissions | total (s) | per submission (s) |",
             "|---|---:|---:|---:|"]
    for label, seconds, n in runs:
        lines.append(f"| {label} | {n} | {seconds:.1f} | {seconds / n:.2f} |")
    speedup = runs[1][1] / runs[2][1]
    honest = runs[3][1] / runs[4][1]
    lines += ["", f"Two jobs against one, both on PostgreSQL: **{speedup:.2f}x** for the whole class "
                  f"(goal {GOAL}x: {'met' if speedup >= GOAL else 'missed'}); {runs[0][1] / runs[2][1]:.2f}x "
                  f"against SQLite with one job; **{honest:.2f}x** for the 18 honest students alone.", "",
              "The hostile students include two that wait out the cell time-out (a busy loop, and a sleeping "
              "loop that ignores the interrupt); two jobs can overlap that waiting, so the whole-class figure "
              "flatters parallelism a little. The honest-only runs are grading work alone: nbgrader's and the "
              "kernel's start-up, and the checks."]
    write_section("grading a class", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
