"""PoolingExplorer: pool a small matrix window by window (:func:`cnnlib.widgets.explain.pool_windows`)."""

import html

import numpy as np

from .. import ops
from .examples import DEFAULT_POOL_INPUT
from .explain import pool_windows
from .view import View, fmt_number, html_table, ipywidgets

__all__ = ["PoolingExplorer"]


class PoolingExplorer(View):
    """Pool a small matrix window by window: pool size, stride and max/avg/sum.

    Arguments:
        x: 2-D array; default a 6×6 matrix of small integers.

    Controls: ``pool_size``, ``stride`` (IntSliders), ``mode`` (ToggleButtons),
    ``window`` (IntSlider: which window to highlight) and the preset buttons
    ``plain_button`` (2/2) and ``overlap_button`` (3/2, AlexNet's overlapping
    pooling). Read back ``output`` (None when the window does not fit),
    ``windows`` (from :func:`pool_windows`) and ``message``.
    """

    def __init__(self, x=None, pool_size=2, stride=2, mode="max"):
        super().__init__()
        w = ipywidgets()
        self.x = DEFAULT_POOL_INPUT if x is None else np.asarray(x)
        if self.x.ndim != 2:
            raise ValueError(f"x must be 2-D (H, W), got shape {self.x.shape}")
        biggest = max(self.x.shape)
        self.pool_size = w.IntSlider(value=pool_size, min=1, max=biggest + 1, description="pool size")
        self.stride = w.IntSlider(value=stride, min=1, max=biggest, description="stride")
        self.mode = w.ToggleButtons(options=ops.POOL_MODES, value=mode, description="mode")
        self.window = w.IntSlider(value=0, min=0, max=0, description="window")
        self.plain_button = w.Button(description="2/2 (no overlap)")
        self.overlap_button = w.Button(description="3/2 (overlapping)")
        self.plain_button.on_click(lambda _: self.set(2, 2))
        self.overlap_button.on_click(lambda _: self.set(3, 2))
        self.html = w.HTML().add_class("cnn-pooling")
        self.ui = w.VBox([w.HBox([self.pool_size, self.stride]), self.mode,
                          w.HBox([self.plain_button, self.overlap_button]), self.window, self.html])
        self._observe(self.pool_size, self.stride, self.mode, self.window)
        self.refresh()

    def set(self, pool_size, stride):
        """Set pool size and stride together (one refresh)."""
        with self._batch():
            self.pool_size.value = pool_size
            self.stride.value = stride

    def refresh(self):
        """Recompute every window and redraw the selected one."""
        k, s, mode = self.pool_size.value, self.stride.value, self.mode.value
        try:
            self.output, self.windows = pool_windows(self.x, k, s, mode)
        except ValueError as err:
            self.output, self.windows = None, []
            self.message = f"Impossible: {err}."
            self.html.value = (html_table(self.x, caption="input")
                               + f'<p style="color:#b00020">{html.escape(self.message)}</p>')
            return
        with self._quietly():
            self.window.max = len(self.windows) - 1
        win = self.windows[self.window.value]
        field = {(win["top"] + r, win["left"] + c) for r in range(k) for c in range(k)}
        oh, ow = self.output.shape
        overlap = " The windows overlap: some numbers belong to two windows." if s < k else ""
        skipped = (" The stride is larger than the window: some numbers are never looked at."
                   if s > k else "")
        self.message = (f"{len(self.windows)} windows of {k}×{k}, stride {s}: output {oh}×{ow}. "
                        f"Window {self.window.value} gives {mode} = {fmt_number(win['value'])}.{overlap}{skipped}")
        self.html.value = (html_table(self.x, highlight=field, caption="input (window in yellow)")
                           + html_table(win["values"], caption=f"window {self.window.value}")
                           + html_table(self.output, highlight={(win["row"], win["col"])},
                                        caption=f"{mode} pooling output")
                           + f"<p>{html.escape(self.message)}</p>")
