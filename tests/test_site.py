"""make html: the executed course as static pages (tools/site.py)."""

import os

import nbformat
import pytest

from tools import site


def test_titles_come_from_the_first_heading():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_markdown_cell("Some words\n\n# 3. Padding and stride\n")])
    assert site.title(nb, "fallback") == "3. Padding and stride"
    assert site.title(nbformat.v4.new_notebook(), "fallback") == "fallback"


def test_the_index_links_every_lecture_in_order():
    page = site.index_page([("00_start_here", "0. Start here"), ("01_images", "1. Images & <matrices>")])
    assert page.index('href="00_start_here.html"') < page.index('href="01_images.html"')
    assert "1. Images &amp; &lt;matrices&gt;" in page


@pytest.mark.slow
def test_a_notebook_renders_executed_with_its_figures(tmp_path, monkeypatch):
    path = tmp_path / "figure.ipynb"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A figure\n\nFigure: a 3×3 identity matrix."),
        nbformat.v4.new_code_cell("import numpy as np\nfrom cnnlib import viz\nviz.show_matrix(np.eye(3))"),
        nbformat.v4.new_code_cell("print(6 * 7)")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    title, seconds = site.render(path, tmp_path)
    page = (tmp_path / "figure.html").read_text()
    assert title == "A figure" and seconds > 0
    assert "data:image/png;base64" in page and "42" in page
