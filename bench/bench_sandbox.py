"""Benchmark: what the sandbox and the grader's own verdicts cost per submission.

Run with ``make bench`` (or ``python bench/bench_sandbox.py``). Rewrites the
"sandboxed grading" section of bench/RESULTS.md.

For each assignment a scratch course is released and the instructor's solution is
submitted by three students; ``nbgrader autograde`` grades all three (so nbgrader's
start-up is shared, as when an instructor grades a class) in three set-ups, in turn,
``ROUNDS`` times, and the median per submission is kept:

- **sandboxed**: what ``make grade`` runs: the kernel in bubblewrap, each test cell
  judged again in the grader's process;
- **no sandbox**: the same with ``--unsafe-no-sandbox``; the difference is the
  sandbox's cost (target: under 10%, or under 1 s, whichever is larger);
- **no sandbox, not judged**: stock execution, as before this design; the difference
  from "no sandbox" is the cost of deciding scores outside the student's code.

Every run must score 100 for every student, or the benchmark stops.
"""

import os
import statistics
import sys
import tempfile
import time
from datetime import date
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_conv import machine_line  # noqa: E402
from bench.results import write_section  # noqa: E402
from tools import course  # noqa: E402

ROUNDS = 3
STUDENTS = 3
SETUPS = {"sandboxed": ({}, []),
          "no sandbox": ({"CNN_COURSE_UNSAFE_NO_SANDBOX": "1"}, []),
          "no sandbox, not judged": ({"CNN_COURSE_UNSAFE_NO_SANDBOX": "1"}, ["--ContainedExecute.judge=False"])}


class _TFVersion:
    __version__ = metadata.version("tensorflow-cpu")


def time_setups(name, rounds=ROUNDS):
    """{set-up: median seconds per submission} for assignment ``name``."""
    seconds = {label: [] for label in SETUPS}
    with tempfile.TemporaryDirectory() as tmp:
        root = course.make_course(Path(tmp) / "course", [name])
        course.release(root, name)
        fill = course.solution_fill(name)
        for i in range(STUDENTS):
            course.submit(root, name, f"s{i}", fill)
        for _ in range(rounds):
            for label, (env, args) in SETUPS.items():
                saved = {k: os.environ.get(k) for k in env}
                os.environ.update(env)
                try:
                    start = time.perf_counter()
                    course.run_nbgrader(root, "autograde", name, "--force", *args)
                    seconds[label].append((time.perf_counter() - start) / STUDENTS)
                finally:
                    for k, v in saved.items():
                        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
                totals = {s: sum(score for score, _ in cells.values())
                          for s, cells in course.cell_scores(root, name).items()}
                if set(totals.values()) != {100}:
                    raise RuntimeError(f"{name}, {label}: the solution did not score 100: {totals}")
    return {label: statistics.median(values) for label, values in seconds.items()}


def main(names=None):
    rows = []
    for name in names or course.assignment_names():
        medians = time_setups(name)
        rows.append((name, medians))
        print(f"  {name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in medians.items()), file=sys.stderr)
    write_results(rows)


def write_results(rows):
    """Write the section of RESULTS.md from (assignment, {set-up: seconds per submission}) rows."""
    lines = [f"Machine: {machine_line(_TFVersion)}; {date.today().isoformat()}.", "",
             f"`nbgrader autograde` of {STUDENTS} copies of the instructor's solution (all score 100), "
             f"seconds per submission, median of {ROUNDS} rounds run in turn. 'Sandbox cost' is sandboxed "
             f"minus no sandbox (target: under 10% or under 1 s); 'judging cost' is no sandbox minus not judged.",
             "",
             "| assignment | sandboxed (s) | no sandbox (s) | no sandbox, not judged (s) | sandbox cost "
             "| judging cost |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, m in rows:
        box = m["sandboxed"] - m["no sandbox"]
        judge = m["no sandbox"] - m["no sandbox, not judged"]
        target = "met" if box < max(1.0, 0.1 * m["no sandbox"]) else "missed"
        lines.append(f"| {name} | {m['sandboxed']:.2f} | {m['no sandbox']:.2f} | {m['no sandbox, not judged']:.2f} "
                     f"| {box:+.2f} s ({box / m['no sandbox']:+.0%}, {target}) | {judge:+.2f} s |")
    write_section("sandboxed grading", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:] or None)
