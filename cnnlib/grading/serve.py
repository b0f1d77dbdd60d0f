"""The kernel's side of trusted grading: answer the grader's requests with plain data.

While autograding, the grader (``tools/trusted.py``) runs each test cell's checks in
its own process. Whenever a check needs something of the student's, the grader
writes a request into the sandbox's folder and runs, silently, in the student's
kernel::

    __import__("cnnlib.grading.serve", fromlist=["serve"]).serve(REQUEST, ANSWER, globals())

:func:`serve` reads the request and writes the answer with :mod:`cnnlib.grading.wire`:

- ``{"op": "get", "name": NAME}``: the value the notebook holds under ``NAME``
  (functions come back as references, models as architecture and weights), or
  that there is none;
- ``{"op": "call", "path": NAME, "args": {...}, "name": ..., "allow_reference": ...,
  "forbid": [...]}``: call the student's function ``NAME`` with keyword ``args``, as
  :func:`cnnlib.grading.core.invoke` does in a notebook (reference-library calls
  noticed), and answer its result, its error or the library it called.

Nothing here decides a score, and nothing the student's code does to this module
can: the grader compares what comes back with its own reference.
"""

from . import wire
from .core import invoke

_MISSING = object()


def serve(request_path, answer_path, namespace):
    """Read the request at ``request_path``, act on ``namespace``, write the answer to ``answer_path``."""
    with open(request_path, "rb") as handle:
        request = wire.loads(handle.read(), allow_factories=True)
    try:
        data = _answer(request, namespace)
    except Exception as err:  # noqa: BLE001 - whatever went wrong is the answer
        data = wire.dumps(f"{type(err).__name__}: {err}"[:2000], kind="failed")
    with open(answer_path, "wb") as handle:
        handle.write(data)


def _answer(request, namespace):
    """The encoded answer: ("value", v), ("missing", None) or ("outcome", {...})."""
    op = request.get("op")
    if op == "get":
        value = namespace.get(request["name"], _MISSING)
        if value is _MISSING:
            return wire.dumps(None, kind="missing")
        return wire.dumps(value, function_path=request["name"], kind="value")
    if op == "call":
        fn = namespace.get(request["path"], _MISSING)
        if fn is _MISSING:
            outcome = {"error": ("NameError", f"name '{request['path']}' is not defined")}
        else:
            found = invoke(fn, request["args"], request["name"], request["allow_reference"],
                           frozenset(request["forbid"]))
            outcome = {"result": found.result, "error": found.error, "used": found.used}
        return wire.dumps(outcome, kind="outcome")
    raise ValueError(f"unknown request {op!r}")
