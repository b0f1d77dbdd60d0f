"""Interactive explorers for the notebooks: conv sizes, a step-by-step convolution, kernels, pooling, shapes.

Two kinds of module, read in this order:

1. Pure explanations, no widgets and no drawing (tests call them without a browser):
   :mod:`cnnlib.widgets.examples` (the lecture's image and kernel, kernel presets) and
   :mod:`cnnlib.widgets.explain` (``conv_axis_layout``, ``explain_conv_size``,
   ``conv_size_formula``, ``layer_summary``, ``conv_steps``, ``apply_kernel``,
   ``pool_windows``, ``trace_layers``); the transposed convolution's are in
   :mod:`cnnlib.transposed_sizes`. They get every number from :mod:`cnnlib.shapes`,
   :mod:`cnnlib.ops` and the course's one tracer, :mod:`cnnlib.tracing`; nothing
   re-derives a formula.
2. The views, each a thin widget over those functions, one module each:

   ConvSizeExplorer   (conv_size)     sliders for W, K, P, S, D; the formula, the output size, a drawing;
                                      a transposed mode shows how a small input grows
   ConvStepper        (stepper)       play through a convolution one output pixel at a time
   KernelPlayground   (kernels)       edit or pick a kernel, see the filtered image and its ReLU
   PoolingExplorer    (pooling)       pool size, stride and mode over a small matrix, window by window
   ShapeTracer        (shape_tracer)  a stack of conv/pool/flatten/dense layers, its shapes and parameters

   What they share is in :mod:`cnnlib.widgets.view`.

Every widget has one observer that recomputes everything from the current
control values, so quick slider moves always end in a consistent view; when
code sets several controls at once (a preset), the observer runs once at the
end. Figures are drawn into one matplotlib figure per widget (:mod:`cnnlib.figures`)
and shown as a PNG in an ``ipywidgets.Image``, so a redraw swaps the picture instead
of clearing and re-creating the output (no flicker).

Display a widget by making it the last expression of a cell, or with
``IPython.display.display(widget)``; ``widget.ui`` is its root ipywidget.
Importing this package imports matplotlib; ipywidgets is imported when a widget is
made (``import cnnlib`` imports neither).
"""

from ..transposed_sizes import conv_transpose_axis_layout, conv_transpose_size_formula, explain_conv_transpose_size
from .conv_size import ConvSizeExplorer
from .examples import CURVE_DETECTOR, DEFAULT_POOL_INPUT, KERNEL_PRESETS, LECTURE_IMAGE, LECTURE_KERNEL
from .explain import (LAYER_KINDS, apply_kernel, conv_axis_layout, conv_size_formula, conv_steps, explain_conv_size,
                      layer_summary, pool_windows, trace_layers)
from .kernels import KernelPlayground
from .pooling import PoolingExplorer
from .shape_tracer import ShapeTracer
from .stepper import ConvStepper

__all__ = [
    "LECTURE_IMAGE",
    "LECTURE_KERNEL",
    "CURVE_DETECTOR",
    "KERNEL_PRESETS",
    "DEFAULT_POOL_INPUT",
    "LAYER_KINDS",
    "conv_axis_layout",
    "explain_conv_size",
    "conv_size_formula",
    "layer_summary",
    "conv_transpose_axis_layout",
    "explain_conv_transpose_size",
    "conv_transpose_size_formula",
    "conv_steps",
    "apply_kernel",
    "pool_windows",
    "trace_layers",
    "ConvSizeExplorer",
    "ConvStepper",
    "KernelPlayground",
    "PoolingExplorer",
    "ShapeTracer",
]
