"""Run a command under memory and file-size limits: ``python -m tools.limited GB -- CMD ...``.

The grader starts every ``nbgrader autograde`` through this, so the kernel it
launches (which inherits the limits) cannot take the machine's memory or disk:
a 20 GB allocation raises ``MemoryError`` in the student's cell instead.
Setting the limits here, in a fresh process, is safe where ``preexec_fn`` in a
threaded grader would not be.
"""

import os
import resource
import sys

GIB = 2 ** 30
MAX_FILE_BYTES = 2 * GIB     # no single file written may grow past this


def main(argv):
    """argv: [memory_gib, "--", command, args...]. Replaces this process with the command."""
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: python -m tools.limited MEMORY_GIB -- COMMAND [ARGS...]")
    memory = int(float(argv[0]) * GIB)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    os.execvp(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
