"""Security settings, the clients' connection arguments and the local broker's secure configuration (no broker).

The end-to-end half, on a real SASL_SSL broker, is tests/e2e/test_security.py.
"""

from __future__ import annotations

import ssl

import kafka.errors as kafka_errors
import pytest
from aiokafka import errors as aiokafka_errors

from pricestream.kafka_clients import KafkaAuthError, auth_failure, connection, faust_credentials
from pricestream.localkafka import LocalBroker, render_server_properties
from pricestream.localkafka import secure
from pricestream.settings import Secret, Settings, SettingsError

PASSWORD = "pa55-Word-that-must-not-leak"
SASL_ENV = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "shop",
            "KAFKA_SASL_PASSWORD": PASSWORD}


def parse_properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


# ------------------------------------------------------------------------------------ settings


def test_plaintext_is_the_default_and_needs_no_credentials():
    settings = Settings.from_env({})
    assert settings.security_protocol == "PLAINTEXT" and not settings.uses_sasl
    assert connection(settings) == {"bootstrap_servers": ["127.0.0.1:19092"]}
    assert faust_credentials(settings) is None


def test_the_password_never_shows_in_a_repr_or_a_string():
    settings = Settings.from_env(SASL_ENV)
    assert settings.sasl_password.reveal() == PASSWORD
    for text in (repr(settings), str(settings), f"{settings.sasl_password}", repr(faust_credentials(settings))):
        assert PASSWORD not in text
    assert "sasl_password=Secret('***')" in repr(settings)
    assert settings.replace(sasl_password="other").sasl_password == Secret("other")   # replace takes a plain str


def test_to_env_reproduces_the_settings_in_a_child():
    settings = Settings.from_env(SASL_ENV)
    assert Settings.from_env(settings.to_env()) == settings


def test_the_password_can_come_from_a_file(tmp_path):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")          # as a Kubernetes secret mounted from a file may end
    env = {**SASL_ENV, "KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": str(secret)}
    settings = Settings.from_env(env)
    assert settings.sasl_password.reveal() == PASSWORD
    child_env = settings.to_env()
    assert child_env["KAFKA_SASL_PASSWORD"] == "", "the child reads the file, the password is not copied around"
    assert Settings.from_env(child_env).sasl_password.reveal() == PASSWORD


def test_password_and_password_file_together_are_refused(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("x")
    with pytest.raises(SettingsError, match="not both"):
        Settings.from_env({**SASL_ENV, "KAFKA_SASL_PASSWORD_FILE": str(secret)})


def test_an_unreadable_password_file_is_a_clear_error(tmp_path):
    with pytest.raises(SettingsError, match="KAFKA_SASL_PASSWORD_FILE"):
        Settings.from_env({**SASL_ENV, "KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "no")})


@pytest.mark.parametrize("changes, message", [
    ({"KAFKA_SASL_USERNAME": ""}, "needs KAFKA_SASL_USERNAME"),
    ({"KAFKA_SASL_PASSWORD": ""}, "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL"}, "KAFKA_SECURITY_PROTOCOL"),
    ({"KAFKA_SASL_MECHANISM": "PLAIN"}, "KAFKA_SASL_MECHANISM"),
])
def test_incomplete_or_unknown_security_settings_are_refused(changes, message):
    with pytest.raises(SettingsError, match=message) as raised:
        Settings.from_env({**SASL_ENV, **changes})
    assert PASSWORD not in str(raised.value)


# ------------------------------------------------------------------------------------ clients


def test_sasl_ssl_connection_arguments_verify_the_broker(tmp_path):
    settings = Settings.from_env({**SASL_ENV, "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256"})
    args = connection(settings)
    assert args["security_protocol"] == "SASL_SSL" and args["sasl_mechanism"] == "SCRAM-SHA-256"
    assert args["sasl_plain_username"] == "shop" and args["sasl_plain_password"] == PASSWORD
    context = args["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_faust_gets_the_same_credentials():
    credentials = faust_credentials(Settings.from_env(SASL_ENV))
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert auth["sasl_plain_username"] == "shop" and auth["sasl_plain_password"] == PASSWORD
    assert auth["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_a_missing_ca_file_is_a_settings_error(tmp_path):
    settings = Settings.from_env({**SASL_ENV, "KAFKA_SSL_CAFILE": str(tmp_path / "missing.pem")})
    with pytest.raises(SettingsError, match="KAFKA_SSL_CAFILE"):
        connection(settings)


@pytest.mark.parametrize("error", [kafka_errors.SaslAuthenticationFailedError("bad"),
                                   aiokafka_errors.for_code(58)("bad")])
def test_a_refused_login_is_explained_without_the_password(error):
    settings = Settings.from_env(SASL_ENV)
    wrapped = RuntimeError("bootstrap failed")
    wrapped.__cause__ = error
    explained = auth_failure(wrapped, settings)
    assert isinstance(explained, KafkaAuthError)
    assert "SASL authentication failed for user 'shop'" in str(explained) and PASSWORD not in str(explained)


def test_a_connection_refused_is_not_an_auth_failure():
    assert auth_failure(ConnectionRefusedError(111, "refused"), Settings.from_env(SASL_ENV)) is None


# ------------------------------------------------------------------------------- local broker


def secure_tls(tmp_path) -> secure.BrokerTls:
    """TLS material on disk as ensure_tls leaves it, without running keytool."""
    tls = secure.BrokerTls(tmp_path / "tls")
    tls.directory.mkdir(parents=True)
    for path in (tls.ca_pem, tls.keystore):
        path.write_text("x")
    tls.store_password_path.write_text("store-pw\n")
    tls.new_broker_password()
    return tls


def test_secure_server_properties_have_one_sasl_ssl_listener(tmp_path):
    tls = secure_tls(tmp_path)
    props = parse_properties(render_server_properties(29192, tmp_path / "data", secure.server_properties(tls, 29192)))
    assert props["listeners"] == "SASL_SSL://127.0.0.1:29192,CONTROLLER://127.0.0.1:29193"
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:29192"
    assert props["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert set(props["sasl.enabled.mechanisms"].split(",")) == {"SCRAM-SHA-256", "SCRAM-SHA-512"}
    assert props["ssl.keystore.location"] == str(tls.keystore) and props["ssl.truststore.location"] == str(tls.ca_pem)
    jaas = props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert f'username="{secure.BROKER_USER}"' in jaas and tls.broker_password() in jaas
    assert props["transaction.state.log.min.isr"] == "1", "the plaintext mode's other settings stay"


def test_the_broker_user_is_created_when_the_storage_is_formatted(tmp_path):
    tls = secure_tls(tmp_path)
    assert secure.format_arguments(tls) == [
        "--add-scram", f"SCRAM-SHA-512=[name={secure.BROKER_USER},password={tls.broker_password()}]"]
    assert oct(tls.broker_password_path.stat().st_mode & 0o777) == "0o600"


def test_a_secure_broker_hands_clients_its_ca(tmp_path):
    settings = Settings.from_env(SASL_ENV).replace(home=tmp_path, kafka_port=29192)
    broker = LocalBroker(settings)
    client = broker.client_settings(settings)
    assert client.bootstrap_servers == "127.0.0.1:29192"
    assert client.ssl_cafile == str(tmp_path / "kafka" / "29192" / "tls" / "ca.pem") == str(broker.status().ca_file)
    plain = LocalBroker(Settings.from_env({}).replace(home=tmp_path, kafka_port=29192))
    assert plain.status().ca_file is None and plain.client_settings(plain.settings).ssl_cafile == ""


def test_a_storage_formatted_without_sasl_is_refused_in_secure_mode(tmp_path):
    from pricestream.localkafka import LocalKafkaError

    broker = LocalBroker(Settings.from_env(SASL_ENV).replace(home=tmp_path, kafka_port=29192))
    broker.kafka_data.mkdir(parents=True)
    (broker.kafka_data / "meta.properties").write_text("cluster.id=x\n")
    with pytest.raises(LocalKafkaError, match="formatted without SASL"):
        broker._prepare_secure("java")
