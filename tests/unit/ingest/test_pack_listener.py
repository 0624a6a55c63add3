"""rules.v1 carries cleaning packs and inference policies side by side; each listener applies only its kind."""

from __future__ import annotations

import json

from agents.core.dead_letters import StageFailure
from agents.core.packs import EngineRef, pack_listener
from models.cleaning import RuleEngine, load_bundled_packs
from models.dialog import PolicyEngine, load_default_policy

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
