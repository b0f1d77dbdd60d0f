"""Benchmark: seconds to autograde one submission of each assignment with nbgrader.

Run with ``make bench`` (or ``python bench/bench_autograde.py``). Rewrites the
"autograding" section of bench/RESULTS.md.

For each assignment a scratch course is released and the instructor's
solution is submitted by three students. We time ``nbgrader autograde`` for
one student (the whole command, start-up included: what an instructor waits
for) and for three (the difference over two is the cost of each further
submission, without nbgrader's own start-up). Target: under 15 s per
submission on 2 cores.
"""

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

TARGET_S = 15.0

NOTE = """\
Measured 2026-11-30 on a nearly quiet machine (load average about 1: the benchmark itself). Every kernel runs
in the sandbox and every test cell is judged again in the grader's process (tools/trusted.py). a3 and a6 score
what the grader measures itself, and that is most of their time. a3: the grader imports TensorFlow (about 4 s),
trains the student's cnnlib CNN (3 epochs on 4,000 digits, about 4 s) and Keras CNN (4 epochs, about 6 s), and
the kernel imports TensorFlow too; it misses the 15-second target. Meeting it means a smaller training budget
(fewer epochs or multiply-adds), which lowers the accuracies the tiers are set from (bench_a3_recipes.py): not
done. a4 builds VGG-16 (138 M weights) in Keras for the layer-table check, in the kernel and again in the grader;
it took 13.3 s before judging moved into the grader (2026-11-24). a6: the kernel runs the student's own layers
through the 50-digit and the 1,000-digit trainings and the grader retraces the 1,000-digit one with cnnlib's layers.
"""


class _TFVersion:
    """machine_line wants the TensorFlow module only for its version; don't import it here."""
    __version__ = metadata.version("tensorflow-cpu")


def time_autograde(name):
    """(seconds for one submission, seconds per further submission) for assignment ``name``."""
    with tempfile.TemporaryDirectory() as tmp:
        root = course.make_course(Path(tmp) / "course", [name])
        course.release(root, name)
        fill = course.solution_fill(name)
        for student in ("s1", "s2", "s3"):
            course.submit(root, name, student, fill)
        start = time.perf_counter()
        course.run_nbgrader(root, "autograde", name, "--student=s1")
        one = time.perf_counter() - start
        start = time.perf_counter()
        course.run_nbgrader(root, "autograde", name, "--force")
        three = time.perf_counter() - start
        totals = {s: sum(score for score, _ in cells.values()) for s, cells in course.cell_scores(root, name).items()}
        if set(totals.values()) != {100}:
            raise RuntimeError(f"{name}: the solution did not score 100: {totals}")
    return one, (three - one) / 2


def main():
    rows = []
    for name in course.assignment_names():
        one, each = time_autograde(name)
        rows.append((name, one, each))
        print(f"  {name}: {one:.1f} s for one submission, {each:.1f} s per further one", file=sys.stderr)
    write_results(rows)


def write_results(rows):
    """Write the section of RESULTS.md from (assignment, one submission s, each further s) rows."""
    lines = [f"Machine: {machine_line(_TFVersion)}; {date.today().isoformat()}.", "",
             "`nbgrader autograde` on the instructor's solution (which scores 100), from a released scratch course.",
             "'One submission' is the whole command for one student, nbgrader's start-up included; "
             "'each further' is (three students - one student) / 2.", "",
             "| assignment | one submission (s) | each further (s) | target < 15 s |",
             "|---|---:|---:|---|"]
    for name, one, each in rows:
        lines.append(f"| {name} | {one:.1f} | {each:.1f} | {'met' if one < TARGET_S else 'missed'} |")
    lines += ["", NOTE]
    write_section("autograding one submission", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
