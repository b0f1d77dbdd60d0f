"""Autograde one submission in a process of its own, under a memory limit and a wall-clock limit.

    autograde(course, assignment, student, ...)   run ``nbgrader autograde --student``; (None, log) when it
                                                  finished, (reason, log) when it had to be stopped or failed
    wall_limit(notebooks)                         how long one submission may take
    cell_timeout()                                how long one cell may run

The memory limit is set by :mod:`tools.limited` before nbgrader starts, so the kernel
inherits it; a run past its wall-clock limit is killed with everything it started
(:func:`tools.processes.kill_tree`). Nothing here reads or writes the gradebook.
"""

import os
import subprocess
import sys

import nbformat

from tools import course as C
from tools.processes import kill_tree

__all__ = ["MEMORY_GIB", "autograde", "wall_limit", "cell_timeout"]

MEMORY_GIB = float(os.environ.get("CNN_COURSE_KERNEL_MEMORY_GB", "6"))


def cell_timeout():
    """Seconds one cell may run (nbgrader_config.py reads the same variable)."""
    return int(os.environ.get("CNN_COURSE_CELL_TIMEOUT", "120"))


def wall_limit(notebooks):
    """Seconds nbgrader may take on one submission: every code cell at its time-out, and more."""
    cells = sum(1 for path in notebooks for cell in nbformat.read(path, as_version=4).cells
                if cell.cell_type == "code")
    return cells * (cell_timeout() + 15) + 120


def autograde(course, assignment, student, database_url, wall_limit, sandboxed=True):
    """Run nbgrader on one submission; (None, log) when it finished, (reason, log) when not.

    sandboxed: False only for ``--unsafe-no-sandbox`` (the environment tells nbgrader_config.py).
    """
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
        kill_tree(process.pid)
        log, _ = process.communicate()
        return f"grading was stopped after {wall_limit} s (the notebook never finished)", log
    if process.returncode != 0:
        errors = [line for line in log.splitlines() if "ERROR" in line or "Error:" in line]
        detail = errors[-3] if len(errors) >= 3 else (errors[-1] if errors else log.strip()[-200:])
        return f"nbgrader could not grade it (exit {process.returncode}): {detail.strip()[:240]}", log
    return None, log
