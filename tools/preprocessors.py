"""nbgrader preprocessors that keep one hostile notebook from spoiling its own grading.

``nbgrader_config.py`` puts both into ``Autograde.autograde_preprocessors``:

- :class:`ContainedExecute` replaces nbgrader's ``Execute``. Stock nbgrader gives up
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

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from traitlets import Integer

from nbgrader.preprocessors import Execute, NbGraderPreprocessor

STOPPED = "KernelStopped"   # ename of the error put on the cell that stopped the kernel
NOT_RUN = "NotRun"          # ename of the error put on every code cell after it


def error_output(ename, evalue):
    """A notebook error output (what a raised exception leaves in a cell)."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class ContainedExecute(Execute):
    """nbgrader's Execute, but a dead or unresponsive kernel fails cells, not the run."""

    def preprocess(self, nb, resources=None, km=None):
        self._stopped_by = None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return super().preprocess_cell(cell, resources, index)
        if self._stopped_by is not None:
            cell.outputs = [error_output(NOT_RUN, f"not run: the kernel was stopped in {self._stopped_by}")]
            cell.execution_count = None
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
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

    def _kill_kernel(self):
        """Stop a kernel that no longer answers; the final clean-up then has nothing to wait for."""
        from jupyter_core.utils import run_sync

        try:
            run_sync(self.km.shutdown_kernel)(now=True)
        except Exception as error:   # already gone: nothing to stop
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
