"""JupyterHub for the course's demo class: ``make hub`` starts ``jupyterhub -f`` this file.

Everything that belongs to one hub comes from ``$CNN_HUB_DIR/class.json``, written by
``tools/hub.py`` when it sets the class up (ports, accounts, folders, the environment);
the class password is in ``$CNN_HUB_DIR/password`` (root only).

- The hub, its proxy and every user's server listen on 127.0.0.1 only.
- Log-in: JupyterHub's SharedPasswordAuthenticator, limited to the class's accounts.
  One password for the demo class and no Unix password on any account, so the demo adds
  no way into the machine. A real class logs in through its LMS (docs/deploy.md, LTI).
- Each user's server runs as that Unix user (LocalProcessSpawner), from the hub's own
  environment, with the course id and the exchange in its environment. Students get the
  student parts of nbgrader (Assignment List, Validate); the instructor gets Formgrader too
  and starts in the course folder. Which parts each gets: hub/student/, hub/instructor/.
"""

import json
import os
from pathlib import Path

c = get_config()  # noqa: F821 - JupyterHub provides get_config

HUB = Path(os.environ["CNN_HUB_DIR"])
CLASS = json.loads((HUB / "class.json").read_text())

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = CLASS["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = CLASS["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{CLASS['proxy_api_port']}"
c.ConfigurableHTTPProxy.command = [CLASS["proxy"]]
c.ConfigurableHTTPProxy.pid_file = str(HUB / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{HUB / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(HUB / "cookie_secret")
c.JupyterHub.cleanup_servers = True   # stopping the hub stops every user's server

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = (HUB / "password").read_text().strip()
c.Authenticator.allowed_users = set(CLASS["instructors"]) | set(CLASS["students"])

c.JupyterHub.spawner_class = "localprocess"
c.Spawner.ip = "127.0.0.1"
c.Spawner.cmd = [str(Path(CLASS["env"]) / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {
    "PATH": f"{Path(CLASS['env']) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
    "CNN_COURSE_ID": CLASS["course_id"],
    "CNN_COURSE_EXCHANGE": CLASS["exchange"],
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}


def role_settings(spawner):
    """The instructor's server starts in the course folder with Formgrader; a student's in their home."""
    env = dict(spawner.environment)
    if spawner.user.name in CLASS["instructors"]:
        env.update(JUPYTER_CONFIG_PATH=CLASS["config"]["instructor"], CNN_COURSE_ROOT=CLASS["course_root"])
        spawner.notebook_dir = CLASS["course_root"]
    else:
        env.update(JUPYTER_CONFIG_PATH=CLASS["config"]["student"])
        spawner.notebook_dir = "~"
    spawner.environment = env


c.Spawner.pre_spawn_hook = role_settings
