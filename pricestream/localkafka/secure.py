"""The local broker's secure mode: a SASL_SSL listener with SCRAM, for ``KAFKA_SECURITY_PROTOCOL=SASL_SSL``.

- **TLS.** A self-signed broker certificate for ``127.0.0.1`` and ``localhost``, made once per data
  directory with Java's ``keytool`` (it comes with the Java the broker needs): ``<data dir>/tls/``.
  Clients verify the broker against ``tls/ca.pem`` (``KAFKA_SSL_CAFILE``), the certificate itself.
- **SCRAM.** The broker talks to itself (transaction markers, for one) over the same listener as a user
  of its own, ``pricestream-broker``, with a random password created when the storage is formatted (the
  only time KRaft takes SCRAM users without a login). The user of ``KAFKA_SASL_USERNAME`` is then
  created, or its password updated, at every start through the admin API: the client password never
  goes on a command line or into a file.
- The KRaft controller listener stays PLAINTEXT on loopback.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pricestream.settings import SASL_MECHANISMS, Settings

BROKER_USER = "pricestream-broker"
SCRAM_ITERATIONS = 8192         # Kafka's minimum for SCRAM-SHA-512 is 4096
CERT_VALIDITY_DAYS = 3650
LISTENER = "SASL_SSL"


class SecureSetupError(RuntimeError):
    """The TLS material or the SCRAM users could not be made."""


@dataclass(frozen=True)
class BrokerTls:
    """The broker's TLS material in ``directory`` (``<data dir>/tls``)."""
    directory: Path

    @property
    def ca_pem(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.directory / "broker.p12"

    @property
    def store_password_path(self) -> Path:
        return self.directory / "store.password"

    @property
    def broker_password_path(self) -> Path:
        """The broker's own SCRAM password; its existence says the storage was formatted in secure mode."""
        return self.directory / "broker.password"

    def complete(self) -> bool:
        return all(p.exists() for p in (self.ca_pem, self.keystore, self.store_password_path))

    def store_password(self) -> str:
        return self.store_password_path.read_text().strip()

    def broker_password(self) -> str:
        return self.broker_password_path.read_text().strip()

    def new_broker_password(self) -> str:
        """A fresh password for the broker's own user (before the storage is formatted)."""
        password = secrets.token_urlsafe(24)
        _write_private(self.broker_password_path, password)
        return password


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


def _keytool(java: str) -> str:
    keytool = Path(java).resolve().parent / "keytool"
    return str(keytool) if keytool.exists() else "keytool"


def ensure_tls(tls: BrokerTls, java: str) -> None:
    """Make the broker's key and self-signed certificate, and its PEM copy for the clients, once.

    The certificate is its own CA (basic constraints CA, for 127.0.0.1 and localhost): two keytool runs
    instead of eight for a CA that signs a broker certificate, and a JVM start takes seconds on a busy
    machine. Clients and the broker itself (inter-broker TLS) trust exactly that certificate.
    """
    if tls.complete():
        return
    tls.directory.mkdir(parents=True, exist_ok=True)
    os.chmod(tls.directory, 0o700)
    for leftover in tls.directory.glob("*"):          # from an interrupted run: start over
        if leftover != tls.broker_password_path:
            leftover.unlink()
    password = secrets.token_urlsafe(18)
    keytool = _keytool(java)
    steps = [
        ["-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
         "-dname", "CN=pricestream local broker", "-validity", str(CERT_VALIDITY_DAYS),
         "-ext", "bc:c=ca:true,pathlen:0", "-ext", "SAN=ip:127.0.0.1,dns:localhost",
         "-ext", "KU=keyCertSign,digitalSignature,keyEncipherment", "-ext", "EKU=serverAuth,clientAuth",
         "-keystore", str(tls.keystore), "-storetype", "PKCS12", "-storepass", password, "-keypass", password],
        ["-exportcert", "-rfc", "-alias", "broker", "-keystore", str(tls.keystore), "-storepass", password,
         "-file", str(tls.ca_pem)],
    ]
    for step in steps:
        try:
            result = subprocess.run([keytool, *step], capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SecureSetupError(f"keytool {step[0]} failed: {exc}") from None
        if result.returncode != 0:
            raise SecureSetupError(f"keytool {step[0]} failed (exit {result.returncode}): "
                                   f"{(result.stdout + result.stderr).strip()[-1000:]}")
    _write_private(tls.store_password_path, password)   # last: its presence marks the material complete


def server_properties(tls: BrokerTls, port: int) -> dict[str, str]:
    """What secure mode changes in server.properties: the client listener is SASL_SSL with SCRAM."""
    store_password, broker_password = tls.store_password(), tls.broker_password()
    jaas = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{BROKER_USER}" password="{broker_password}";')
    props = {
        "listeners": f"{LISTENER}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}",
        "advertised.listeners": f"{LISTENER}://127.0.0.1:{port}",
        "listener.security.protocol.map": f"{LISTENER}:SASL_SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": LISTENER,
        "sasl.enabled.mechanisms": ",".join(SASL_MECHANISMS),
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(tls.keystore),
        "ssl.keystore.password": store_password,
        "ssl.key.password": store_password,
        "ssl.truststore.type": "PEM",          # the broker trusts its own certificate, as the clients do
        "ssl.truststore.location": str(tls.ca_pem),
        "ssl.endpoint.identification.algorithm": "https",
    }
    for mechanism in SASL_MECHANISMS:
        props[f"listener.name.{LISTENER.lower()}.{mechanism.lower()}.sasl.jaas.config"] = jaas
    return props


def format_arguments(tls: BrokerTls) -> list[str]:
    """kafka-storage format's arguments that create the broker's own SCRAM user."""
    return ["--add-scram", f"SCRAM-SHA-512=[name={BROKER_USER},password={tls.broker_password()}]"]


def broker_connection(tls: BrokerTls, bootstrap_servers: str) -> dict:
    """kafka-python arguments to connect as the broker's own user (before the client user exists)."""
    import ssl

    return {"bootstrap_servers": bootstrap_servers, "security_protocol": "SASL_SSL",
            "ssl_context": ssl.create_default_context(cafile=str(tls.ca_pem)), "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": BROKER_USER, "sasl_plain_password": tls.broker_password()}


def upsert_client_user(tls: BrokerTls, bootstrap_servers: str, settings: Settings, timeout_s: float = 30) -> None:
    """Create the settings' SCRAM user, or set its password, with the broker's own credentials."""
    from kafka.admin import KafkaAdminClient, UserScramCredentialUpsertion

    admin = KafkaAdminClient(**broker_connection(tls, bootstrap_servers), client_id="pricestream-localkafka",
                             request_timeout_ms=int(timeout_s * 1000))
    try:
        upsert = UserScramCredentialUpsertion(settings.sasl_username, settings.sasl_mechanism,
                                              settings.sasl_password.reveal(), iterations=SCRAM_ITERATIONS)
        errors = admin.alter_user_scram_credentials([upsert])
    finally:
        with contextlib.suppress(Exception):
            admin.close()
    error = errors.get(settings.sasl_username)
    if error:
        raise SecureSetupError(f"could not create SCRAM user {settings.sasl_username!r}: {error}")
