"""nbgrader's configuration for the course. Run nbgrader from this folder (it reads no other).

    solutions/<assignment>/   the instructors' source: solutions and hidden tests
    assignments/<assignment>/ the student versions, made by `make release` (never edit by hand)
    submitted/, autograded/, feedback/, gradebook.db   grading work, ignored by git
    exchange/                 where assignments are released and submitted, unless
                              CNN_COURSE_EXCHANGE names another folder (a hub's shared one)
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - nbgrader provides get_config

COURSE_ROOT = Path(__file__).resolve().parent

c.CourseDirectory.root = str(COURSE_ROOT)
# The course id and the exchange live here, so that the nbgrader commands, Formgrader and the
# Assignment List agree with no --Exchange.root flag. A hub sets both for every user through the
# environment (hub/jupyterhub_config.py); on its own the course keeps its exchange beside this file.
c.CourseDirectory.course_id = os.environ.get("CNN_COURSE_ID") or "cnn-course"
c.Exchange.root = os.environ.get("CNN_COURSE_EXCHANGE") or str(COURSE_ROOT / "exchange")
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{COURSE_ROOT / 'gradebook.db'}"

# Seconds one cell may run when autograding. A student's infinite loop is interrupted
# after this and that cell scores 0; grading goes on with the next cell.
c.Execute.timeout = int(os.environ.get("CNN_COURSE_CELL_TIMEOUT", "120"))

# nbgrader scores a test cell 0 when it writes anything to stderr. Keep TensorFlow's
# start-up log lines and library warnings off stderr in the grading kernel (it inherits
# this environment), and drop any that still come through.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("PYTHONWARNINGS", "ignore")
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?m)(Warning|WARNING|^[IWE]\d{4} |oneDNN|absl::|This TensorFlow binary)"

# Contain hostile notebooks (tools/preprocessors.py says how): a kernel that dies or
# ignores the time-out's interrupt fails its cells with a reason instead of failing the
# whole run, and no output may exceed CNN_COURSE_MAX_OUTPUT characters.
sys.path.insert(0, str(COURSE_ROOT))
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern,  # noqa: E402
                                    LimitOutput, SaveAutoGrades)
from tools.preprocessors import ContainedExecute, LimitOutputSize  # noqa: E402

c.Autograde.autograde_preprocessors = [
    ContainedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, LimitOutputSize,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
c.ContainedExecute.timeout = c.Execute.timeout
# Every kernel starts in a bubblewrap sandbox and every test cell is judged again in the
# grader's process (tools/sandbox.py, tools/trusted.py). Only `make grade`'s
# --unsafe-no-sandbox sets CNN_COURSE_UNSAFE_NO_SANDBOX=1; its report then says so on every line.
c.ContainedExecute.sandbox = os.environ.get("CNN_COURSE_UNSAFE_NO_SANDBOX") != "1"
c.LimitOutputSize.max_chars = int(os.environ.get("CNN_COURSE_MAX_OUTPUT", "100000"))

# Feedback students can read (tools/feedback.py): hidden tests' code removed, each test's result
# and diagnosis listed first, mathematics as MathML, so the page needs no network.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402
from tools.feedback import FeedbackExporter, ReadableTestResults  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests,
                                    ReadableTestResults]
c.GenerateFeedback.exporter_class = FeedbackExporter
