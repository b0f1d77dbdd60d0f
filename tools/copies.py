"""Graded functions copied from cnnlib: flagged for the instructor to judge, never zeroed.

Students have cnnlib's source, so instead of writing ``conv2d`` they can paste
``cnnlib.ops.conv2d`` and rename a few things. :func:`find_copies` compares each
function a student defines under a graded name with every cnnlib function of the
same name (and the loop versions listed in :data:`ALSO`), after normalising away
what a copier changes first:

- the docstring, comments and formatting (the code is parsed, then printed back);
- the names of arguments, local variables and inner functions (all become ``_``, so
  an extra or merged variable does not shift every later name); names from outside
  the function (``np``, cnnlib's helpers) and attribute names stay, since they carry
  the logic.

Two functions whose normalised tokens agree for at least :data:`THRESHOLD` of their
length are reported. Functions shorter than :data:`MIN_TOKENS` tokens are skipped:
a one-line answer looks like every other right answer.
"""

import ast
import difflib
import importlib
import inspect
import io
import pkgutil
import textwrap
import tokenize
from dataclasses import dataclass
from functools import lru_cache

THRESHOLD = 0.9
MIN_TOKENS = 60
# cnnlib functions that are the same computation under another name.
ALSO = {"conv2d": ("conv2d_naive",), "conv2d_backward": ("conv2d_backward_naive",),
        "pool2d_backward": ("max_pool2d_backward", "avg_pool2d_backward")}
SKIPPED_PACKAGES = ("cnnlib.grading", "cnnlib.widgets")


@dataclass(frozen=True)
class Copy:
    """A student's function that matches a cnnlib reference once normalised."""

    where: str          # the notebook cell (grade_id)
    function: str       # the student's function name
    reference: str      # module.name of the cnnlib function
    similarity: float   # share of normalised tokens in common, 0..1

    def describe(self):
        return (f"{self.function} matches the reference implementation {self.reference} "
                f"({self.similarity:.0%} of its code is the same once names, comments and formatting are "
                f"normalised); for the instructor to judge, no points were taken")


class _Renamer(ast.NodeTransformer):
    def __init__(self, local_names):
        self.local = local_names

    def _new(self, name):
        return "_" if name in self.local else name

    def visit_Name(self, node):
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._new(node.arg)
        node.annotation = None
        return node

    def visit_FunctionDef(self, node):
        node.name = self._new(node.name)
        node.returns = None
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:] or [ast.Pass()]
        node.body = body
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef


def _local_names(function):
    names = {function.name}
    for node in ast.walk(function):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def normalised_tokens(function):
    """The tokens of a FunctionDef with docstrings, comments, formatting and local names normalised."""
    import copy

    tree = _Renamer(_local_names(function)).visit(copy.deepcopy(function))
    text = ast.unparse(ast.fix_missing_locations(tree))
    skip = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT,
            tokenize.ENDMARKER, tokenize.ENCODING}
    return [tok.string for tok in tokenize.generate_tokens(io.StringIO(text).readline) if tok.type not in skip]


@lru_cache(maxsize=1)
def references():
    """name -> [(module.name, normalised tokens)] for every function in cnnlib outside grading and widgets."""
    import cnnlib

    found = {}
    for info in pkgutil.walk_packages(cnnlib.__path__, "cnnlib."):
        if info.name.startswith(SKIPPED_PACKAGES):
            continue
        try:
            module = importlib.import_module(info.name)
            tree = ast.parse(textwrap.dedent(inspect.getsource(module)))
        except (ImportError, OSError, SyntaxError, TypeError):
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                found.setdefault(node.name, []).append((f"{info.name}.{node.name}", normalised_tokens(node)))
    return found


def similarity(a, b):
    """Share of two token lists in common (difflib's ratio), 0..1."""
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def find_copies(cells, graded_names):
    """Functions in ``cells`` ((where, source) pairs) that copy cnnlib's reference of a graded name.

    graded_names: the functions the assignment asks for (defined in its solution cells).
    Returns a list of :class:`Copy`, most similar first.
    """
    refs = references()
    found = []
    for where, source in cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or node.name not in graded_names:
                continue
            mine = normalised_tokens(node)
            if len(mine) < MIN_TOKENS:
                continue
            candidates = [r for name in (node.name, *ALSO.get(node.name, ())) for r in refs.get(name, [])]
            best = max(((similarity(mine, tokens), qualname) for qualname, tokens in candidates
                        if len(tokens) >= MIN_TOKENS), default=None)
            if best and best[0] >= THRESHOLD:
                found.append(Copy(where, node.name, best[1], best[0]))
    return sorted(found, key=lambda c: -c.similarity)
