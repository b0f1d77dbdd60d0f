"""Matplotlib figures that never go through pyplot: made, shown in Jupyter, turned into PNG bytes.

:mod:`cnnlib.viz` returns figures and :mod:`cnnlib.widgets` draws into them; both make
them here, so that

- nothing is ever shown twice or left open (pyplot does not know these figures), and
  they work with the Agg backend, with no display;
- a figure returned by a cell shows as a picture in Jupyter even before pyplot was
  ever used (a fresh kernel has no display hook for figures yet);
- a widget redraws by swapping the PNG bytes of one figure it keeps.

    new_figure(width, height, dpi=None, layout=None)   a Figure of that size, in inches
    png_bytes(fig, tight=False)                        the figure as PNG bytes

Importing this module imports matplotlib (``import cnnlib`` does not).
"""

from io import BytesIO

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["CourseFigure", "new_figure", "png_bytes"]


def png_bytes(fig, tight=False):
    """The figure as PNG bytes, at its own dpi; ``tight`` crops the empty margin."""
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, bbox_inches="tight" if tight else None)
    return buffer.getvalue()


class CourseFigure(Figure):
    """A Figure that shows itself as a PNG in Jupyter even before pyplot was ever used.

    Without pyplot, IPython has no display hook for figures yet, and a returned
    Figure would print as ``<Figure size ...>``. When the inline backend is active,
    its hook takes precedence and this method is not called.
    """

    def _repr_png_(self):
        return png_bytes(self, tight=True)


def new_figure(width, height, dpi=None, layout=None):
    """A :class:`CourseFigure` of ``width`` x ``height`` inches that pyplot does not know about.

    Arguments:
        width, height: the size in inches.
        dpi: dots per inch (matplotlib's default when None).
        layout: matplotlib's layout engine, e.g. ``"constrained"``, or None.

    Returns:
        The figure, with an Agg canvas attached, so it can be drawn and saved at once.
    """
    fig = CourseFigure(figsize=(width, height), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig
