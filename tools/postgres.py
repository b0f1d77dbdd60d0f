"""A throwaway PostgreSQL server on 127.0.0.1, for parallel-grading tests and benchmarks.

    with TempPostgres() as url:       # postgresql://postgres@127.0.0.1:PORT/gradebook
        ...

Uses Debian's ``postgresql`` package (``apt-get install postgresql``; ``.ci/run``
installs it). The server keeps its data in a fresh folder under the system's temp
folder (removed when it stops), listens on 127.0.0.1 only, runs without fsync (test
data), and is stopped by its pid. PostgreSQL refuses to run as root, so as root it
runs as the ``postgres`` user the package creates, which owns that folder.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def server_binaries():
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TempPostgres:
    """Start with ``start()`` (or ``with``), which returns the database URL; ``stop()`` ends it."""

    def __init__(self, database="gradebook"):
        self.root = None
        self.database = database
        self.port = None
        self.pid = None
        self.bin = server_binaries()
        if self.bin is None:
            raise FileNotFoundError("PostgreSQL's initdb was not found: install Debian's `postgresql` "
                                    "package (apt-get install postgresql)")

    @property
    def url(self):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args, timeout=60):
        command = [str(a) for a in args]
        if os.geteuid() == 0:   # PostgreSQL will not run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout)

    def start(self):
        # Not under pytest's or the caller's temp folder: the postgres user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="cnn-course-pg-"))
        data = self.root / "data"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(self.bin / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        self.port = _free_port()
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=50"
        try:
            self._run(self.bin / "pg_ctl", "-D", data, "-o", options, "-l", self.root / "server.log",
                      "-w", "-t", "60", "start", timeout=90)
        except subprocess.CalledProcessError as error:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {error.stderr}\n{log[-2000:]}") from None
        self.pid = int((data / "postmaster.pid").read_text().split()[0])
        self._run("psql", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", "-q",
                  "-c", f"CREATE DATABASE {self.database}")
        return self.url

    def stop(self):
        """Fast shutdown by pid (SIGINT), then wait for the server to go."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGINT)
            for _ in range(300):
                os.kill(self.pid, 0)
                time.sleep(0.1)
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
