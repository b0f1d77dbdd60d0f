"""ConvSizeExplorer: sliders for W, K, P, S, D; the formula, the output size and a drawing.

A transposed mode shows how a small input grows (its sizes explained in
:mod:`cnnlib.transposed_sizes`); a whole-layer view adds channels, filters and the
parameter count. Every number comes from :mod:`cnnlib.widgets.explain`.
"""

import html

import numpy as np

from .. import shapes
from ..figures import new_figure, png_bytes
from ..transposed_sizes import conv_transpose_axis_layout, conv_transpose_size_formula, explain_conv_transpose_size
from .explain import conv_axis_layout, conv_size_formula, explain_conv_size, layer_summary
from .view import View, ipywidgets

__all__ = ["ConvSizeExplorer", "PAD_MODES", "EXPLORER_MODES"]


PAD_MODES = ("explicit", "valid", "same", "full")
EXPLORER_MODES = ("convolution", "transposed")


class ConvSizeExplorer(View):
    """Sliders for W, K, P, S, D; shows the formula, the output size and a drawing.

    Controls (ipywidgets; set ``.value`` from code to drive it):
        ``mode`` (``"convolution"``, or ``"transposed"``: how a transposed
        convolution grows an input of size W), ``input_size`` (W),
        ``kernel_size`` (K), ``padding`` (P, zeros on each side; in transposed
        mode the padding of the convolution it undoes), ``stride`` (S),
        ``dilation`` (D), ``output_padding`` (transposed mode only: None for
        Keras's default, or 0 to 7), ``padding_mode`` (``"explicit"``
        uses the padding slider; ``"valid"``, ``"same"`` and ``"full"`` set it,
        and follow the other sliders), ``view`` (``"one axis"`` or ``"whole
        layer"``), and for the layer view ``channels`` (C) and ``filters``.

    Read back:
        ``output_size`` (int, or None when impossible), ``message`` (the
        explanation shown), ``formula`` (the substituted formula),
        ``layer_text`` (the whole-layer line), ``layer_shape``, ``layer_params``.
    """

    def __init__(self, input_size=7, kernel_size=3, padding=0, stride=1, dilation=1,
                 channels=3, filters=8, mode="convolution", output_padding=None):
        super().__init__()
        w = ipywidgets()
        style = {"description_width": "110px"}
        lay = w.Layout(width="420px")

        def slider(name, value, lo, hi, css):
            s = w.IntSlider(value=value, min=lo, max=hi, description=name, style=style, layout=lay)
            s.add_class(css)
            return s

        self.input_size = slider("input W", input_size, 1, 32, "cnn-input-size")
        self.kernel_size = slider("kernel K", kernel_size, 1, 15, "cnn-kernel-size")
        self.padding = slider("padding P", padding, 0, 12, "cnn-padding")
        self.stride = slider("stride S", stride, 1, 8, "cnn-stride")
        self.dilation = slider("dilation D", dilation, 1, 4, "cnn-dilation")
        self.padding_mode = w.ToggleButtons(options=PAD_MODES, value="explicit", description="padding",
                                            style={"description_width": "110px", "button_width": "70px"})
        self.view = w.ToggleButtons(options=("one axis", "whole layer"), value="one axis",
                                    description="view", style={"description_width": "110px"})
        self.mode = w.ToggleButtons(options=EXPLORER_MODES, value=mode, description="mode",
                                    style={"description_width": "110px", "button_width": "100px"})
        self.mode.add_class("cnn-mode")
        self.output_padding = w.Dropdown(options=[("None (Keras's default)", None)] + [(str(a), a) for a in range(8)],
                                         value=output_padding, description="output pad a", style=style)
        self.output_padding.add_class("cnn-output-padding")
        self.channels = slider("channels C", channels, 1, 64, "cnn-channels")
        self.filters = slider("filters", filters, 1, 128, "cnn-filters")
        self.formula_html = w.HTML().add_class("cnn-formula")
        self.size_html = w.HTML().add_class("cnn-output-size")
        self.message_html = w.HTML().add_class("cnn-message")
        self.layer_html = w.HTML().add_class("cnn-layer")
        self.image = w.Image(format="png").add_class("cnn-figure")
        self.layer_box = w.VBox([self.channels, self.filters, self.layer_html])
        self.ui = w.VBox([self.mode, self.input_size, self.kernel_size, self.padding_mode, self.padding,
                          self.stride, self.dilation, self.output_padding, self.view, self.layer_box,
                          self.formula_html, self.size_html, self.message_html, self.image]).add_class("cnn-conv-size")
        self._setup_figure()
        self._observe(self.input_size, self.kernel_size, self.stride, self.dilation, self.channels,
                      self.filters, self.view, self.mode, self.output_padding)
        self.padding.observe(self._on_padding, names="value")
        self.padding_mode.observe(self._on_change, names="value")
        self.refresh()

    def _on_padding(self, change):
        if not self._busy:   # the user moved the padding slider: it is explicit from now on
            with self._batch():
                self.padding_mode.value = "explicit"

    def padding_arg(self):
        """The padding argument for cnnlib.shapes: the mode's name, or the slider's value."""
        mode = self.padding_mode.value
        return self.padding.value if mode == "explicit" else mode

    def refresh(self):
        """Recompute the formula, output size, message, layer line and drawing from the sliders."""
        n, k, s, d = (self.input_size.value, self.kernel_size.value, self.stride.value,
                      self.dilation.value)
        pad = self.padding_arg()
        transposed = self.mode.value == "transposed"
        a = self.output_padding.value
        if pad != self.padding.value:   # a preset: show its (before) amount on the slider
            try:
                before = (shapes.conv_transpose_padding(n, k, pad, s, d, a) if transposed
                          else shapes.padding_amounts(n, k, pad, s, d))[0]
            except ValueError:
                before = 0
            with self._quietly():
                self.padding.value = min(before, self.padding.max)
        self.output_padding.layout.display = "" if transposed else "none"
        if transposed:
            self._refresh_transposed(n, k, pad, s, d, a)
            return
        self.output_size, self.message = explain_conv_size(n, k, pad, s, d)
        self.formula = conv_size_formula(n, k, pad, s, d)
        self.layer_shape, self.layer_params, self.layer_text = layer_summary(
            n, n, self.channels.value, self.filters.value, k, pad, s, d)
        self._show_texts()
        self._draw(n, k, pad, s, d)

    def _show_texts(self):
        self.size_html.value = ("<b>output size: " + (str(self.output_size) if self.output_size is not None
                                                        else "none (impossible)") + "</b>")
        color = "#b00020" if self.output_size is None else "#333"
        self.message_html.value = f'<span style="color:{color}">{html.escape(self.message)}</span>'
        self.formula_html.value = f"<code>{html.escape(self.formula)}</code>"
        self.layer_html.value = html.escape(self.layer_text)
        self.layer_box.layout.display = "" if self.view.value == "whole layer" else "none"

    def _refresh_transposed(self, n, k, pad, s, d, a):
        """The transposed mode: an input of W pixels grows; sizes from cnnlib.transposed_sizes."""
        self.output_size, self.message = explain_conv_transpose_size(n, k, pad, s, d, a)
        self.formula = conv_transpose_size_formula(n, k, pad, s, d, a)
        self.layer_shape, self.layer_params, self.layer_text = layer_summary(
            n, n, self.channels.value, self.filters.value, k, pad, s, d, transposed=True, output_padding=a)
        self._show_texts()
        self._draw_transposed(n, k, pad, s, d, a)

    def _setup_figure(self):
        """One figure, two axes and their artists, made once; _draw only updates them."""
        from matplotlib.collections import LineCollection
        from matplotlib.colors import ListedColormap

        self._fig = new_figure(8, 3.4)
        left, right = self._axes = self._fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        self._fig.subplots_adjust(left=0.02, right=0.98, bottom=0.03, top=0.85, wspace=0.1)
        # cell categories: 0 padding, 1 input, 2 left over, 3 first kernel position, 4 last one
        cmap = ListedColormap(["#d9d9d9", "#ffffff", "#ef9a9a", "#42a5f5", "#ffb74d"])
        self._grid_img = left.imshow(np.zeros((1, 1)), cmap=cmap, vmin=-0.5, vmax=4.5)
        self._out_img = right.imshow(np.zeros((1, 1)), cmap=ListedColormap(["#a5d6a7"]), vmin=0, vmax=1)
        self._cmaps = {"categories": cmap, "output": ListedColormap(["#a5d6a7"])}
        self._corners = left.scatter([], [], s=12, c="k", marker="o", zorder=3)
        self._lines = [ax.add_collection(LineCollection([], colors="#777", linewidths=0.5)) for ax in (left, right)]
        self._nofit = left.text(0.5, 0.5, "", ha="center", va="center", color="#b00020", fontsize=13,
                                transform=left.transAxes)
        for ax in (left, right):
            ax.set_xticks([])
            ax.set_yticks([])

    def _layout(self, layout, args, impossible):
        """``layout(*args)``, the drawing's artists shown; or None, with ``impossible`` drawn instead."""
        try:
            lay = layout(*args)
        except (TypeError, ValueError):
            lay = None
        for artist in (self._grid_img, self._out_img, *self._lines, self._axes[1]):
            artist.set_visible(lay is not None)
        self._corners.set_visible(False)
        self._nofit.set_text("" if lay is not None else impossible)
        if lay is None:
            for ax in self._axes:
                ax.set_title("")
            self.image.value = png_bytes(self._fig)
        return lay

    def _draw(self, n, k, pad, s, d):
        left, right = self._axes
        self._out_img.set_cmap(self._cmaps["output"])
        self._out_img.set_clim(0, 1)
        lay = self._layout(conv_axis_layout, (n, k, pad, s, d), "the kernel does not fit:\nno output")
        if lay is None:
            return
        self._corners.set_visible(True)
        size, before, o = lay["padded"], lay["before"], lay["output_size"]
        inside = np.zeros(size, bool)
        inside[before:before + n] = True
        grid = np.where(inside[:, None] & inside[None, :], 1, 0)
        left_over = np.zeros(size, bool)
        left_over[list(lay["leftover"])] = True
        grid[left_over[:, None] | left_over[None, :]] = 2
        for code, start in ((4, lay["starts"][-1]), (3, 0)):
            taps = [start + t for t in lay["taps"]]
            grid[np.ix_(taps, taps)] = code
        corners = np.array(lay["starts"])
        yy, xx = np.meshgrid(corners, corners, indexing="ij")
        self._corners.set_offsets(np.column_stack([xx.ravel(), yy.ravel()]))
        self._show_grids(grid, np.ones((o, o)))
        left.set_title(f"padded input {size}×{size}: grey = padding, blue/orange = first/last kernel "
                       f"position,\ndots = every position's corner, red = left over", fontsize=8)
        right.set_title(f"output {o}×{o}", fontsize=9)
        self.image.value = png_bytes(self._fig)

    def _show_grids(self, left_values, right_values):
        """Show two square grids of cells, one per axes, each with its grid lines."""
        for ax, img, lines, values in zip(self._axes, (self._grid_img, self._out_img), self._lines,
                                          (left_values, right_values)):
            m = len(values)
            img.set_data(values)
            img.set_extent((-0.5, m - 0.5, m - 0.5, -0.5))
            ax.set_xlim(-0.5, m - 0.5)
            ax.set_ylim(m - 0.5, -0.5)
            edges = np.arange(m + 1) - 0.5
            lines.set_segments([[(e, -0.5), (e, m - 0.5)] for e in edges]
                               + [[(-0.5, e), (m - 0.5, e)] for e in edges])

    def _draw_transposed(self, n, k, pad, s, d, a):
        """Left: the input, its first and last pixel marked. Right: the stamped output (what the padding
        crops in grey, the output padding in red, the first and last pixel's stamps in blue and orange)."""
        left, right = self._axes
        lay = self._layout(conv_transpose_axis_layout, (n, k, pad, s, d, a), "impossible setting:\nno output")
        if lay is None:
            return
        first, last = lay["window"]
        size = max(lay["stamped"], last)             # stamped pixels, and the output padding's after them
        kept = np.zeros(size, bool)
        kept[first:last] = True
        line = np.where(kept, 1, 0)
        line[lay["stamped"]:] = np.where(kept[lay["stamped"]:], 2, 0)
        grid = np.minimum(line[:, None], line[None, :])
        for code, start in ((4, lay["starts"][-1]), (3, lay["starts"][0])):
            taps = [start + t for t in lay["taps"]]
            grid[np.ix_(taps, taps)] = code
        source = np.ones((n, n))
        source[-1, -1], source[0, 0] = 4, 3
        self._out_img.set_cmap(self._cmaps["categories"])
        self._out_img.set_clim(-0.5, 4.5)
        self._show_grids(source, grid)
        o = lay["output_size"]
        left.set_title(f"input {n}×{n}: each pixel stamps the kernel into the output,\n{s} apart; "
                       f"blue/orange = the first/last pixel and its stamp", fontsize=8)
        right.set_title(f"output {o}×{o}\ngrey = cropped by the padding, red = output padding", fontsize=8)
        self.image.value = png_bytes(self._fig)
