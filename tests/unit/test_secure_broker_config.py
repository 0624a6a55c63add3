"""The secured local broker's configuration, and clients that follow the mode the running broker is in."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.core.settings import load_settings
from agents.processes.broker import BrokerState, LocalBroker, check_mode, with_local_broker_mode
from schemas.errors import ConfigurationError


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_secure_listeners_authenticate_everything_and_allow_only_acls(tmp_path: Path) -> None:
    broker = LocalBroker(load_settings(var_dir=tmp_path, secure=True))
    config = properties(broker._listeners(9092, 9093))
    assert config["listeners"] == "SASL_SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert config["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT"
    assert config["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert config["authorizer.class.name"].endswith("StandardAuthorizer")
    assert config["allow.everyone.if.no.acl.found"] == "false"
    assert config["super.users"] == "User:admin;User:controller"  # not User:ANONYMOUS
    assert Path(config["ssl.keystore.location"]).parent == tmp_path / "secrets" / "tls"
    admin = (tmp_path / "secrets" / "kafka" / "admin.password").read_text()
    assert f'password="{admin}"' in config["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert "PLAINTEXT://" not in broker._listeners(9092, 9093).replace("SASL_PLAINTEXT", "")


def test_plain_listeners_are_unchanged_and_need_no_secrets(tmp_path: Path) -> None:
    config = properties(LocalBroker(load_settings(var_dir=tmp_path))._listeners(9092, 9093))
    assert config["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert "authorizer.class.name" not in config
    assert not (tmp_path / "secrets").exists()


def test_each_mode_keeps_its_own_cluster_data(tmp_path: Path) -> None:
    assert LocalBroker(load_settings(var_dir=tmp_path)).data.name == "data"
    assert LocalBroker(load_settings(var_dir=tmp_path, secure=True)).data.name == "data-secure"


def test_a_lost_admin_password_is_not_replaced_under_an_existing_secured_cluster(tmp_path: Path) -> None:
    broker = LocalBroker(load_settings(var_dir=tmp_path, secure=True))
    broker.data.mkdir(parents=True)
    (broker.data / "meta.properties").write_text("cluster.id=x\n")
    with pytest.raises(ConfigurationError, match=r"admin\.password is missing"):
        broker._listeners(9092, 9093)
    assert not (tmp_path / "secrets" / "kafka" / "admin.password").exists()


def test_a_client_asking_for_the_other_mode_is_told_to_switch_with_sluice_down(tmp_path: Path) -> None:
    running = BrokerState(pid=1, port=9092, controller_port=9093, secure=True)
    with pytest.raises(ConfigurationError, match=r"runs in secure mode.*sluice down"):
        check_mode(running, load_settings(var_dir=tmp_path))
    check_mode(running, load_settings(var_dir=tmp_path, secure=True))


def test_commands_follow_a_running_secured_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    running: list[BrokerState | None] = [BrokerState(pid=1, port=9092, controller_port=9093, secure=True)]
    monkeypatch.setattr(LocalBroker, "state", lambda _self: running[0])
    assert with_local_broker_mode(load_settings(var_dir=tmp_path)).secure is True
    running[0] = BrokerState(pid=1, port=9092, controller_port=9093, secure=False)
    assert with_local_broker_mode(load_settings(var_dir=tmp_path)).secure is False
    running[0] = None  # no broker running: nothing to follow
    assert with_local_broker_mode(load_settings(var_dir=tmp_path)).secure is False
    # A configured cluster is never replaced by the local broker's mode.
    running[0] = BrokerState(pid=1, port=9092, controller_port=9093, secure=True)
    assert with_local_broker_mode(load_settings(kafka_bootstrap_servers="kafka-1:9092")).secure is False
