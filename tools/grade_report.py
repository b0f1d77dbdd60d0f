"""The grader's report: ``reports/<assignment>/grades.csv`` and the table ``make grade`` prints.

    write_report(course, assignment, results)   one CSV row per student; returns its path
    format_table(results, width)                student, score, status and the first reason
"""

import csv
import shutil
from pathlib import Path

__all__ = ["write_report", "format_table"]


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
