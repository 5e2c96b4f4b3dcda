"""The one place that reads the environment.

Every setting has one environment variable, one default and one line of documentation, all in
``SETTINGS_SPEC``. The README's configuration table is generated from it (a test keeps them equal),
and the worker, the demo, the CLI and docker-compose all use these names.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

PRICING_POLICIES = ("static", "cost-plus", "competitor-match", "learned")
RESTOCK_POLICIES = ("fixed-reorder", "learned")
PROCESSING_GUARANTEES = ("exactly_once", "at_least_once")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
STATE_TABLE = "sku-state"      # the per-SKU state table (streams/tables.py); its changelog is <app id>-sku-state-changelog


class Secret:
    """A value that never shows itself: repr and str are masked, ``.reveal()`` gives it.

    So a password in the settings cannot reach a log line, a repr or an error message by accident.

    >>> Secret("hunter2")
    Secret('***')
    >>> f"{Secret('hunter2')}", Secret("hunter2").reveal()
    ('***', 'hunter2')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return "***" if self._value else ""


@dataclass(frozen=True)
class SettingSpec:
    field: str
    env: str
    default: str
    doc: str


SETTINGS_SPEC: tuple[SettingSpec, ...] = (
    SettingSpec("bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092",
                "Kafka bootstrap servers (host:port, comma separated)."),
    SettingSpec("security_protocol", "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT",
                "How every client connects: " + ", ".join(SECURITY_PROTOCOLS) + " (SASL/SCRAM over TLS). With "
                "SASL_SSL, `pricestream kafka start` runs the local broker that way too."),
    SettingSpec("sasl_mechanism", "KAFKA_SASL_MECHANISM", "SCRAM-SHA-512",
                "SASL_SSL: the SCRAM mechanism, " + " or ".join(SASL_MECHANISMS) + "."),
    SettingSpec("sasl_username", "KAFKA_SASL_USERNAME", "", "SASL_SSL: the SCRAM user name."),
    SettingSpec("sasl_password", "KAFKA_SASL_PASSWORD", "",
                "SASL_SSL: the SCRAM password (never logged or shown)."),
    SettingSpec("sasl_password_file", "KAFKA_SASL_PASSWORD_FILE", "",
                "SASL_SSL: a file holding the password instead (a mounted Kubernetes secret); set one of the two."),
    SettingSpec("ssl_cafile", "KAFKA_SSL_CAFILE", "",
                "SASL_SSL: PEM file of the CA that signed the brokers' certificates (empty: the system's CAs). "
                "The broker's host name is always checked against its certificate."),
    SettingSpec("app_id", "PRICESTREAM_APP_ID", "pricestream",
                "Faust application id: the consumer group and the prefix of state changelog topics."),
    SettingSpec("partitions", "PRICESTREAM_PARTITIONS", "12",
                "Partitions of every input topic and state table (they must be equal: co-partitioning)."),
    SettingSpec("topic_prefix", "PRICESTREAM_TOPIC_PREFIX", "",
                "Prefix of every topic name (for example 'staging.'), so several deployments share a cluster."),
    SettingSpec("replication_factor", "PRICESTREAM_REPLICATION_FACTOR", "1",
                "Replication factor of the topics the project creates."),
    SettingSpec("pricing_policy", "PRICESTREAM_PRICING_POLICY", "learned",
                "Pricing policy: " + ", ".join(PRICING_POLICIES) + "."),
    SettingSpec("restock_policy", "PRICESTREAM_RESTOCK_POLICY", "learned",
                "Restock policy: " + ", ".join(RESTOCK_POLICIES) + "."),
    SettingSpec("markup", "PRICESTREAM_MARKUP", "0.35",
                "cost-plus: price = unit cost x (1 + markup), inside the guardrails."),
    SettingSpec("undercut", "PRICESTREAM_UNDERCUT", "0.01",
                "competitor-match: fraction below the cheapest in-stock competitor (0 matches)."),
    SettingSpec("pricing_seed", "PRICESTREAM_PRICING_SEED", "0",
                "learned: seed of the exploration draws (per SKU and tick), so a replay gives the same prices."),
    SettingSpec("anticipate_competitors", "PRICESTREAM_ANTICIPATE_COMPETITORS", "true",
                "learned: price for where the cheapest competitor settles if it follows our moves (learned per "
                "SKU), not for its price now, as the simulator's oracle does. false: take its price now as "
                "given."),
    SettingSpec("experiment_challenger", "PRICESTREAM_EXPERIMENT_CHALLENGER", "",
                "Champion/challenger: a second pricing policy that decides a share of the SKUs (chosen by a "
                "stable hash) while PRICESTREAM_PRICING_POLICY, the champion, decides the rest. Empty: no "
                "experiment. Every decision event names its SKU's arm (field `arm`); in simulation, "
                "`pricestream simulate --challenger` compares the arms' profit."),
    SettingSpec("experiment_share", "PRICESTREAM_EXPERIMENT_SHARE", "0.5",
                "Share of the SKUs the challenger decides, between 0 and 1."),
    SettingSpec("experiment_salt", "PRICESTREAM_EXPERIMENT_SALT", "pricestream",
                "Salt of the SKUs' hash into arms: a new salt draws new arms (keep it for an experiment's life)."),
    SettingSpec("experiment_start_ms", "PRICESTREAM_EXPERIMENT_START_MS", "0",
                "Event time (ms since the epoch) from which the challenger decides its SKUs; before it the "
                "champion decides all of them, a pre-period the report uses to take out differences between SKUs."),
    SettingSpec("clock_interval_s", "PRICESTREAM_CLOCK_INTERVAL_S", "60",
                "Live clock: every this many seconds the worker ticks every partition (decisions happen at "
                "ticks). 0 turns it off, for when a simulator or a replay brings its own ticks."),
    SettingSpec("processing_guarantee", "PRICESTREAM_PROCESSING_GUARANTEE", "exactly_once",
                "Faust processing guarantee: exactly_once (Kafka transactions) or at_least_once."),
    SettingSpec("commit_interval_s", "PRICESTREAM_COMMIT_INTERVAL_S", "2.8",
                "How often the worker commits (a Kafka transaction under exactly_once); outputs become "
                "visible to read_committed consumers at commits."),
    SettingSpec("store", "PRICESTREAM_STORE", "memory://",
                "Faust table store URL (memory:// recovers from the changelog at start)."),
    SettingSpec("standby_replicas", "PRICESTREAM_STANDBY_REPLICAS", "1",
                "Standby copies of each state partition that other workers of the group keep up to date from "
                "the changelog, so a partition handed over to one of them is not rebuilt from the whole changelog."),
    SettingSpec("live_states", "PRICESTREAM_LIVE_STATES", "10000",
                "SKU states the worker keeps unpacked in memory (about 20 KB each), the most recently used; the "
                "others rest packed (about 1.5 KB). More: fewer unpack/pack cycles per event; fewer: less memory."),
    SettingSpec("max_payload_bytes", "PRICESTREAM_MAX_PAYLOAD_BYTES", "65536",
                "Input events larger than this go to dead-letter as payload-too-large."),
    SettingSpec("web_host", "PRICESTREAM_WEB_HOST", "127.0.0.1",
                "Address of the worker's status page (/status/)."),
    SettingSpec("web_port", "PRICESTREAM_WEB_PORT", "6066",
                "Port of the worker's status page."),
    SettingSpec("dashboard_host", "PRICESTREAM_DASHBOARD_HOST", "127.0.0.1",
                "Address `pricestream dashboard` listens on (loopback: only this machine sees it)."),
    SettingSpec("dashboard_port", "PRICESTREAM_DASHBOARD_PORT", "8066",
                "Port of `pricestream dashboard`."),
    SettingSpec("status_interval_s", "PRICESTREAM_STATUS_INTERVAL_S", "10",
                "How often the worker logs its counters (events, decisions, dead letters)."),
    SettingSpec("home", "PRICESTREAM_HOME", "~/.pricestream",
                "Working directory: the Kafka download cache, the local broker's data and logs, worker state."),
    SettingSpec("kafka_version", "PRICESTREAM_KAFKA_VERSION", "4.1.2",
                "Apache Kafka release the local broker runs (fetched from Maven Central)."),
    SettingSpec("kafka_port", "PRICESTREAM_KAFKA_PORT", "19092",
                "Local broker's client port on 127.0.0.1; the KRaft controller listens on the next port."),
    SettingSpec("log_level", "PRICESTREAM_LOG_LEVEL", "info", "Worker log level."),
)


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str
    security_protocol: str
    sasl_mechanism: str
    sasl_username: str
    sasl_password: Secret
    sasl_password_file: str
    ssl_cafile: str
    app_id: str
    partitions: int
    topic_prefix: str
    replication_factor: int
    pricing_policy: str
    restock_policy: str
    markup: float
    undercut: float
    pricing_seed: int
    anticipate_competitors: bool
    experiment_challenger: str
    experiment_share: float
    experiment_salt: str
    experiment_start_ms: int
    clock_interval_s: float
    processing_guarantee: str
    commit_interval_s: float
    store: str
    standby_replicas: int
    live_states: int
    max_payload_bytes: int
    web_host: str
    web_port: int
    dashboard_host: str
    dashboard_port: int
    status_interval_s: float
    home: Path
    kafka_version: str
    kafka_port: int
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Read every setting from ``environ`` (default: the process environment).

        >>> Settings.from_env({"PRICESTREAM_PARTITIONS": "4"}).partitions
        4
        """
        environ = os.environ if environ is None else environ
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        values = {}
        for spec in SETTINGS_SPEC:
            raw = environ.get(spec.env, spec.default)
            try:
                values[spec.field] = _convert(types[spec.field], raw)
            except ValueError as exc:
                raise SettingsError(f"{spec.env}={raw!r}: {exc}") from None
        values.update(overrides)
        if values["sasl_password_file"]:
            values["sasl_password"] = _password_from_file(values["sasl_password_file"], values["sasl_password"])
        settings = cls(**values)
        settings.check()
        return settings

    def __post_init__(self):
        if not isinstance(self.sasl_password, Secret):     # replace(sasl_password="...") in code and tests
            object.__setattr__(self, "sasl_password", Secret(str(self.sasl_password)))

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol == "SASL_SSL"

    def check(self) -> None:
        if self.pricing_policy not in PRICING_POLICIES:
            raise SettingsError(f"pricing policy {self.pricing_policy!r} is not one of {PRICING_POLICIES}")
        if self.experiment_challenger and self.experiment_challenger not in PRICING_POLICIES:
            raise SettingsError(f"PRICESTREAM_EXPERIMENT_CHALLENGER {self.experiment_challenger!r} is not one of "
                                f"{PRICING_POLICIES}")
        if self.experiment_challenger and not (0 < self.experiment_share < 1 and self.experiment_salt):
            raise SettingsError("an experiment needs PRICESTREAM_EXPERIMENT_SHARE between 0 and 1 (exclusive) "
                                "and a non-empty PRICESTREAM_EXPERIMENT_SALT")
        if self.restock_policy not in RESTOCK_POLICIES:
            raise SettingsError(f"restock policy {self.restock_policy!r} is not one of {RESTOCK_POLICIES}")
        if self.processing_guarantee not in PROCESSING_GUARANTEES:
            raise SettingsError(f"processing guarantee {self.processing_guarantee!r} is not one of {PROCESSING_GUARANTEES}")
        if self.partitions < 1 or self.replication_factor < 1:
            raise SettingsError("partitions and replication factor must be at least 1")
        if self.standby_replicas < 0:
            raise SettingsError("standby replicas cannot be negative (0: no standbys)")
        if self.live_states < 1:
            raise SettingsError("PRICESTREAM_LIVE_STATES must be at least 1")
        if self.clock_interval_s < 0:
            raise SettingsError("the clock interval cannot be negative (0 turns the live clock off)")
        if not 0 <= self.undercut < 1 or self.markup < 0:
            raise SettingsError("undercut must be in [0, 1) and markup at least 0")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise SettingsError(f"KAFKA_SECURITY_PROTOCOL {self.security_protocol!r} is not one of {SECURITY_PROTOCOLS}")
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise SettingsError(f"KAFKA_SASL_MECHANISM {self.sasl_mechanism!r} is not one of {SASL_MECHANISMS}")
        if self.uses_sasl and not (self.sasl_username and self.sasl_password):
            raise SettingsError("KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD "
                                "(or KAFKA_SASL_PASSWORD_FILE)")

    def topic(self, name: str) -> str:
        """The name of a contract topic in this deployment.

        >>> Settings.from_env({"PRICESTREAM_TOPIC_PREFIX": "staging."}).topic("orders")
        'staging.orders'
        """
        return self.topic_prefix + name

    def state_changelog(self) -> str:
        """The state table's changelog topic, as Faust names it (``<app id>-<table>-changelog``)."""
        return f"{self.app_id}-{STATE_TABLE}-changelog"

    def worker_data_dir(self) -> Path:
        """Faust's data directory for this app id (a rocksdb:// store's files)."""
        return self.home / "worker-data" / self.app_id

    def replace(self, **changes) -> "Settings":
        new = dataclasses.replace(self, **changes)
        new.check()
        return new

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        env = {spec.env: str(getattr(self, spec.field)) for spec in SETTINGS_SPEC}
        # the child reads the file itself when there is one (one source of the password, as here)
        env["KAFKA_SASL_PASSWORD"] = "" if self.sasl_password_file else self.sasl_password.reveal()
        return env


class SettingsError(ValueError):
    """A setting has a value the engine cannot use."""


def _password_from_file(path: str, password: Secret) -> Secret:
    """The password held in ``path`` (without its final newline); never echoes the file's content."""
    if password:
        raise SettingsError("set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both")
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"KAFKA_SASL_PASSWORD_FILE={path!r}: cannot read it ({type(exc).__name__})") from None
    return Secret(text.rstrip("\r\n"))


def _convert(kind, raw: str):
    kind = kind if isinstance(kind, str) else kind.__name__
    if kind == "Secret":
        return Secret(raw)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "Path":
        return Path(raw).expanduser()
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("expected true or false")
    return raw


def settings_markdown_table() -> str:
    """The README's configuration table."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{s.env}` | {f'`{s.default}`' if s.default else '(empty)'} | {s.doc} |" for s in SETTINGS_SPEC]
    return "\n".join(lines)
