"""nbgrader's Validate button, answered with what passes and what fails before any traceback.

A Jupyter server extension. nbgrader's JupyterLab extension posts the open notebook
to ``/assignments/validate`` and shows the answer in a dialog that lists only failed
cells, each with its whole traceback. This extension answers that same request in
place of nbgrader's handler: it runs the notebook the way nbgrader does and, above the
first failure, writes the summary of :mod:`cnnlib.grading.results`, one line per test
(``pass`` or ``FAIL``, points, the check's diagnosis). Each failed test then shows the
check's message; only an error that is not a check's verdict (a ``NameError``, ...)
keeps its traceback, after its message. A notebook that passes gets nbgrader's own
"Success! Your notebook passes all the tests."

Enable it, and switch nbgrader's own handler off (hub/student/jupyter_server_config.json)::

    {"ServerApp": {"jpserver_extensions": {"cnnlib.grading.validate": true,
                   "nbgrader.server_extensions.validate_assignment": false}}}
"""

import html
import json
import traceback
from pathlib import Path

from .results import cell_results, summary_lines

URL = "/assignments/validate"


def _type_changed(nb):
    from nbgrader import utils

    return [c for c in nb.cells if (utils.is_grade(c) or utils.is_solution(c) or utils.is_locked(c))
            and c.metadata.get("nbgrader", {}).get("cell_type") not in (None, c.cell_type)]


def _changed(nb):
    from nbgrader import utils

    return [c for c in nb.cells if utils.is_locked(c) and "checksum" in c.metadata.nbgrader
            and c.metadata.nbgrader["checksum"] != utils.compute_checksum(c)]


def execute_as_nbgrader(nb, folder, config=None):
    """Run ``nb`` in ``folder`` as ``nbgrader validate`` does; return the executed notebook.

    The same preprocessors in the same order (check the cell metadata, clear the outputs,
    execute with nbgrader's time-outs), with ``NBGRADER_VALIDATING`` set for the kernel.
    """
    from nbgrader import utils
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, Execute

    resources = {}
    with utils.chdir(str(folder)), utils.setenv(NBGRADER_VALIDATING="1", NBGRADER_EXECUTION="validate"):
        for step in (CheckCellMetadata, ClearOutput, Execute):
            nb, resources = step(config=config).preprocess(nb, resources)
    return nb


def validate_notebook(path, config=None):
    """Validate the notebook at ``path``; return nbgrader's answer format for its JupyterLab dialog.

    ``{}`` when every test passes; ``{"failed": [...]}`` with one entry per failed test
    (``source``, ``error`` as HTML, ``raw_error``), the first one starting with the summary;
    ``{"type_changed": ...}`` or ``{"changed": ...}`` when locked cells were altered, as nbgrader says.
    config: a traitlets Config for nbgrader's preprocessors (time-outs and the like).
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=nbformat.current_nbformat)
    altered = _type_changed(nb)
    if altered:
        return {"type_changed": [{"source": c.source.strip(), "old_type": c.cell_type,
                                  "new_type": c.metadata.nbgrader.cell_type} for c in altered]}
    altered = _changed(nb)
    if altered:
        return {"changed": [{"source": c.source.strip()} for c in altered]}
    results = cell_results(execute_as_nbgrader(nb, path.parent, config))
    failed = [r for r in results if not r.passed]
    if not failed:
        return {}
    summary = "\n".join(summary_lines(results))
    entries = []
    for number, result in enumerate(failed):
        text = f"{result.name}: {result.message}"
        if result.traceback:
            text += f"\n\nThe traceback:\n{result.traceback}"
        if number == 0:
            text = f"{summary}\n\n{text}"
        entries.append({"source": result.source.strip(), "error": html.escape(text), "raw_error": text})
    return {"failed": entries}


def _course_config():
    """nbgrader's configuration as nbgrader's own handler loads it: Jupyter's config path and the cwd."""
    from nbgrader.apps import NbGrader

    app = NbGrader()
    app.load_config_file()
    return app.config


def _handlers():
    from jupyter_server.base.handlers import JupyterHandler
    from tornado import web

    class ValidateHandler(JupyterHandler):
        """POST path=<notebook under the server's root>: the JSON nbgrader's dialog reads."""

        @web.authenticated
        def post(self):
            try:
                relative = self.get_argument("path")
            except web.MissingArgumentError:
                relative = self.get_json_body()["path"]
            root = Path(self.settings["server_root_dir"]).resolve()
            target = (root / relative).resolve()
            if not target.is_relative_to(root):
                raise web.HTTPError(403, "the notebook must be inside the server's folder")
            try:
                answer = {"success": True,
                          "value": validate_notebook(target, _course_config())}
            except Exception:  # noqa: BLE001 - the dialog shows what went wrong
                self.log.error(traceback.format_exc())
                answer = {"success": False, "value": traceback.format_exc()}
            self.finish(json.dumps(answer))

    return ValidateHandler


def _jupyter_server_extension_points():
    return [{"module": "cnnlib.grading.validate"}]


def _load_jupyter_server_extension(serverapp):
    from jupyter_server.utils import url_path_join
    from nbgrader.server_extensions.validate_assignment.handlers import NbGraderVersionHandler

    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [
        (url_path_join(base_url, URL), _handlers()),
        # nbgrader's button checks the server's nbgrader version first; its own handler answers.
        (url_path_join(base_url, "/nbgrader_version"), NbGraderVersionHandler),
    ])
    serverapp.log.info("cnnlib.grading.validate answers nbgrader's Validate button")
