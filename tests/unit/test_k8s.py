"""deploy/k8s: every manifest and both rendered overlays are valid Kubernetes objects, and they agree
with each other and with the project.

No cluster runs where these tests run. The objects are validated against the Kubernetes OpenAPI
schemas bundled by the kubernetes-validate package (strict: unknown fields are errors), at the oldest
and newest Kubernetes minor this suite checks. The overlays are rendered by tests/unit/kustomize_lite.py
(compared with ``kubectl kustomize`` when kubectl is installed). Then the references are checked: the
Services select the pods, the probes ask pages the worker serves on the port it listens on, the
volume is mounted where the worker keeps its state, every variable is a setting the engine accepts.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath

import kubernetes_validate
import pytest
import yaml

from pricestream.settings import SETTINGS_SPEC, Settings
from tests.unit.kustomize_lite import UnsupportedKustomization, load_documents, pod_specs, render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = {"dev": K8S / "overlays" / "dev", "production": K8S / "overlays" / "production"}
SETTING_NAMES = {s.env for s in SETTINGS_SPEC}
DEFAULTS = {s.field: s.default for s in SETTINGS_SPEC}
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"pricestream:{VERSION}"
CREDENTIALS_SECRET = "pricestream-kafka-credentials"
KUBERNETES_VERSIONS = ("1.30", "1.37")      # the oldest minor still common on managed clusters, the newest


def resource_files() -> list[Path]:
    """Every manifest listed as a resource by a kustomization (patches are partial: not listed)."""
    files = []
    for kustomization in sorted(K8S.rglob("kustomization.yaml")):
        for entry in yaml.safe_load(kustomization.read_text())["resources"]:
            if (kustomization.parent / entry).is_file():
                files.append(kustomization.parent / entry)
    return files


@pytest.fixture(scope="module", params=sorted(OVERLAYS))
def overlay(request) -> tuple[str, list[dict]]:
    return request.param, render(OVERLAYS[request.param])


def objects(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, name: str) -> dict:
    [found] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def pricestream_containers(docs: list[dict]) -> list[tuple[dict, dict, dict]]:
    """(workload, pod spec, container) for every container running the pricestream image."""
    found = []
    for doc in docs:
        for spec in pod_specs(doc):
            for container in spec["containers"]:
                if PurePosixPath(container["image"].rsplit(":", 1)[0]).name == "pricestream":
                    found.append((doc, spec, container))
    return found


def config(docs: list[dict]) -> dict[str, str]:
    return one(docs, "ConfigMap", "pricestream-config")["data"]


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------------------------------------------
# Valid Kubernetes objects.

def test_every_kustomization_lists_existing_files_and_the_overlays_are_all_checked():
    assert {p.parent for p in K8S.rglob("kustomization.yaml")} == {BASE, *OVERLAYS.values()}
    assert len(resource_files()) >= 8
    for path in K8S.rglob("*.yaml"):
        assert yaml.safe_load_all(path.read_text()), path


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", resource_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_each_manifest_is_valid_against_the_kubernetes_schemas(path, version):
    for doc in load_documents(path):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']} (k8s {version}): {exc.message}")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_each_rendered_overlay_is_valid_against_the_kubernetes_schemas(overlay, version):
    name, docs = overlay
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} (k8s {version}): {exc.message}")


def test_the_schema_check_rejects_a_broken_object():
    statefulset = one(render(BASE), "StatefulSet", "pricestream-worker")
    broken = {**statefulset, "spec": {**statefulset["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)
    unknown = {**statefulset, "spec": {**statefulset["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its built-in kustomize) not installed")
@pytest.mark.parametrize("name", sorted(OVERLAYS))
def test_the_python_rendering_is_what_kubectl_kustomize_renders(name):
    out = subprocess.run(["kubectl", "kustomize", str(OVERLAYS[name])], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    theirs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out) if d}
    ours = {(d["kind"], d["metadata"]["name"]): d for d in render(OVERLAYS[name])}
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key] == theirs[key], key


def test_the_renderer_refuses_kustomization_fields_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: staging-\n")
    with pytest.raises(UnsupportedKustomization, match="namePrefix"):
        render(tmp_path)


# ---------------------------------------------------------------------------------------------------
# References inside each overlay.

def test_services_select_pods_and_target_their_named_ports(overlay):
    name, docs = overlay
    pods = [(d, spec) for d in docs for spec in pod_specs(d)]
    for service in objects(docs, "Service"):
        selected = [(d, spec) for d, spec in pods
                    if matches(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        assert selected, f"{name}: Service {service['metadata']['name']} selects no pod"
        for port in service["spec"]["ports"]:
            for d, spec in selected:
                container_ports = {p.get("name"): p["containerPort"] for c in spec["containers"]
                                   for p in c.get("ports", [])}
                assert port["targetPort"] in container_ports, \
                    f"{name}: {service['metadata']['name']} targets {port['targetPort']}, not a port of {d['metadata']['name']}"


def test_statefulsets_are_governed_by_a_headless_service_selecting_them(overlay):
    name, docs = overlay
    for statefulset in objects(docs, "StatefulSet"):
        service = one(docs, "Service", statefulset["spec"]["serviceName"])
        assert service["spec"].get("clusterIP") == "None", f"{name}: a StatefulSet's service is headless"
        assert matches(service["spec"]["selector"], statefulset["spec"]["template"]["metadata"]["labels"])


def test_workload_selectors_match_their_own_pods_and_no_one_elses(overlay):
    name, docs = overlay
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    for workload in workloads:
        selector = workload["spec"]["selector"]["matchLabels"]
        for other in workloads:
            selected = matches(selector, other["spec"]["template"]["metadata"]["labels"])
            assert selected == (other is workload), \
                f"{name}: {workload['metadata']['name']}'s selector vs {other['metadata']['name']}'s pods"


def test_the_pod_disruption_budget_covers_the_workers_and_leaves_some_running(overlay):
    name, docs = overlay
    workers = one(docs, "StatefulSet", "pricestream-worker")
    [budget] = [p for p in objects(docs, "PodDisruptionBudget")
                if matches(p["spec"]["selector"]["matchLabels"], workers["spec"]["template"]["metadata"]["labels"])]
    assert budget["spec"]["maxUnavailable"] < workers["spec"]["replicas"]


def test_every_config_map_and_secret_referenced_is_shipped_or_optional_and_no_secret_is_shipped(overlay):
    name, docs = overlay
    config_maps = {d["metadata"]["name"]: d["data"] for d in objects(docs, "ConfigMap")}
    assert not objects(docs, "Secret"), "credentials are created in the cluster, never committed"
    for workload, spec, container in pricestream_containers(docs):
        where = f"{name}: {workload['metadata']['name']}/{container['name']}"
        for source in container.get("envFrom", []):
            assert "configMapRef" in source, f"{where}: secrets by key only, so the password stays in a file"
            assert source["configMapRef"]["name"] in config_maps, where
        for env in container.get("env", []):
            ref = env.get("valueFrom", {})
            if "configMapKeyRef" in ref:
                assert ref["configMapKeyRef"]["key"] in config_maps[ref["configMapKeyRef"]["name"]], where
            if "secretKeyRef" in ref:
                assert ref["secretKeyRef"]["name"] == CREDENTIALS_SECRET, where
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] == CREDENTIALS_SECRET, where


def test_every_variable_of_a_pricestream_container_is_a_setting(overlay):
    name, docs = overlay
    assert set(config(docs)) <= SETTING_NAMES, sorted(set(config(docs)) - SETTING_NAMES)
    for workload, _, container in pricestream_containers(docs):
        for env in container.get("env", []):
            assert env["name"] in SETTING_NAMES, f"{name}: {workload['metadata']['name']}: {env['name']}"
        assert "KAFKA_SASL_PASSWORD" not in {e["name"] for e in container.get("env", [])}, \
            "the password comes from a mounted file (KAFKA_SASL_PASSWORD_FILE), not the environment"


def container_environment(docs: list[dict], container: dict, secret_dir: Path) -> dict[str, str]:
    """What the container's process reads, with the credentials Secret's keys as given files/values."""
    env = dict(config(docs))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in item.get("valueFrom", {}):
            env[item["name"]] = (secret_dir / item["valueFrom"]["secretKeyRef"]["key"]).read_text()
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    for setting in ("KAFKA_SASL_PASSWORD_FILE", "KAFKA_SSL_CAFILE"):
        if env.get(setting):            # a file of the mounted Secret: read from the test's copy of it
            path = PurePosixPath(env[setting])
            assert str(path.parent) in mounts.values(), f"{setting}={path}: no volume is mounted there"
            env[setting] = str(secret_dir / path.name)
    return env


@pytest.fixture
def secret_dir(tmp_path) -> Path:
    """The keys of the credentials Secret as the cluster would mount them."""
    (tmp_path / "username").write_text("pricestream")
    (tmp_path / "password").write_text("not-a-real-password\n")
    return tmp_path


def test_the_engine_accepts_every_pricestream_containers_settings(overlay, secret_dir):
    name, docs = overlay
    for workload, _, container in pricestream_containers(docs):
        settings = Settings.from_env(container_environment(docs, container, secret_dir))
        assert settings.partitions >= one(docs, "StatefulSet", "pricestream-worker")["spec"]["replicas"], \
            "more workers than partitions would leave some idle"
        if settings.security_protocol == "SASL_SSL":
            assert settings.sasl_username == "pricestream"
            assert settings.sasl_password.reveal() == "not-a-real-password"


def test_the_credentials_secret_is_mounted_where_the_password_file_setting_points(overlay):
    name, docs = overlay
    password_file = config(docs).get("KAFKA_SASL_PASSWORD_FILE")
    for workload, spec, container in pricestream_containers(docs):
        secret_volumes = {v["name"] for v in spec.get("volumes", []) if "secret" in v}
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts", []) if m["name"] in secret_volumes}
        assert mounts, f"{workload['metadata']['name']}: mount the credentials Secret"
        assert all(m.get("readOnly") for m in mounts.values())
        if password_file:
            assert str(PurePosixPath(password_file).parent) in mounts
            keys = {e["valueFrom"]["secretKeyRef"]["key"] for e in container.get("env", []) if "valueFrom" in e}
            assert keys == {"username"} and PurePosixPath(password_file).name == "password"


def test_production_uses_sasl_ssl_with_replicated_topics_and_dev_its_single_broker():
    production = config(render(OVERLAYS["production"]))
    assert production["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert int(production["PRICESTREAM_REPLICATION_FACTOR"]) >= 3
    dev_docs = render(OVERLAYS["dev"])
    dev = config(dev_docs)
    assert dev.get("KAFKA_SECURITY_PROTOCOL", DEFAULTS["security_protocol"]) == "PLAINTEXT"
    kafka = one(dev_docs, "StatefulSet", "kafka")
    assert kafka["spec"]["replicas"] == 1 and dev["PRICESTREAM_REPLICATION_FACTOR"] == "1"
    host, port = dev["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)
    service = one(dev_docs, "Service", host)
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    [container] = kafka["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["image"] == f"apache/kafka:{DEFAULTS['kafka_version']}", "one Kafka release across the project"
    assert env["KAFKA_ADVERTISED_LISTENERS"].endswith(f"://{host}:{port}")
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1", "or exactly_once cannot start"


# ---------------------------------------------------------------------------------------------------
# The worker: probes on the pages it serves, state where it keeps it, the image's user.

def served_pages() -> set[str]:
    source = (ROOT / "agents" / "status.py").read_text()
    return set(re.findall(r"\.page\(\s*\"([^\"]+)\"", source))


def test_the_probes_ask_pages_the_worker_serves_on_the_port_it_listens_on(overlay):
    name, docs = overlay
    assert {"/status/", "/metrics"} <= served_pages()
    statefulset = one(docs, "StatefulSet", "pricestream-worker")
    [container] = statefulset["spec"]["template"]["spec"]["containers"]
    web_port = int(config(docs)["PRICESTREAM_WEB_PORT"])
    assert config(docs)["PRICESTREAM_WEB_HOST"] == "0.0.0.0", "the kubelet probes the pod's address"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for kind in ("startupProbe", "livenessProbe"):
        probe = container[kind]["httpGet"]
        assert probe["path"] in served_pages(), f"{kind}: {probe['path']}"
        assert ports[probe["port"]] == web_port, kind
    readiness = container["readinessProbe"]["exec"]["command"]
    assert readiness[:2] == ["python", "-c"]
    program = readiness[2]
    ast.parse(program)
    assert "/status/" in program and "PRICESTREAM_WEB_PORT" in program and "['ready']" in program
    assert '"ready": is_ready(' in (ROOT / "agents" / "status.py").read_text()
    annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] in served_pages()
    assert int(annotations["prometheus.io/port"]) == web_port


def test_the_readiness_program_exits_by_the_ready_flag(monkeypatch):
    program = one(render(BASE), "StatefulSet", "pricestream-worker")["spec"]["template"]["spec"][
        "containers"][0]["readinessProbe"]["exec"]["command"][2]
    import io
    import json
    import urllib.request
    monkeypatch.setenv("PRICESTREAM_WEB_PORT", "6066")
    for ready, code in ((True, 0), (False, 1)):
        asked = []

        def fake_urlopen(url, timeout):
            asked.append(url)
            return io.BytesIO(json.dumps({"ready": ready}).encode())

        monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
        with pytest.raises(SystemExit) as exited:
            exec(compile(program, "<readiness>", "exec"), {})
        assert exited.value.code == code and asked == ["http://127.0.0.1:6066/status/"]


def test_the_state_volume_is_mounted_at_the_workers_home_with_a_rocksdb_store(overlay, secret_dir):
    name, docs = overlay
    statefulset = one(docs, "StatefulSet", "pricestream-worker")
    [container] = statefulset["spec"]["template"]["spec"]["containers"]
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    settings = Settings.from_env(container_environment(docs, container, secret_dir))
    assert mounts[claim["metadata"]["name"]] == str(settings.home)
    assert settings.worker_data_dir().is_relative_to(settings.home), "Faust's data directory is on the volume"
    assert settings.store.startswith("rocksdb:"), "the volume holds RocksDB state"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def dockerfile_user_and_home() -> tuple[str, str]:
    text = (ROOT / "Dockerfile").read_text()
    user = re.findall(r"^USER\s+(\S+)", text, re.M)[-1]
    home = re.search(r"PRICESTREAM_HOME=(\S+)", text)[1]
    return user.split(":")[0], home


def test_pods_run_as_the_images_user_which_owns_the_volume(overlay):
    name, docs = overlay
    uid, image_home = dockerfile_user_and_home()
    assert config(docs)["PRICESTREAM_HOME"] == image_home, "the Dockerfile creates the home for its user"
    for workload, spec, container in pricestream_containers(docs):
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True and str(context["runAsUser"]) == uid, workload["metadata"]["name"]
        if workload["kind"] == "StatefulSet":
            assert str(context["fsGroup"]) == uid, "the volume must be writable by the image's user"
    for doc in docs:
        for spec in pod_specs(doc):
            for container in spec["containers"]:
                security = container["securityContext"]
                assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]


def test_pods_get_no_service_link_variables(overlay):
    # A Service named kafka would put KAFKA_PORT=tcp://... in every pod's environment: the Kafka
    # image reads KAFKA_* variables as broker settings, and pricestream's are settings too.
    name, docs = overlay
    for doc in docs:
        for spec in pod_specs(doc):
            assert spec["enableServiceLinks"] is False, f"{name}: {doc['metadata']['name']}"


def test_every_container_requests_cpu_and_memory_and_limits_memory(overlay):
    name, docs = overlay
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}

    def size(quantity: str) -> int:
        return int(quantity[:-2]) * units[quantity[-2:]]

    for doc in docs:
        for spec in pod_specs(doc):
            for container in spec["containers"]:
                resources = container["resources"]
                assert {"cpu", "memory"} <= set(resources["requests"]), f"{name}: {doc['metadata']['name']}"
                assert size(resources["limits"]["memory"]) >= size(resources["requests"]["memory"])


def test_one_image_name_everywhere_tagged_with_the_project_version(overlay):
    name, docs = overlay
    images = {c["image"] for _, _, c in pricestream_containers(docs)}
    assert len(images) == 1, images
    [image] = images
    assert image.rsplit(":", 1)[1] == VERSION
    base_images = {c["image"] for _, _, c in pricestream_containers(render(BASE))}
    assert base_images == {IMAGE}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["x-pricestream-image"]["image"] == IMAGE, "compose builds the image the manifests run"


def test_each_workload_runs_its_pricestream_command(overlay):
    name, docs = overlay
    assert one(docs, "StatefulSet", "pricestream-worker")["spec"]["template"]["spec"]["containers"][0]["args"] \
        == ["worker"]
    job = one(docs, "Job", "pricestream-topics-init")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["topics", "create"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


def dashboard_routes() -> set[str]:
    source = (ROOT / "pricestream" / "dashboard" / "server.py").read_text()
    return set(re.findall(r"add_get\(\s*\"([^\"]+)\"", source))


def test_the_dashboard_listens_where_its_probes_and_service_look_and_watches_the_first_worker(overlay):
    name, docs = overlay
    deployment = one(docs, "Deployment", "pricestream-dashboard")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    settings = config(docs)
    assert settings["PRICESTREAM_DASHBOARD_HOST"] == "0.0.0.0", "the kubelet and the Service reach the pod's address"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == int(settings["PRICESTREAM_DASHBOARD_PORT"])
    for kind in ("readinessProbe", "livenessProbe"):
        probe = container[kind]["httpGet"]
        assert probe["path"] in dashboard_routes() and probe["port"] == "http", kind
    args = container["args"]
    assert args[0] == "dashboard"
    url = args[args.index("--worker-url") + 1]
    workers = one(docs, "StatefulSet", "pricestream-worker")
    expected = (f"http://{workers['metadata']['name']}-0.{workers['spec']['serviceName']}:"
                f"{settings['PRICESTREAM_WEB_PORT']}")
    assert url == expected, "pod 0 of the workers, by its stable DNS name"


def test_the_readme_gives_the_apply_command_of_each_overlay():
    readme = (ROOT / "README.md").read_text()
    for path in OVERLAYS.values():
        assert f"kubectl apply -k {path.relative_to(ROOT)}" in readme
