"""The API token store: tokens shown once, digests at rest in a private file, revocation seen without a restart."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest

from agents.api.tokens import TOKEN_PATTERN, TokenStore, TokenStoreError, token_digest


@pytest.fixture()
def path(tmp_path: Path) -> Path:
    return tmp_path / "secrets" / "api-tokens.json"


def test_a_created_token_is_returned_once_and_only_its_sha256_is_stored(path: Path) -> None:
    issued = TokenStore(path).create("tenant", tenant="acme", name="front end")
    assert TOKEN_PATTERN.fullmatch(issued.token)
    stored = path.read_text()
    assert issued.token not in stored and issued.token.rsplit("_", 1)[-1] not in stored
    [entry] = json.loads(stored)["tokens"]
    assert entry["sha256"] == hashlib.sha256(issued.token.encode()).hexdigest() == token_digest(issued.token)
    assert entry == {**issued.entry.to_json(), "revoked_at": None}
    assert (entry["id"], entry["kind"], entry["tenant"], entry["name"]) == (
        issued.entry.token_id,
        "tenant",
        "acme",
        "front end",
    )


def test_the_store_file_and_its_folder_are_private_and_no_temporary_file_is_left(path: Path) -> None:
    store = TokenStore(path)
    store.create("tenant", tenant="acme")
    store.create("admin")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in path.parent.iterdir()) == [".api-tokens.json.lock", "api-tokens.json"]


def test_a_valid_token_checks_out_with_its_entry(path: Path) -> None:
    store = TokenStore(path)
    issued = store.create("tenant", tenant="acme")
    checked = store.check(issued.token)
    assert checked.entry == issued.entry and checked.reason is None


def test_a_wrong_secret_under_a_real_id_is_unknown_and_names_that_id(path: Path) -> None:
    store = TokenStore(path)
    issued = store.create("tenant", tenant="acme")
    forged = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    checked = store.check(forged)
    assert checked.entry is None and checked.reason == "unknown_token" and checked.token_id == issued.entry.token_id


@pytest.mark.parametrize(
    "token",
    ["", "not-a-token", "sluice_000000000000_" + "A" * 43, "Bearer sluice_x", "sluice_" + "a" * 12 + "_short"],
)
def test_unknown_and_malformed_tokens_are_unknown_and_name_no_id(path: Path, token: str) -> None:
    store = TokenStore(path)
    store.create("tenant", tenant="acme")
    checked = store.check(token)
    assert checked.entry is None and checked.reason == "unknown_token" and checked.token_id is None


def test_digests_are_compared_in_constant_time(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = TokenStore(path)
    issued = store.create("tenant", tenant="acme")
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("agents.api.tokens.hmac.compare_digest", spy)
    assert store.check(issued.token).entry is not None
    assert compared == [(issued.entry.sha256.encode(), issued.entry.sha256.encode())]


def test_a_revocation_by_another_store_on_the_same_file_holds_from_the_next_check(path: Path) -> None:
    worker = TokenStore(path)  # the index worker's copy, which caches the file
    issued = TokenStore(path).create("tenant", tenant="acme")
    assert worker.check(issued.token).entry is not None
    revoked = TokenStore(path).revoke(issued.entry.token_id)  # `sluice tokens revoke`, another process
    assert revoked.revoked_at is not None
    checked = worker.check(issued.token)
    assert checked.entry is None and checked.reason == "revoked_token" and checked.token_id == issued.entry.token_id


def test_revoking_twice_keeps_the_first_time_and_other_tokens_stay_valid(path: Path) -> None:
    store = TokenStore(path)
    doomed, kept = store.create("tenant", tenant="acme"), store.create("tenant", tenant="acme")
    first = store.revoke(doomed.entry.token_id)
    assert store.revoke(doomed.entry.token_id).revoked_at == first.revoked_at
    assert store.check(kept.token).entry is not None


def test_revoking_an_unknown_id_is_an_error_naming_the_list_command(path: Path) -> None:
    with pytest.raises(TokenStoreError, match="sluice tokens list"):
        TokenStore(path).revoke("0123456789ab")


def test_no_store_file_means_no_tokens(path: Path) -> None:
    assert TokenStore(path).entries() == {}
    assert TokenStore(path).check("sluice_0123456789ab_" + "A" * 43).reason == "unknown_token"


@pytest.mark.parametrize(
    ("kind", "tenant", "name", "complaint"),
    [
        ("tenant", None, "", "need --tenant"),
        ("service", "acme", "", "only they take one"),
        ("admin", "acme", "", "only they take one"),
        ("reviewer", None, "", "need --tenant"),
        ("tenant", 'acme" or tenant != "', "", "tenant:"),
        ("tenant", "acme", "new\nline", "name:"),
        ("root", None, "", "kind must be"),
    ],
)
def test_bad_create_requests_are_refused_and_write_nothing(
    path: Path, kind: str, tenant: str | None, name: str, complaint: str
) -> None:
    with pytest.raises(TokenStoreError, match=complaint):
        TokenStore(path).create(kind, tenant=tenant, name=name)  # type: ignore[arg-type]
    assert not path.exists()


def test_a_store_others_may_write_is_refused_not_trusted(path: Path) -> None:
    store = TokenStore(path)
    issued = store.create("tenant", tenant="acme")
    os.chmod(path, 0o622)
    with pytest.raises(TokenStoreError, match="chmod 600"):
        TokenStore(path).check(issued.token)
    with pytest.raises(TokenStoreError, match="chmod 600"):
        store.create("admin")


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"version": 99, "tokens": []}',
        '{"version": 1, "tokens": [{"id": "0123456789ab", "kind": "tenant", "tenant": null, "sha256": "'
        + "0" * 64
        + '"}]}',
        '{"version": 1, "tokens": [{"id": "x", "kind": "admin", "tenant": null, "sha256": "' + "0" * 64 + '"}]}',
    ],
)
def test_an_unreadable_store_is_an_error_not_an_empty_one(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(TokenStoreError, match="cannot be read"):
        TokenStore(path).check("sluice_0123456789ab_" + "A" * 43)
