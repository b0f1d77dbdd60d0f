"""A bubblewrap sandbox for one student kernel: what it sees, what it may do, how it is started.

Every kernel that autograding starts runs through :class:`SandboxedKernelManager`
(``nbgrader_config.py`` sets it on ``tools.preprocessors.ContainedExecute``). Inside
the sandbox the kernel sees:

- the operating system (``/usr``, ``/etc``), the Python installation, the course's
  virtual environment and ``cnnlib``, all read-only;
- a private home (``/home/student``, in memory, of limited size) whose ``work/``
  folder holds read-only copies of the released assignment's data files (never the
  submitted folder: nothing a student placed there, such as a link to
  ``solutions/``, reaches the kernel), a private ``/tmp`` of limited size, and the
  folder of its own connection sockets; everything else is read-only;
- nothing else: no course folder (``solutions/``, the gradebook, ``submitted/``,
  ``autograded/``, ``feedback/``, ``tools/``, ``reports/``), no other home, no
  ``/srv`` exchange, no ``/run``.

It runs in its own user, PID, network, IPC, UTS and cgroup namespaces: no network at
all (the grader reaches it over Unix sockets, jupyter_client's ``ipc`` transport),
every process it starts dies with it, and it cannot make further namespaces. It gets
a clean environment (no ``DATABASE_URL``, no credentials), limits on memory, processes,
file size and CPU time (:mod:`tools.limited`), and, when grading runs as root, a user
id of its own that owns nothing on the machine.

:func:`unavailable` says why a sandbox cannot be made on this machine (no bubblewrap,
no user namespaces, not Linux); the grader refuses to run then, unless told
``--unsafe-no-sandbox``.
"""

import functools
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager

INSIDE_HOME = "/home/student"
INSIDE_WORK = f"{INSIDE_HOME}/work"
INSIDE_MPL = f"{INSIDE_HOME}/.config/matplotlib"
LIMITED = Path(__file__).with_name("limited.py")
# Environment variables a kernel may inherit: quiet TensorFlow, thread counts, locale.
PASSED_ENV = ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "PYTHONWARNINGS", "PYTHONHASHSEED",
              "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "LANG", "LC_ALL", "TZ")
# User ids handed to sandboxes when grading runs as root: above every ordinary account.
UID_RANGE = (200_000, 299_999)
GIB = 2 ** 30


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed kernel (each applies to every process in it)."""

    memory_bytes: int = 6 * GIB      # address space per process
    processes: int = 256             # processes and threads started in the sandbox (RLIMIT_NPROC
                                     # counts per user: when grading as yourself, on top of yours)
    file_bytes: int = 2 * GIB        # largest file it may write
    cpu_seconds: int = 3600          # CPU time per process
    tmp_bytes: int = 1 * GIB         # size of the private /tmp, and of the home

    @classmethod
    def from_environment(cls):
        """The limits, with ``CNN_COURSE_KERNEL_MEMORY_GB`` and ``CNN_COURSE_KERNEL_CPU_S`` applied."""
        memory = float(os.environ.get("CNN_COURSE_KERNEL_MEMORY_GB", "6"))
        cpu = int(os.environ.get("CNN_COURSE_KERNEL_CPU_S", "3600"))
        return cls(memory_bytes=int(memory * GIB), cpu_seconds=cpu)


def readonly_paths():
    """Host paths the kernel needs, bound read-only at the same place: the Python it runs and cnnlib."""
    import cnnlib

    paths = [Path(sys.base_prefix), Path(sys.prefix), Path(cnnlib.__file__).resolve().parent]
    real = Path(sys.executable).resolve()           # a venv's python links to the base install
    if not any(real.is_relative_to(p) for p in paths):
        paths.append(real.parent)
    return list(dict.fromkeys(p.resolve() for p in paths))


def _system_binds():
    """bwrap arguments for the operating system: /usr and /etc read-only, merged-/usr links kept."""
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _threads_of(uid):
    """Processes and threads the user ``uid`` runs now (the process limit counts them all)."""
    if uid != os.geteuid() or uid == 0:
        return 0                # a fresh user id of the sandbox's own: nothing runs as it yet
    import psutil

    count = 0
    for process in psutil.process_iter(["uids", "num_threads"]):
        if process.info["uids"] and process.info["uids"].real == uid:
            count += process.info["num_threads"] or 1
    return count


def sandbox_uid():
    """A user id for the sandbox: a fresh unused one when running as root, else our own."""
    if os.geteuid() != 0:
        return os.geteuid()
    import psutil

    busy = {p.info["uids"].real for p in psutil.process_iter(["uids"]) if p.info["uids"]}
    while True:
        uid = UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0])
        if uid not in busy:
            return uid


@dataclass
class Sandbox:
    """One sandbox's folder on the host and how to start a command inside it.

    folder/data     copies of the data files, bound read-only into the kernel's ``work/``
    folder/kernel   connection file, Unix sockets and the grader's requests, bound at the same path inside
    """

    folder: Path
    uid: int
    limits: Limits = field(default_factory=Limits)
    env: dict = field(default_factory=dict)

    @property
    def data(self):
        return self.folder / "data"

    @property
    def kernel_dir(self):
        return self.folder / "kernel"

    def command(self, argv, cwd=INSIDE_WORK):
        """The host command that runs ``argv`` inside this sandbox, under its limits."""
        limits = self.limits
        launcher = [sys.executable, "-I", str(LIMITED), "--memory-bytes", str(limits.memory_bytes),
                    "--processes", str(limits.processes + _threads_of(self.uid)),
                    "--file-bytes", str(limits.file_bytes), "--cpu-seconds", str(limits.cpu_seconds)]
        bwrap = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
                 "--die-with-parent", "--new-session", "--uid", "1000", "--gid", "1000",
                 "--hostname", "sandbox", *_system_binds(),
                 # /tmp first: the course's Python may live under it, and later binds land on top
                 "--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
        for number, path in enumerate(readonly_paths()):
            source = path
            if os.geteuid() == 0:       # the sandbox's user may not reach it: root stages it first
                source = self.folder / "stage" / str(number)
                launcher += ["--stage", f"{source}={path}"]
            bwrap += ["--ro-bind", str(source), str(path)]
        if os.geteuid() == 0:
            launcher += ["--uid", str(self.uid)]
        bwrap += ["--size", str(limits.tmp_bytes), "--tmpfs", INSIDE_HOME, "--dir", INSIDE_WORK]
        font_list = matplotlib_font_list()
        if font_list is not None:       # matplotlib would spend a second rebuilding it in every sandbox
            bwrap += ["--ro-bind", str(font_list), f"{INSIDE_MPL}/{font_list.name}"]
        for path in sorted(self.data.rglob("*")):
            inside = f"{INSIDE_WORK}/{path.relative_to(self.data).as_posix()}"
            bwrap += ["--dir", inside] if path.is_dir() else ["--ro-bind", str(path), inside]
        bwrap += ["--bind", str(self.kernel_dir), str(self.kernel_dir), "--remount-ro", "/",
                  "--chdir", cwd, "--clearenv"]
        for name, value in self.environment().items():
            bwrap += ["--setenv", name, value]
        return [*launcher, "--", *bwrap, "--", *argv]

    def environment(self):
        """What the kernel's environment holds: a fixed set, nothing of the grader's secrets."""
        env = {"HOME": INSIDE_HOME, "USER": "student", "LOGNAME": "student",
               "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
               "MPLCONFIGDIR": INSIDE_MPL, "PYTHONDONTWRITEBYTECODE": "1"}
        env.update({name: os.environ[name] for name in PASSED_ENV if name in os.environ})
        env.update(self.env)
        return env


def create(base=None, data_from=None, limits=None, env=None):
    """Make a sandbox folder (under ``base``, default the system's temporary folder).

    data_from: a folder whose regular files (not links, not notebooks) are copied into
    the kernel's working folder; the released assignment, so a notebook finds the data
    files it was given.
    Returns a :class:`Sandbox`; :func:`remove` deletes it again.
    """
    folder = Path(tempfile.mkdtemp(prefix="cnn-sandbox-", dir=base))
    box = Sandbox(folder, sandbox_uid(), limits or Limits.from_environment(), dict(env or {}))
    box.data.mkdir()
    box.kernel_dir.mkdir()
    if data_from is not None:
        _copy_regular_files(Path(data_from), box.data)
    if os.geteuid() == 0:
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, box.uid, box.uid, follow_symlinks=False)
    folder.chmod(0o700)
    return box


@functools.lru_cache(maxsize=1)
def matplotlib_font_list():
    """matplotlib's font list, built once per machine and user with this Python; None if it cannot be.

    Every sandbox starts with an empty home, where matplotlib would otherwise scan the
    system's fonts again (about a second). The file holds font names and paths only.
    """
    folder = Path(tempfile.gettempdir()) / f"cnn-course-matplotlib-{os.geteuid()}"
    try:
        if not folder.is_dir() or folder.is_symlink() or folder.stat().st_uid != os.geteuid():
            scratch = Path(tempfile.mkdtemp(prefix="cnn-course-matplotlib-"))
            env = {**os.environ, "MPLCONFIGDIR": str(scratch)}
            subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, timeout=120,
                           check=True, capture_output=True)
            scratch.chmod(0o755)
            try:
                scratch.rename(folder)
            except OSError:             # another grading job got there first
                shutil.rmtree(scratch, ignore_errors=True)
        found = sorted(folder.glob("fontlist-v*.json"))
        return found[-1] if found and folder.stat().st_uid == os.geteuid() else None
    except (OSError, subprocess.SubprocessError):
        return None


def _copy_regular_files(source, dest):
    for path in sorted(source.rglob("*")):
        if path.is_symlink() or path.suffix == ".ipynb" or ".ipynb_checkpoints" in path.parts:
            continue
        target = dest / path.relative_to(source)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        elif path.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def remove(box):
    """Delete a sandbox's folder (its processes are gone with its PID namespace)."""
    shutil.rmtree(box.folder, ignore_errors=True)


@functools.lru_cache(maxsize=1)
def unavailable():
    """Why no sandbox can be made here (a sentence with the fix), or None when it can."""
    if not sys.platform.startswith("linux"):
        return (f"the grading sandbox needs Linux (bubblewrap and user namespaces); this is {sys.platform}. "
                f"Grade on a Linux machine, or pass --unsafe-no-sandbox to run student code with your rights")
    if shutil.which("bwrap") is None:
        return ("bubblewrap is not installed: install it (Debian/Ubuntu: sudo apt-get install bubblewrap; "
                "Fedora: sudo dnf install bubblewrap), or pass --unsafe-no-sandbox to run student code "
                "with your rights")
    box = create()
    try:
        run = subprocess.run(box.command(["/bin/true"], cwd=INSIDE_HOME), capture_output=True, text=True,
                             timeout=60)
    finally:
        remove(box)
    if run.returncode != 0:
        detail = (run.stderr.strip().splitlines() or [f"exit {run.returncode}"])[-1]
        return (f"bubblewrap could not make a sandbox here ({detail}). It needs unprivileged user "
                f"namespaces: check `sysctl kernel.unprivileged_userns_clone` (Debian) or "
                f"`user.max_user_namespaces`, and AppArmor's restrict_unprivileged_userns (Ubuntu 24.04); "
                f"or pass --unsafe-no-sandbox to run student code with your rights")
    return None


class SandboxedKernelManager(AsyncKernelManager):
    """An ipykernel started inside a :class:`Sandbox`, reached over Unix sockets.

    Set ``data_from`` (the released assignment folder) before starting. The kernel is
    interrupted by a message (a signal from outside would stop bubblewrap itself), and
    the sandbox folder is removed when the kernel is shut down.
    """

    data_from = None
    box = None

    async def _async_start_kernel(self, **kw):
        problem = unavailable()
        if problem is not None:
            raise RuntimeError(f"no grading sandbox: {problem}")
        kw.pop("cwd", None)                     # the kernel works in its sandbox's work/ folder
        self.box = create(data_from=self.data_from, env={"CNN_COURSE_GRADING": "1"})
        self.transport = "ipc"
        self.ip = str(self.box.kernel_dir / "ipc")
        self.connection_file = str(self.box.kernel_dir / "connection.json")
        inner = ["/bin/sh", "-c", f'exec "{sys.executable}" -m ipykernel_launcher -f "$0" '
                                  f'--HistoryManager.hist_file=:memory:', "{connection_file}"]
        self._kernel_spec = KernelSpec(argv=self.box.command(inner), display_name="sandboxed Python 3",
                                       language="python", interrupt_mode="message")
        await super()._async_start_kernel(**kw)

    start_kernel = _async_start_kernel

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if os.geteuid() == 0:                   # written by root: the kernel's user must read it
            os.chown(self.connection_file, self.box.uid, self.box.uid)
        kw["stdin"] = subprocess.DEVNULL
        # The kernel's own stdout and stderr are untrusted: to a file, never to the grader's terminal.
        log = open(self.box.folder / "kernel.log", "wb")   # noqa: SIM115 - the kernel process holds it
        kw["stdout"] = kw["stderr"] = log
        try:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            log.close()

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart)
        if self.box is not None and not restart:
            remove(self.box)
            self.box = None

    cleanup_resources = _async_cleanup_resources
