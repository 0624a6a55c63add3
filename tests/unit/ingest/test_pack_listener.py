"""rules.v1 carries cleaning packs and inference policies side by side; each listener applies only its kind, and
nothing on the topic can remove or weaken the base cleaning pack."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from agents.core.dead_letters import StageFailure
from agents.core.packs import EngineRef, check_publishable, pack_listener
from models.cleaning import RuleEngine, RulePack, RulePackError, load_bundled_packs
from models.dialog import PolicyEngine, PolicyPack, load_default_policy

POLICY = {
    "name": "clinic",
    "version": "1.0.0",
    "rules": [
        {"id": "clinic.zorblax", "when": {"keywords": ["zorblax"]}, "action": "answer", "text": "No zorblax here."}
    ],
}


def message(kind: str, name: str, pack: object) -> bytes:
    return json.dumps({"name": name, "kind": kind, "pack": pack}).encode()


def test_policy_pack_is_applied_and_cleaning_packs_are_left_to_their_listener() -> None:
    failures: list[StageFailure] = []
    policies = EngineRef(PolicyEngine([load_default_policy()]))
    listener = pack_listener("policy", policies, failures.append, 100_000)
    listener(b"medical", message("cleaning", "medical", {"name": "medical"}), 0)
    assert failures == [] and "clinic" not in policies.engine.version
    listener(b"policy:clinic", message("policy", "clinic", POLICY), 1)
    decision = policies.engine.decide("any zorblax?", tenant="acme")
    assert (decision.action, decision.text) == ("answer", "No zorblax here.")
    listener(b"policy:clinic", None, 2)  # a Kafka tombstone removes it
    assert policies.engine.decide("any zorblax?", tenant="acme").action == "allow"


def test_bad_policy_is_dead_lettered_and_the_engine_stays() -> None:
    failures: list[StageFailure] = []
    policies = EngineRef(PolicyEngine([load_default_policy()]))
    before = policies.engine.version
    pack_listener("policy", policies, failures.append, 100_000)(
        b"policy:x", message("policy", "x", {"name": "x", "version": "1.0.0", "rules": [{"id": "x.r"}]}), 7
    )
    assert policies.engine.version == before
    (failure,) = failures
    assert (failure.position.topic, failure.position.offset, failure.stage) == ("rules.v1", 7, "rules")
    assert "invalid policy pack" in failure.error_message


def test_cleaning_listener_ignores_policy_messages_and_policy_tombstones() -> None:
    failures: list[StageFailure] = []
    rules = EngineRef(RuleEngine(load_bundled_packs()))
    before = rules.engine.version
    listener = pack_listener("cleaning", rules, failures.append, 100_000)
    listener(b"policy:clinic", message("policy", "clinic", POLICY), 0)
    listener(b"policy:clinic", None, 1)
    assert rules.engine.version == before and failures == []


# --- the base cleaning pack cannot be switched off from the topic ---------------------------------------------


def base_mapping(version: str, *, drop: str | None = None, extra: bool = False) -> dict[str, object]:
    mapping = next(p for p in load_bundled_packs() if p.name == "base").to_mapping()
    mapping["version"] = version
    rules = [rule for rule in mapping["rules"] if rule["id"] != drop]
    if extra:
        rules.append({"id": "base.no_nbsp", "kind": "regex", "pattern": "\u00a0", "replacement": " "})
    mapping["rules"] = rules
    return mapping


def cleaning_listener() -> tuple[EngineRef[RuleEngine], list[StageFailure], Callable[..., None]]:
    failures: list[StageFailure] = []
    rules = EngineRef(RuleEngine(load_bundled_packs()))
    return rules, failures, pack_listener("cleaning", rules, failures.append, 100_000)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "cannot be removed"),
        (message("cleaning", "base", None), "cannot be removed"),
        (message("cleaning", "base", base_mapping("2.0.0", drop="base.strip_control")), "missing or changed"),
        (message("cleaning", "base", {**base_mapping("2.0.0"), "priority": 90}), "priority must stay 10"),
        (message("cleaning", "base", base_mapping("0.9.0")), "lower than the loaded 1.0.0"),
        (message("cleaning", "base", base_mapping("1.0.0", extra=True)), "already loaded with other content"),
    ],
    ids=["tombstone", "pack-null", "drops-a-rule", "moves-after-other-packs", "older", "same-version-changed"],
)
def test_removing_or_weakening_base_is_dead_lettered_and_base_stays(value: bytes | None, reason: str) -> None:
    rules, failures, listener = cleaning_listener()
    before = rules.engine
    listener(b"base", value, 11)
    assert rules.engine is before
    (failure,) = failures
    assert (failure.position.topic, failure.position.offset) == ("rules.v1", 11)
    assert (failure.error_type, failure.stage) == ("RulePackError", "cleaning.rule_pack")
    assert failure.error_message.startswith("rule pack 'base': ") and reason in failure.error_message
    # Invisible characters are still removed, so the recognizers see the mobile number whole.
    assert rules.engine.clean("138\u200b1234\u200b5678").text == "13812345678"


def test_base_can_be_upgraded_by_a_higher_version_that_keeps_its_rules() -> None:
    rules, failures, listener = cleaning_listener()
    listener(b"base", message("cleaning", "base", base_mapping("1.1.0", extra=True)), 3)
    assert failures == []
    assert rules.engine.version == "base@1.1.0+medical@1.0.0"
    assert rules.engine.clean("a\u00a0b\u200bc").text == "a bc"
    listener(b"base", message("cleaning", "base", base_mapping("1.1.0", extra=True)), 4)  # a replay
    assert failures == [] and rules.engine.version == "base@1.1.0+medical@1.0.0"


def test_other_cleaning_packs_can_still_be_removed() -> None:
    rules, failures, listener = cleaning_listener()
    listener(b"medical", None, 5)
    assert failures == [] and rules.engine.version == "base@1.0.0"


def test_publishing_checks_what_workers_would_refuse() -> None:
    check_publishable("cleaning", RulePack.from_mapping(base_mapping("1.2.0", extra=True)))
    with pytest.raises(RulePackError, match=r"missing or changed: \['base.strip_markup'\]"):
        check_publishable("cleaning", RulePack.from_mapping(base_mapping("2.0.0", drop="base.strip_markup")))
    clash = {"name": "mine", "version": "1.0.0", "rules": [{"id": "medical.frequency", "kind": "unicode_nfkc"}]}
    with pytest.raises(RulePackError, match="also used by pack 'medical'"):
        check_publishable("cleaning", RulePack.from_mapping(clash))
    check_publishable("policy", PolicyPack.from_mapping(POLICY))
