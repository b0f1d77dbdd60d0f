"""JupyterLab and headless Chromium for the browser tests and the widget benchmark.

Shared by tests/test_browser.py and bench/bench_widgets.py:

    with LabServer(folder) as lab:               # JupyterLab on 127.0.0.1, a free port, a fresh token
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page()
            open_and_run(page, lab, "widgets_tour.ipynb")

The server gets its own JUPYTER_CONFIG_DIR, JUPYTER_RUNTIME_DIR and
JUPYTER_DATA_DIR (temporary folders), runs in its own process group and is
stopped by that group, so nothing outlives a test. Chromium is Debian's
(/usr/bin/chromium); Playwright never downloads a browser here.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# True once the page's notebook has a started, idle kernel. Needs the app exposed as
# window.jupyterapp (the server is started with expose_app_in_browser); the same
# code works in JupyterLab 4 and Notebook 7, which has no status bar.
KERNEL_IDLE_JS = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const context = panel && panel.sessionContext;
    const kernel = context && context.session && context.session.kernel;
    return Boolean(kernel && context.isReady && kernel.status === "idle"
                   && window.jupyterapp.commands.hasCommand("notebook:run-all-cells"));
}"""


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """JupyterLab serving ``root_dir`` on 127.0.0.1; a context manager that always stops it.

    Attributes once started: ``port``, ``token``, ``base_url`` and ``log``
    (the path of the server's output, for error messages).
    """

    def __init__(self, root_dir, start_timeout=90):
        self.root_dir = Path(root_dir)
        self.start_timeout = start_timeout
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self._home = Path(tempfile.mkdtemp(prefix="cnn-lab-"))
        self.log = self._home / "lab.log"

    def _env(self):
        env = dict(os.environ)
        config = self._home / "config"
        env.update(JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(self._home / "runtime"),
                   JUPYTER_DATA_DIR=str(self._home / "data"), TF_CPP_MIN_LOG_LEVEL="3")
        for var in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MPLBACKEND"):
            env.pop(var, None)
        # no "news" pop-up over the notebook
        settings = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        return env

    def start(self):
        """Start the server and wait until its API answers; raises RuntimeError with its log if not."""
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
               "--LabApp.expose_app_in_browser=True", "--JupyterNotebookApp.expose_app_in_browser=True",
               "--LabApp.news_url=None"]
        if os.getuid() == 0:
            cmd.append("--allow-root")
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(cmd, env=self._env(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/status?token={self.token}", timeout=3) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                time.sleep(0.3)
        log = self.log.read_text()[-3000:]
        self.stop()
        raise RuntimeError(f"JupyterLab did not start within {self.start_timeout} s; its log:\n{log}")

    def stop(self):
        """Stop the server and every process it started (its process group), by pid."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        shutil.rmtree(self._home, ignore_errors=True)

    def url(self, path):
        """``path`` on this server, with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def launch_chromium(playwright):
    """Debian's Chromium, headless, through Playwright's sync API."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


@contextmanager
def chromium_session():
    """Start Playwright and a headless Chromium (:func:`launch_chromium`); close both on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def open_and_run(page, lab, notebook, ui="lab", timeout_ms=60_000):
    """Open ``notebook`` (a path under the server's root) and run all its cells.

    ``ui`` is ``"lab"`` (JupyterLab) or ``"notebook"`` (the classic Notebook 7
    interface). Returns when the kernel is idle after running everything.
    """
    if ui == "lab":
        page.goto(lab.url(f"lab/tree/{notebook}?reset"))
    else:
        page.goto(lab.url(f"notebooks/{notebook}"))
    page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout_ms)
    # The command's promise settles once every cell has run.
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout_ms)


def slider_point(root, value):
    """Page coordinates (x, y) of ``value`` on the track of the noUiSlider inside ``root`` (a Locator).

    The slider's min and max come from the handle's ARIA attributes.
    """
    handle = root.locator(".noUi-handle").first
    lo = float(handle.get_attribute("aria-valuemin"))
    hi = float(handle.get_attribute("aria-valuemax"))
    box = root.locator(".noUi-base").first.bounding_box()
    return box["x"] + (value - lo) / (hi - lo) * box["width"], box["y"] + box["height"] / 2


def drag_slider_to(page, root, value):
    """Drag the noUiSlider handle inside ``root`` (a Playwright Locator) to ``value`` with the mouse.

    Presses the mouse on the handle, moves in small steps to the value's
    position on the track and releases. Returns the x coordinate it released at.
    """
    hbox = root.locator(".noUi-handle").first.bounding_box()
    x0, y0 = hbox["x"] + hbox["width"] / 2, hbox["y"] + hbox["height"] / 2
    x1, _ = slider_point(root, value)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y0, steps=12)
    page.mouse.up()
    return x1


def type_into_readout(page, root, text):
    """Type ``text`` into the number box of the slider inside ``root`` (a Locator), press Enter."""
    readout = root.locator(".widget-readout").first
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Enter")
