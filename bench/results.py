"""Keep bench/RESULTS.md up to date, one section per benchmark.

Each benchmark owns a section between two markers; rerunning it replaces only
that section, so the file can hold every benchmark's latest figures.
"""

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
TITLE = "# Benchmark results\n\nWritten by `make bench`; each section is replaced when its benchmark runs.\n"


def write_section(name, body, path=RESULTS):
    """Replace (or append) the section called ``name`` in RESULTS.md with ``body``."""
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    block = f"{start}\n## {name}\n\n{body.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else TITLE
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        text = before + block + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
