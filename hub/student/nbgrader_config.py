"""nbgrader for a student on the course's hub: the course id and the shared exchange.

The hub puts this folder on each student's JUPYTER_CONFIG_PATH and sets both variables
(hub/jupyterhub_config.py), the same ones the course's own nbgrader_config.py reads, so
the Assignment List, `nbgrader fetch_assignment` and `nbgrader submit` need no flags.
"""

import os

c = get_config()  # noqa: F821 - nbgrader provides get_config

c.CourseDirectory.course_id = os.environ.get("CNN_COURSE_ID") or "cnn-course"
c.Exchange.root = os.environ["CNN_COURSE_EXCHANGE"]
