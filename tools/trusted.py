"""Scores decided outside the student's code: each test cell judged again in the grader's process.

A notebook's test cells call ``grading.check_*``; in the student's kernel those calls
run beside the student's code, which can patch them (``exec`` of an encoded string,
swapping a check's code through ``gc``). So after a test cell has run in the
sandboxed kernel, :class:`Judge` runs the same cell's code, taken from the
instructor's source notebook, here, in the grader's own process:

- names the instructor's locked cells define (``grading``, ``np``, the data a check
  needs) come from running those cells here;
- every other name (the student's ``conv2d``, ``edges``, ``cnn``) is asked of the
  kernel through :class:`KernelChannel`: data comes back as data
  (:mod:`cnnlib.grading.wire`: arrays, numbers, strings, models as architecture and
  weights), and a function as a :class:`RemoteFunction`, which a check calls like
  any function while the call itself runs in the kernel, on the check's inputs;
- the check compares and diagnoses with cnnlib's reference here. The student's code
  can only answer; what it does to its own process cannot reach this one.

The verdict replaces the cell's outputs; when it differs from what the notebook's own
check said, the cell also says "tampering suspected" (:data:`SUSPECTED`), and the
grader's result counts.
"""

import contextlib
import io
import os
import re
import secrets
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

from cnnlib.grading import wire
from cnnlib.grading.core import DECIDED_BY_GRADER, Outcome, PartialCredit, Remote

SUSPECTED = "tampering suspected"
MAX_ANSWER_BYTES = 512 * 2 ** 20


class KernelStopped(Exception):
    """The kernel no longer answers (it died, or ignored the interrupt): nothing more can be asked."""


class KernelChannel:
    """Requests to the student's kernel and its answers, as files in a folder both sides see.

    km, kc: the kernel's manager and client (jupyter_client, async). folder: a folder
    the kernel can read and write (the sandbox's connection folder). timeout: seconds
    one request may take before the kernel is interrupted; ``budget`` (set by
    :class:`Judge`) caps all requests of one test cell together: the same time limit
    the cell had in the notebook.
    """

    def __init__(self, km, kc, folder, timeout):
        self.km, self.kc, self.folder, self.timeout = km, kc, Path(folder), timeout
        self.budget = None      # a monotonic deadline shared by all requests of one test cell

    def request(self, payload):
        """Send ``payload`` (a dict) to :func:`cnnlib.grading.serve.serve`; return ``(kind, value)``.

        Raises:
            KernelStopped: the kernel did not answer, even after an interrupt.
            wire.WireError: the answer is not well-formed data.
            RuntimeError: the kernel answered with an error instead of data (the message says which).
        """
        from jupyter_core.utils import run_sync

        token = secrets.token_hex(8)
        ask, answer = self.folder / f"ask-{token}.wire", self.folder / f"answer-{token}.wire"
        ask.write_bytes(wire.dumps(payload))
        ask.chmod(0o644)
        code = (f'__import__("cnnlib.grading.serve", fromlist=["serve"]).serve('
                f'{str(ask)!r}, {str(answer)!r}, globals())')
        try:
            reply = run_sync(self._execute)(code)
            if reply["status"] != "ok":
                raise RuntimeError(f"{reply.get('ename', 'Error')}: {reply.get('evalue', '')}"[:500])
            return wire.loads(_read_answer(answer))
        finally:
            for path in (ask, answer):
                with contextlib.suppress(OSError):
                    path.unlink()

    async def _execute(self, code):
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = min(time.monotonic() + self.timeout, self.budget or float("inf"))
        interrupted = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if interrupted:
                    raise KernelStopped(f"the kernel did not answer within {self.timeout} s, even after "
                                        f"an interrupt")
                await self.km.interrupt_kernel()
                interrupted, deadline = True, time.monotonic() + 10
                continue
            if not await self.km.is_alive():
                raise KernelStopped("the kernel died while answering the grader")
            try:
                msg = await self.kc.get_shell_msg(timeout=min(left, 1.0))
            except Exception:  # noqa: BLE001 - queue.Empty: no reply yet
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                await self._drain_iopub(msg_id)
                content = dict(msg["content"])
                if interrupted and content.get("status") != "ok":
                    content["evalue"] = f"ran past the {self.timeout} s limit and was interrupted"
                return content

    async def _drain_iopub(self, msg_id):
        """Read this request's messages off the iopub channel, up to its 'idle'."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                msg = await self.kc.get_iopub_msg(timeout=0.5)
            except Exception:  # noqa: BLE001 - nothing more
                return
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"].get("execution_state") == "idle"):
                return


def _read_answer(path):
    """The answer file's bytes: a regular file of at most MAX_ANSWER_BYTES, never followed through a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        raise RuntimeError(f"the kernel wrote no answer ({err.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RuntimeError("the kernel's answer is not a regular file")
        if info.st_size > MAX_ANSWER_BYTES:
            raise RuntimeError(f"the kernel's answer is {info.st_size:,} bytes, more than the "
                               f"{MAX_ANSWER_BYTES:,} the grader reads")
        return handle.read(MAX_ANSWER_BYTES + 1)


class RemoteFunction(Remote):
    """A student's function in the kernel: a check calls it here, it runs there."""

    def __init__(self, channel, path):
        self.channel, self.path = channel, path

    def __call__(self, *args, **kwargs):
        if args:
            raise TypeError("the grader calls students' functions with keyword arguments only")
        outcome = self.invoke(kwargs, self.path, True, frozenset())
        if outcome.error:
            raise RuntimeError(f"{self.path} raised {outcome.error[0]}: {outcome.error[1]}")
        return outcome.result

    def invoke(self, args, name, allow_reference, forbid):
        try:
            kind, found = self.channel.request({"op": "call", "path": self.path, "args": args, "name": name,
                                                "allow_reference": bool(allow_reference),
                                                "forbid": sorted(forbid)})
        except (RuntimeError, wire.WireError) as err:
            return Outcome(error=("GradingError", f"the grader could not call {self.path} in your kernel: {err}"))
        if kind != "outcome" or not isinstance(found, dict):
            return Outcome(error=("GradingError", f"the kernel answered {kind!r} to a call of {self.path}"))
        return Outcome(result=found.get("result"), error=_pair_of_text(found.get("error")),
                       used=_pair_of_text(found.get("used")))

    def __repr__(self):
        return f"<{self.path} in the student's kernel>"


def _pair_of_text(value):
    """``(str, str)`` from an answer's error or used field, or None."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return str(value[0])[:100], str(value[1])[:2000]
    return "GradingError", f"malformed answer {value!r}"[:200]


class KernelNames(dict):
    """The names a test cell reads, for ``exec``: its own, then the instructor's, then the kernel's.

    ``exec`` looks a name up here first; a name the instructor's cells define is
    refused here so that it is found in their namespace instead; any other is asked
    of the kernel.
    """

    def __init__(self, channel, given):
        super().__init__()
        self.channel, self.given = channel, given

    def __getitem__(self, name):
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        if name in self.given or name in __builtins__:
            raise KeyError(name)
        kind, value = self.channel.request({"op": "get", "name": name})
        if kind != "value":
            raise KeyError(name)
        if isinstance(value, wire.FunctionRef):
            value = RemoteFunction(self.channel, value.path)
        self[name] = value
        return value


@dataclass
class Verdict:
    """The grader's result for one test cell: passed, what the check printed, the error if any.

    credit: the share of the cell's points for a partly right answer (a check raised
    :class:`cnnlib.grading.PartialCredit`); None means all or nothing, by ``passed``.
    """

    passed: bool
    printed: str = ""
    error: tuple = None     # (ename, evalue)
    credit: float = None

    def outputs(self, points=None):
        """The cell's outputs as the feedback page shows them; nbgrader scores them.

        A partial credit becomes nbgrader's own form of it: an ``execute_result``
        holding the points (``points``: the cell's maximum).
        """
        out = []
        if self.printed:
            out.append(nbformat.v4.new_output("stream", name="stdout", text=self.printed))
        if self.credit is not None:
            out.append(nbformat.v4.new_output("execute_result", execution_count=None,
                                              data={"text/plain": f"{self.credit * float(points or 0):g}"}))
        elif self.error is not None:
            ename, evalue = self.error
            out.append(NotebookNode(output_type="error", ename=ename, evalue=evalue,
                                    traceback=[f"{ename}: {evalue}"]))
        return out


def _python(source):
    """Cell source as Python: IPython magics and shell lines blanked."""
    return "\n".join("" if re.match(r"\s*[%!]", line) else line for line in source.splitlines())


@dataclass
class SourceNotebook:
    """The instructor's source notebook: its locked given cells and its test cells, in order."""

    given: list = field(default_factory=list)      # (position, grade_id, source)
    tests: dict = field(default_factory=dict)      # grade_id -> (position, source)

    @classmethod
    def read(cls, path):
        nb = nbformat.read(path, as_version=4)
        found = cls()
        for position, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or "grade_id" not in meta:
                continue
            if meta.get("grade") and not meta.get("solution"):
                found.tests[meta["grade_id"]] = (position, cell.source)
            elif meta.get("locked") and not meta.get("solution"):
                found.given.append((position, meta["grade_id"], cell.source))
        return found


class Judge:
    """Judges one notebook's test cells in this process (see the module docstring).

    source: the instructor's notebook (solutions/<assignment>/<name>.ipynb).
    channel: a :class:`KernelChannel` to the kernel running the student's notebook
    (may be set later, before the first verdict).

    The instructor's locked cells start running at once, in a thread of their own, so
    that their imports (TensorFlow for some assignments) overlap with the kernel's work.
    """

    def __init__(self, source, channel=None, log=None):
        self.source = SourceNotebook.read(source)
        self.channel = channel
        self.log = log
        self.given_ns = {"__name__": "__grader__", "__builtins__": __builtins__}
        self._given = threading.Thread(target=self._run_given_cells, name="given-cells", daemon=True)
        self._given.start()

    def knows(self, grade_id):
        return grade_id in self.source.tests

    def _run_given_cells(self):
        """Run the instructor's locked cells, in order, in :attr:`given_ns`."""
        import matplotlib

        matplotlib.use("Agg")
        for _, grade_id, source in self.source.given:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                try:
                    exec(compile(_python(source), f"<given cell {grade_id}>", "exec"), self.given_ns)
                except Exception as err:  # noqa: BLE001 - a check that needs it will fail and say why
                    if self.log:
                        self.log.warning("given cell %s failed in the grader: %s: %s", grade_id,
                                         type(err).__name__, err)

    def verdict(self, grade_id):
        """Run test cell ``grade_id``'s checks here; return a :class:`Verdict`.

        Raises:
            KernelStopped: the kernel stopped answering (the cell fails; nothing more can run).
        """
        _, source = self.source.tests[grade_id]
        self._given.join()
        self.channel.budget = time.monotonic() + self.channel.timeout
        printed = io.StringIO()
        names = KernelNames(self.channel, self.given_ns)
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            try:
                exec(compile(_python(source), f"<test cell {grade_id}>", "exec"), self.given_ns, names)
            except KernelStopped:
                raise
            except PartialCredit as err:
                return Verdict(True, printed.getvalue() + f"{err}\n", credit=err.fraction)
            except Exception as err:  # noqa: BLE001 - a failed check, or the student's answer missing
                message = str(err)
                if isinstance(err, NameError):
                    message += " (your notebook never defined it: run the cell that defines it before this test)"
                return Verdict(False, printed.getvalue(), (type(err).__name__, message))
            finally:
                self.channel.budget = None
        return Verdict(True, printed.getvalue())


def in_notebook_passed(cell):
    """Whether the test cell passed when the student's kernel ran it (no error output)."""
    return not any(output.output_type == "error" for output in cell.get("outputs", []))


def decided_by_grader(cell):
    """Whether the notebook's own check left the result to the grader (it measures a model itself)."""
    return any(output.output_type == "stream" and DECIDED_BY_GRADER in output.text
               for output in cell.get("outputs", []))


def suspicion(grade_id, notebook_passed, verdict):
    """The note a cell gets when the notebook's own check and the grader's disagree, or None."""
    if notebook_passed == verdict.passed:
        return None
    said, found = ("passed", "failed") if notebook_passed else ("failed", "passed")
    return (f"{SUSPECTED}: in your notebook this test {said}, but run by the grader, outside your code, "
            f"on the same cases, it {found}. The grader's result counts; the instructor has been told.")
