"""ShapeTracer: build a stack of conv, pooling, flatten and dense layers and watch the shapes flow.

The rows come from :func:`cnnlib.widgets.explain.trace_layers`, which walks the stack with
the course's one tracer (:mod:`cnnlib.tracing`).
"""

import html

from .. import shapes
from ..tracing import shape_text
from .explain import LAYER_KINDS, trace_layers
from .view import View, ipywidgets

__all__ = ["ShapeTracer"]


class _LayerRow:
    """One editable layer: a kind dropdown, its fields, the result and a remove button."""

    def __init__(self, tracer, kind, filters=8, kernel_size=3, strides=1, padding="valid",
                 pool_size=2, units=10):
        w = ipywidgets()
        def small():   # one Layout per control: each is shown or hidden on its own
            return w.Layout(width="130px")

        style = {"description_width": "62px"}
        self.kind = w.Dropdown(options=LAYER_KINDS, value=kind, layout=w.Layout(width="95px"))
        self.filters = w.BoundedIntText(value=filters, min=1, max=4096, description="filters",
                                        layout=small(), style=style)
        self.kernel_size = w.BoundedIntText(value=kernel_size, min=1, max=99, description="kernel",
                                            layout=small(), style=style)
        self.pool_size = w.BoundedIntText(value=pool_size, min=1, max=99, description="pool",
                                          layout=small(), style=style)
        self.strides = w.BoundedIntText(value=strides, min=1, max=99, description="strides",
                                        layout=small(), style=style)
        self.padding = w.Dropdown(options=shapes.PADDING_MODES, value=padding, description="padding",
                                  layout=w.Layout(width="150px"), style=style)
        self.units = w.BoundedIntText(value=units, min=1, max=100000, description="units",
                                      layout=small(), style=style)
        self.result = w.HTML(layout=w.Layout(min_width="260px")).add_class("cnn-trace-result")
        self.remove = w.Button(description="remove", layout=w.Layout(width="70px"))
        self.remove.on_click(lambda _: tracer.remove_layer(tracer.rows.index(self)))
        self.fields = {"filters": self.filters, "kernel_size": self.kernel_size,
                       "pool_size": self.pool_size, "strides": self.strides, "padding": self.padding,
                       "units": self.units}
        self.box = w.HBox([self.kind, *self.fields.values(), self.result, self.remove])
        for control in (self.kind, *self.fields.values()):
            control.observe(tracer._on_change, names="value")

    USES = {"conv": ("filters", "kernel_size", "strides", "padding"),
            "maxpool": ("pool_size", "strides"), "avgpool": ("pool_size", "strides"),
            "flatten": (), "dense": ("units",)}

    def spec(self):
        """The layer as a dict for :func:`trace_layers`."""
        kind = self.kind.value
        return {"kind": kind, **{name: self.fields[name].value for name in self.USES[kind]}}

    def show(self, row):
        for name, control in self.fields.items():
            control.layout.display = "" if name in self.USES[self.kind.value] else "none"
        if row["error"] is None:
            self.result.value = (f"→ <b>{shape_text(row['shape'])}</b>, "
                                 f"{row['params']:,} params")
        else:
            self.result.value = f'<span style="color:#b00020">⚠ {html.escape(row["error"])}</span>'


class ShapeTracer(View):
    """Build a stack of layers and watch the shapes flow through it.

    Arguments:
        input_shape: ``(H, W, C)`` of one example.
        layers: optional list of layer dicts (see :func:`trace_layers`) to start with;
            default conv 3×3/8, max pool 2, flatten, dense 10.

    Methods ``add_layer(kind, **fields)``, ``remove_layer(index)``; attribute
    ``rows`` (each with ``kind`` and field widgets and a ``result`` HTML).
    Read back ``trace`` (from :func:`trace_layers`) and ``total_params``.
    A layer that cannot be built shows its reason in red in its own row.
    """

    def __init__(self, input_shape=(28, 28, 1), layers=None):
        super().__init__()
        w = ipywidgets()
        self.input_shape = tuple(input_shape)
        trace_layers(self.input_shape, [])  # checks input_shape
        self.rows = []
        self.header = w.HTML()
        self.rows_box = w.VBox()
        self.new_kind = w.Dropdown(options=LAYER_KINDS, value="conv", layout=w.Layout(width="95px"))
        self.add_button = w.Button(description="add layer")
        self.add_button.on_click(lambda _: self.add_layer(self.new_kind.value))
        self.footer = w.HTML()
        self.ui = w.VBox([self.header, self.rows_box, w.HBox([self.new_kind, self.add_button]),
                          self.footer]).add_class("cnn-tracer")
        if layers is None:
            layers = [{"kind": "conv", "filters": 8, "kernel_size": 3},
                      {"kind": "maxpool", "pool_size": 2}, {"kind": "flatten"},
                      {"kind": "dense", "units": 10}]
        with self._batch():
            for layer in layers:
                self.add_layer(**layer)

    def add_layer(self, kind="conv", **fields):
        """Append a layer of ``kind`` (one of LAYER_KINDS) with the given fields; returns its row."""
        if kind not in LAYER_KINDS:
            raise ValueError(f"kind must be one of {LAYER_KINDS}, got {kind!r}")
        if fields.get("strides") is None:   # Keras's defaults: 1 for conv, the window for pooling
            fields["strides"] = fields.get("pool_size", 2) if kind in ("maxpool", "avgpool") else 1
        row = _LayerRow(self, kind, **fields)
        self.rows.append(row)
        self.rows_box.children = [r.box for r in self.rows]
        self._on_change()
        return row

    def remove_layer(self, index):
        """Remove the layer at ``index`` (0 is the first layer)."""
        del self.rows[index]
        self.rows_box.children = [r.box for r in self.rows]
        self._on_change()

    def layers(self):
        """The current stack as a list of layer dicts."""
        return [row.spec() for row in self.rows]

    def refresh(self):
        """Trace the current stack and update every row."""
        self.trace = trace_layers(self.input_shape, self.layers())
        for row, result in zip(self.rows, self.trace):
            row.show(result)
        ok = all(r["error"] is None for r in self.trace)
        self.total_params = sum(r["params"] for r in self.trace) if ok else None
        self.header.value = f"input <b>{shape_text(self.input_shape)}</b>"
        self.footer.value = (f"total parameters: <b>{self.total_params:,}</b>" if ok
                             else '<span style="color:#b00020">the stack cannot be built as it is</span>')
