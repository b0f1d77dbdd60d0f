"""nbgrader preprocessors that keep one hostile notebook from spoiling its own grading.

``nbgrader_config.py`` puts both into ``Autograde.autograde_preprocessors``:

- :class:`ContainedExecute` replaces nbgrader's ``Execute``. It starts the kernel in a
  bubblewrap sandbox (:mod:`tools.sandbox`; ``sandbox = False`` only when the grader
  was told ``--unsafe-no-sandbox``), and after each test cell it judges that cell
  again in this process (:mod:`tools.trusted`): the grader's verdict replaces the
  cell's outputs, so no code of the student's decides a score. Stock nbgrader gives up
  on the whole notebook when the kernel dies (``os._exit``) or ignores the interrupt
  sent at the cell time-out (a loop that catches ``KeyboardInterrupt``): the student
  is left with no score at all and ``nbgrader autograde`` exits 1. Here the cell that
  did it gets an error output that says what happened, the kernel is stopped, and
  every later code cell gets a "not run" error, so each test cell scores an explicit
  0 with a reason in the feedback, and the cells before keep their points.
- :class:`LimitOutputSize` cuts any output longer than ``max_chars`` characters.
  nbgrader's own ``LimitOutput`` counts lines, so ``print("x" * 10**8)`` (one line)
  would otherwise write a 100 MB notebook and feedback page.
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Integer

from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from tools import trusted
from tools.sandbox import SandboxedKernelManager

STOPPED = "KernelStopped"   # ename of the error put on the cell that stopped the kernel
NOT_RUN = "NotRun"          # ename of the error put on every code cell after it


def error_output(ename, evalue):
    """A notebook error output (what a raised exception leaves in a cell)."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class ContainedExecute(Execute):
    """nbgrader's Execute in a sandbox, with scores judged outside the kernel; a dead or
    unresponsive kernel fails cells, not the run."""

    sandbox = Bool(True, help="start each kernel in a bubblewrap sandbox (tools/sandbox.py); "
                              "False only for the grader's --unsafe-no-sandbox").tag(config=True)
    judge = Bool(True, help="judge every test cell again in the grader's process (tools/trusted.py)"
                 ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._stopped_by = None
        self._channel_folder = None
        self._assignment = CourseDirectory(config=self.config), dict((resources or {}).get("nbgrader", {}))
        self._judge = self._start_judge()
        self.kernel_manager_class = SandboxedKernelManager if self.sandbox else AsyncKernelManager
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self._channel_folder is not None:
                shutil.rmtree(self._channel_folder, ignore_errors=True)

    def _course_path(self, folder_trait, *parts):
        coursedir, info = self._assignment
        folder = getattr(coursedir, folder_trait)
        return Path(coursedir.format_path(folder, ".", info.get("assignment", ""))).joinpath(*parts)

    def start_new_kernel(self, **kwargs):
        if not self.sandbox:        # the sandbox sets its own environment (tools/sandbox.py)
            kwargs["env"] = {**os.environ, "CNN_COURSE_GRADING": "1"}
        return super().start_new_kernel(**kwargs)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            release = self._course_path("release_directory")
            km.data_from = release if release.is_dir() else None
        return km

    def _start_judge(self):
        """A :class:`tools.trusted.Judge` for this notebook, started before the kernel (None: not judged)."""
        source = self._course_path("source_directory", f"{self._assignment[1].get('notebook', '')}.ipynb")
        if not self.judge:
            return None
        if not source.is_file():
            self.log.warning("no source notebook %s: test cells are not judged again", source)
            return None
        return trusted.Judge(source, log=self.log)

    def _channel(self):
        """The judge's channel to the kernel: the sandbox's connection folder, or a folder of its own."""
        box = getattr(self.km, "box", None)
        if box is not None:
            folder = box.kernel_dir
        else:
            folder = self._channel_folder = Path(tempfile.mkdtemp(prefix="cnn-grader-"))
        return trusted.KernelChannel(self.km, self.kc, folder, self.timeout)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return super().preprocess_cell(cell, resources, index)
        if self._stopped_by is not None:
            cell.outputs = [error_output(NOT_RUN, f"not run: the kernel was stopped in {self._stopped_by}")]
            cell.execution_count = None
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
            self._judge_cell(cell, index)
            return cell, resources
        except trusted.KernelStopped as error:
            reason = f"the kernel stopped answering while the grader checked this cell ({error})"
        except DeadKernelError:
            reason = ("the kernel died while running this cell (the code exited the process, "
                      "crashed, or ran out of memory)")
        except CellTimeoutError:
            reason = (f"this cell ran past the {self.timeout} s limit and ignored the interrupt "
                      f"(a loop that catches KeyboardInterrupt?); the kernel was stopped")
        except (RuntimeError, TimeoutError) as error:   # any other way of losing the kernel
            reason = f"the kernel stopped responding in this cell ({type(error).__name__}: {error})"
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        self._stopped_by = f"cell '{grade_id}'" if grade_id else f"code cell {index}"
        self.log.warning("Stopping the kernel: %s: %s", self._stopped_by, reason)
        cell.outputs.append(error_output(STOPPED, reason))
        self._kill_kernel()
        return cell, resources

    def _judge_cell(self, cell, index):
        """Replace a test cell's outputs with the grader's own verdict (see tools/trusted.py)."""
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade") or meta.get("solution"):
            return
        errors = [o.ename for o in cell.outputs if o.output_type == "error"]
        if any(name in ("CellTimeoutError", "KeyboardInterrupt", STOPPED) for name in errors):
            return      # the cell already failed at a limit; the kernel may not answer
        judge = self._judge
        if judge is None or not judge.knows(meta.get("grade_id")):
            return
        if judge.channel is None:
            judge.channel = self._channel()
        passed_here = trusted.in_notebook_passed(cell)
        left_to_grader = trusted.decided_by_grader(cell)
        started = time.perf_counter()
        verdict = judge.verdict(meta["grade_id"])
        self.log.info("judged %s in the grader: %s (%.2f s)", meta["grade_id"],
                      "passed" if verdict.passed else "failed", time.perf_counter() - started)
        cell.outputs = verdict.outputs(meta.get("points"))
        note = None if left_to_grader else trusted.suspicion(meta["grade_id"], passed_here, verdict)
        if note:
            self.log.warning("%s: %s", meta["grade_id"], note)
            cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=f"\n{note}\n"))

    def _kill_kernel(self):
        """Stop a kernel that no longer answers; the final clean-up then has nothing to wait for."""
        from jupyter_core.utils import run_sync

        try:
            run_sync(self.km.shutdown_kernel)(now=True)
        except Exception as error:   # noqa: BLE001 - already gone: nothing to stop
            self.log.debug("kernel already stopped: %s", error)


class LimitOutputSize(NbGraderPreprocessor):
    """Cut every output of a code cell to at most ``max_chars`` characters."""

    max_chars = Integer(100_000, help="most characters kept from any one output (-1: no limit)"
                        ).tag(config=True)

    def _cut(self, text):
        if self.max_chars < 0 or len(text) <= self.max_chars:
            return text
        return text[:self.max_chars] + f"\n... output cut: {len(text):,} characters, " \
                                       f"only the first {self.max_chars:,} kept ...\n"

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = self._cut(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                for mime, value in list(output.get("data", {}).items()):
                    if isinstance(value, str) and len(value) > self.max_chars:
                        if mime.startswith("text/"):
                            output.data[mime] = self._cut(value)
                        else:   # an image or other binary: a cut one would not decode
                            del output.data[mime]
                            output.data.setdefault("text/plain", f"[{mime} output of {len(value):,} "
                                                                 f"characters removed]")
            elif output.output_type == "error":
                output.evalue = self._cut(output.evalue)
        return cell, resources
