"""Build the students' zip: ``python -m tools.bundle [OUT.zip]`` (``make student-bundle``).

It holds what a student works with: cnnlib, the lecture notebooks, the released
assignments, the set-up files, the README and a Makefile of its own (``tools/student.mk``:
``make lab`` and ``make check``, the assignments' public checks). It leaves out everything that is the
instructors' alone: ``solutions/`` (answers and hidden tests), the gradebook and
nbgrader's working folders, the tests (they execute the solutions), the grading
tools and the benchmarks. Only files git tracks go in, so nothing local leaks.
:func:`check` re-reads the finished zip and refuses it if a solution or hidden-test
marker, or any excluded path, slipped in.
"""

import subprocess
import sys
import zipfile
from pathlib import Path

from tools.course import ROOT

INCLUDE = ("README.md", "pyproject.toml", "environment.yml", "cnnlib/", "notebooks/", "assignments/")
# Files that go in under another name: the course's Makefile has instructor targets the bundle cannot run.
RENAMED = {"tools/student.mk": "Makefile"}
FORBIDDEN_PATHS = ("solutions/", "tests/", "tools/", "bench/", "submitted/", "autograded/", "feedback/",
                   "reports/", "gradebook.db", "nbgrader_config.py", ".ci/")
FORBIDDEN_TEXT = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
TOP = "cnn-course"


def tracked_files(root=ROOT):
    """Paths git tracks under ``root`` (relative, as strings)."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    return sorted(name for name in out.decode().split("\0") if name)


def selected(files):
    """The files that go to students: under INCLUDE and outside FORBIDDEN_PATHS."""
    return [f for f in files if f.startswith(INCLUDE) and not f.startswith(FORBIDDEN_PATHS)
            and "/." not in f]


def check(path):
    """Raise ValueError naming the first instructor-only path or marker found in the zip."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            inner = name.split("/", 1)[1] if "/" in name else name
            if inner.startswith(FORBIDDEN_PATHS) or inner.endswith(".db"):
                raise ValueError(f"{path}: {name} is for instructors only")
            text = archive.read(name).decode("utf-8", errors="replace")
            for marker in FORBIDDEN_TEXT:
                if marker in text:
                    raise ValueError(f"{path}: {name} contains {marker!r}")


def build(out, root=ROOT):
    """Write the bundle to ``out``; returns the list of files in it (as named inside it)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = selected(tracked_files(root))
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in files:
            archive.write(Path(root) / name, f"{TOP}/{name}")
        for source, name in RENAMED.items():
            archive.write(Path(root) / source, f"{TOP}/{name}")
            files.append(name)
    try:
        check(out)
    except ValueError:
        out.unlink()
        raise
    return files


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else ROOT / "dist" / "cnn-course-student.zip"
    files = build(out)
    size = out.stat().st_size / 1e6
    print(f"wrote {out} ({len(files)} files, {size:.1f} MB): cnnlib, notebooks, released assignments, "
          f"set-up files (make lab, make check); no solutions, hidden tests, gradebook or grading tools")


if __name__ == "__main__":
    main()
