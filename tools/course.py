"""Drive the course's nbgrader loop from Python: a scratch course, submissions, scores, feedback.

Used by the pipeline tests and by instructors' scripts. Every nbgrader
command runs from the course root (nbgrader reads ``nbgrader_config.py``
only there) with the venv's ``bin/`` first on PATH (nbgrader calls
``alembic`` by name).

Submissions are built from the released notebook, as a student would: a
*fill* maps solution-cell ``grade_id`` to the code the student wrote there.
:func:`solution_fill` gives the instructor's answers with the
``### BEGIN/END SOLUTION`` markers removed; :func:`read_fixture` reads a file
of wrong answers (see tests/fixtures/README.md).
"""

import html
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
RELEASE = ROOT / "assignments"

_SOLUTION_BLOCK = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION[ \t]*\n?",
                             re.M | re.S)


def assignment_names():
    """The assignments in solutions/, in order (a1_..., a2_..., ...)."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and not p.name.startswith("."))


def nbgrader_env(database_url=None):
    """The environment nbgrader needs: the venv's bin/ first on PATH, TensorFlow quiet.

    database_url: the gradebook (``DATABASE_URL``, read by nbgrader_config.py); None
    means the course's own SQLite file, whatever the caller's environment says.
    """
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def nbgrader_command(*args):
    """The venv's ``nbgrader`` with ``args``, as an argv list."""
    return [str(Path(sys.executable).parent / "nbgrader"), *args]


def open_gradebook(course, database_url=None, course_id="cnn-course"):
    """nbgrader's Gradebook for ``course`` (a context manager).

    nbgrader runs ``alembic`` by name when it opens a gradebook, so the venv's
    bin/ goes first on this process's PATH too.
    """
    from nbgrader.api import Gradebook

    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return Gradebook(gradebook_url(course, database_url), course_id)


def gradebook_url(course, database_url=None):
    """The gradebook nbgrader uses for ``course``: ``database_url`` or the course's SQLite file."""
    return database_url or f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


def run_nbgrader(course, *args, check=True, timeout=1800, database_url=None):
    """Run ``nbgrader ARGS`` in ``course``; return the CompletedProcess (output captured)."""
    result = subprocess.run(nbgrader_command(*args), cwd=course, env=nbgrader_env(database_url),
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-4000:]}\n"
                           f"{result.stderr[-4000:]}")
    return result


def make_course(dest, assignments=None):
    """A scratch copy of the course's nbgrader set-up in ``dest``: config and sources only."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    # The config loads the course's preprocessors from tools/.
    shutil.copytree(ROOT / "tools", dest / "tools", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in assignments or assignment_names():
        shutil.copytree(SOLUTIONS / name, dest / "solutions" / name)
    return dest


def release(course, name):
    """``nbgrader generate_assignment`` in ``course``; returns the released folder."""
    run_nbgrader(course, "generate_assignment", name, "--force")
    return Path(course) / "assignments" / name


def solution_fill(name):
    """grade_id -> the instructor's code of each solution cell, markers removed."""
    nb = nbformat.read(SOLUTIONS / name / f"{name}.ipynb", as_version=4)
    fill = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            fill[meta["grade_id"]] = _SOLUTION_BLOCK.sub(lambda m: m.group(1), cell.source)
    return fill


def solution_blocks(name):
    """The code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` in the source notebook."""
    nb = nbformat.read(SOLUTIONS / name / f"{name}.ipynb", as_version=4)
    return [block for cell in nb.cells if cell.cell_type == "code"
            for block in _SOLUTION_BLOCK.findall(cell.source)]


@dataclass
class Fixture:
    """A wrong submission: which solution cells it replaces, and what grading must say."""

    name: str
    mistake: str
    expect: list = field(default_factory=list)   # text the feedback must contain
    fails: list = field(default_factory=list)    # test cells that must score 0
    cells: dict = field(default_factory=dict)    # grade_id -> code


def read_fixture(path):
    """Read a fixture file (tests/fixtures/README.md describes the format)."""
    path = Path(path)
    fixture = Fixture(name=path.stem, mistake="")
    current = last = None
    lines = []
    for line in path.read_text().splitlines(keepends=True):
        header = re.match(r"^# %% (\S+)\s*$", line)
        if header:
            if current:
                fixture.cells[current] = "".join(lines).strip("\n") + "\n"
            current, lines = header.group(1), []
        elif current:
            lines.append(line)
        else:
            key = re.match(r"^# (mistake|expect|fails): (.*)$", line)
            more = re.match(r"^#   +(\S.*)$", line)   # an indented comment line continues the line above
            if key and key.group(1) == "mistake":
                fixture.mistake, last = key.group(2).strip(), "mistake"
            elif key:
                getattr(fixture, key.group(1)).append(key.group(2).strip())
                last = key.group(1)
            elif more and last == "mistake":
                fixture.mistake += " " + more.group(1).strip()
            elif more and last:
                values = getattr(fixture, last)
                values[-1] += " " + more.group(1).strip()
    if current:
        fixture.cells[current] = "".join(lines).strip("\n") + "\n"
    if not fixture.cells or not fixture.expect or not fixture.fails:
        raise ValueError(f"{path}: a fixture needs '# expect:', '# fails:' lines and at least one '# %% cell'")
    if fixture.fails == ["none"]:   # a submission that must keep every point
        fixture.fails = []
    return fixture


def submit(course, name, student, fill=None, notebook=None):
    """Put a submission for ``student`` under ``course``/submitted.

    The released notebook with its solution cells replaced from ``fill``
    (grade_id -> code; cells not in fill stay as released), or ``notebook``
    (a NotebookNode or raw text) as it is.
    """
    folder = Path(course) / "submitted" / student / name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.ipynb"
    if notebook is not None:
        if isinstance(notebook, str):
            target.write_text(notebook)
        else:
            nbformat.write(notebook, target)
        return target
    nb = nbformat.read(Path(course) / "assignments" / name / f"{name}.ipynb", as_version=4)
    unknown = set(fill or {}) - {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    if unknown:
        raise ValueError(f"no solution cells named {sorted(unknown)} in {name}")
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta["grade_id"] in (fill or {}):
            cell.source = fill[meta["grade_id"]]
    nbformat.write(nb, target)
    return target


def cell_scores(course, name, database_url=None):
    """student -> {test cell grade_id: (score, max_score)} from the course's gradebook."""
    scores = {}
    with open_gradebook(course, database_url) as gb:
        for submission in gb.assignment_submissions(name):
            for notebook in submission.notebooks:
                scores[submission.student_id] = {
                    grade.name: (grade.score, grade.max_score) for grade in notebook.grades}
    return scores


def feedback_text(course, name, student):
    """The student's feedback page as plain text (tags stripped, entities decoded)."""
    page = (Path(course) / "feedback" / student / name / f"{name}.html").read_text()
    return html.unescape(re.sub(r"<[^>]+>", "", page))
