"""Run a command under resource limits, optionally as another user.

    python tools/limited.py --memory-bytes N [--processes N] [--file-bytes N]
                            [--cpu-seconds N] [--stage TARGET=PATH ...] [--uid UID] -- COMMAND [ARGS...]
    python -m tools.limited GB -- COMMAND [ARGS...]          (memory limit only)

The grader starts ``nbgrader autograde`` through this, and every sandboxed kernel
(:mod:`tools.sandbox`) starts through it too: the limits are set in this fresh
process and inherited by everything the command starts, so a 20 GB allocation
raises ``MemoryError`` in the student's cell and a fork bomb stops at the process
limit. Setting limits here, just before ``exec``, is safe where ``preexec_fn`` in a
threaded grader would not be. ``--uid`` (root only) drops to that user and group,
with no supplementary groups, before running the command; ``--stage TARGET=PATH``
(root only) first binds a folder that user could not reach onto TARGET, read-only, in
a mount namespace of the command's own.
"""

import argparse
import os
import resource
import sys

GIB = 2 ** 30
MAX_FILE_BYTES = 2 * GIB     # no single file written may grow past this


def _parse(argv):
    if "--" not in argv:
        raise SystemExit("usage: python -m tools.limited [LIMITS] -- COMMAND [ARGS...]")
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    if not command:
        raise SystemExit("tools.limited: no command given after --")
    if len(options) == 1 and not options[0].startswith("-"):       # the short form: GB --
        return argparse.Namespace(memory_bytes=int(float(options[0]) * GIB), processes=None,
                                  file_bytes=MAX_FILE_BYTES, cpu_seconds=None, uid=None, stage=[]), command
    parser = argparse.ArgumentParser(prog="tools.limited")
    parser.add_argument("--memory-bytes", type=int, required=True, help="address space per process")
    parser.add_argument("--processes", type=int, help="processes (and threads) of the user")
    parser.add_argument("--file-bytes", type=int, default=MAX_FILE_BYTES, help="largest file written")
    parser.add_argument("--cpu-seconds", type=int, help="CPU time per process")
    parser.add_argument("--uid", type=int, help="run the command as this user id (root only)")
    parser.add_argument("--stage", action="append", default=[], metavar="TARGET=PATH",
                        help="bind PATH read-only on TARGET in a private mount namespace (root only)")
    return parser.parse_args(options), command


MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
CLONE_NEWNS = 0x00020000


def _libc_call(name, *args):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{name}{args}: {os.strerror(errno)}")


def _stage(pairs):
    """In a mount namespace of our own, bind each host PATH read-only on TARGET.

    A user without the right to reach PATH (under root's home, say) can then be
    given TARGET instead; the mounts vanish with the namespace.
    """
    _libc_call("unshare", CLONE_NEWNS)
    _libc_call("mount", b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    for target, path in pairs:
        os.makedirs(target, exist_ok=True)
        _libc_call("mount", path.encode(), target.encode(), None, MS_BIND | MS_REC, None)
        _libc_call("mount", b"none", target.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)


def main(argv):
    """Set the limits, drop to ``--uid`` if given, then replace this process with the command."""
    options, command = _parse(argv)
    limits = [(resource.RLIMIT_AS, options.memory_bytes), (resource.RLIMIT_FSIZE, options.file_bytes),
              (resource.RLIMIT_NPROC, options.processes), (resource.RLIMIT_CPU, options.cpu_seconds)]
    for which, value in limits:
        if value is not None:
            resource.setrlimit(which, (value, value))
    if options.stage:
        _stage([spec.split("=", 1) for spec in options.stage])
    if options.uid is not None:
        os.setgroups([])
        os.setgid(options.uid)
        os.setuid(options.uid)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
