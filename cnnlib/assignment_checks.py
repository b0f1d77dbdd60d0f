"""The assignments' public checks from the command line: ``python -m cnnlib.assignment_checks [NAME ...]``.

The student bundle's ``make check`` runs it. Each assignment notebook
(``assignments/<name>/<name>.ipynb``) runs from top to bottom exactly as the *Validate*
button runs it (:func:`cnnlib.grading.validate.execute_as_nbgrader`); then one line per
test cell says ``pass`` or ``FAIL``, its points and what the check found. Nothing is
written back to the notebook. The exit status is 0 when every test of every notebook
passes, 1 otherwise, 2 when a named assignment does not exist.
"""

import argparse
import sys
from pathlib import Path

__all__ = ["assignment_notebooks", "check_notebook", "main"]


def assignment_notebooks(folder="assignments", names=None):
    """The notebooks of the assignments under ``folder``, by name; all of them when ``names`` is empty.

    Raises:
        FileNotFoundError: a name in ``names`` has no ``<folder>/<name>/<name>.ipynb``; the message
            lists the assignments there are.
    """
    folder = Path(folder)
    known = sorted(p.parent.name for p in folder.glob("*/*.ipynb") if p.stem == p.parent.name)
    for name in names or []:
        if name not in known:
            raise FileNotFoundError(f"no assignment {name!r} under {folder}/ (there are: {', '.join(known)})")
    return [folder / name / f"{name}.ipynb" for name in (names or known)]


def check_notebook(path, config=None):
    """Run the notebook at ``path`` as *Validate* does; its test cells' results (``CellResult`` s).

    config: a traitlets Config for nbgrader's preprocessors (time-outs); None for nbgrader's defaults.
    """
    import nbformat

    from cnnlib.grading.results import cell_results
    from cnnlib.grading.validate import execute_as_nbgrader

    path = Path(path)
    nb = nbformat.read(path, as_version=nbformat.current_nbformat)
    return cell_results(execute_as_nbgrader(nb, path.parent, config))


def main(argv=None):
    """Check the named assignments (all when none is named), print their summaries; the exit status."""
    from cnnlib.grading.results import summary_lines

    parser = argparse.ArgumentParser(prog="python -m cnnlib.assignment_checks",
                                     description="Run the assignments' public checks as the Validate button does.")
    parser.add_argument("names", nargs="*", help="assignments to check, e.g. a1_convolution (default: all)")
    parser.add_argument("--folder", default="assignments", help="where the assignments are (default: assignments)")
    args = parser.parse_args(argv)
    try:
        notebooks = assignment_notebooks(args.folder, args.names)
    except FileNotFoundError as error:
        print(f"check: {error}", file=sys.stderr)
        return 2
    failed = 0
    for path in notebooks:
        print(f"== {path}", flush=True)
        results = check_notebook(path)
        print("\n".join(summary_lines(results)), flush=True)
        failed += sum(not r.passed for r in results)
    if failed:
        print(f"\n{failed} test(s) fail: open the notebook, fix the code above each FAIL, and run `make check` "
              f"again.")
    else:
        print("\nEvery test passes. Restart the kernel and run all cells before you submit.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
