"""``make hub``: the course on JupyterHub for a demo class, on 127.0.0.1; ``make hub-clean`` removes it.

    python -m tools.hub up    [--dir /srv/cnn-course-hub] [--port 8000] [--students alice,bob,carol]
    python -m tools.hub clean [--dir /srv/cnn-course-hub]

``up`` (as root) makes the class (:mod:`tools.classroom`: an instructor and students as
real Unix accounts, a shared exchange, the course folder), builds the hub's environment,
generates and releases every assignment as the instructor, then runs JupyterHub
(hub/jupyterhub_config.py) in the foreground and prints how to log in. Ctrl+C stops the
hub and every user's server; the accounts and their work stay until ``clean``.

The hub's environment (``<dir>/env``) is this checkout installed with uv into a venv of
Debian's ``/usr/bin/python3``: every account must be able to run it, and the course's own
``.venv`` may sit where they cannot (a pyenv Python under /root). uv links files from its
cache, so a rebuild takes seconds once the cache holds the wheels. It is rebuilt when
``pyproject.toml`` or ``cnnlib/`` change.
"""

import argparse
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tools import classroom

ROOT = classroom.ROOT
DEFAULT_DIR = Path("/srv/cnn-course-hub")
ENV_PYTHON = "/usr/bin/python3"
PROXY = ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
CONFIG = ROOT / "hub" / "jupyterhub_config.py"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_proxy():
    """configurable-http-proxy into hub/node_modules with npm (the lock file pins it); its path."""
    if not PROXY.exists():
        subprocess.run(["npm", "ci", "--prefix", str(ROOT / "hub"), "--no-audit", "--no-fund", "--silent"],
                       check=True)
    return PROXY


def _fingerprint():
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    for path in sorted((ROOT / "cnnlib").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def build_env(env_dir, log=print):
    """The hub's environment in ``env_dir``: Debian's python3, this checkout with its ``instructor`` extra.

    Kept when its fingerprint (pyproject.toml and cnnlib/) matches; otherwise rebuilt with uv.
    """
    import uv

    env_dir = Path(env_dir)
    stamp = env_dir / ".course-fingerprint"
    wanted = _fingerprint()
    if stamp.exists() and stamp.read_text() == wanted:
        return env_dir
    if not os.access(ENV_PYTHON, os.X_OK):
        raise RuntimeError(f"{ENV_PYTHON} is missing: the hub's environment needs a Python 3.11+ every "
                           f"account can run (apt-get install python3)")
    log(f"== building the hub's environment in {env_dir} with uv (seconds once uv's cache is warm)")
    uv_bin = uv.find_uv_bin()
    quiet = ["--quiet"]
    subprocess.run([uv_bin, "venv", *quiet, "--clear", "--python", ENV_PYTHON, str(env_dir)], check=True)
    # Non-editable: cnnlib is copied into the environment, so no account needs to read this checkout.
    subprocess.run([uv_bin, "pip", "install", *quiet, "--compile-bytecode", "--python",
                    str(env_dir / "bin" / "python"), f"{ROOT}[instructor]"], check=True)
    stamp.write_text(wanted)
    return env_dir


def user_env(room, env_dir, role):
    """The environment a command of ``role`` (instructor or student) runs with, as the hub gives it."""
    env = {"PATH": f"{Path(env_dir) / 'bin'}:/usr/local/bin:/usr/bin:/bin", "CNN_COURSE_ID": room.course_id,
           "CNN_COURSE_EXCHANGE": str(room.exchange), "JUPYTER_CONFIG_PATH": str(room.config(role)),
           "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    if role == "instructor":
        env["CNN_COURSE_ROOT"] = str(room.course_root)
    return env


def as_instructor(room, env_dir, *argv, timeout=600, check=True):
    """Run ``argv`` (e.g. ``nbgrader collect a1_convolution``) as the instructor, in the course folder."""
    return classroom.run_as(room.instructor, list(argv), cwd=room.course_root,
                            env=user_env(room, env_dir, "instructor"), timeout=timeout, check=check)


def prepare_course(room, env_dir, generate=(), release=(), log=print):
    """As the instructor: generate ``generate`` (records them in the gradebook), release ``release``."""
    nbgrader = str(Path(env_dir) / "bin" / "nbgrader")
    for name in generate:
        as_instructor(room, env_dir, nbgrader, "generate_assignment", name, "--force", "--log-level=WARN")
    for name in release:
        if not (room.exchange / room.course_id / "outbound" / name).exists():
            as_instructor(room, env_dir, nbgrader, "release_assignment", name, "--log-level=WARN")
            log(f"   released {name} to the exchange")


def write_class(room, env_dir, port, password=None):
    """Write ``class.json`` and ``password`` for hub/jupyterhub_config.py; returns the password."""
    password_file = room.dir / "password"
    if password is None:
        password = password_file.read_text().strip() if password_file.exists() else secrets.token_urlsafe(9)
    password_file.write_text(password + "\n")
    os.chmod(password_file, 0o600)
    spec = {"prefix": room.prefix, "port": port, "hub_port": free_port(), "proxy_api_port": free_port(),
            "proxy": str(install_proxy()),
            "env": str(env_dir), "course_id": room.course_id, "exchange": str(room.exchange),
            "course_root": str(room.course_root), "instructors": [room.instructor], "students": room.students,
            "config": {role: str(room.config(role)) for role in ("student", "instructor")}}
    (room.dir / "class.json").write_text(json.dumps(spec, indent=2) + "\n")
    return password


def read_class(directory):
    """The :class:`tools.classroom.Classroom` recorded in ``directory/class.json`` (None if none)."""
    path = Path(directory) / "class.json"
    if not path.exists():
        return None
    spec = json.loads(path.read_text())
    prefix = spec.get("prefix", "")
    return classroom.Classroom(directory, prefix=prefix, course_id=spec["course_id"],
                               instructor_name=spec["instructors"][0][len(prefix):],
                               student_names=tuple(s[len(prefix):] for s in spec["students"]))


class Hub:
    """JupyterHub for a class written by :func:`write_class`; a context manager that always stops it."""

    def __init__(self, room, env_dir, log_file=None):
        self.room, self.env_dir = room, Path(env_dir)
        self.spec = json.loads((room.dir / "class.json").read_text())
        self.url = f"http://127.0.0.1:{self.spec['port']}"
        self.log_file = Path(log_file or room.dir / "jupyterhub.log")
        self.proc = None

    def start(self, timeout=90):
        """Start the hub; return once it answers. Raises RuntimeError with its log if it does not."""
        env = {**os.environ, "CNN_HUB_DIR": str(self.room.dir)}
        for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_CONFIG_PATH", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR"):
            env.pop(var, None)
        with open(self.log_file, "w") as out:
            self.proc = subprocess.Popen([str(self.env_dir / "bin" / "jupyterhub"), "-f", str(CONFIG)],
                                         cwd=self.room.dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        (self.room.dir / "jupyterhub.pid").write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/hub/api/", timeout=3) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                time.sleep(0.5)
        log = self.log_file.read_text()[-4000:]
        self.stop()
        raise RuntimeError(f"JupyterHub did not answer within {timeout} s; its log:\n{log}")

    def stop(self):
        """Stop the hub (it stops the users' servers and its proxy), then anything left, by pid."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        stop_leftovers(self.room)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _stop_pid_file(path, marker, grace=20):
    """Stop the process group led by the pid in ``path``, if its command line still holds ``marker``."""
    try:
        pid = int(Path(path).read_text().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if marker not in handle.read():
                return
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


def stop_leftovers(room):
    """Stop, by pid, whatever of ``room``'s hub still runs: the hub, its proxy, the users' processes."""
    _stop_pid_file(room.dir / "jupyterhub.pid", b"jupyterhub_config.py")
    _stop_pid_file(room.dir / "proxy.pid", b"configurable-http-proxy")
    classroom.stop_processes(room.accounts)


def up(directory, port, students, password=None):
    """Set up the class and run its hub until Ctrl+C."""
    room = classroom.Classroom(directory, student_names=tuple(students))
    print(f"== the demo class in {room.dir}")
    classroom.setup(room)
    env_dir = build_env(room.dir / "env")
    print("== generating and releasing the assignments as the instructor")
    names = sorted(p.name for p in (room.course_root / "solutions").iterdir() if p.is_dir())
    prepare_course(room, env_dir, generate=names, release=names)
    password = write_class(room, env_dir, port, password or os.environ.get("HUB_PASSWORD"))

    def stop(signum, frame):
        raise KeyboardInterrupt

    # Ctrl+C, a closed terminal or a kill all stop the hub the same way (even if started in background).
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    with Hub(room, env_dir) as hub:
        print(f"\nJupyterHub: {hub.url}  (log: {hub.log_file})")
        print(f"  password for every account: {password}")
        print(f"  instructor: {room.instructor}  (Formgrader, the course in ~/cnn-course; grade in a terminal:"
              f" python -m tools.grade a1_convolution)")
        print(f"  students:   {', '.join(room.students)}")
        print("Ctrl+C stops the hub; `make hub-clean` removes the accounts and everything in "
              f"{room.dir}.")
        try:
            while hub.proc.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            print("\n== stopping the hub and every user's server")
    return 0


def clean(directory):
    """Remove the class recorded in ``directory`` (accounts, processes, folder)."""
    room = read_class(directory) or classroom.Classroom(directory)
    print(f"== removing the demo class in {room.dir}")
    stop_leftovers(room)
    classroom.teardown(room)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.hub", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["up", "clean"])
    parser.add_argument("--dir", default=str(DEFAULT_DIR), help=f"the class's folder (default {DEFAULT_DIR})")
    parser.add_argument("--port", type=int, default=8000, help="the hub's port on 127.0.0.1 (default 8000)")
    parser.add_argument("--students", default="alice,bob,carol", help="student names, comma-separated")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    if os.geteuid() != 0:
        parser.exit(1, "make hub creates and removes Unix accounts: run it as root (sudo make hub).\n")
    if args.action == "up" and Path(args.dir).resolve().is_relative_to("/tmp"):
        parser.exit(1, f"--dir {args.dir}: not under /tmp, which the grading sandbox replaces with its own "
                       f"(the hub's environment would vanish inside it); use e.g. /srv or /var/tmp.\n")
    if args.action == "up":
        return up(args.dir, args.port, [s.strip() for s in args.students.split(",") if s.strip()])
    return clean(args.dir)


if __name__ == "__main__":
    sys.exit(main())
