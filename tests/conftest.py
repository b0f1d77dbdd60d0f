"""Shared fixtures. TensorFlow is imported once, lazily, and only by tests that ask for it."""

import os
import sys
from pathlib import Path

# Set before TensorFlow is imported anywhere: silences its start-up log lines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# Tests may import the benchmarks' shared code (bench/): the repository root on sys.path.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("course", deadline=None, max_examples=60, print_blob=True)
settings.load_profile("course")


@pytest.fixture(scope="session")
def sandboxed():
    """Skip the test where no grading sandbox can be made (autograding runs every kernel in one)."""
    from tools import sandbox

    problem = sandbox.unavailable()
    if problem is not None:
        pytest.skip(f"autograding needs the grading sandbox: {problem}")


@pytest.fixture(scope="session")
def tf():
    """The tensorflow module, the independent reference for every op."""
    import tensorflow

    return tensorflow


# Seconds each lecture notebook took (tests/test_notebooks.py fills it); printed after the run,
# because the course promises to run top to bottom in under five minutes on 2 cores.
NOTEBOOK_SECONDS = {}


def pytest_terminal_summary(terminalreporter):
    if NOTEBOOK_SECONDS:
        terminalreporter.section("notebook run times")
        for name, seconds in NOTEBOOK_SECONDS.items():
            terminalreporter.write_line(f"{seconds:7.1f} s  {name}")
        terminalreporter.write_line(f"{sum(NOTEBOOK_SECONDS.values()):7.1f} s  all {len(NOTEBOOK_SECONDS)} notebooks")
