"""`sluice rules show`: rules.v1 folded over the bundled packs as workers fold it, and shown without a broker."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka import KafkaError, KafkaException

from agents.cli import main
from agents.cli.rules import RulesInForce, fold_rules, render_rules
from agents.core.messages import SourcePosition
from models.cleaning import RulePack, load_bundled_packs
from models.dialog import PolicyPack, load_default_policy
from schemas.records import pack_key

PARSERS = {"cleaning": RulePack.from_mapping, "policy": PolicyPack.from_mapping}


def cleaning_pack(name: str, version: str = "2.0.0", priority: int = 100) -> dict[str, Any]:
    rule = {"id": f"{name}.r", "kind": "regex", "pattern": "ZORBLAX", "replacement": "x"}
    return {"name": name, "version": version, "priority": priority, "rules": [rule]}


def policy_pack(name: str, version: str = "1.0.0") -> dict[str, Any]:
    rule = {"id": f"{name}.r", "when": {"keywords": ["zorblax"]}, "action": "answer", "text": "No."}
    return {"name": name, "version": version, "rules": [rule]}


def message(offset: int, kind: str, name: str, pack: dict[str, Any] | None) -> SourcePosition:
    value = json.dumps({"name": name, "kind": kind, "pack": pack}).encode()
    return SourcePosition("rules.v1", 0, offset, pack_key(kind, name).encode(), value)


def tombstone(offset: int, key: bytes | None) -> SourcePosition:
    return SourcePosition("rules.v1", 0, offset, key, None)


def fold(*records: SourcePosition) -> RulesInForce:
    bundled = {"cleaning": load_bundled_packs(), "policy": [load_default_policy()]}
    return fold_rules(records, bundled=bundled, parsers=PARSERS, max_bytes=100_000)


def in_force(rules: RulesInForce) -> list[tuple[str, str, str, int | None]]:
    return [(e.kind, e.pack.name, e.pack.version, e.offset) for e in rules.packs]


def test_an_empty_topic_leaves_the_bundled_packs_in_force() -> None:
    rules = fold()
    assert in_force(rules) == [
        ("cleaning", "base", "1.0.0", None),
        ("cleaning", "medical", "1.0.0", None),
        ("policy", "default", "1.0.0", None),
    ]
    assert rules.removed == () and rules.rejected == ()
    assert rules.to_json()["live"] == [] and len(rules.to_json()["bundled_in_force"]) == 3


def test_a_pack_on_the_topic_replaces_the_bundled_one_of_its_name_and_the_latest_value_wins() -> None:
    rules = fold(
        message(0, "cleaning", "medical", cleaning_pack("medical", "2.0.0", priority=50)),
        message(1, "cleaning", "acme", cleaning_pack("acme", "1.0.0")),
        message(2, "cleaning", "medical", cleaning_pack("medical", "3.0.0", priority=50)),
    )
    assert in_force(rules) == [
        ("cleaning", "base", "1.0.0", None),
        ("cleaning", "medical", "3.0.0", 2),
        ("cleaning", "acme", "1.0.0", 1),
        ("policy", "default", "1.0.0", None),
    ]
    assert [(p["name"], p["offset"]) for p in rules.to_json()["live"]] == [("medical", 2), ("acme", 1)]


def test_a_tombstone_or_a_null_pack_removes_a_pack_bundled_ones_included() -> None:
    rules = fold(
        message(0, "cleaning", "acme", cleaning_pack("acme")),
        tombstone(1, b"acme"),
        message(2, "cleaning", "medical", None),
    )
    assert [(e.kind, e.pack.name) for e in rules.packs] == [("cleaning", "base"), ("policy", "default")]
    assert [(r.kind, r.name, r.offset) for r in rules.removed] == [("cleaning", "acme", 1), ("cleaning", "medical", 2)]


def test_a_pack_published_after_its_removal_is_live_again() -> None:
    rules = fold(tombstone(0, b"medical"), message(1, "cleaning", "medical", cleaning_pack("medical", priority=50)))
    assert ("cleaning", "medical", "2.0.0", 1) in in_force(rules) and rules.removed == ()


def test_kinds_do_not_share_names_and_a_policy_tombstone_removes_only_the_policy() -> None:
    rules = fold(
        message(0, "cleaning", "clinic", cleaning_pack("clinic")),
        message(1, "policy", "clinic", policy_pack("clinic")),
        tombstone(2, b"policy:clinic"),
    )
    assert ("cleaning", "clinic", "2.0.0", 0) in in_force(rules)
    assert all(e.pack.name != "clinic" for e in rules.packs if e.kind == "policy")
    assert [(r.kind, r.name) for r in rules.removed] == [("policy", "clinic")]


def test_a_message_workers_reject_changes_nothing_and_is_reported() -> None:
    good = message(0, "cleaning", "acme", cleaning_pack("acme", "1.0.0"))
    bad_pack = message(1, "cleaning", "acme", {"name": "acme", "version": "9", "rules": [{"id": "r", "kind": "??"}]})
    renamed = message(2, "cleaning", "acme", cleaning_pack("other"))
    not_json = SourcePosition("rules.v1", 0, 3, b"acme", b"{not json")
    keyless = tombstone(4, None)
    unknown_kind = SourcePosition(
        "rules.v1", 0, 5, b"x", json.dumps({"name": "x", "kind": "magic", "pack": {}}).encode()
    )
    rules = fold(good, bad_pack, renamed, not_json, keyless, unknown_kind)
    assert ("cleaning", "acme", "1.0.0", 0) in in_force(rules)
    assert [r.offset for r in rules.rejected] == [1, 2, 3, 4, 5]
    assert "invalid cleaning pack" in rules.rejected[0].error
    assert "differs from pack name" in rules.rejected[1].error


def test_a_tombstone_on_a_key_no_pack_kind_uses_is_ignored() -> None:
    assert fold(tombstone(0, b"other:thing"), tombstone(1, b"cleaning:base")) == fold()


def test_the_text_says_where_each_pack_came_from() -> None:
    rules = fold(message(7, "cleaning", "acme", cleaning_pack("acme")), tombstone(8, b"policy:gone"))
    text = "\n".join(render_rules(rules, "rules.v1", {"cleaning": "base@1.0.0+acme@2.0.0"}))
    assert "acme                 2.0.0        rules.v1 offset 7" in text
    assert "base                 1.0.0        bundled (nothing on rules.v1 replaced it)" in text
    assert "removed   policy gone at rules.v1 offset 8" in text
    assert "in force  cleaning  base@1.0.0+acme@2.0.0" in text


@pytest.fixture()
def topic(monkeypatch: pytest.MonkeyPatch) -> list[SourcePosition]:
    """What `rules show` reads from rules.v1, without a broker."""
    records: list[SourcePosition] = []
    monkeypatch.setattr("agents.processes.broker.resolve_bootstrap_servers", lambda _settings: "127.0.0.1:9")
    monkeypatch.setattr("agents.core.kafka_io.read_topic", lambda *_args, **_kwargs: iter(records))
    return records


def test_rules_show_json_names_live_and_bundled_packs_and_the_versions_records_carry(
    topic: list[SourcePosition],
) -> None:
    topic.append(message(3, "cleaning", "acme", cleaning_pack("acme")))
    result = CliRunner().invoke(main, ["rules", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["topic"] == "rules.v1"
    assert shown["live"] == [{"kind": "cleaning", "name": "acme", "version": "2.0.0", "partition": 0, "offset": 3}]
    assert [(p["kind"], p["name"]) for p in shown["bundled_in_force"]] == [
        ("cleaning", "base"),
        ("cleaning", "medical"),
        ("policy", "default"),
    ]
    assert shown["versions"] == {"cleaning": "base@1.0.0+medical@1.0.0+acme@2.0.0", "policy": "default@1.0.0"}


def test_rules_show_says_in_one_line_that_the_broker_cannot_be_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "Failed to get metadata: Local: Broker transport failure"

    def unreachable(*_args: Any, **_kwargs: Any) -> Any:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, reason))

    monkeypatch.setattr("agents.processes.broker.resolve_bootstrap_servers", lambda _settings: "127.0.0.1:9")
    monkeypatch.setattr("agents.core.kafka_io.read_topic", unreachable)
    result = CliRunner().invoke(main, ["rules", "show"])
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot read rules.v1 from 127.0.0.1:9: {reason}\n"


def test_rules_show_without_any_broker_says_how_to_start_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("SLUICE_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("SLUICE_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    result = CliRunner().invoke(main, ["rules", "show"])
    assert result.exit_code == 1 and "run `sluice broker up`" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
