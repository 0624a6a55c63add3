"""Generated keys: created once and atomically by `sluice up`, only read by workers and tools, refused off-machine."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from agents.core.keys import MissingKeyError, create_generated_keys, create_key_file
from agents.core.settings import load_settings
from schemas.errors import ConfigurationError


@pytest.fixture(autouse=True)
def _no_keys_or_cluster_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "SLUICE_KAFKA_BOOTSTRAP_SERVERS",
        "SLUICE_PSEUDONYM_KEY",
        "SLUICE_DEAD_LETTER_KEY",
        "SLUICE_AUDIT_HMAC_KEYS",
        "SLUICE_AUDIT_HMAC_KEY_ID",
    ):
        monkeypatch.delenv(variable, raising=False)


def test_workers_and_tools_never_create_a_key(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path)
    for read in (settings.pseudonym_secret, settings.dead_letter_secret, settings.digest_secret):
        with pytest.raises(MissingKeyError, match="sluice up"):
            read()
    with pytest.raises(ConfigurationError, match="sluice up"):  # the audit signing key: the chainer makes it
        settings.audit_signer()
    assert not (tmp_path / "secrets").exists()


def test_a_missing_key_names_the_setting_to_set(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path)
    with pytest.raises(MissingKeyError, match="SLUICE_PSEUDONYM_KEY is not set"):
        settings.pseudonym_secret()
    with pytest.raises(MissingKeyError, match="SLUICE_DEAD_LETTER_KEY is not set"):
        settings.dead_letter_secret()
    # The audit signing key is the chainer's to create at its start; nothing else makes one up.
    with pytest.raises(ConfigurationError, match="SLUICE_AUDIT_SIGNING_KEYS"):
        settings.audit_signer()


def test_configured_keys_need_no_generated_ones(tmp_path: Path) -> None:
    settings = load_settings(
        var_dir=tmp_path,
        pseudonym_key="p" * 32,
        dead_letter_key="ab" * 32,
        api_service_token="s" * 40,
        kafka_bootstrap_servers="kafka-1:9092",
    )
    assert settings.generated_keys() == []
    assert create_generated_keys(settings) == []
    assert settings.pseudonym_secret() == b"p" * 32
    assert not (tmp_path / "secrets").exists()


def test_an_external_cluster_refuses_generated_keys_naming_every_variable(tmp_path: Path) -> None:
    local = load_settings(var_dir=tmp_path)
    create_generated_keys(local)  # even keys generated earlier on this machine are not used
    external = load_settings(var_dir=tmp_path, kafka_bootstrap_servers="kafka-1:9092", pseudonym_key="p" * 32)
    with pytest.raises(ConfigurationError) as refused:
        create_generated_keys(external)
    message = str(refused.value)
    assert "SLUICE_DEAD_LETTER_KEY" in message and "SLUICE_API_SERVICE_TOKEN" in message
    assert "SLUICE_PSEUDONYM_KEY" not in message  # configured, so not asked for
    with pytest.raises(ConfigurationError, match=r"external cluster.*SLUICE_DEAD_LETTER_KEY"):
        external.dead_letter_secret()
    assert external.pseudonym_secret() == b"p" * 32


def test_threads_creating_a_key_at_once_all_get_the_same_one(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "race.key"
    start = threading.Barrier(16)
    keys: list[str] = []

    def create() -> None:
        start.wait()
        keys.append(create_key_file(path))

    threads = [threading.Thread(target=create) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 16 and len(set(keys)) == 1
    assert path.read_text() == keys[0] and len(keys[0]) == 64
    assert [p.name for p in path.parent.iterdir()] == ["race.key"]  # no private temporaries left behind


def _create_in_process(path: str, start: threading.Barrier, out: multiprocessing.Queue[str]) -> None:
    start.wait()
    out.put(create_key_file(Path(path)))


def test_processes_creating_a_key_at_once_all_get_the_same_one(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(6)
    out: multiprocessing.Queue[str] = context.Queue()
    path = tmp_path / "secrets" / "race.key"
    processes = [context.Process(target=_create_in_process, args=(str(path), start, out)) for _ in range(6)]
    for process in processes:
        process.start()
    keys = [out.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert len(set(keys)) == 1 and path.read_text() == keys[0]


def test_an_empty_key_file_is_an_error_not_a_key(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "pseudonym.key").write_text("")
    with pytest.raises(ConfigurationError, match="is empty"):
        load_settings(var_dir=tmp_path).pseudonym_secret()


def test_audit_verify_without_the_key_exits_2_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents.cli import main

    monkeypatch.setenv("SLUICE_VAR_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 2, result.output
    assert "SLUICE_AUDIT_PUBLIC_KEYS" in result.output
    assert not (tmp_path / "secrets").exists()  # and no key was made up to "verify" with


def test_sluice_up_creates_the_keys_before_anything_starts(tmp_path: Path) -> None:
    from agents.processes import runtime

    settings = load_settings(var_dir=tmp_path, embedder_dir=tmp_path / "no-embedder")
    with pytest.raises(ConfigurationError, match="no embedding model"):  # stops right after the keys
        runtime.up(settings, wait=False, log=lambda *_: None)
    assert sorted(p.name for p in (tmp_path / "secrets").iterdir()) == [
        "api-service.token",
        "dlq.key",
        "pseudonym.key",
    ]


def test_sluice_up_against_an_external_cluster_without_keys_stops_before_starting(tmp_path: Path) -> None:
    from agents.processes import runtime

    settings = load_settings(var_dir=tmp_path, kafka_bootstrap_servers="kafka-1:9092")
    every = "SLUICE_PSEUDONYM_KEY, SLUICE_DEAD_LETTER_KEY, SLUICE_API_SERVICE_TOKEN"
    with pytest.raises(ConfigurationError, match=every):
        runtime.up(settings, wait=False, log=lambda *_: None)
    assert not (tmp_path / "secrets").exists() and not (tmp_path / "run").exists()
