"""Render the executed course to a static site: ``python -m tools.site [OUT]`` (``make html``).

Every notebook in notebooks/ is executed in a fresh kernel (offline, as the tests
run it) and exported to HTML with nbconvert, beside an index page that lists the
lectures in order with their titles. A student can browse the result without
running anything: open ``site/index.html``. Widgets are shown as their last
rendered image; sliders need a live kernel (``make lab``).
"""

import html
import os
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def title(nb, fallback):
    """The notebook's first markdown heading, without the '#'."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def render(path, out_dir, timeout=600):
    """Execute ``path`` and write ``out_dir/<stem>.html``; returns (title, seconds)."""
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   extra_arguments=["--log-level=ERROR"],   # no kernel start-up warnings
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - started
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    (out_dir / f"{path.stem}.html").write_text(body, encoding="utf-8")
    return title(nb, path.stem), seconds


def index_page(entries):
    """The site's front page: one link per lecture, in order."""
    items = "\n".join(f'    <li><a href="{html.escape(stem)}.html">{html.escape(name)}</a> '
                      f'<small>({html.escape(stem)})</small></li>' for stem, name in entries)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CNN course</title>
<style>body {{ font-family: sans-serif; max-width: 46em; margin: 3em auto; line-height: 1.5 }}</style>
</head><body>
  <h1>Convolutional neural networks, from pixels to architectures</h1>
  <p>The lecture notebooks, executed. Read them in order; to run them and move the sliders,
  open the course with <code>make lab</code>.</p>
  <ol>
{items}
  </ol>
</body></html>
"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out_dir = Path(argv[0]) if argv else ROOT / "site"
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    entries = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        name, seconds = render(path, out_dir)
        entries.append((path.stem, name))
        print(f"{seconds:6.1f} s  {path.name}", flush=True)
    (out_dir / "index.html").write_text(index_page(entries), encoding="utf-8")
    print(f"wrote {out_dir / 'index.html'} and {len(entries)} lecture pages")


if __name__ == "__main__":
    main()
