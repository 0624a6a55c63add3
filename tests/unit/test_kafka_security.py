"""Kafka security comes from one place: the settings' kafka_security(), rendered for Faust and for librdkafka alike."""

from __future__ import annotations

import json
import re
from pathlib import Path

import faust
import pytest
from faust.types.auth import AuthProtocol

from agents.core.app import broker_credentials
from agents.core.settings import load_settings
from schemas.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


def _password_file(var_dir: Path, principal: str, password: str) -> None:
    directory = var_dir / "secrets" / "kafka"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{principal}.password").write_text(password + "\n")


def test_plain_mode_needs_no_credentials_and_gives_faust_none() -> None:
    settings = load_settings()
    assert settings.kafka_client_config() == {"security.protocol": "PLAINTEXT"}
    assert broker_credentials(settings.kafka_security()) is None


def _local_ca(var_dir: Path) -> Path:
    from agents.processes.tls import ensure_tls

    return ensure_tls(var_dir / "secrets" / "tls").ca_certificate


def test_secure_mode_connects_as_admin_by_default_with_the_generated_password_and_the_local_ca(tmp_path: Path) -> None:
    _password_file(tmp_path, "admin", "s3cret-admin")
    _local_ca(tmp_path)
    settings = load_settings(var_dir=tmp_path, secure=True)
    assert settings.kafka_client_config() == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "admin",
        "sasl.password": "s3cret-admin",
        "ssl.ca.location": str(tmp_path / "secrets" / "tls" / "ca.crt"),
    }


def test_faust_and_librdkafka_get_the_same_principal_password_mechanism_and_tls(tmp_path: Path) -> None:
    _password_file(tmp_path, "worker-index", "pw-index")
    ca = tmp_path / "ca.crt"
    ca.write_bytes(_local_ca(tmp_path / "elsewhere").read_bytes())
    settings = load_settings(var_dir=tmp_path, secure=True, kafka_username="worker-index", kafka_ssl_ca_location=ca)
    librdkafka = settings.kafka_client_config()
    credentials = broker_credentials(settings.kafka_security())
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol == AuthProtocol.SASL_SSL and credentials.ssl_context is not None
    assert (credentials.username, credentials.password) == (librdkafka["sasl.username"], librdkafka["sasl.password"])
    assert credentials.mechanism.value == librdkafka["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert librdkafka["ssl.ca.location"] == str(ca)


def test_an_existing_cluster_takes_its_credentials_from_the_settings_for_every_client() -> None:
    settings = load_settings(
        kafka_bootstrap_servers="kafka-1:9092",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_username="sluice",
        kafka_password="pw",
        kafka_options={"linger.ms": "10"},
    )
    assert settings.kafka_client_config() == {
        "linger.ms": "10",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": "sluice",
        "sasl.password": "pw",
    }
    credentials = broker_credentials(settings.kafka_security())
    assert isinstance(credentials, faust.SASLCredentials) and credentials.protocol == AuthProtocol.SASL_PLAINTEXT


def test_tls_without_sasl_gives_faust_an_ssl_context() -> None:
    credentials = broker_credentials(load_settings(kafka_security_protocol="SSL").kafka_security())
    assert isinstance(credentials, faust.SSLCredentials)


@pytest.mark.parametrize("missing", ["SLUICE_KAFKA_USERNAME", "SLUICE_KAFKA_PASSWORD"])
def test_sasl_without_a_username_or_password_fails_naming_the_setting(missing: str) -> None:
    given = {"kafka_username": "sluice"} if missing == "SLUICE_KAFKA_PASSWORD" else {"kafka_password": "pw"}
    settings = load_settings(kafka_security_protocol="SASL_SSL", **given)
    with pytest.raises(ConfigurationError, match=missing):
        settings.kafka_security()


def test_a_missing_ca_certificate_fails_naming_the_setting(tmp_path: Path) -> None:
    _password_file(tmp_path, "admin", "pw")
    with pytest.raises(ConfigurationError, match=r"SLUICE_KAFKA_SSL_CA_LOCATION.*sluice up --secure"):
        load_settings(var_dir=tmp_path, secure=True).kafka_security()


def test_secure_mode_without_a_password_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"tenant-acme.*sluice tenants add"):
        load_settings(var_dir=tmp_path, secure=True, kafka_username="tenant-acme").kafka_security()


@pytest.mark.parametrize("option", ["security.protocol", "sasl.password", "ssl.ca.location"])
def test_security_options_in_the_raw_librdkafka_options_are_refused(
    monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    # Faust's clients never read SLUICE_KAFKA_OPTIONS: security set there would secure only some clients.
    monkeypatch.setenv("SLUICE_KAFKA_OPTIONS", json.dumps({option: "x"}))
    with pytest.raises(ConfigurationError, match=r"SLUICE_KAFKA_OPTIONS.*SLUICE_KAFKA_SECURITY_PROTOCOL"):
        load_settings()


def test_secure_mode_is_for_the_local_broker_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_SECURE", "true")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092")
    with pytest.raises(ConfigurationError, match="SLUICE_SECURE secures the local broker") as failure:
        load_settings()
    assert "SLUICE_:" not in str(failure.value)  # a combination of settings has no single name to print


def test_secure_mode_refuses_a_protocol_the_local_broker_does_not_serve() -> None:
    with pytest.raises(ConfigurationError, match="SASL_SSL with SCRAM-SHA-512 only"):
        load_settings(secure=True, kafka_security_protocol="PLAINTEXT")


def test_a_principal_name_cannot_leave_the_credentials_directory() -> None:
    with pytest.raises(ConfigurationError, match="SLUICE_KAFKA_USERNAME"):
        load_settings(kafka_username="../admin")


def test_the_password_is_never_shown(tmp_path: Path) -> None:
    _password_file(tmp_path, "admin", "s3cret-admin")
    _local_ca(tmp_path)
    settings = load_settings(var_dir=tmp_path, secure=True, kafka_password="s3cret-given")
    assert "s3cret" not in json.dumps(settings.redacted(), default=str)
    assert "s3cret" not in repr(settings.kafka_security())
    assert "s3cret" not in repr(broker_credentials(settings.kafka_security()))


def test_every_kafka_client_takes_its_options_from_kafka_client_config() -> None:
    # The raw options alone would miss the security settings; only settings.py may read them.
    readers = [
        path.relative_to(ROOT)
        for package in ("agents", "topics")
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"\.kafka_options\b", path.read_text(encoding="utf-8"))
        and path != ROOT / "agents" / "core" / "settings.py"
    ]
    assert readers == []
