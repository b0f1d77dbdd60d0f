"""A class on JupyterHub, through the browser: release, fetch, validate, submit, grade, feedback, isolation.

The test makes a class of its own with :mod:`tools.classroom` and :mod:`tools.hub`, exactly
as ``make hub`` does (real Unix accounts ``<prefix>teacher``, ``<prefix>alice``,
``<prefix>bob``, the hub's environment, configurable-http-proxy, JupyterHub on a free port of
127.0.0.1), then drives it with Playwright and Debian's Chromium:

1. the instructor logs in, opens Formgrader from the Nbgrader menu and releases a1;
2. alice and bob log in (their menus hold no Formgrader), fetch a1 from the Assignment List,
   type their answers into the notebook (alice the instructor's, bob one with the columns'
   stride missing), press Validate, read the dialog, and submit;
3. the instructor collects in Formgrader; ``python -m tools.grade a1_convolution`` runs as the
   instructor's account (the public CLI, so it grades as ``make grade`` does); feedback is
   generated and released from Formgrader;
4. each student fetches their feedback and opens the page: their score and, for bob, the
   diagnosis of his mistake; no hidden-test code; the mathematics as MathML;
5. each user's server runs as that user, and a student's account cannot read the other
   student's files, the exchange's inbound folder or the instructor's course folder.

Everything it made (servers and processes by pid, accounts, folders) is removed at the end,
also when a step fails. Needs root (it creates accounts), Chromium, node/npm and Debian's
python3; skipped with the reason otherwise. Seconds per step: test-output/hub/timings.txt.
"""

import os
import re
import secrets
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from bench import browser_support as bs
from tools import classroom, hub
from tools import course as C

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "test-output" / "hub"
ASSIGNMENT = "a1_convolution"
PASSWORD = "demo-" + secrets.token_hex(6)
WRONG = ROOT / "tests" / "fixtures" / ASSIGNMENT / "stride_rows_only.py"


def _missing():
    if os.geteuid() != 0:
        return "the hub test creates Unix accounts: run it as root (CI does)"
    if not os.access(bs.CHROMIUM, os.X_OK):
        return f"{bs.CHROMIUM} is missing (apt-get install chromium, as .ci/run does)"
    for tool in ("npm", "node", "useradd", "userdel"):
        if not shutil.which(tool):
            return f"{tool} is missing (.ci/run installs nodejs and npm)"
    if not os.access(hub.ENV_PYTHON, os.X_OK):
        return f"{hub.ENV_PYTHON} is missing"
    return None


class Steps:
    """Seconds per named step, written to test-output/hub/timings.txt as the test goes."""

    def __init__(self):
        self.seconds = {}
        OUT.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def __call__(self, name):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - started
            lines = [f"{s:7.1f} s  {n}" for n, s in self.seconds.items()]
            (OUT / "timings.txt").write_text("\n".join(lines + [f"{sum(self.seconds.values()):7.1f} s  all"]) + "\n")


@pytest.fixture(scope="module")
def steps():
    return Steps()


@pytest.fixture(scope="module")
def class_hub(request, steps):
    """The class, its environment and its running hub; removed whatever happens."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    # Not under /tmp: the grading sandbox mounts a fresh /tmp over it, which would hide the environment.
    folder = Path(tempfile.mkdtemp(prefix="cnn-hub-test-", dir="/var/tmp"))
    room = classroom.Classroom(folder, prefix=f"t{secrets.token_hex(2)}-", student_names=("alice", "bob"))
    running = []

    def cleanup():
        for h in running:
            h.stop()
        if (folder / "jupyterhub.log").exists():
            shutil.copy(folder / "jupyterhub.log", OUT / "jupyterhub.log")
        classroom.teardown(room, log=lambda *_: None)
        assert not any(classroom.account_exists(a) for a in room.accounts)
        assert not folder.exists()

    request.addfinalizer(cleanup)
    with steps("set up the class: accounts, folders, course"):
        classroom.setup(room, log=lambda *_: None)
    with steps("the hub's environment (uv) and the proxy (npm)"):
        env_dir = hub.build_env(folder / "env", log=lambda *_: None)
        hub.install_proxy()
    with steps("instructor: nbgrader generate_assignment a1 (CLI)"):
        hub.prepare_course(room, env_dir, generate=[ASSIGNMENT])
    hub.write_class(room, env_dir, hub.free_port(), PASSWORD)
    with steps("start JupyterHub"):
        running.append(hub.Hub(room, env_dir).start())
    return room, env_dir, running[0]


@pytest.fixture(scope="module")
def browser(class_hub):
    with bs.chromium_session() as chromium:
        yield chromium


def _log_in(browser, hub_url, user):
    """A fresh browser context logged in as ``user``, on their JupyterLab; returns the page."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{hub_url}/hub/login")
    page.fill("input#username_input", user)
    page.fill("input#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{user}/lab**", timeout=150_000)
    page.wait_for_selector("#jp-main-dock-panel", timeout=150_000)
    return page


def _nbgrader_menu(page):
    """The items of JupyterLab's Nbgrader menu, as text (the menu is closed again)."""
    page.click("li.lm-MenuBar-item:has-text('Nbgrader')")
    items = page.locator(".lm-Menu-content .lm-Menu-itemLabel").all_inner_texts()
    page.keyboard.press("Escape")
    return [item.strip() for item in items if item.strip()]


def _open_from_menu(page, item):
    page.click("li.lm-MenuBar-item:has-text('Nbgrader')")
    page.click(f".lm-Menu-content li:has-text('{item}')")


def _formgrader_row(page, name):
    frame = page.frame_locator("iframe[src*='formgrader']")
    return frame.locator(f"tr:has(td.name a:text-is('{name}'))")


def _formgrader_action(page, name, column, status_after=None):
    """Click the link in ``column`` of the assignment's row; wait for its confirmation to close."""
    from playwright.sync_api import expect

    row = _formgrader_row(page, name)
    row.locator(f"td.{column} a").click()
    frame = page.frame_locator("iframe[src*='formgrader']")
    close = frame.locator(".modal-footer button:has-text('Close'), .modal-footer button:has-text('OK')")
    try:
        close.first.click(timeout=60_000)
    except Exception:  # noqa: BLE001 - some actions only update the row
        pass
    if status_after:
        expect(row.locator("td.status")).to_have_text(status_after, timeout=60_000)


def _fill_answers(page, fill, order):
    """Type ``fill[grade_id]`` into each solution cell (``order``: their grade_ids, top to bottom)."""
    from playwright.sync_api import Error, expect

    # Edit once the notebook has its kernel: the cells are drawn again while it connects.
    expect(page.locator(".jp-StatusBar-TextItem").filter(has_text="| Idle").first).to_be_visible(timeout=120_000)
    cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-CodeCell")
    todo = list(order)
    index = 0
    while todo:
        editor = cells.nth(index).locator(".cm-content")
        for attempt in range(3):
            try:
                editor.scroll_into_view_if_needed()
                if "raise NotImplementedError()" in editor.inner_text():
                    editor.click()
                    page.keyboard.press("Control+A")
                    page.keyboard.insert_text(fill[todo[0]])
                    page.keyboard.press("Escape")
                    todo.pop(0)
                break
            except Error:
                if attempt == 2:
                    raise
                page.wait_for_timeout(500)
        index += 1
    page.keyboard.press("Control+S")


def _student_works(browser, room, url, student, fill, order):
    """Log in, check the menu, fetch, answer, validate, submit; return (page, validation dialog text)."""
    from playwright.sync_api import expect

    page = _log_in(browser, url, student)
    menu = _nbgrader_menu(page)
    _open_from_menu(page, "Assignment List")
    released = page.locator("#released_assignments_list .list_item:has-text('%s')" % ASSIGNMENT)
    released.locator("button:has-text('Fetch')").click()
    fetched = page.locator("#fetched_assignments_list > .list_item").filter(has_text=ASSIGNMENT).first
    expect(fetched).to_be_visible()
    fetched.locator("a.assignment-notebooks-link").click()       # unfold: one line per notebook
    fetched.locator(".nested_list_item .item_name a").filter(has_text=ASSIGNMENT).first.click()
    notebook = page.locator(".jp-NotebookPanel:visible")
    notebook.locator(".jp-Cell").first.wait_for()
    _fill_answers(page, fill, order)
    page.wait_for_timeout(1000)
    page.locator(".jp-NotebookPanel:visible .jp-Toolbar-item:has-text('Validate') button, "
                 ".jp-NotebookPanel:visible jp-button:has-text('Validate')").first.click()
    dialog = page.locator(".jp-Dialog #validation-message")
    dialog.wait_for(timeout=180_000)
    text = dialog.inner_text()
    page.screenshot(path=str(OUT / f"validate-{student}.png"))
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.locator(".lm-TabBar-tab:has-text('Assignments')").click()
    fetched.locator(".item_status button:has-text('Submit')").first.click()
    expect(page.locator("#submitted_assignments_list .list_item:has-text('%s')" % ASSIGNMENT).first
           ).to_be_visible(timeout=60_000)
    return page, menu, text


def _readable_by(account, path):
    """What happens when ``account`` tries to list or read ``path``: 'read', or the error's name."""
    code = ("import os, sys; p = sys.argv[1]\n"
            "try:\n"
            "    os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read(1)\n"
            "    print('read')\n"
            "except OSError as e:\n"
            "    print(type(e).__name__)\n")
    return classroom.run_as(account, [hub.ENV_PYTHON, "-c", code, str(path)]).stdout.strip()


def test_a_class_on_jupyterhub(class_hub, browser, steps):
    try:
        _the_whole_loop(class_hub, browser, steps)
    except BaseException:
        for number, page in enumerate(p for context in browser.contexts for p in context.pages):
            page.screenshot(path=str(OUT / f"failed-{number}.png"))
        raise


def _the_whole_loop(class_hub, browser, steps):
    from playwright.sync_api import expect

    room, env_dir, running = class_hub
    alice, bob = room.students
    url = running.url
    fill = C.solution_fill(ASSIGNMENT)
    wrong = {**fill, **C.read_fixture(WRONG).cells}
    released = nbformat.read(ROOT / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    order = [c.metadata.nbgrader["grade_id"] for c in released.cells
             if c.metadata.get("nbgrader", {}).get("solution")]

    # 1. The instructor releases a1 from Formgrader: the exchange and course id come from the config.
    with steps("instructor: log in, open Formgrader, release a1"):
        teacher = _log_in(browser, url, room.instructor)
        assert {"Formgrader", "Assignment List"} <= set(_nbgrader_menu(teacher))
        _open_from_menu(teacher, "Formgrader")
        frame = teacher.frame_locator("iframe[src*='formgrader']")
        expect(frame.locator("#warning-exchange")).to_have_count(0)
        _formgrader_action(teacher, ASSIGNMENT, "release", status_after="released")
    assert (room.exchange / room.course_id / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()

    # 2. Two students fetch, answer, validate and submit.
    with steps("alice: log in, fetch, answer, validate, submit"):
        alice_page, alice_menu, alice_says = _student_works(browser, room, url, alice, fill, order)
    with steps("bob: log in, fetch, answer (a known mistake), validate, submit"):
        bob_page, bob_menu, bob_says = _student_works(browser, room, url, bob, wrong, order)
    for menu in (alice_menu, bob_menu):
        assert menu == ["Assignment List"], f"a student's Nbgrader menu holds {menu}"
    assert "passes all the tests" in alice_says
    lines = bob_says.splitlines()
    summary = [line for line in lines if re.match(r"\s*(pass|FAIL)\s+test_", line)]
    assert len(summary) == 6 and "5 of 6 tests pass" in bob_says, bob_says
    assert re.search(r"FAIL\s+test_conv2d\s+0 / 40\s+the stride is applied to the rows only", bob_says), bob_says
    assert "Traceback" not in bob_says.split("test_conv2d:")[0]
    # what the students typed is what their notebooks hold
    for student, answers in ((alice, fill), (bob, wrong)):
        saved = nbformat.read(room.home(student) / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        typed = {c.metadata.nbgrader["grade_id"]: c.source for c in saved.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
        assert {k: v.strip() for k, v in typed.items()} == {k: answers[k].strip() for k in order}

    # 3. Collect in Formgrader, grade with the course's CLI as the instructor, feedback from Formgrader.
    with steps("instructor: collect in Formgrader"):
        teacher.reload()
        teacher.wait_for_selector("#jp-main-dock-panel")
        _open_from_menu(teacher, "Formgrader")
        _formgrader_action(teacher, ASSIGNMENT, "collect")
    assert sorted(p.name for p in (room.course_root / "submitted").iterdir()) == sorted([alice, bob])
    with steps("instructor: python -m tools.grade a1_convolution (CLI, as the instructor)"):
        graded = hub.as_instructor(room, env_dir, str(env_dir / "bin" / "python"), "-m", "tools.grade",
                                   ASSIGNMENT, timeout=900)
    table = graded.stdout
    assert re.search(rf"{alice}\s+100/100\s+graded", table), table
    assert re.search(rf"{bob}\s+60/100\s+graded", table), table
    with steps("instructor: generate and release feedback in Formgrader"):
        teacher.reload()
        teacher.wait_for_selector("#jp-main-dock-panel")
        _open_from_menu(teacher, "Formgrader")
        _formgrader_action(teacher, ASSIGNMENT, "generate-feedback")
        _formgrader_action(teacher, ASSIGNMENT, "release-feedback")
    assert (room.exchange / room.course_id / "feedback").is_dir()

    # 4. Each student fetches and reads their feedback.
    for student, page, score in ((alice, alice_page, "100.0 / 100.0"), (bob, bob_page, "60.0 / 100.0")):
        with steps(f"{student[len(room.prefix):]}: fetch feedback, open the page"):
            page.locator(".lm-TabBar-tab:has-text('Assignments')").click()
            page.locator("#refresh_assignments_list").click()
            item = page.locator("#submitted_assignments_list .list_item:has-text('%s')" % ASSIGNMENT).first
            item.locator("button:has-text('Fetch Feedback')").click()
            link = page.locator("#submitted_assignments_list a:has-text('view feedback')").first
            expect(link).to_be_visible(timeout=60_000)
            link.click()        # the file browser goes to the feedback's folder; open the page from there
            page.locator(".jp-DirListing-item:has-text('%s.html')" % ASSIGNMENT).first.dblclick()
            frame = page.frame_locator(".jp-HTMLViewer:visible iframe")
            frame.locator("h3:has-text('Your results')").wait_for(timeout=60_000)
            text = frame.locator("body").inner_text()
            page.screenshot(path=str(OUT / f"feedback-{student}.png"))
            maths = [frame.locator("math").nth(i).bounding_box()["width"] for i in range(12)]
            html = next(f for f in page.frames if "Your results" in f.content()).content()
        assert f"Score: {score}" in text
        assert "HIDDEN TESTS" not in html and 'suite="hidden"' not in html and "suite=&quot;hidden" not in html
        assert "mathjax" not in html.lower() and min(maths) > 0
        assert not re.search(r"\$[^$\n]+\$", text), "raw $...$ left on the feedback page"
        if student == bob:
            assert "the stride is applied to the rows only" in text
            assert re.search(r"FAIL\s+test_conv2d\s+0 / 40", text)
        else:
            assert "FAIL" not in text.split("Assignment 1")[0]

    # 5. Whose processes, and who can read what.
    with steps("isolation: server owners, reads across accounts"):
        owners = {proc.username() for proc in classroom.processes_of(room.accounts)
                  if any("jupyterhub-singleuser" in part for part in proc.cmdline())}
        assert owners == set(room.accounts)
        denied = {
            "bob's home": room.home(bob),
            "bob's notebook": room.home(bob) / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
            "the instructor's course folder": room.course_root,
            "the solutions": room.course_root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
            "the gradebook": room.course_root / "gradebook.db",
            "the exchange's inbound folder": room.exchange / room.course_id / "inbound",
        }
        seen = {what: _readable_by(alice, path) for what, path in denied.items()}
        assert seen == {what: "PermissionError" for what in denied}, seen
        assert _readable_by(alice, room.home(alice) / ASSIGNMENT / f"{ASSIGNMENT}.ipynb") == "read"
        assert _readable_by(room.instructor, room.course_root / "gradebook.db") == "read"
