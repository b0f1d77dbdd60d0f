"""What the course ships for deployment: the Kubernetes files, the YAML in docs/deploy.md, the hub's config.

No cluster, Docker or LMS is reachable here (docs/deploy.md says what was not run). These
checks catch what breaks a deployment silently: YAML that does not parse, a key the Zero to
JupyterHub chart does not know (its schema refuses unknown keys; the key lists below are the
chart's own, from its values.schema.yaml), an exchange volume mounted where the course does not
look, limits below what TensorFlow needs, hook code that does not compile, and role folders
that the image or the hub would not find.
"""

import json
import os
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "kubernetes"

# Keys the Zero to JupyterHub chart (4.x) accepts at these levels (values.schema.yaml).
CHART_TOP = {"cull", "custom", "debug", "enabled", "fullnameOverride", "global", "httpRoute", "hub",
             "imagePullSecret", "imagePullSecrets", "ingress", "nameOverride", "prePuller", "proxy", "rbac",
             "scheduling", "singleuser"}
CHART_SINGLEUSER = {"allowPrivilegeEscalation", "cloudMetadata", "cmd", "cpu", "defaultUrl", "events",
                    "extraAnnotations", "extraContainers", "extraEnv", "extraFiles", "extraLabels",
                    "extraNodeAffinity", "extraPodAffinity", "extraPodAntiAffinity", "extraPodConfig",
                    "extraResource", "extraTolerations", "fsGid", "image", "initContainers", "lifecycleHooks",
                    "memory", "networkPolicy", "networkTools", "nodeSelector", "podNameTemplate", "profileList",
                    "serviceAccountName", "startTimeout", "storage", "uid"}
CHART_STORAGE = {"capacity", "dynamic", "extraLabels", "extraVolumeMounts", "extraVolumes", "homeMountPath",
                 "static", "type"}
CHART_HUB = {"activeServerLimit", "allowNamedServers", "annotations", "args", "authenticatePrometheus", "baseUrl",
             "command", "concurrentSpawnLimit", "config", "consecutiveFailureLimit", "containerSecurityContext",
             "cookieSecret", "db", "deploymentStrategy", "existingSecret", "extraConfig", "extraContainers",
             "extraEnv", "extraFiles", "extraPodSpec", "extraVolumeMounts", "extraVolumes", "fsGid", "image",
             "initContainers", "labels", "lifecycle", "livenessProbe", "loadRoles", "namedServerLimitPerUser",
             "networkPolicy", "nodeSelector", "pdb", "podSecurityContext", "readinessProbe", "redirectToServer",
             "resources", "revisionHistoryLimit", "service", "serviceAccount", "services", "shutdownOnLogout",
             "templatePaths", "templateVars", "tolerations"}
CHART_CULL = {"enabled", "users", "adminUsers", "removeNamedServers", "timeout", "every", "concurrency", "maxAge"}
# jupyterhub-ltiauthenticator 1.x: LTI13Authenticator's configurable settings used by the course.
LTI13_SETTINGS = {"issuer", "client_id", "authorize_url", "jwks_endpoint", "username_key", "jwks_algorithms",
                  "uri_scheme", "tool_name", "tool_description"}


def _config():
    return yaml.safe_load((K8S / "config.yaml").read_text())


def _bytes(quantity):
    """Kubernetes/KubeSpawner memory quantity ('2G', '512Mi') in bytes."""
    number, unit = re.fullmatch(r"([\d.]+)([KMGT]i?)?", str(quantity)).groups()
    powers = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return float(number) * powers.get(unit, 1)


def test_every_yaml_we_ship_parses():
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "deploy.md").read_text(), re.S)
    assert blocks, "docs/deploy.md shows the TLJH configuration as YAML"
    for text in blocks:
        assert isinstance(yaml.safe_load(text), dict)
    for path in K8S.glob("*.yaml"):
        assert isinstance(yaml.safe_load(path.read_text()), dict), path


def test_z2jh_config_uses_only_keys_the_chart_knows():
    config = _config()
    assert set(config) <= CHART_TOP
    assert set(config["singleuser"]) <= CHART_SINGLEUSER
    assert set(config["singleuser"]["storage"]) <= CHART_STORAGE
    assert set(config["hub"]) <= CHART_HUB
    assert set(config["cull"]) <= CHART_CULL
    lti = config["hub"]["config"]["LTI13Authenticator"]
    assert set(lti) <= LTI13_SETTINGS and {"issuer", "client_id", "authorize_url", "jwks_endpoint"} <= set(lti)
    assert config["hub"]["config"]["JupyterHub"]["authenticator_class"] == \
        "ltiauthenticator.lti13.auth.LTI13Authenticator"


def test_z2jh_exchange_is_the_shared_claim_mounted_where_the_course_looks():
    config, claim = _config(), yaml.safe_load((K8S / "exchange-pvc.yaml").read_text())
    assert claim["kind"] == "PersistentVolumeClaim" and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    storage = config["singleuser"]["storage"]
    volumes = {v["name"]: v for v in storage["extraVolumes"]}
    mounts = {m["name"]: m["mountPath"] for m in storage["extraVolumeMounts"]}
    assert set(volumes) == set(mounts)
    (name,) = [n for n, v in volumes.items() if "persistentVolumeClaim" in v]
    assert volumes[name]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert mounts[name] == config["singleuser"]["extraEnv"]["CNN_COURSE_EXCHANGE"]
    assert config["singleuser"]["extraEnv"]["CNN_COURSE_ID"] == "cnn-course"


def test_z2jh_limits_leave_room_for_tensorflow():
    single = _config()["singleuser"]
    assert _bytes(single["memory"]["guarantee"]) >= 1.5e9   # a kernel with TensorFlow: about 0.6 GB
    assert _bytes(single["memory"]["limit"]) >= _bytes(single["memory"]["guarantee"])
    assert single["cpu"]["limit"] >= single["cpu"]["guarantee"] > 0


def test_z2jh_role_hook_compiles_and_points_at_folders_the_image_holds():
    hook = _config()["hub"]["extraConfig"]["10-course-roles"]
    compile(hook, "extraConfig", "exec")
    dockerfile = (K8S / "Dockerfile").read_text()
    for role in ("student", "instructor"):
        assert f"/opt/course/hub/{role}" in hook
        assert f"COPY hub/{role} /opt/course/hub/{role}" in dockerfile
        assert (ROOT / "hub" / role / "nbgrader_config.py").exists()


def test_the_image_is_built_from_environment_yml_without_solutions():
    dockerfile = (K8S / "Dockerfile").read_text()
    assert re.search(r"mamba env update .*--file /opt/course/environment.yml", dockerfile)
    copied = re.findall(r"^COPY (.+?) /opt/course", dockerfile, re.M)
    for sources in copied:
        for source in sources.split():
            assert (ROOT / source).exists(), source
            assert not source.startswith(("solutions", "tools", "tests")), source


# --- hub/: the one-machine hub's configuration -------------------------------------------------

def _load_hub_config(tmp_path, monkeypatch):
    from traitlets.config.loader import PyFileConfigLoader

    spec = {"prefix": "cnn-", "port": 8000, "hub_port": 8081, "proxy_api_port": 8001, "proxy": "/x/chp",
            "env": "/srv/hub/env", "course_id": "cnn-course", "exchange": "/srv/hub/exchange",
            "course_root": "/srv/hub/home/cnn-teacher/cnn-course", "instructors": ["cnn-teacher"],
            "students": ["cnn-alice", "cnn-bob"],
            "config": {"student": "/srv/hub/config/student", "instructor": "/srv/hub/config/instructor"}}
    (tmp_path / "class.json").write_text(json.dumps(spec))
    (tmp_path / "password").write_text("a-long-password\n")
    monkeypatch.setenv("CNN_HUB_DIR", str(tmp_path))
    return PyFileConfigLoader("jupyterhub_config.py", path=str(ROOT / "hub")).load_config(), spec


def test_hub_listens_on_localhost_and_lets_in_the_class_only(tmp_path, monkeypatch):
    config, spec = _load_hub_config(tmp_path, monkeypatch)
    assert config.JupyterHub.ip == config.JupyterHub.hub_ip == config.Spawner.ip == "127.0.0.1"
    assert config.ConfigurableHTTPProxy.api_url.startswith("http://127.0.0.1:")
    assert config.JupyterHub.authenticator_class == "shared-password"
    assert config.Authenticator.allowed_users == {"cnn-teacher", "cnn-alice", "cnn-bob"}
    assert config.SharedPasswordAuthenticator.user_password == "a-long-password"
    assert config.Spawner.cmd == ["/srv/hub/env/bin/jupyterhub-singleuser"]
    assert config.Spawner.environment["CNN_COURSE_EXCHANGE"] == spec["exchange"]


def test_hub_gives_each_role_its_configuration(tmp_path, monkeypatch):
    config, spec = _load_hub_config(tmp_path, monkeypatch)

    class Spawner:
        def __init__(self, name):
            self.user = type("User", (), {"name": name})()
            self.environment = dict(config.Spawner.environment)
            self.notebook_dir = None

    teacher, alice = Spawner("cnn-teacher"), Spawner("cnn-alice")
    for spawner in (teacher, alice):
        config.Spawner.pre_spawn_hook(spawner)
    assert teacher.environment["JUPYTER_CONFIG_PATH"] == spec["config"]["instructor"]
    assert teacher.environment["CNN_COURSE_ROOT"] == teacher.notebook_dir == spec["course_root"]
    assert alice.environment["JUPYTER_CONFIG_PATH"] == spec["config"]["student"]
    assert "CNN_COURSE_ROOT" not in alice.environment and alice.notebook_dir == "~"


def test_students_get_only_the_student_parts_of_nbgrader():
    disabled = json.loads((ROOT / "hub" / "student" / "labconfig" / "page_config.json").read_text())
    assert {name for name, off in disabled["disabledExtensions"].items() if off} == {
        "@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:course-list"}
    for role, formgrader in (("student", False), ("instructor", True)):
        server = json.loads((ROOT / "hub" / role / "jupyter_server_config.json").read_text())
        extensions = server["ServerApp"]["jpserver_extensions"]
        assert extensions["nbgrader.server_extensions.formgrader"] is formgrader
        assert extensions["nbgrader.server_extensions.assignment_list"] is True
        # Validate is answered by cnnlib.grading.validate, which prints one line per test first
        assert extensions["cnnlib.grading.validate"] is True
        assert extensions["nbgrader.server_extensions.validate_assignment"] is False


def test_the_student_nbgrader_config_reads_the_hub_environment(monkeypatch):
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.setenv("CNN_COURSE_EXCHANGE", "/srv/x/exchange")
    monkeypatch.setenv("CNN_COURSE_ID", "cnn-2027")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT / "hub" / "student")).load_config()
    assert config.Exchange.root == "/srv/x/exchange" and config.CourseDirectory.course_id == "cnn-2027"


@pytest.mark.parametrize("exchange", [None, "/srv/y/exchange"])
def test_the_course_config_holds_the_exchange_and_course_id(monkeypatch, exchange):
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.delenv("CNN_COURSE_ID", raising=False)
    if exchange:
        monkeypatch.setenv("CNN_COURSE_EXCHANGE", exchange)
    else:
        monkeypatch.delenv("CNN_COURSE_EXCHANGE", raising=False)
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert config.Exchange.root == (exchange or str(ROOT / "exchange"))
    assert config.CourseDirectory.course_id == "cnn-course"
    assert os.path.basename(config.CourseDirectory.source_directory) == "solutions"
