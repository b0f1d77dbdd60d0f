"""The set-up a newcomer relies on: the dependency lists agree, make lab serves, make test fails loudly."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _requirement(text):
    """('name', 'specifier') from 'name>=1.0' (names normalized as pip does)."""
    m = re.fullmatch(r"\s*([A-Za-z0-9._-]+)\s*(.*?)\s*", text)
    return re.sub(r"[-_.]+", "-", m.group(1)).lower(), m.group(2).replace(" ", "")


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = {_requirement(r) for r in project["dependencies"]}
    for extra in ("instructor", "test"):
        pip_side |= {_requirement(r) for r in project["optional-dependencies"][extra]}

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side, nested = set(), []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            nested += dep["pip"]
        else:
            conda_side.add(dep)
    assert "python=3.11" in conda_side, "environment.yml must pin python=3.11"
    conda_side -= {"python=3.11", "pip"}
    assert "-e ." in nested, "environment.yml must install the course itself (pip: -e .)"
    nested.remove("-e .")
    conda_reqs = {_requirement(d) for d in conda_side} | {_requirement(d) for d in nested}

    assert conda_reqs == pip_side, (
        f"only in environment.yml: {sorted(conda_reqs - pip_side)}; "
        f"only in pyproject.toml: {sorted(pip_side - conda_reqs)}")
    assert project["requires-python"] == ">=3.11"


def test_the_listed_dependencies_are_the_ones_the_course_names():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_requirement(r)[0] for r in project["dependencies"]}
    assert names == {"numpy", "matplotlib", "ipywidgets", "jupyterlab", "nbgrader", "tensorflow-cpu",
                     "scikit-learn", "scikit-image", "mlxtend", "tqdm", "threadpoolctl"}
    assert set(project["optional-dependencies"]) == {"instructor", "test"}
    instructor = {_requirement(r)[0] for r in project["optional-dependencies"]["instructor"]}
    assert instructor == {"psutil", "psycopg", "latex2mathml", "jupyterhub"}


def test_the_student_install_imports_no_instructor_package():
    """What students run (cnnlib, and so the notebooks and assignments) imports only the student's install."""
    code = ("import sys, pkgutil, importlib, cnnlib\n"
            "for m in pkgutil.walk_packages(cnnlib.__path__, 'cnnlib.'):\n"
            "    importlib.import_module(m.name)\n"
            "print(sorted({'psutil', 'psycopg', 'latex2mathml', 'jupyterhub', 'tools'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]"


def test_cnnlib_is_installed_from_this_checkout():
    out = subprocess.run([sys.executable, "-c", "import cnnlib; print(cnnlib.__file__)"],
                         capture_output=True, text=True, cwd="/", check=True).stdout
    assert Path(out.strip()).resolve() == ROOT / "cnnlib" / "__init__.py"


def test_importing_cnnlib_does_not_import_tensorflow():
    code = "import sys, cnnlib, cnnlib.ops, cnnlib.shapes; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _make_env(tmp_path):
    env = dict(os.environ)
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"))
    for var in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):  # in case the suite itself runs under make
        env.pop(var, None)
    return env


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_group(proc):
    """Stop make and the JupyterLab it started (one process group), by pid."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass


@pytest.mark.slow
def test_make_lab_serves_jupyterlab_on_localhost(tmp_path):
    port, token = _free_port(), "course-test-token"
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "lab", f"PORT={port}",
             f"LAB_FLAGS=--no-browser --IdentityProvider.token={token}"],
            cwd=ROOT, env=_make_env(tmp_path), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        status, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5) as r:
                    status = r.status
                    page = r.read().decode()
                break
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                time.sleep(0.5)
        assert status == 200, f"JupyterLab did not answer; its log:\n{log.read_text()[-3000:]}"
        assert "JupyterLab" in page
        text = log.read_text()
        assert f"http://127.0.0.1:{port}/lab" in text, "make lab must print the URL to open"
    finally:
        _stop_group(proc)
    deadline = time.monotonic() + 15  # nothing is left listening once it has shut down
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _port_open(port)


def _port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_make_test_treats_no_tests_as_failure(tmp_path):
    result = subprocess.run(
        ["make", "--no-print-directory", "test", "PYTEST_ARGS=-q -k no_test_has_this_name_zz"],
        cwd=ROOT, env=_make_env(tmp_path), capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=300)
    assert result.returncode != 0
    assert "collected no tests" in result.stderr


def test_ci_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
    assert re.search(r"^make test$", script, re.M)
    assert "set -euo pipefail" in script


INSTALLS = {"lab": "pip install --quiet -e .\n", "test": "pip install --quiet -e '.[instructor,test]'",
            "grade": "pip install --quiet -e '.[instructor]'"}


@pytest.mark.parametrize("extra, expected", [
    (["-W", "pyproject.toml"], []),          # pyproject.toml changed
    (["VENV=/nonexistent/venv"], ["-m venv /nonexistent/venv"]),
])
def test_make_sets_up_the_venv_when_missing_or_stale(tmp_path, extra, expected):
    """Dry runs (make -n) show the set-up steps make test, make lab and make grade would take: the
    student's install for lab, with the instructor extra for grade, and the test extra too for test."""
    for target, install in INSTALLS.items():
        result = subprocess.run(["make", "-n", "--no-print-directory", *extra, target, "ASSIGNMENT=a1"], cwd=ROOT,
                                env=_make_env(tmp_path), capture_output=True, text=True, check=True)
        for step in [*expected, install]:
            assert step in result.stdout, f"make {target} {extra}: no '{step}' in\n{result.stdout}"
    lab = subprocess.run(["make", "-n", "--no-print-directory", *extra, "lab"], cwd=ROOT, env=_make_env(tmp_path),
                         capture_output=True, text=True, check=True).stdout
    assert "instructor" not in lab, "make lab installs only what students run"
