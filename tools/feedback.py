"""Feedback pages a student can read offline: results first, no hidden-test code, MathML mathematics.

nbgrader_config.py adds these to ``nbgrader generate_feedback``:

- :class:`ReadableTestResults` (a preprocessor, after nbgrader's ``GetGrades`` and
  ``ClearHiddenTests``): puts a table at the top of the page with one row per test
  (pass or fail, points, the check's diagnosis), and replaces each test cell's
  traceback by the check's message. A traceback prints the lines of the test cell
  around the failure, hidden tests included; the message says what the check found.
- :class:`FeedbackExporter` (the HTML exporter): turns ``$...$`` and ``$$...$$`` in
  markdown into MathML with latex2mathml when the page is written, and drops the
  MathJax script nbgrader's template loads from a CDN. Browsers draw MathML
  themselves (Chromium 109+, Firefox, Safari), so the mathematics shows with no
  network, no JavaScript and no fonts to serve, even in a page saved to disk.
"""

import html
import re

from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_markdown_cell
from traitlets import Bool

from cnnlib.grading.results import cell_results, is_test_cell, summary_lines

# Fenced code blocks and inline code: mathematics is never looked for inside them.
_CODE = re.compile(r"(^[ \t]*```.*?^[ \t]*```[ \t]*$|`[^`\n]*`)", re.M | re.S)
_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$", re.S)
_MATHJAX = re.compile(r"(<!-- Loading mathjax macro -->\s*)?<!-- Load mathjax -->.*?"
                      r"<!-- End of mathjax configuration -->", re.S)
_TOKEN = "CNNMATHTOKEN{}X"


def latex_to_mathml(tex, display=False):
    """MathML for the LaTeX ``tex``; the escaped source in a <code> element if it cannot be converted."""
    from latex2mathml.converter import convert

    try:
        return convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - a formula latex2mathml cannot read stays readable as source
        delim = "$$" if display else "$"
        return f"<code>{html.escape(delim + tex + delim)}</code>"


def take_out_math(markdown):
    """(markdown with each formula replaced by a placeholder word, [MathML of each formula]).

    Formulas inside code spans and fenced code blocks stay as they are.
    """
    maths = []

    def replace(match):
        display, inline = match.group(1), match.group(2)
        maths.append(latex_to_mathml(display if display is not None else inline, display is not None))
        return _TOKEN.format(len(maths) - 1)

    parts = _CODE.split(markdown)
    return "".join(part if i % 2 else _MATH.sub(replace, part) for i, part in enumerate(parts)), maths


def put_back_math(rendered, maths):
    """``rendered`` HTML with each placeholder of :func:`take_out_math` replaced by its MathML."""
    for i, mathml in enumerate(maths):   # the trailing X keeps token 1 from matching inside token 10
        rendered = rendered.replace(_TOKEN.format(i), mathml)
    return rendered


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback page, with MathML for the mathematics and no script from a CDN."""

    @pass_context
    def markdown2html(self, context, source):
        text, maths = take_out_math(source)
        return put_back_math(super().markdown2html(context, text), maths)

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        return _MATHJAX.sub("", output), resources


def results_table(results):
    """An HTML table (text escaped) of :func:`cnnlib.grading.results.cell_results`, for the page's top."""
    rows = []
    for r in results:
        verdict = "pass" if r.passed else "FAIL"
        colour = "#2e7d32" if r.passed else "#c62828"
        why = "" if r.passed else html.escape(r.headline)
        rows.append(f'<tr><td style="color:{colour};font-weight:bold">{verdict}</td>'
                    f'<td><a href="#{html.escape(r.name)}"><code>{html.escape(r.name)}</code></a></td>'
                    f'<td style="text-align:right">{r.score:g} / {r.points:g}</td><td>{why}</td></tr>')
    # The text may come from a student's exception: escaped, and $ kept away from the maths filter.
    heading = html.escape(summary_lines(results)[0])
    body = "".join(rows).replace("$", "&#36;")
    return (f'<div class="cnn-results"><h3>Your results</h3><p>{heading}</p>'
            f'<table class="table table-condensed"><thead><tr><th></th><th>test</th><th>score</th>'
            f'<th>what the check found</th></tr></thead><tbody>{body}</tbody></table></div>')


class ReadableTestResults(Preprocessor):
    """Results table first; each failed test cell shows the check's message instead of a traceback."""

    enabled = Bool(True, help="nbconvert's preprocessors are off unless enabled").tag(config=True)

    def preprocess(self, nb, resources):
        results = cell_results(nb)
        by_name = {r.name: r for r in results}
        for cell in nb.cells:
            if not is_test_cell(cell):
                continue
            result = by_name.get(cell.metadata.nbgrader.get("grade_id"))
            for output in cell.get("outputs", []):
                if output.output_type == "error" and result is not None:
                    # The message, never the code lines a traceback quotes (hidden tests among them).
                    output.traceback = [result.message]
        if results:
            nb.cells.insert(0, new_markdown_cell(results_table(results)))
        return nb, resources
