"""cnnlib's layout: what importing a module costs, and that the package's docstring names every module.

The rule written in cnnlib/__init__.py: importing any cnnlib module never imports TensorFlow
or ipywidgets (they take seconds and hundreds of MB; the functions that need them import them),
and only the drawing modules (cnnlib.viz, cnnlib.widgets, cnnlib.figures) import matplotlib.
"""

import ast
import subprocess
import sys
from pathlib import Path

import cnnlib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cnnlib"
DRAWING = ("cnnlib.viz", "cnnlib.widgets", "cnnlib.figures")


def _modules():
    """Every module of cnnlib by its dotted name, read from the files (nothing imported)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _imported_after(modules):
    code = ("import sys\n" + "".join(f"import {name}\n" for name in modules) +
            "print(sorted(m for m in ('tensorflow', 'keras', 'ipywidgets', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return ast.literal_eval(out.stdout.strip())   # the list the child printed


def test_no_module_imports_tensorflow_or_ipywidgets_when_imported():
    assert set(_imported_after(_modules())) <= {"matplotlib"}


def test_only_the_drawing_modules_import_matplotlib():
    quiet = [name for name in _modules() if not name.startswith(DRAWING)]
    assert "cnnlib.keras_bridge" in quiet and "cnnlib.grading.visualization" in quiet
    assert _imported_after(quiet) == []


def test_the_package_docstring_names_every_module_and_every_module_says_its_job():
    top = {name.split(".")[1] for name in _modules() if name.count(".") >= 1}
    missing = sorted(name for name in top if f"cnnlib.{name}" not in cnnlib.__doc__)
    assert not missing, f"cnnlib/__init__.py's docstring does not name {missing}"
    for path in PACKAGE.rglob("*.py"):
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path.relative_to(ROOT)} has no docstring"
