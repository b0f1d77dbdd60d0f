"""The student bundle works on its own: unzipped in a fresh folder, its Makefile installs the student's
install (no instructor packages), ``make lab`` serves JupyterLab and ``make check`` runs the public checks."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import zipfile

import nbformat
import pytest

from tools import bundle, course

INSTRUCTOR_ONLY = ("psycopg", "latex2mathml", "jupyterhub", "tools")


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "VIRTUAL_ENV")}
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"))
    # No trace of the course's own venv: the bundle's Makefile must find python3.11 and build its own.
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if "/.venv/" not in p + "/")
    return env


def _make(folder, env, *args, timeout=900):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=folder, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=timeout)


def test_the_bundle_ships_its_own_makefile(tmp_path):
    out = tmp_path / "bundle.zip"
    files = bundle.build(out)
    assert "Makefile" in files
    with zipfile.ZipFile(out) as archive:
        makefile = archive.read(f"{bundle.TOP}/Makefile").decode()
    targets = {line.split(":")[0] for line in makefile.splitlines() if line and not line[0].isspace()
               and ":" in line and "=" not in line.split(":")[0]}
    assert {"lab", "check"} <= targets
    assert not targets & {"test", "grade", "bench", "release", "hub", "student-bundle"}, \
        "the bundle has no tests/, tools/ or bench/: its Makefile must not offer their targets"


@pytest.fixture(scope="module")
def unzipped(tmp_path_factory):
    """The bundle unzipped in a fresh folder, its venv made by its own ``make venv``."""
    tmp = tmp_path_factory.mktemp("bundle")
    out = tmp / "bundle.zip"
    bundle.build(out)
    with zipfile.ZipFile(out) as archive:
        archive.extractall(tmp / "unzipped")
    folder = tmp / "unzipped" / bundle.TOP
    env = _env(tmp)
    done = _make(folder, env, "venv")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder, env, tmp


@pytest.mark.slow
def test_the_bundle_installs_without_the_instructor_packages(unzipped):
    folder, env, _ = unzipped
    code = ("import importlib.util, cnnlib; "
            f"print([m for m in {INSTRUCTOR_ONLY!r} if importlib.util.find_spec(m)], cnnlib.__file__)")
    out = subprocess.run([str(folder / ".venv" / "bin" / "python"), "-c", code], cwd="/", env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "[]", f"instructor-only packages in the student's install: {out}"
    assert out[1].startswith(str(folder)), "cnnlib comes from the unzipped bundle"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_make_lab_serves_from_the_unzipped_bundle(unzipped):
    folder, env, tmp = unzipped
    port, token = _free_port(), "bundle-test-token"
    log = tmp / "lab.log"
    with open(log, "w") as handle:
        proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={port}",
                                 f"LAB_FLAGS=--no-browser --IdentityProvider.token={token}"],
                                cwd=folder, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        answer, deadline = None, time.monotonic() + 120
        while answer is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api?token={token}", timeout=5) as r:
                    answer = json.loads(r.read())
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                time.sleep(0.5)
        assert answer is not None and "version" in answer, f"no answer on /api; the log:\n{log.read_text()[-3000:]}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/assignments?token={token}") as r:
            listed = {item["name"] for item in json.loads(r.read())["content"]}
        assert "a1_convolution" in listed, "the server's folder is the unzipped bundle"
    finally:
        if proc.poll() is None:   # make and the JupyterLab it started: one process group, stopped by its pid
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    deadline = time.monotonic() + 15
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _port_open(port)


@pytest.mark.slow
def test_make_check_runs_the_public_checks_in_the_bundle(unzipped):
    folder, env, _ = unzipped
    done = _make(folder, env, "check", "ASSIGNMENT=a1_convolution", timeout=600)
    text = done.stdout + done.stderr
    assert done.returncode != 0, "a fresh assignment has no answers yet: its checks fail"
    assert "a1_convolution.ipynb" in text and "tests pass" in text
    assert "FAIL  test_zero_pad" in text, text[-3000:]
    assert "fix the code above each FAIL" in text
    wrong = _make(folder, env, "check", "ASSIGNMENT=a9_nothing", timeout=600)
    assert wrong.returncode != 0 and "no assignment 'a9_nothing'" in wrong.stdout + wrong.stderr

    path = folder / "assignments" / "a1_convolution" / "a1_convolution.ipynb"   # answered as the instructor would
    nb, answers = nbformat.read(path, as_version=4), course.solution_fill("a1_convolution")
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = answers[meta["grade_id"]]
    nbformat.write(nb, path)
    done = _make(folder, env, "check", "ASSIGNMENT=a1_convolution", timeout=600)
    text = done.stdout + done.stderr
    assert done.returncode == 0 and "Every test passes" in text and "FAIL" not in text, text[-3000:]
