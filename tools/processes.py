"""Stopping processes by pid, never by name: a process and everything it started, or a list of processes.

    stop(processes, grace)    SIGTERM each, SIGKILL whatever still runs after ``grace`` seconds
    kill_tree(pid)            SIGKILL a process and all its descendants at once

Used by the grader (a submission's nbgrader run that has to be stopped) and the demo hub
(the processes of the demo class's accounts). Needs psutil (the ``instructor`` extra).
"""

__all__ = ["stop", "kill_tree"]


def stop(processes, grace=10):
    """Stop ``processes`` (psutil.Process objects): SIGTERM, then SIGKILL after ``grace`` s (at once when 0).

    Returns how many there were. A process that already ended is skipped.
    """
    import psutil

    processes = list(processes)
    alive = processes
    if grace > 0:
        for process in processes:
            try:
                process.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)
    return len(processes)


def kill_tree(pid):
    """SIGKILL the process ``pid`` and everything it started (children, grandchildren, ...); wait for them."""
    import psutil

    try:
        parent = psutil.Process(pid)
        family = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    stop(family, grace=0)
