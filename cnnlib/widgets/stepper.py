"""ConvStepper: play through a convolution one output pixel at a time (:func:`cnnlib.widgets.explain.conv_steps`)."""

import html

import numpy as np

from .examples import LECTURE_IMAGE, LECTURE_KERNEL
from .explain import conv_steps
from .view import View, fmt_number, html_table, ipywidgets

__all__ = ["ConvStepper"]


class ConvStepper(View):
    """Play through a convolution: receptive field, element-wise products, their sum, the output.

    Arguments:
        image: 2-D array; default the course's 5×5 binary image.
        kernel: 2-D array; default the course's 3×3 kernel.
        stride: int >= 1.
        padding: int, ``"valid"``, ``"same"`` or ``"full"``.

    Controls: ``play`` (ipywidgets.Play) linked to ``step`` (IntSlider over the
    output positions, row by row). Read back ``output`` (the full result,
    from cnnlib.ops), ``current`` (the step's dict from :func:`conv_steps`) and
    ``html`` (the HTML widget showing the step).

    Raises:
        ValueError: the kernel does not fit (the message says why).
    """

    def __init__(self, image=None, kernel=None, stride=1, padding=0):
        super().__init__()
        w = ipywidgets()
        self.image = LECTURE_IMAGE if image is None else np.asarray(image)
        self.kernel = LECTURE_KERNEL if kernel is None else np.asarray(kernel)
        self.padded, self.output, self.steps = conv_steps(self.image, self.kernel, stride, padding)
        last = len(self.steps) - 1
        self.play = w.Play(value=0, min=0, max=last, interval=800, description="play")
        self.step = w.IntSlider(value=0, min=0, max=last, description="step").add_class("cnn-step")
        w.jslink((self.play, "value"), (self.step, "value"))
        self.html = w.HTML().add_class("cnn-stepper")
        self.ui = w.VBox([w.HBox([self.play, self.step]), self.html])
        self._observe(self.step)
        self.refresh()

    def refresh(self):
        """Show the step the slider points at."""
        step = self.current = self.steps[self.step.value]
        kh, kw = self.kernel.shape
        field = {(step["top"] + r, step["left"] + c) for r in range(kh) for c in range(kw)}
        done = {(s["row"], s["col"]) for s in self.steps[:self.step.value + 1]}
        terms = " + ".join(f"{fmt_number(a)}·{fmt_number(b)}"
                           for a, b in zip(step["window"].ravel(), self.kernel.ravel()))
        self.sum_text = f"{terms} = {fmt_number(step['value'])}"
        self.html.value = (
            html_table(self.padded, highlight=field, caption="input (receptive field in yellow)")
            + html_table(self.kernel, caption="kernel")
            + html_table(step["products"], caption="window × kernel")
            + html_table(self.output, highlight={(step["row"], step["col"])}, filled=done,
                         caption=f"output, cell ({step['row']}, {step['col']})")
            + f"<p>sum of the products: {html.escape(self.sum_text)}</p>")
