"""docker-compose.yml and the Dockerfile agree with the project and are safe to run.

Docker itself does not run where these tests run, so the files are checked as data: the compose
file against the Compose Specification JSON Schema (shipped inside the check-jsonschema package, a
test dependency, read as a file and never imported) and against pricestream's settings and Kafka
version; the Dockerfile by a small parser of its instructions.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
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
                                      "worker": {**compose["services"]["worker"], "restart": False}}}
    assert list(validator.iter_errors(broken)), "the schema check must reject restart: no unquoted (false)"


def test_the_shared_environment_is_a_yaml_anchor():
    text = COMPOSE.read_text(encoding="utf-8")
    assert re.search(r"^x-pricestream-env:\s*&\S+", text, re.M)
    anchor = re.search(r"^x-pricestream-env:\s*&(\S+)", text, re.M)[1]
    uses = re.findall(rf"\*{re.escape(anchor)}\b", text)
    assert len(uses) >= 3, "topics-init, worker and demo share the environment"


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


@pytest.mark.parametrize("service", ["topics-init", "worker", "demo"])
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


def test_the_worker_has_the_required_settings_and_serves_its_status_page(compose):
    worker = compose["services"]["worker"]
    env = environment(worker)
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "PRICESTREAM_PARTITIONS", "PRICESTREAM_PRICING_POLICY",
                "PRICESTREAM_WEB_HOST", "PRICESTREAM_WEB_PORT"):
        assert var in env, f"worker: set {var}"
    assert env["PRICESTREAM_WEB_HOST"] == "0.0.0.0", "the status page must be reachable from outside the container"
    port = effective_settings(worker)["PRICESTREAM_WEB_PORT"]
    assert port == DEFAULTS["web_port"]
    assert {p["target"] for p in published_ports(worker)} == {port}
    assert worker["command"] == ["worker"]


def test_the_services_run_the_right_commands(compose):
    services = compose["services"]
    assert services["topics-init"]["command"] == ["topics", "create"]
    assert services["topics-init"]["restart"] == "no"
    assert services["demo"]["command"] == ["demo", "--external"]
    assert services["demo"]["profiles"] == ["demo"]
    for name in ("topics-init", "worker", "demo"):
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
    worker = effective_settings(compose["services"]["worker"])
    assert worker["PRICESTREAM_PROCESSING_GUARANTEE"] == "exactly_once"
    assert int(worker["PRICESTREAM_REPLICATION_FACTOR"]) == 1, "one broker holds one replica"


def test_kafka_advertises_an_internal_and_a_loopback_listener(compose):
    env = kafka_env(compose)
    advertised = dict(re.match(r"(\w+)://(.*)", item).groups()
                      for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    listeners = dict(re.match(r"(\w+)://(.*)", item).groups() for item in env["KAFKA_LISTENERS"].split(","))
    assert set(advertised) <= set(listeners)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] not in advertised
    internal = effective_settings(compose["services"]["worker"])["KAFKA_BOOTSTRAP_SERVERS"]
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
    assert services["worker"]["depends_on"]["topics-init"]["condition"] == "service_completed_successfully"
    assert services["demo"]["depends_on"]["topics-init"]["condition"] == "service_completed_successfully"


def test_every_published_port_is_bound_to_loopback(compose):
    for name, service in compose["services"].items():
        for port in published_ports(service):
            assert port["host_ip"] == "127.0.0.1", f"{name}: {port} is published on every interface"


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
