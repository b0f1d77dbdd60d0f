"""Grades nobody can forge: the sandbox each kernel runs in, and scores decided in the grader's process.

Fast tests run commands in a real bubblewrap sandbox (tools/sandbox.py) and check, one
at a time, what it hides and limits, and judge test cells with a stand-in kernel
(tools/trusted.py). The slow tests grade a class through ``make grade``'s code: the
attackers of tools/attacks.py, one per attack class, next to honest classmates, on
SQLite and on PostgreSQL with two jobs; and a few of the same attacks without the
sandbox, to show that they are real.
"""

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from tools import attacks, course, exchange, grade, postgres, sandbox, trusted

needs_sandbox = pytest.mark.skipif(sandbox.unavailable() is not None,
                                   reason=f"no sandbox here: {sandbox.unavailable()}")
CELL_TIMEOUT = "15"


def _inside(code, box=None, limits=None, data_from=None, timeout=60):
    """Run Python ``code`` in a fresh sandbox; return the CompletedProcess."""
    box = box or sandbox.create(limits=limits, data_from=data_from)
    try:
        return subprocess.run(box.command([sys.executable, "-c", code]), capture_output=True, text=True,
                              timeout=timeout)
    finally:
        sandbox.remove(box)


# ---------------------------------------------------------------- no sandbox, no grading

def test_without_bubblewrap_the_grader_refuses_and_says_how_to_fix_it(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.unavailable.cache_clear()
    try:
        problem = sandbox.unavailable()
        assert "apt-get install bubblewrap" in problem and "--unsafe-no-sandbox" in problem
        with pytest.raises(grade.SandboxUnavailable, match="refusing to grade: bubblewrap is not installed"):
            grade.grade(tmp_path, "a1_convolution", progress=False)
    finally:
        sandbox.unavailable.cache_clear()


def test_on_another_system_the_grader_names_it(monkeypatch):
    monkeypatch.setattr(sandbox.sys, "platform", "darwin")
    sandbox.unavailable.cache_clear()
    try:
        assert "needs Linux" in sandbox.unavailable() and "darwin" in sandbox.unavailable()
    finally:
        sandbox.unavailable.cache_clear()


def test_the_command_binds_the_python_and_cnnlib_and_nothing_of_the_course():
    box = sandbox.create()
    try:
        argv = box.command(["true"])
    finally:
        sandbox.remove(box)
    bound = {argv[i + 2] for i, arg in enumerate(argv) if arg in ("--ro-bind", "--bind")}
    root = course.ROOT.resolve()
    inside_course = {Path(p) for p in bound if Path(p).is_relative_to(root)}
    assert inside_course <= {root / "cnnlib", root / ".venv"}, inside_course
    assert "--unshare-all" in argv and "--clearenv" in argv and "--remount-ro" in argv


# ---------------------------------------------------------------- what a sandboxed process sees

@needs_sandbox
def test_the_course_folder_other_homes_and_the_network_are_out_of_reach(tmp_path):
    secret = tmp_path / "solutions" / "answers.txt"
    secret.parent.mkdir()
    secret.write_text("the answer is B")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    code = f"""
import os, socket
print("secret", os.path.exists({str(secret)!r}))
print("course", sorted(os.listdir({str(course.ROOT)!r})))
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3)
    print("network open")
except OSError as error:
    print("network", type(error).__name__)
print("pid", os.getpid())
print("env", sorted(os.environ))
for path in ("/usr/x", "/etc/x", "/x", {str(course.ROOT / 'cnnlib' / 'x')!r}):
    try:
        open(path, "w")
        print("wrote", path)
    except OSError as error:
        print("read-only", path)
"""
    try:
        os.environ["DATABASE_URL"] = "postgresql://grader:hunter2@127.0.0.1/gradebook"
        run = _inside(code)
    finally:
        os.environ.pop("DATABASE_URL", None)
        listener.close()
    out = run.stdout
    assert run.returncode == 0, run.stderr
    assert "secret False" in out
    assert "course ['.venv', 'cnnlib']" in out, "only the environment and cnnlib of the course are visible"
    assert "network ConnectionRefusedError" in out or "network OSError" in out
    assert int(out.split("pid ")[1].split()[0]) < 10, "the sandbox has its own PID namespace"
    assert "DATABASE_URL" not in out and "hunter2" not in out
    assert "wrote" not in out and out.count("read-only") == 4


@needs_sandbox
@pytest.mark.skipif(os.geteuid() != 0, reason="grading as root is what gives the sandbox a user of its own")
def test_as_root_the_sandbox_runs_as_a_user_that_owns_nothing():
    run = _inside("import os; print(os.path.exists('/etc/shadow'), os.access('/etc/shadow', os.R_OK))")
    assert run.stdout.split() == ["True", "False"], run.stderr


@needs_sandbox
def test_data_files_arrive_read_only_and_links_are_left_behind(tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    (release / "pixels.csv").write_text("1,2,3\n")
    (release / "a1.ipynb").write_text("{}")
    (release / "link").symlink_to(course.ROOT / "solutions")
    run = _inside("import os; print(sorted(os.listdir())); print(open('pixels.csv').read().strip())\n"
                  "try:\n    open('pixels.csv', 'w')\nexcept OSError:\n    print('read-only')\n"
                  "open('mine.txt', 'w').write('ok'); print(open('mine.txt').read())", data_from=release)
    assert run.stdout.split() == ["['pixels.csv']", "1,2,3", "read-only", "ok"], run.stderr


@needs_sandbox
def test_a_python_installed_under_tmp_stays_visible(tmp_path, monkeypatch):
    """The private /tmp is mounted first: a course venv under /tmp (a CI checkout) is bound on top of it."""
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "marker.txt").write_text("still here")
    real = sandbox.readonly_paths()
    monkeypatch.setattr(sandbox, "readonly_paths", lambda: [*real, venv])
    run = _inside(f"print(open({str(venv / 'marker.txt')!r}).read())")
    assert run.stdout.strip() == "still here", run.stderr


@needs_sandbox
def test_matplotlib_starts_from_the_machines_font_list_without_a_warning():
    assert sandbox.matplotlib_font_list() is not None
    run = _inside("import matplotlib.pyplot as plt; plt.figure(); print('ok')")
    assert run.stdout.strip() == "ok" and run.stderr == "", run.stderr


@needs_sandbox
def test_limits_stop_memory_file_size_and_process_hogs():
    limits = sandbox.Limits(memory_bytes=2 * sandbox.GIB, processes=30, file_bytes=2 ** 20, tmp_bytes=64 * 2 ** 20)
    code = """
import os
try:
    bytearray(3 * 2**30); print("memory unlimited")
except MemoryError:
    print("memory limited")
try:
    with open("/tmp/big", "wb") as handle:
        handle.write(b"x" * 2**21)
    print("files unlimited")
except OSError as error:
    print("files limited")
children = []
try:
    for _ in range(200):
        pid = os.fork()
        if pid == 0:
            import time; time.sleep(30); os._exit(0)
        children.append(pid)
    print("processes unlimited")
except OSError:
    print("processes limited", len(children))
"""
    run = _inside(code, limits=limits)
    lines = run.stdout.splitlines()
    assert lines[:2] == ["memory limited", "files limited"], run.stderr
    assert lines[2].startswith("processes limited") and int(lines[2].split()[-1]) < 30


@needs_sandbox
def test_nothing_started_inside_outlives_the_sandbox():
    marker = "cnn-course-test-outlives"
    code = f"""
import os, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)  # {marker}"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 300; echo {marker}"])
    os._exit(0)
print("started")
"""
    run = _inside(code)
    assert run.stdout.strip() == "started", run.stderr
    left = [p.pid for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    assert left == []


# ---------------------------------------------------------------- the judge, with a stand-in kernel

class FakeChannel:
    """Answers like a kernel whose notebook defined ``names``; records the calls made."""

    timeout, budget = 10, None

    def __init__(self, names):
        self.names, self.calls = names, []

    def request(self, payload):
        if payload["op"] == "get":
            if payload["name"] not in self.names:
                return "missing", None
            value = self.names[payload["name"]]
            return ("value", trusted.wire.FunctionRef(payload["name"]) if callable(value) else value)
        self.calls.append(payload["path"])
        try:
            return "outcome", {"result": self.names[payload["path"]](**payload["args"]), "error": None, "used": None}
        except Exception as error:  # noqa: BLE001
            return "outcome", {"result": None, "error": (type(error).__name__, str(error)), "used": None}


def _judge(names):
    source = course.SOLUTIONS / "a1_convolution" / "a1_convolution.ipynb"
    return trusted.Judge(source, FakeChannel(names))


def test_the_judge_runs_the_instructors_checks_on_the_students_function():
    from cnnlib import ops

    judge = _judge({"zero_pad": lambda x, pad: ops.zero_pad(x, pad)})
    verdict = judge.verdict("test_zero_pad")
    assert verdict.passed and "zero_pad: all 3 cases agree" in verdict.printed
    assert "all 6 cases agree" in verdict.printed, "the hidden suite runs too"
    assert judge.channel.calls == ["zero_pad"] * 9


def test_the_judge_diagnoses_a_wrong_function_in_its_own_process():
    import numpy as np

    judge = _judge({"zero_pad": lambda x, pad: np.pad(x, pad)})
    verdict = judge.verdict("test_zero_pad")
    assert not verdict.passed and verdict.error[0] == "CheckFailed"
    assert "every axis is padded" in verdict.error[1]


def test_the_judge_takes_the_instructors_data_not_the_notebooks():
    judge = _judge({"vertical_edges": "B", "kernels": {"B": "the student's own kernels"}})
    assert judge.verdict("test_vertical_edges").passed


def test_a_missing_answer_fails_with_a_name_error_that_says_what_to_do():
    verdict = _judge({}).verdict("test_conv2d")
    assert not verdict.passed and verdict.error[0] == "NameError" and "conv2d" in verdict.error[1]
    assert "run the cell that defines it" in verdict.error[1]


def test_a_disagreement_is_noted_either_way():
    passed, failed = trusted.Verdict(True), trusted.Verdict(False)
    assert trusted.suspicion("t", True, passed) is None and trusted.suspicion("t", False, failed) is None
    assert trusted.SUSPECTED in trusted.suspicion("t", True, failed)
    assert "this test failed" in trusted.suspicion("t", False, passed)


# ---------------------------------------------------------------- the attackers, graded

def _outputs_text(path):
    """Every output of every cell of an autograded notebook, as one string (sources left out)."""
    nb = json.loads(Path(path).read_text())
    return json.dumps([cell.get("outputs", []) for cell in nb["cells"]])


class Listener:
    """A TCP server on 127.0.0.1:attacks.PORT that records what anyone sends it."""

    def __init__(self):
        self.received = []
        self.server = socket.create_server(("127.0.0.1", attacks.PORT))
        self.server.settimeout(0.5)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    self.received.append(connection.recv(1000))
                except OSError:
                    self.received.append(b"(connected)")

    def close(self):
        self.running = False
        self.thread.join(5)
        self.server.close()


def _planted_files():
    homes = {Path.home(), Path("/root"), *Path("/home").glob("*")}
    return [home / attacks.PLANTED for home in homes if (home / attacks.PLANTED).exists()]


def _detached_processes():
    return [p.pid for p in psutil.process_iter(["cmdline"])
            if attacks.DETACHED in " ".join(p.info["cmdline"] or [])]


def _grade_attack_class(work, jobs=1, database_url=None, sandboxed=True, cases=None):
    """Grade honest classmates and attackers; return results, the listener's log and the secret."""
    cases = cases or attacks.honest_cases(2) + attacks.attack_cases()
    listener = Listener()
    try:
        results, _, _ = exchange.run_class(work, cases, jobs=jobs, database_url=database_url,
                                           log=lambda *a: None, sandboxed=sandboxed,
                                           before_grading=_plant_secrets)
    finally:
        listener.close()
    return {r.student: r for r in results}, listener.received


SECRET = "cnn-course-secret-7f3a"


def _plant_secrets(course_root):
    """Files an attacker would love to read: in solutions/ and the course root."""
    (course_root / "solutions" / "secret.txt").write_text(SECRET)
    (course_root / "secret.txt").write_text(SECRET)


@pytest.fixture(scope="module")
def attack_class(tmp_path_factory, sandboxed):
    for path in _planted_files():
        path.unlink()
    mp = pytest.MonkeyPatch()
    mp.setenv("CNN_COURSE_CELL_TIMEOUT", CELL_TIMEOUT)
    work = tmp_path_factory.mktemp("attack-class")
    try:
        results, received = _grade_attack_class(work)
    finally:
        mp.undo()
    return work, results, received


EXPECTED = {case.student: case for case in attacks.honest_cases(2) + attacks.attack_cases()}


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_attacker_gets_what_their_answers_earn_and_no_more(attack_class, student):
    _, results, _ = attack_class
    case, result = EXPECTED[student], results[student]
    zero = sorted(cell for cell, score in result.cells.items() if score == 0)
    assert (zero, result.status, result.score) == (sorted(case.zero), case.status, case.score), result.reasons
    if case.reason:
        assert any(case.reason in reason for reason in result.reasons), result.reasons


@pytest.mark.slow
def test_nothing_was_read_written_sent_or_left_running(attack_class):
    work, results, received = attack_class
    root = work / "course"
    for student in results:
        graded = root / "autograded" / student / "a1_convolution" / "a1_convolution.ipynb"
        text = _outputs_text(graded)
        assert SECRET not in text and "BEGIN SOLUTION" not in text, student
        assert "LEAKED>> /" not in text, f"{student} found a file it must not see"
        feedback = next((root / "feedback" / student).rglob("*.html")).read_text()
        assert SECRET not in feedback
    assert received == [], "nothing may reach a server on the grader's machine"
    assert _planted_files() == [], "nothing may be written into a home folder"
    assert _detached_processes() == [], "no process may outlive grading"
    fork_bomb = _outputs_text(root / "autograded" / "attack_fork_bomb" / "a1_convolution" / "a1_convolution.ipynb")
    assert "the process limit stopped the fork bomb" in fork_bomb
    with course.open_gradebook(root) as gb:
        scores = {s.student_id: s.score for s in gb.assignment_submissions("a1_convolution")}
    assert scores == {student: result.score for student, result in results.items()}, \
        "the gradebook holds exactly what the grader decided"


@pytest.mark.slow
def test_tampering_is_written_on_the_students_feedback_page(attack_class):
    work, _, _ = attack_class
    page = next((work / "course" / "feedback" / "attack_gc_swap").rglob("*.html")).read_text()
    assert trusted.SUSPECTED in page and "the output has shape ()" in page


@pytest.mark.slow
def test_postgres_with_two_jobs_grades_the_attack_class_the_same(attack_class, tmp_path, monkeypatch):
    if postgres.server_binaries() is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does)")
    _, sequential, _ = attack_class
    monkeypatch.setenv("CNN_COURSE_CELL_TIMEOUT", CELL_TIMEOUT)
    # The attacks that aim at the database, the network and the machine, beside two honest students.
    chosen = {"honest_1", "honest_2", "attack_writes_gradebook", "attack_network", "attack_detaches",
              "attack_gc_swap"}
    cases = [case for case in attacks.honest_cases(2) + attacks.attack_cases() if case.student in chosen]
    with postgres.TempPostgres() as url:
        monkeypatch.setenv("DATABASE_URL", url)     # the grader's secret, which no kernel may see
        parallel, received = _grade_attack_class(tmp_path / "work", jobs=2, database_url=url, cases=cases)
    assert received == [] and _planted_files() == [] and _detached_processes() == []
    assert set(parallel) == chosen
    for student in chosen:
        assert (parallel[student].cells, parallel[student].status) == \
               (sequential[student].cells, sequential[student].status), student


@pytest.mark.slow
def test_without_the_sandbox_the_same_attacks_succeed_but_tampering_still_fails(tmp_path, monkeypatch):
    """The attacks are real: unsandboxed they read, write and send. Scores stay the grader's."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CNN_COURSE_CELL_TIMEOUT", CELL_TIMEOUT)
    chosen = {"attack_reads_answers", "attack_network", "attack_writes_home", "attack_gc_swap"}
    cases = [case for case in attacks.attack_cases() if case.student in chosen]
    results, received = _grade_attack_class(tmp_path / "work", sandboxed=False, cases=cases)
    try:
        reader = _outputs_text(tmp_path / "work" / "course" / "autograded" / "attack_reads_answers" /
                               "a1_convolution" / "a1_convolution.ipynb")
        assert SECRET in reader, "unsandboxed, the reader finds the planted secret"
        assert received, "unsandboxed, the network attack reaches the listener"
        assert (home / attacks.PLANTED).exists(), "unsandboxed, the home attack writes into the grader's home"
        assert results["attack_gc_swap"].cells["test_conv2d"] == 0, "the judge needs no sandbox"
        assert all(grade.UNSAFE in r.reasons[0] for r in results.values()), "every line says it was unsafe"
    finally:
        for path in [Path("/root") / attacks.PLANTED, *Path("/home").glob(f"*/{attacks.PLANTED}")]:
            path.unlink(missing_ok=True)


def test_partial_credit_becomes_nbgraders_own_partial_score():
    from nbgrader.utils import determine_grade
    from nbformat.v4 import new_code_cell

    def scored(verdict):
        cell = new_code_cell("grading.check_trained_model(build, recipe)")
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 30,
                                     "grade_id": "t", "schema_version": 3}
        cell.outputs = verdict.outputs(points=30)
        return determine_grade(cell)[0]

    assert scored(trusted.Verdict(True, "held-out accuracy 95.1%\n", credit=0.5)) == 15
    assert scored(trusted.Verdict(True, "held-out accuracy 97.0%\n")) == 30
    assert scored(trusted.Verdict(False, "", ("CheckFailed", "too low"))) == 0
