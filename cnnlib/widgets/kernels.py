"""KernelPlayground: edit a kernel or pick a preset; see the filtered image and its ReLU."""

import html

import numpy as np

from ..figures import new_figure, png_bytes
from .examples import KERNEL_PRESETS
from .explain import apply_kernel
from .view import View, fmt_number, ipywidgets

__all__ = ["KernelPlayground"]


class KernelPlayground(View):
    """Edit a kernel cell by cell or pick a preset; see the filtered image and its ReLU.

    Arguments:
        image: 2-D grayscale array; default scikit-image's camera, 128×128, in [0, 1].

    Controls: ``preset`` (Dropdown over :data:`KERNEL_PRESETS` plus
    ``"custom"``) and ``cells`` (list of lists of FloatText, one per kernel
    entry; the 7×7 preset swaps in a 7×7 editor). Read back ``kernel``,
    ``filtered`` and ``rectified`` (from :func:`apply_kernel`) and
    ``stats_text``.
    """

    def __init__(self, image=None, preset="identity"):
        super().__init__()
        w = ipywidgets()
        if image is None:
            from skimage import data

            image = data.camera()[::4, ::4] / 255.0
        self.image = np.asarray(image, dtype=float)
        if self.image.ndim != 2:
            raise ValueError(f"image must be 2-D (grayscale), got shape {self.image.shape}")
        self.preset = w.Dropdown(options=list(KERNEL_PRESETS) + ["custom"], value=preset,
                                 description="preset")
        self.editor = w.GridBox(layout=w.Layout(grid_gap="2px"))
        self.stats = w.HTML().add_class("cnn-kernel-stats")
        self.picture = w.Image(format="png")
        self.ui = w.VBox([w.HBox([w.VBox([self.preset, self.editor]), self.stats]), self.picture])
        self.cells = []
        self._fig = new_figure(9, 3.2)
        axes = self._fig.subplots(1, 3)
        self._fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.9, wspace=0.05)
        self._artists = []
        for ax, title in zip(axes, ("image", "filtered (cross-correlation)", "ReLU(filtered)")):
            self._artists.append(ax.imshow(self.image, cmap="gray"))
            ax.set_title(title, fontsize=9)
            ax.set_axis_off()
        self.preset.observe(self._on_preset, names="value")
        self._load(KERNEL_PRESETS[preset])

    def _build_editor(self, size):
        w = ipywidgets()
        self.cells = [[w.FloatText(layout=w.Layout(width="58px")) for _ in range(size)] for _ in range(size)]
        self.editor.children = [c for row in self.cells for c in row]
        self.editor.layout.grid_template_columns = f"repeat({size}, 60px)"
        for row in self.cells:
            for cell in row:
                cell.observe(self._on_cell, names="value")

    def _load(self, kernel):
        with self._batch():
            if len(self.cells) != kernel.shape[0]:
                self._build_editor(kernel.shape[0])
            for row, values in zip(self.cells, kernel):
                for cell, v in zip(row, values):
                    cell.value = float(v)

    def _on_preset(self, change):
        if not self._busy and change["new"] != "custom":
            self._load(KERNEL_PRESETS[change["new"]])

    def _on_cell(self, change):
        if not self._busy:   # a hand edit: the kernel is no longer the preset
            with self._batch():
                self.preset.value = "custom"

    def refresh(self):
        """Filter the image with the kernel in the editor and redraw."""
        self.kernel = np.array([[c.value for c in row] for row in self.cells])
        self.filtered, self.rectified = apply_kernel(self.image, self.kernel)
        for artist, values in zip(self._artists[1:], (self.filtered, self.rectified)):
            artist.set_data(values)
            lo, hi = float(values.min()), float(values.max())
            artist.set_clim(lo, hi if hi > lo else lo + 1)
        self.stats_text = (f"kernel sum {fmt_number(self.kernel.sum())}; filtered values from "
                           f"{fmt_number(self.filtered.min())} to {fmt_number(self.filtered.max())}; ReLU zeroes "
                           f"{int((self.filtered < 0).sum())} of {self.filtered.size} pixels")
        self.stats.value = html.escape(self.stats_text)
        self.picture.value = png_bytes(self._fig)
