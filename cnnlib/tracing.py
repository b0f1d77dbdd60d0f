"""One tracer: a stack of layers, and each layer's output shape, parameter count and receptive field.

Three things in the course show a network as a table of layers; all three walk it here:

    Sequential.summary() / table()          a cnnlib model (cnnlib.model), as Keras prints it
    architectures.trace(spec)               a published architecture (cnnlib.architectures)
    widgets.trace_layers / ShapeTracer      the stack a student builds in a widget

:func:`walk` takes a sequence of *nodes* and an input shape (no batch axis: (H, W, C),
or (D,) once flat). A node answers three questions about an input of ``shape``:

    node.name                   its name (None: the tracer names it kind_<row>)
    node.trace_step(shape)      Step(output_shape, params, window); raises ValueError or
                                TypeError when it cannot take that shape
    node.describe()             a few words for a table's "what" column

``window`` says how the node moves pixels, for the receptive fields: per axis
``(kernel, stride, dilation, pad_before)`` (rows, then columns), or None for a node that
moves none (activations, dense layers), or :data:`NO_FIELD` when the field cannot be
followed through it (a transposed convolution). A node that holds other nodes (an
Inception module's branches, a residual block) has instead

    node.trace_branches()       the branches, each a sequence of nodes, all fed the same input
    node.trace_merge(shapes)    Step(output_shape, params, None) of joining the branches' outputs

Receptive fields come from :func:`cnnlib.shapes.receptive_field_geometry`, along every
route from the input (branches make several); a unit's field is the largest of them.
"""

import html
from typing import NamedTuple

from . import shapes

__all__ = ["Step", "Traced", "Row", "Trace", "walk", "NO_FIELD", "shape_text"]

# A window that stops the receptive field from being followed (the rows after it have none).
NO_FIELD = "no field"


class Step(NamedTuple):
    """What a node does to an input: its ``output_shape``, its ``params`` and its ``window``."""

    output_shape: tuple
    params: int
    window: object = None


class Traced(NamedTuple):
    """One node of a walk: the ``node``, its ``name`` and nesting ``depth`` (0 at the top),
    and its ``output_shape``, ``params`` and ``receptive_field`` (an int for a square field,
    else (rows, columns); None when there is none to follow). When the walk records errors
    instead of raising, a node that cannot be built has ``error`` (the reason) and None for
    the numbers, and every node after it ``error`` "skipped: an earlier layer failed"."""

    node: object
    name: str
    depth: int
    output_shape: tuple
    params: int
    receptive_field: object
    error: str = None


SKIPPED = "skipped: an earlier layer failed"


def shape_text(shape):
    """A shape as the widgets write it: ``28×28×1``."""
    return "×".join(str(d) for d in shape)


def walk(nodes, input_shape, record_errors=False, containers_first=False, unique_names=True):
    """Trace ``nodes`` on an input of ``input_shape``; one :class:`Traced` per node, nested ones included.

    Arguments:
        nodes: a sequence of nodes (see the module's docstring).
        input_shape: the input's shape without the batch axis.
        record_errors: False: raise at the first node that cannot take its input;
            True: record the reason in that node's row and skip the rest.
        containers_first: list a node that holds others before its branches' nodes
            (Keras's summary order) instead of after them (the order data flows).
        unique_names: refuse a name used twice anywhere in the walk (one flat Keras
            model); False where each container has names of its own (nested models).

    Returns:
        A list of :class:`Traced`, depth first.

    Raises:
        ValueError, TypeError: (unless ``record_errors``) a node that cannot take its input,
            ``"layer <name> (<what>) cannot take input shape <shape>: <why>"``, branches
            that do not fit together, or a name used twice.
    """
    out = []
    _walk(nodes, tuple(input_shape), ((),), 0, out, set() if unique_names else None, record_errors, containers_first)
    return out


def _walk(nodes, shape, paths, depth, out, seen, record, containers_first):
    """Append every node's row to ``out``; return the final (shape, paths) (shape None after an error)."""
    for node in nodes:
        name = getattr(node, "name", None) or f"{type(node).__name__.lower()}_{len(out)}"
        if shape is None:
            out.append(Traced(node, name, depth, None, None, None, SKIPPED))
            continue
        try:
            if seen is not None:
                if name in seen:
                    raise ValueError(f"layer name {name!r} is used twice; names must be unique")
                seen.add(name)
            if hasattr(node, "trace_branches"):
                shape, paths = _container(node, name, shape, paths, depth, out, seen, record, containers_first)
                continue
            try:
                step = node.trace_step(shape)
            except (ValueError, TypeError) as err:
                if record:
                    raise
                raise type(err)(f"layer {name} ({node.describe()}) cannot take input shape {shape}: "
                                f"{err}") from None
        except (ValueError, TypeError) as err:
            if not record:
                raise
            out.append(Traced(node, name, depth, None, None, None, str(err)))
            shape = None
            continue
        paths = _extend(paths, step.window)
        shape = tuple(step.output_shape)
        out.append(Traced(node, name, depth, shape, step.params, _field(paths)))
    return shape, paths


def _container(node, name, shape, paths, depth, out, seen, record, containers_first):
    """Walk every branch of ``node`` from ``shape``, then merge them; its row after (or before) theirs."""
    first = len(out)
    ends = [_walk(branch, shape, paths, depth + 1, out, seen, record, containers_first)
            for branch in node.trace_branches()]
    if any(end is None for end, _ in ends):
        raise ValueError(f"{name}: a branch cannot be built")
    step = node.trace_merge([end for end, _ in ends])
    paths = None if paths is None else tuple(p for _, branch_paths in ends for p in branch_paths or ())
    row = Traced(node, name, depth, tuple(step.output_shape), step.params, _field(paths))
    out.insert(first if containers_first else len(out), row)
    return row.output_shape, paths


def _field(paths):
    """Receptive field of the units after ``paths`` (every route from the input, each a tuple of
    per-axis windows): the largest over the routes, per axis; None when there is none to follow."""
    if not paths:
        return None
    rows, cols = (max(shapes.receptive_field_geometry([w[axis] for w in path])[0] for path in paths)
                  for axis in (0, 1))
    return rows if rows == cols else (rows, cols)


def _extend(paths, window):
    """The routes after one more window; routes with the same field and stride are merged."""
    if window is NO_FIELD:
        return None
    if paths is None or window is None:
        return paths
    merged = {}
    for path in paths:
        path = path + (window,)
        key = tuple(shapes.receptive_field_geometry([w[a] for w in path])[:2] for a in (0, 1))
        merged.setdefault(key, path)
    return tuple(merged.values())


# ---------------------------------------------------------------------------
# The table of a trace
# ---------------------------------------------------------------------------

class Row(NamedTuple):
    """One line of a :class:`Trace`: the layer's name, its output shape (no batch axis),
    its parameter count and its receptive field (an int for square windows, else
    (rows, columns); None for a flat input with no spatial extent)."""

    layer: str
    output_shape: tuple
    params: int
    receptive_field: object


class Trace:
    """A traced network as a table: ``rows`` (a list of :class:`Row`), ``descriptions`` (what
    each row's layer is, same order), ``total_params``, ``input_shape``, ``output_shape``.
    Prints as a text table; a notebook shows it as an HTML table."""

    def __init__(self, name, input_shape, rows, descriptions):
        self.name, self.input_shape = name, input_shape
        self.rows, self.descriptions = rows, descriptions
        self.total_params = sum(row.params for row in rows)
        self.output_shape = rows[-1].output_shape if rows else input_shape

    @classmethod
    def of(cls, name, input_shape, traced):
        """The table of a :func:`walk` (its rows in the order the walk listed them)."""
        return cls(name, tuple(input_shape), [Row(t.name, t.output_shape, t.params, t.receptive_field) for t in traced],
                   [t.node.describe() for t in traced])

    def _cells(self):
        return [(row.layer, what, str(row.output_shape), f"{row.params:,}",
                 "" if row.receptive_field is None else
                 (f"{row.receptive_field}" if isinstance(row.receptive_field, int)
                  else "x".join(map(str, row.receptive_field))))
                for row, what in zip(self.rows, self.descriptions)]

    _HEADER = ("layer", "what", "output shape", "params", "receptive field")

    def __str__(self):
        cells = [self._HEADER] + self._cells()
        widths = [max(len(r[i]) for r in cells) for i in range(5)]

        def fmt(r):
            return "  ".join(c.rjust(w) if i >= 3 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
        rule = "-" * len(fmt(cells[0]))
        return "\n".join([f"{self.name}, input {self.input_shape}", rule, fmt(cells[0]), rule,
                          *map(fmt, cells[1:]), rule, f"Total params: {self.total_params:,}"])

    def __repr__(self):
        return f"<Trace {self.name}: {len(self.rows)} layers, {self.total_params:,} params>"

    def _repr_html_(self):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEADER)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
                       for cells in self._cells())
        return (f"<p><b>{html.escape(self.name)}</b>, input {self.input_shape}</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                f"<tfoot><tr><td colspan='3'><b>Total params</b></td>"
                f"<td><b>{self.total_params:,}</b></td><td></td></tr></tfoot></table>")
