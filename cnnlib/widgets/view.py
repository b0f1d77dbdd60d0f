"""What every widget shares: the base class of the views and the pieces they draw with.

    View                      a root ipywidget in ``ui``, one ``refresh`` that recomputes everything
                              from the controls, and a guard so that setting several controls at
                              once (a preset) refreshes once
    html_table(values, ...)   a small HTML table of numbers, some cells highlighted
    fmt_number(v)             a number as students write it: 4, not 4.0
    ipywidgets()              the ipywidgets module, imported when a widget is made

Figures come from :mod:`cnnlib.figures`.
"""

import html
from contextlib import contextmanager

import numpy as np

__all__ = ["View", "html_table", "fmt_number", "ipywidgets"]


def fmt_number(v):
    """A number as students write it: 4 not 4.0, 0.333 not 0.3333333."""
    v = float(v)
    if v == int(v) and abs(v) < 1e12:
        return str(int(v))
    return f"{v:.3g}"


def html_table(values, highlight=(), filled=None, caption="", cell_class=None):
    """A small HTML table of numbers; cells in ``highlight`` (a set of (r, c)) get a colour.

    ``filled``: when given, a set of (r, c); other cells are shown empty.
    ``cell_class``: optional function (r, c) -> extra CSS style for that cell.
    """
    rows = []
    for r, line in enumerate(np.atleast_2d(values)):
        cells = []
        for c, v in enumerate(line):
            style = "border:1px solid #999;padding:2px 6px;text-align:center;min-width:1.6em;"
            if (r, c) in highlight:
                style += "background:#ffd54f;font-weight:bold;"
            if cell_class is not None:
                style += cell_class(r, c)
            text = fmt_number(v) if filled is None or (r, c) in filled else "&nbsp;"
            cells.append(f'<td style="{style}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f'<caption style="caption-side:top;font-size:90%">{html.escape(caption)}</caption>' if caption else ""
    return f'<table style="border-collapse:collapse;margin:4px 10px;display:inline-table">{cap}{"".join(rows)}</table>'


class View:
    """Base of the widget classes: a root ipywidget in ``ui``, one refresh, a re-entrancy guard."""

    ui = None

    def __init__(self):
        self._busy = False

    def _observe(self, *controls):
        for control in controls:
            control.observe(self._on_change, names="value")

    def _on_change(self, change=None):
        if not self._busy:
            self.refresh()

    @contextmanager
    def _batch(self):
        """Set several controls; refresh once at the end (nested batches refresh once)."""
        outer = not self._busy
        self._busy = True
        try:
            yield
        finally:
            if outer:
                self._busy = False
                self.refresh()

    @contextmanager
    def _quietly(self):
        """Set controls from inside ``refresh`` without starting another refresh."""
        was, self._busy = self._busy, True
        try:
            yield
        finally:
            self._busy = was

    def refresh(self):
        """Recompute everything from the controls' current values."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        return self.ui._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.ui)


def ipywidgets():
    """The ipywidgets module (imported here, when a widget is made, not when cnnlib.widgets is imported)."""
    import ipywidgets as module

    return module
