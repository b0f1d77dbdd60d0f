"""Benchmark: how long a ConvSizeExplorer slider move takes to show its result in a real browser.

Run with ``make bench`` (or ``python bench/bench_widgets.py``). Rewrites the
"widgets" section of bench/RESULTS.md. Target: under 100 ms from the key
press to the new output size on the page.

Method: JupyterLab (and then the classic Notebook 7 interface) serves a copy of
notebooks/widgets_tour.ipynb on 127.0.0.1; headless Chromium runs it. The
stride handle of the first ConvSizeExplorer gets keyboard focus and receives
MOVES arrow-key presses, alternating right and left (stride 1 -> 2 -> 1 ...),
each one after the previous redraw has finished and a short pause. In the
page, a keydown listener (capture phase) stamps ``performance.now()`` and a
MutationObserver stamps the moment the output-size text changes and the
moment the figure's ``<img src>`` changes. So one latency covers the browser
event, the slider model, the message to the kernel, the Python observer, the
message back and the DOM update. It stops at the DOM change, before paint.
Two warm-up moves are not counted. p90 is the nearest-rank 90th percentile.
"""

import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import browser_support as bs  # noqa: E402
from bench.results import write_section  # noqa: E402

MOVES = 20
WARMUP = 2
PAUSE_S = 0.3
TARGET_MS = 100
# (interface, input, label). Arrow keys are not measured in Notebook 7: there the
# notebook takes the arrow key (it moves the cell selection) before the slider sees it.
CASES = [("lab", "key", "JupyterLab {lab}, arrow key"), ("lab", "click", "JupyterLab {lab}, mouse click"),
         ("notebook", "click", "Notebook {nb}, mouse click")]

ARM_JS = """() => {
    const root = document.querySelector(".cnn-conv-size");
    const text = root.querySelector(".cnn-output-size");
    const img = root.querySelector("img.cnn-figure");
    const textBefore = text.textContent, srcBefore = img.src;
    const result = {};
    let t0 = null;
    const start = () => { t0 = performance.now(); };
    document.addEventListener("keydown", start, {capture: true, once: true});
    document.addEventListener("pointerdown", start, {capture: true, once: true});
    window.__cnnDone = new Promise((resolve, reject) => {
        const observer = new MutationObserver(() => {
            const now = performance.now();
            if (t0 === null) return;
            if (result.text === undefined && text.textContent !== textBefore) result.text = now - t0;
            if (result.figure === undefined && img.src !== srcBefore) result.figure = now - t0;
            if (result.text !== undefined && result.figure !== undefined) {
                observer.disconnect();
                resolve(result);
            }
        });
        observer.observe(root, {subtree: true, childList: true, characterData: true,
                                attributes: true, attributeFilter: ["src"]});
        setTimeout(() => {
            observer.disconnect();
            reject(new Error("no change within 5 s: " +
                             JSON.stringify({t0, result, text: text.textContent, src: img.src.slice(0, 40)})));
        }, 5000);
    });
}"""


def _p90(values):
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def measure(page, lab, notebook, ui, how):
    """Latencies (ms) of MOVES stride changes: {'text': [...], 'figure': [...]}.

    ``how``: ``"key"`` (arrow keys on the focused handle) or ``"click"`` (a
    mouse click on the track where the next value lies; noUiSlider jumps there).
    """
    bs.open_and_run(page, lab, notebook, ui=ui)
    root = page.locator(".cnn-conv-size").first
    stride = root.locator(".cnn-stride").first
    handle = stride.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('.cnn-conv-size .cnn-output-size')"
                           ".textContent.length > 0", timeout=30_000)
    time.sleep(1)   # let the page settle after scrolling
    times = {"text": [], "figure": []}
    for i in range(WARMUP + MOVES):
        forward = i % 2 == 0    # stride 1 -> 2, then back
        if how == "key":
            handle.focus()
        page.evaluate(ARM_JS)
        if how == "key":
            page.keyboard.press("ArrowRight" if forward else "ArrowLeft")
        else:
            page.mouse.click(*bs.slider_point(stride, 2 if forward else 1))
        try:
            result = page.evaluate("() => window.__cnnDone")
        except Exception:
            print("move", i, "active element:", page.evaluate("() => document.activeElement.className"),
                  "stride now:", handle.get_attribute("aria-valuenow"))
            raise
        if i >= WARMUP:
            for key in times:
                times[key].append(result[key])
        time.sleep(PAUSE_S)
    return times


def _cpu():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    if not os.access(bs.CHROMIUM, os.X_OK):
        print(f"bench_widgets: {bs.CHROMIUM} is missing; nothing measured, RESULTS.md unchanged")
        return
    from importlib.metadata import version

    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="cnn-bench-widgets-"))
    rows = []
    try:
        for ui in {case[0] for case in CASES}:
            shutil.copy(ROOT / "notebooks" / "widgets_tour.ipynb", folder / f"tour_{ui}.ipynb")
        with bs.LabServer(folder) as lab, sync_playwright() as pw:
            browser = bs.launch_chromium(pw)
            chromium_version = browser.version
            for ui, how, label in CASES:
                label = label.format(lab=version("jupyterlab"), nb=version("notebook"))
                page = browser.new_page(viewport={"width": 1300, "height": 1100})
                times = measure(page, lab, f"tour_{ui}.ipynb", ui, how)
                page.close()
                for key, what in (("text", "output size text"), ("figure", "figure (PNG)")):
                    v = times[key]
                    rows.append((label, what, statistics.median(v), _p90(v), max(v)))
                    print(f"{label:34} {what:18} median {statistics.median(v):6.1f} ms  "
                          f"p90 {_p90(v):6.1f} ms  max {max(v):6.1f} ms")
            browser.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    text_rows = [r for r in rows if r[1] == "output size text"]
    worst = max(text_rows, key=lambda r: r[2])
    verdict = "meets" if worst[2] < TARGET_MS else "misses"
    body = [
        f"Machine: {_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Chromium {chromium_version} (headless), ipywidgets {version('ipywidgets')}, "
        f"matplotlib {version('matplotlib')}. Date: {date.today().isoformat()}.",
        "Command: `make bench` (bench/bench_widgets.py). ConvSizeExplorer in notebooks/widgets_tour.ipynb; "
        f"per row, {MOVES} stride changes (1 -> 2 -> 1 ...; after {WARMUP} warm-up moves), {PAUSE_S} s apart, "
        "by arrow key on the focused handle or by a mouse click on the track; time from the keydown or "
        "pointerdown event to the DOM change, measured in the page with performance.now() and a "
        "MutationObserver (before paint). p90: nearest rank.",
        "",
        "| interface | what changed | median ms | p90 ms | max ms |",
        "|---|---|---:|---:|---:|",
    ]
    body += [f"| {ui} | {what} | {med:.1f} | {p90:.1f} | {mx:.1f} |" for ui, what, med, p90, mx in rows]
    body += ["", f"New output size on the page after a slider move: median {worst[2]:.1f} ms in the slowest "
                 f"case ({worst[0]}; p90 {worst[3]:.1f}, max {worst[4]:.1f}), which {verdict} the {TARGET_MS} ms "
                 f"target. The figure follows later: the kernel sends the text first, then draws the PNG. "
                 f"Arrow keys are not timed in Notebook 7, where the notebook takes them (the cell selection "
                 f"moves) before the slider does."]
    write_section("widgets", "\n".join(body))


if __name__ == "__main__":
    main()
