"""Look at a submission before any of it runs: can it be graded, and was it tampered with?

:func:`screen` compares a student's folder with the released assignment and
returns a :class:`Screening`:

- ``fatal``: why the submission cannot be graded at all (the notebook is missing,
  renamed, not valid JSON, or not a notebook). The grader gives it an explicit 0.
- ``flags``: tampering, each with the reason an instructor reads and whether it
  zeroes the test cells. A deleted test cell zeroes that cell. An edited test cell
  is only flagged: nbgrader restores the original before grading, so the score is
  honest. Code that rebinds or patches the checks (``def check_conv2d``,
  ``grading.check_conv2d = ...``, ``np.allclose = ...``, ``setattr(grading, ...)``,
  ``sys.modules[...] = ...``) zeroes every test cell: after it, no check can be trusted.

- copies: a graded function that is cnnlib's reference with the names, comments and
  formatting changed (:mod:`tools.copies`) is flagged for the instructor to judge; it
  zeroes nothing.

This is a static scan of what students normally write; code built to hide what it
does (``exec`` of an encoded string) gets past it. That no longer matters for the
score: every test cell is judged again outside the student's code
(``tools/trusted.py``), so hidden tampering only earns a "tampering suspected" flag.
docs/instructor.md has the threat model.
"""

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

PROTECTED_NAMES = {"grading", "CheckFailed"}


@dataclass
class Flag:
    """One finding for the instructor: where, what, and which test cells it zeroes (if any).

    kind: ``tampering`` (code that changes the checks, or a deleted or edited locked
    cell) or ``copy`` (a graded function copied from cnnlib's reference).
    """

    where: str
    reason: str
    zero_cells: tuple = ()      # grade_ids of test cells that score 0 because of it
    kind: str = "tampering"

    def __str__(self):
        return f"{self.where}: {self.reason}"


@dataclass
class Screening:
    """What :func:`screen` found in one submission."""

    fatal: str = None
    flags: list = field(default_factory=list)

    @property
    def zero_cells(self):
        """grade_ids of test cells that must score 0 whatever nbgrader says."""
        return sorted({gid for flag in self.flags for gid in flag.zero_cells})


def _meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def _code(source):
    """Cell source as Python: IPython magics and shell lines blanked so ast can parse it."""
    return "\n".join("" if re.match(r"\s*[%!]", line) else line for line in source.splitlines())


def _root_name(node):
    """The Name at the bottom of ``a.b[c].d``, or None."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


# Modules the checks rely on: changing anything inside them can change a check's verdict.
# (Others, such as matplotlib's rcParams, students may set as they like.)
GUARDED_MODULES = {"cnnlib", "numpy", "builtins", "sys", "importlib", "tensorflow", "keras"}


def _imported_modules(trees):
    """name -> top-level module, for every name an ``import`` binds in the notebook."""
    names = {"__builtins__": "builtins"}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names[(alias.asname or alias.name).split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    names[alias.asname or alias.name] = node.module.split(".")[0]
    return names


def _is_grading_import(node):
    """``from cnnlib import grading`` / ``import cnnlib.grading as grading``: harmless."""
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").startswith("cnnlib")
    return all(alias.name.startswith("cnnlib") for alias in node.names)


def _target_names(node):
    if isinstance(node, ast.Name):
        yield node
    elif isinstance(node, (ast.Tuple, ast.List)):
        for element in node.elts:
            yield from _target_names(element)
    elif isinstance(node, ast.Starred):
        yield from _target_names(node.value)


def _protected(name):
    return name in PROTECTED_NAMES or name.startswith("check_")


def tampering(tree, modules):
    """Reasons (line, text) why this code can change what the checks report.

    modules: names bound to modules the checks rely on (``np``, ``grading``, ``sys``, ...).
    """
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _protected(node.name):
            found.append((line, f"defines {node.name}, the name of a grading check"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and not _is_grading_import(node):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if _protected(bound):
                    found.append((line, f"imports something else under the name {bound}"))
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
        elif isinstance(node, ast.NamedExpr):
            targets = [node.target]
        for target in targets:
            for name in _target_names(target):
                if _protected(name.id):
                    found.append((line, f"rebinds {name.id}"))
            if isinstance(target, (ast.Attribute, ast.Subscript)) and _root_name(target) in modules:
                found.append((line, f"changes {ast.unparse(target)} inside an imported module"))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("setattr", "delattr") and node.args
                and _root_name(node.args[0]) in modules | PROTECTED_NAMES):
            found.append((line, f"calls {node.func.id} on {ast.unparse(node.args[0])}"))
    return found


def _read(path):
    """(NotebookNode, None) or (None, why it cannot be read)."""
    name = Path(path).name
    try:
        text = Path(path).read_text(encoding="utf-8")
        json.loads(text)
    except UnicodeDecodeError as error:
        return None, f"{name} is not UTF-8 text ({error.reason})"
    except json.JSONDecodeError as error:
        return None, f"{name} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # noqa: BLE001 - nbformat's reader and validator raise many kinds: all mean "not a notebook"
        lines = str(error).strip().splitlines() or [type(error).__name__]
        return None, f"{name} is JSON but not a valid notebook ({lines[0][:160]})"
    return nb, None


def screen(folder, released):
    """Screen the submission in ``folder`` against the released notebooks.

    folder:   the student's submitted folder (``submitted/<student>/<assignment>``).
    released: paths of the assignment's released notebooks.
    Returns a :class:`Screening`; never raises on a bad submission.
    """
    folder = Path(folder)
    result = Screening()
    for release_path in map(Path, released):
        path = folder / release_path.name
        if not path.exists():
            others = sorted(p.name for p in folder.glob("*.ipynb")) if folder.is_dir() else []
            result.fatal = (f"expected {path.name} but found {', '.join(others)}: the notebook was renamed; "
                            f"rename it back to {path.name} and regrade to grade it" if others
                            else f"no {path.name} was submitted")
            return result
        nb, why = _read(path)
        if nb is None:
            result.fatal = why
            return result
        release = nbformat.read(release_path, as_version=4)
        _compare_locked_cells(release, nb, result)
        _scan_code(release, nb, result)
        _scan_copies(release, nb, result)
    return result


def _compare_locked_cells(release, nb, result):
    submitted = {}
    for cell in nb.cells:
        gid = _meta(cell).get("grade_id")
        if gid:
            submitted.setdefault(gid, cell)
    for cell in release.cells:
        meta = _meta(cell)
        if not meta.get("locked"):
            continue
        gid = meta["grade_id"]
        mine = submitted.get(gid)
        if mine is None:
            result.flags.append(Flag(gid, "this locked cell was deleted" +
                                     (" (its test scores 0)" if meta.get("grade") else ""),
                                     (gid,) if meta.get("grade") else ()))
        elif mine.get("source", "").strip() != cell.source.strip():
            result.flags.append(Flag(gid, "this locked cell was edited; nbgrader put the original "
                                          "back before grading, so its score is the original's"))


def _scan_code(release, nb, result):
    locked = {_meta(c)["grade_id"] for c in release.cells if _meta(c).get("locked")}
    tests = tuple(_meta(c)["grade_id"] for c in release.cells if _meta(c).get("grade") and c.cell_type == "code")
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        gid = _meta(cell).get("grade_id")
        if gid in locked:          # nbgrader restores these from the release before running
            continue
        try:
            cells.append((gid or f"code cell {index}", ast.parse(_code(cell.source))))
        except (SyntaxError, ValueError):
            continue               # a syntax error fails that cell's tests on its own
    release_trees = []
    for cell in release.cells:
        if cell.cell_type == "code":
            try:
                release_trees.append(ast.parse(_code(cell.source)))
            except SyntaxError:
                pass
    imported = _imported_modules(release_trees + [tree for _, tree in cells])
    modules = {name for name, module in imported.items() if module in GUARDED_MODULES}
    for where, tree in cells:
        for line, reason in tampering(tree, modules):
            result.flags.append(Flag(where, f"line {line} {reason}; every test cell scores 0", tests))


def _scan_copies(release, nb, result):
    """Flag graded functions that copy cnnlib's reference (tools/copies.py)."""
    from tools.copies import find_copies

    graded = set()
    for cell in release.cells:
        if _meta(cell).get("solution") and cell.cell_type == "code":
            try:
                graded |= {n.name for n in ast.walk(ast.parse(_code(cell.source))) if isinstance(n, ast.FunctionDef)}
            except SyntaxError:
                pass
    locked = {_meta(c)["grade_id"] for c in release.cells if _meta(c).get("locked")}
    cells = [(_meta(c).get("grade_id") or f"code cell {i}", _code(c.source)) for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and _meta(c).get("grade_id") not in locked]
    for copy in find_copies(cells, graded):
        result.flags.append(Flag(copy.where, copy.describe(), kind="copy"))
