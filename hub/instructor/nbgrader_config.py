"""nbgrader for the instructor on the course's hub: the course folder's own configuration.

The hub puts this folder on the instructor's JUPYTER_CONFIG_PATH and CNN_COURSE_ROOT in
their environment, so Formgrader and every nbgrader command, run from any folder, work
on the course (its gradebook, exchange and course id) with no flags.
"""

import os

c = get_config()  # noqa: F821 - nbgrader provides get_config

load_subconfig(os.path.join(os.environ["CNN_COURSE_ROOT"], "nbgrader_config.py"))  # noqa: F821
