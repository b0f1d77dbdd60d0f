"""Every notebook in notebooks/ runs top to bottom, and is committed with its outputs stripped.

Generic on purpose: a new notebooks/*.ipynb is picked up with no change here.
Notebooks run with the venv's python3 kernel, from inside notebooks/, offline.
"""

import os
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def _ids(paths):
    return [p.name for p in paths]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb files"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_with_outputs_stripped(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} hold outputs or execution counts; "
                       f"clear them (Edit > Clear Outputs of All Cells) before committing")
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state in the metadata; strip it"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(path, tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_backup = dict(os.environ)
    # The kernel inherits this process's environment: keep TensorFlow quiet, the
    # kernel's runtime files out of the user's folders, and matplotlib headless.
    os.environ.update(TF_CPP_MIN_LOG_LEVEL="3", JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
                      MPLBACKEND="module://matplotlib_inline.backend_inline")
    try:
        client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        started = time.perf_counter()
        client.execute()      # raises CellExecutionError, naming the cell, on the first error
        from conftest import NOTEBOOK_SECONDS
        NOTEBOOK_SECONDS[path.name] = time.perf_counter() - started
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    errors = [out for cell in nb.cells for out in cell.get("outputs", []) if out.output_type == "error"]
    assert not errors


LECTURES = [path for path in NOTEBOOKS if path.name[:2].isdigit()]


def test_the_lectures_are_numbered_without_gaps_and_every_one_is_run():
    """The run test above is parametrized by NOTEBOOKS: every numbered lecture, 11 included, is executed."""
    numbers = [int(path.name[:2]) for path in LECTURES]
    assert numbers == list(range(len(numbers))), (f"lecture numbers {numbers}: expected 00 to "
                                                  f"{len(numbers) - 1:02d}, each once, without gaps")
    assert "11_modern_cnns.ipynb" in {path.name for path in LECTURES}, "notebook 11 is missing from notebooks/"
    assert set(LECTURES) <= set(NOTEBOOKS)


@pytest.mark.parametrize("where", ["notebooks/README.md", "notebooks/00_start_here.ipynb"])
def test_every_lecture_is_listed_where_students_look(where):
    """notebooks/README.md and notebook 00 each have a table row for every lecture; README.md names the last one."""
    text = (ROOT / where).read_text(encoding="utf-8")
    missing = [path.stem for path in LECTURES if f"| `{path.stem}` |" not in text]
    assert not missing, f"{where} has no table row for {missing}: add one saying what each covers"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"`00_start_here` to `{LECTURES[-1].stem}`" in readme, (
        f"README.md should say the lectures run from `00_start_here` to `{LECTURES[-1].stem}`")


def _graded_function_names():
    """Names of the functions that the assignments' solution cells define (what students are graded on)."""
    import ast

    names = set()
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                try:
                    tree = ast.parse(cell.source)
                except SyntaxError:
                    continue
                names |= {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return names


def test_the_graded_functions_are_found():
    """The check below is only as good as this list: it must hold a1's functions, for one."""
    assert {"conv2d", "conv_output_size", "zero_pad"} <= _graded_function_names()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_lectures_do_not_define_the_graded_functions(path):
    """A lecture calls cnnlib for a function an assignment grades; it never writes one out under its name."""
    import ast

    graded = _graded_function_names()
    found = []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        found += [(index, node.name) for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.FunctionDef) and node.name in graded]
    assert not found, (f"{path.name}: code cells define functions that an assignment grades {found}; "
                       f"call cnnlib's version instead and leave the writing to the assignment")
