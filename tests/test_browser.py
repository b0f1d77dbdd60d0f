"""The widgets in a real browser: JupyterLab 4 and Notebook 7, driven by Playwright and Chromium.

The test starts JupyterLab on 127.0.0.1 (free port, fresh token, temporary
Jupyter folders), opens a copy of notebooks/widgets_tour.ipynb, runs it, drags
ConvSizeExplorer's stride slider with the mouse, types an impossible kernel
size into a slider's number box, switches to the transposed mode and picks an
impossible output padding, and checks what the page shows against
cnnlib.shapes. Screenshots go to test-output/browser/ (ignored by git).
Skipped, with the reason, when Debian's Chromium is not installed.
"""

import os
import shutil
from pathlib import Path

import pytest

from cnnlib import shapes
from cnnlib.widgets import explain_conv_size, explain_conv_transpose_size

ROOT = Path(__file__).resolve().parents[1]
from bench import browser_support as bs  # noqa: E402  (conftest puts the root on sys.path)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = ROOT / "test-output" / "browser"


@pytest.fixture(scope="module")
def lab(request, tmp_path_factory):
    """JupyterLab serving a folder with two copies of the tour (one per interface)."""
    if not os.access(bs.CHROMIUM, os.X_OK):
        pytest.skip(f"{bs.CHROMIUM} is missing: install Debian's chromium (apt-get install chromium, "
                    f"as .ci/run does) to run the browser tests")
    folder = tmp_path_factory.mktemp("lab")
    for name in ("tour_lab.ipynb", "tour_notebook.ipynb"):
        shutil.copy(ROOT / "notebooks" / "widgets_tour.ipynb", folder / name)
    server = bs.LabServer(folder)
    request.addfinalizer(server.stop)       # stops its process group even if a test fails
    return server.start()


@pytest.fixture(scope="module")
def browser(lab):
    with bs.chromium_session() as chromium:
        yield chromium


@pytest.fixture
def page(browser, request):
    page = browser.new_page(viewport={"width": 1300, "height": 1100})
    yield page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{request.node.name}.png"))
    page.close()


def _part(page, css):
    """``css`` inside the tour's first ConvSizeExplorer."""
    return page.locator(".cnn-conv-size").first.locator(css).first


def _readout(page, control):
    return int(_part(page, f".cnn-{control} .widget-readout").text_content())


def _settings(page):
    """(n, k, padding, stride, dilation) as the page shows them."""
    return tuple(_readout(page, c) for c in ("input-size", "kernel-size", "padding", "stride", "dilation"))


def _expected_size_text(n, k, p, s, d):
    try:
        return f"output size: {shapes.conv_output_size(n, k, p, s, d)}"
    except ValueError:
        return "output size: none (impossible)"


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_conv_size_explorer_in_the_browser(lab, page, ui):
    from playwright.sync_api import expect

    bs.open_and_run(page, lab, f"tour_{ui}.ipynb", ui=ui)
    size = _part(page, ".cnn-output-size")
    size.scroll_into_view_if_needed()
    expect(size).to_have_text(_expected_size_text(*_settings(page)), timeout=20_000)
    n, k, p, s, d = _settings(page)
    assert s == 1

    # drag the stride handle with the mouse to 3
    _part(page, ".cnn-stride").scroll_into_view_if_needed()
    bs.drag_slider_to(page, _part(page, ".cnn-stride"), 3)
    expect(_part(page, ".cnn-stride .widget-readout")).to_have_text("3", timeout=10_000)
    expect(size).to_have_text(f"output size: {shapes.conv_output_size(n, k, p, 3, d)}", timeout=10_000)

    # type an input smaller than the kernel into the number boxes: no output, and why
    bs.type_into_readout(page, _part(page, ".cnn-input-size"), "4")
    bs.type_into_readout(page, _part(page, ".cnn-kernel-size"), "9")
    expect(_part(page, ".cnn-kernel-size .widget-readout")).to_have_text("9", timeout=10_000)
    n, k, p, s, d = _settings(page)
    assert (n, k, s) == (4, 9, 3)
    expected_size, why = explain_conv_size(n, k, p, s, d)
    assert expected_size is None
    expect(size).to_have_text("output size: none (impossible)", timeout=10_000)
    expect(_part(page, ".cnn-message")).to_have_text(why, timeout=10_000)
    assert "spans 9 pixels" in why and "only 4 wide" in why

    # the transposed mode: the same 4 pixels grow; then an output padding as large as the stride
    _part(page, ".cnn-mode").locator("button", has_text="transposed").click()
    grown = shapes.conv_transpose_output_size(n, k, p, s, d)
    expect(size).to_have_text(f"output size: {grown}", timeout=10_000)
    assert grown > n
    _part(page, ".cnn-output-padding select").select_option(label=str(s))
    expected_size, why = explain_conv_transpose_size(n, k, p, s, d, s)
    assert expected_size is None and "output_padding must be smaller than the stride" in why
    expect(size).to_have_text("output size: none (impossible)", timeout=10_000)
    expect(_part(page, ".cnn-message")).to_have_text(why, timeout=10_000)
