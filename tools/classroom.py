"""The demo class's Unix accounts and folders: made for ``make hub`` and the hub test, removed again.

One folder holds everything a class has on the machine::

    <dir>/                          755, root: the hub's state (class.json, password, env/, config/)
      exchange/                     777: nbgrader's exchange, as nbgrader's documentation sets it up
      config/student, instructor    copies of hub/student and hub/instructor (Jupyter config folders)
      home/<account>/               700, owned by the account
        (instructor) cnn-course/    the course folder: nbgrader_config.py, solutions/, tools/, ...
        (students)   notebooks/     the lecture notebooks

Accounts are real Unix users made with ``useradd``, named ``<prefix><name>`` (``cnn-alice``),
with the comment :data:`MARK` and no password (locked: nobody can ``su`` or ``ssh`` in with
one). :func:`teardown` stops their processes by pid, removes only accounts that carry the
mark, then the folder. Everything here needs root.
"""

import json
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tools import processes

ROOT = Path(__file__).resolve().parents[1]
MARK = "cnn-course demo hub"
# What the instructor's course folder holds: a checkout of the course, as on a real hub.
COURSE_FILES = ("nbgrader_config.py", "tools", "solutions", "assignments", "notebooks", "docs", "README.md",
                "Makefile", "pyproject.toml", "environment.yml")
_SKIP = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
# JupyterLab's "news" question would cover the page on a first log-in.
_LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                 {"fetchNews": "false", "checkForUpdates": False}}


@dataclass
class Classroom:
    """Who is in the class and where its folders are."""

    dir: Path
    prefix: str = "cnn-"
    instructor_name: str = "teacher"
    student_names: tuple = ("alice", "bob", "carol")
    course_id: str = "cnn-course"

    def __post_init__(self):
        self.dir = Path(self.dir)

    @property
    def instructor(self):
        return f"{self.prefix}{self.instructor_name}"

    @property
    def students(self):
        return [f"{self.prefix}{name}" for name in self.student_names]

    @property
    def accounts(self):
        return [self.instructor, *self.students]

    @property
    def exchange(self):
        return self.dir / "exchange"

    def home(self, account):
        return self.dir / "home" / account

    @property
    def course_root(self):
        return self.home(self.instructor) / "cnn-course"

    def config(self, role):
        return self.dir / "config" / role


def account_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def create_account(name, home):
    """A Unix user ``name`` with its own group, home ``home`` (mode 700), :data:`MARK` and no password."""
    if not account_exists(name):
        subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
                        "--comment", MARK, "--user-group", name], check=True, capture_output=True)
    os.chmod(home, 0o700)
    return pwd.getpwnam(name)


def chown_tree(path, account):
    """Give ``path`` and everything under it to ``account`` (links themselves, not their targets)."""
    entry = pwd.getpwnam(account)
    os.lchown(path, entry.pw_uid, entry.pw_gid)
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), entry.pw_uid, entry.pw_gid)


def _write_lab_settings(home):
    for name, value in _LAB_SETTINGS.items():
        target = home / ".jupyter" / "lab" / "user-settings" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(value))


def run_as(account, argv, cwd=None, env=None, timeout=600, check=True):
    """Run ``argv`` as ``account`` (its uid, its group, no other groups); output captured."""
    entry = pwd.getpwnam(account)
    full_env = {"HOME": entry.pw_dir, "USER": account, "LOGNAME": account, "PATH": "/usr/bin:/bin",
                **(env or {})}
    result = subprocess.run(argv, cwd=cwd or entry.pw_dir, env=full_env, user=entry.pw_uid,
                            group=entry.pw_gid, extra_groups=[], capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} as {account} exited {result.returncode}:\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def setup(room, log=print):
    """Make (or complete) the class: folders, exchange, role configs, accounts, homes, course folder.

    Safe to run again: existing accounts, homes and the course folder are kept as they are.
    """
    room.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(room.dir, 0o755)
    (room.dir / "home").mkdir(exist_ok=True)
    os.chmod(room.dir / "home", 0o755)
    room.exchange.mkdir(exist_ok=True)
    os.chmod(room.exchange, 0o777)       # nbgrader's documentation: chmod ugo+rw on the exchange root
    for role in ("student", "instructor"):
        shutil.copytree(ROOT / "hub" / role, room.config(role), dirs_exist_ok=True, ignore=_SKIP)
    for account in room.accounts:
        fresh = not account_exists(account)
        home = room.home(account)
        create_account(account, home)
        if fresh:
            log(f"   account {account} (home {home})")
        _write_lab_settings(home)
        if account == room.instructor:
            if not room.course_root.exists():
                room.course_root.mkdir()
                for name in COURSE_FILES:
                    source = ROOT / name
                    if source.is_dir():
                        shutil.copytree(source, room.course_root / name, ignore=_SKIP)
                    elif source.exists():
                        shutil.copy2(source, room.course_root / name)
        elif not (home / "notebooks").exists():
            shutil.copytree(ROOT / "notebooks", home / "notebooks", ignore=_SKIP)
        chown_tree(home, account)


def processes_of(accounts):
    """Running processes whose real uid is one of ``accounts`` (psutil.Process objects)."""
    import psutil

    uids = {pwd.getpwnam(a).pw_uid for a in accounts if account_exists(a)}
    found = []
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real in uids:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def stop_processes(accounts, grace=10):
    """Stop every process of ``accounts``, one pid at a time: SIGTERM, then SIGKILL after ``grace`` s."""
    return processes.stop(processes_of(accounts), grace)


def remove_account(name):
    """Remove ``name`` and its home, only if it carries :data:`MARK`; True if it was removed."""
    if not account_exists(name):
        return False
    if pwd.getpwnam(name).pw_gecos != MARK:
        raise RuntimeError(f"refusing to remove account {name!r}: it was not made for the demo hub "
                           f"(its comment is not {MARK!r})")
    for attempt in range(3):
        result = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
        if result.returncode in (0, 12):   # 12: the home could not be removed (done below)
            return True
        time.sleep(1)
    raise RuntimeError(f"userdel {name} failed: {result.stderr.strip()}")


def teardown(room, log=print):
    """Stop the class's processes, remove its accounts and its folder. Safe when half made."""
    stopped = stop_processes(room.accounts)
    if stopped:
        log(f"   stopped {stopped} processes of the class's accounts")
    for account in room.accounts:
        if remove_account(account):
            log(f"   removed account {account}")
    shutil.rmtree(room.dir, ignore_errors=True)
