"""The whole tree passes ruff, configured in pyproject.toml ([tool.ruff]); only nbgrader's generated assignments/ is
left out (their source, solutions/, is linted)."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_configured_without_blanket_ignores():
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    lint = ruff.get("lint", {})
    assert lint.get("select"), "choose the rules in [tool.ruff.lint] select"
    for key in ("exclude", "per-file-ignores", "extend-per-file-ignores", "ignore", "extend-ignore"):
        assert key not in ruff and key not in lint, f"[tool.ruff] {key}: fix the code, or add `# noqa: CODE - why`"
    # Generated files only: nbgrader writes assignments/ from solutions/, which is linted.
    assert ruff.get("extend-exclude", []) in ([], ["assignments"]), "only the generated assignments/ may be left out"
    assert "extend-exclude" not in lint


def test_the_tree_passes_ruff():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", "--no-cache", "."],
                          cwd=ROOT, capture_output=True, text=True)
    problems = [line for line in done.stdout.splitlines() if line.startswith(tuple("abcdefghijklmnopqrstuvwxyz"))]
    files = sorted({line.split(":", 1)[0] for line in problems})
    assert done.returncode == 0, (f"ruff finds {len(problems)} problems in {len(files)} files: {files}\n"
                                  + "\n".join(problems[:40]) + f"\n{done.stderr[-2000:]}")
