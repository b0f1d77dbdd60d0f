"""No module of the course uses another module's private (underscore) names.

A helper that two modules need belongs in a module meant to be shared (``cnnlib/arguments.py``,
``cnnlib/windows.py``, ``cnnlib/figures.py``, ...), under a public name. This reads every module
of ``cnnlib/`` and ``tools/`` and lists each ``from <course module> import _name`` and each
``<course module>._name``; names inside one module, and Python's own (``sys._getframe``), are fine.
"""

import ast
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cnnlib", "tools")


def _module_name(path, root):
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_module(node, path, root):
    """The absolute name of the module an ``ImportFrom`` reads from."""
    if not node.level:
        return node.module or ""
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    package = package[:len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def _is_private(name):
    return name.startswith("_") and not name.startswith("__")


def _ours(module):
    return module.split(".")[0] in PACKAGES


def private_uses(path, root=ROOT):
    """``"file:line: what"`` for every private name of another course module that ``path`` uses."""
    tree = ast.parse(path.read_text(), filename=str(path))
    me = _module_name(path, root)
    where = path.relative_to(root)
    modules = {}       # local name -> course module it stands for
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _imported_module(node, path, root)
            if not _ours(source):
                continue
            for alias in node.names:
                if _is_private(alias.name) and source != me:
                    found.append((node.lineno, f"from {source} import {alias.name}"))
                modules[alias.asname or alias.name] = f"{source}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _ours(alias.name):
                    modules[alias.asname or alias.name.split(".")[0]] = alias.asname and alias.name or \
                        alias.name.split(".")[0]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _is_private(node.attr) and isinstance(node.value, ast.Name)
                and node.value.id in modules and modules[node.value.id] != me):
            found.append((node.lineno, f"{modules[node.value.id]}.{node.attr}"))
    return [f"{where}:{line}: {what}" for line, what in sorted(found)]


def _all_uses():
    return [use for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            for use in private_uses(path)]


def test_no_module_uses_a_private_name_of_another():
    found = _all_uses()
    assert not found, "give these helpers a public name in a shared module:\n" + "\n".join(found)


def test_the_check_sees_private_imports(tmp_path):
    # The reader itself, on a module written for it: both forms are found, a module's own names are not.
    (tmp_path / "cnnlib").mkdir()
    module = tmp_path / "cnnlib" / "probe.py"
    module.write_text("from .ops import _secret, conv2d\nfrom . import shapes\nimport tools.grade as g\n"
                      "from .probe import _mine\nimport numpy as np\n"
                      "shapes._hidden(1)\ng._also()\nconv2d._attribute\nnp._private\n_mine()\n")
    uses = [use.split(": ", 1)[1] for use in private_uses(module, tmp_path)]
    assert uses == ["from cnnlib.ops import _secret", "cnnlib.shapes._hidden", "tools.grade._also",
                    "cnnlib.ops.conv2d._attribute"]
