"""Policy packs: each action, first match wins, conditions combine, bad packs name pack and rule."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import yaml

from models.dialog import Decision, PolicyEngine, PolicyError, PolicyPack, load_default_policy
from schemas.errors import PoisonRecordError


def pack(*rules: dict[str, Any], name: str = "clinic", version: str = "2.1.0", **fields: Any) -> PolicyPack:
    return PolicyPack.from_mapping({"name": name, "version": version, "rules": list(rules), **fields})


REJECT_ID = {"id": "c.no_id", "when": {"pattern": r"身份证|\bID number\b"}, "action": "reject", "reason": "no ids"}
REVIEW_LEGAL = {"id": "c.legal", "when": {"keywords": ["lawsuit"]}, "action": "review", "reason": "legal"}
ANSWER_HOURS = {"id": "c.hours", "when": {"keywords": ["Office Hours"]}, "action": "answer", "text": "9 to 5"}
ALLOW_VIP = {"id": "c.vip", "when": {"tenants": ["vip"]}, "action": "allow"}


@pytest.fixture(scope="module")
def default_engine() -> PolicyEngine:
    return PolicyEngine([load_default_policy()])


@pytest.mark.parametrize(
    ("prompt", "action", "rule_id"),
    [
        ("What are your office hours?", "answer", "default.office_hours"),
        ("请问你们的营业时间？", "answer", "default.office_hours"),
        ("Please reveal the ID number of customer PERSON_1", "reject", "default.no_reidentification"),
        ("帮我查询张三的身份证号码", "reject", "default.no_reidentification"),
        ("Can you de-anonymise this record?", "reject", "default.no_reidentification"),
        ("We are considering a lawsuit against you", "review", "default.legal_review"),
        ("我要投诉升级", "review", "default.legal_review"),
        ("Where is my order?", "allow", None),
        ("I have an issue with my invoice", "allow", None),
    ],
)
def test_default_pack_decisions(default_engine: PolicyEngine, prompt: str, action: str, rule_id: str | None) -> None:
    decision = default_engine.decide(prompt, tenant="acme", entity_types=())
    assert (decision.action, decision.rule_id) == (action, rule_id)


def test_each_action_carries_its_text_or_reason() -> None:
    engine = PolicyEngine([pack(REJECT_ID, REVIEW_LEGAL, ANSWER_HOURS, ALLOW_VIP)])
    assert engine.decide("my ID number is", tenant="t") == Decision("reject", "c.no_id", None, "no ids")
    assert engine.decide("a LAWSUIT!", tenant="t") == Decision("review", "c.legal", None, "legal", risk=0.5)
    assert engine.decide("office hours?", tenant="t") == Decision("answer", "c.hours", "9 to 5", None)
    assert engine.decide("hello", tenant="vip") == Decision("allow", "c.vip", None, None)
    assert engine.decide("hello", tenant="t") == Decision("allow", None, None, None)


def test_first_matching_rule_wins_in_written_order() -> None:
    prompt = "office hours and a lawsuit"
    assert PolicyEngine([pack(REVIEW_LEGAL, ANSWER_HOURS)]).decide(prompt, tenant="t").rule_id == "c.legal"
    assert PolicyEngine([pack(ANSWER_HOURS, REVIEW_LEGAL)]).decide(prompt, tenant="t").rule_id == "c.hours"


def test_an_allow_rule_exempts_a_tenant_from_later_rules() -> None:
    engine = PolicyEngine([pack(ALLOW_VIP, REVIEW_LEGAL)])
    assert engine.decide("lawsuit", tenant="vip").rule_id == "c.vip"
    assert engine.decide("lawsuit", tenant="other").rule_id == "c.legal"


def test_packs_are_checked_by_priority_then_name() -> None:
    early = pack(ANSWER_HOURS, name="early", priority=5)
    late = pack(REVIEW_LEGAL, name="late", priority=50)
    engine = PolicyEngine([late, early])
    assert engine.version == "early@2.1.0+late@2.1.0"
    assert engine.decide("lawsuit about office hours", tenant="t").rule_id == "c.hours"


def test_conditions_must_all_hold() -> None:
    rule = {
        "id": "c.ids_for_bank",
        "when": {"tenants": ["bank"], "entity_types": ["CN_RESIDENT_ID", "BANK_CARD"], "keywords": ["export"]},
        "action": "review",
        "reason": "identifiers in an export request",
    }
    engine = PolicyEngine([pack(rule)])
    assert engine.decide("please export", tenant="bank", entity_types={"BANK_CARD"}).action == "review"
    assert engine.decide("please export", tenant="shop", entity_types={"BANK_CARD"}).action == "allow"
    assert engine.decide("please export", tenant="bank", entity_types={"EMAIL_ADDRESS"}).action == "allow"
    assert engine.decide("please export", tenant="bank", entity_types=()).action == "allow"
    assert engine.decide("please print", tenant="bank", entity_types=["CN_RESIDENT_ID"]).action == "allow"


def test_keywords_ignore_case_and_full_width_forms() -> None:
    engine = PolicyEngine([pack(ANSWER_HOURS)])
    assert engine.decide("ＯＦＦＩＣＥ hours please", tenant="t").action == "answer"


def test_no_packs_allows_everything() -> None:
    engine = PolicyEngine([])
    assert engine.version == ""
    assert engine.decide("anything", tenant="t") == Decision("allow")


def test_hot_reload_returns_new_engines_and_leaves_the_original_unchanged() -> None:
    original = PolicyEngine([pack(REVIEW_LEGAL, version="1.0.0")])
    updated = original.with_pack(pack(ANSWER_HOURS, version="1.1.0"))
    assert updated.decide("lawsuit", tenant="t").action == "allow"
    assert updated.decide("office hours", tenant="t").action == "answer"
    assert (original.version, updated.version) == ("clinic@1.0.0", "clinic@1.1.0")
    assert original.decide("lawsuit", tenant="t").action == "review"
    removed = updated.without_pack("clinic")
    assert removed.version == "" and updated.version == "clinic@1.1.0"
    assert removed.without_pack("never-loaded") is removed


def test_round_trip_through_mapping_and_yaml() -> None:
    default = load_default_policy()
    assert PolicyPack.from_mapping(default.to_mapping()) == default
    assert PolicyPack.from_yaml(yaml.safe_dump(default.to_mapping(), allow_unicode=True)) == default


def rule(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": "c.bad", "when": {"keywords": ["x"]}, "action": "reject", "reason": "r"}
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


@pytest.mark.parametrize(
    ("bad_rule", "rule_label", "reason"),
    [
        (rule(when={"pattern": "(unclosed"}), "c.bad", "bad regex"),
        (rule(when={"pattern": "a*"}), "c.bad", "matches the empty string"),
        (rule(when={"pattern": "x|"}), "c.bad", "matches the empty string"),
        (rule(when={"pattern": "a" * 3000}), "c.bad", "limit is 2000"),
        (rule(when={"pattern": "a", "flags": ["MAGIC"]}), "c.bad", "unknown regex flag"),
        (rule(when={"flags": ["IGNORECASE"], "keywords": ["x"]}), "c.bad", "flags without a pattern"),
        (rule(when={}), "c.bad", "when needs at least one of"),
        (rule(when={"keywrods": ["x"]}), "c.bad", "unknown condition 'keywrods' (did you mean 'keywords'?)"),
        (rule(when={"keywords": "office hours"}), "c.bad", "keywords must be a list of strings"),
        (rule(when={"tenants": []}), "c.bad", "tenants must not be empty"),
        (rule(when={"entity_types": ["PERSON", ""]}), "c.bad", "entity_types[1] must be a non-empty string"),
        (rule(action="block"), "c.bad", "unknown action 'block'"),
        (rule(reason=None), "c.bad", "action 'reject' needs a non-empty string 'reason'"),
        (rule(action="answer"), "c.bad", "action 'answer' needs a non-empty string 'text'"),
        (rule(action="allow"), "c.bad", "action 'allow' takes no 'reason'"),
        (rule(text="also"), "c.bad", "action 'reject' takes no 'text'"),
        (rule(when=None), "c.bad", "missing required field(s) ['when']"),
        (rule(then="x"), "c.bad", "unknown field 'then'"),
        (rule(id="has space"), "rules[0]", "id must be"),
        ("not a mapping", "rules[0]", "must be a mapping"),
    ],
)
def test_bad_rule_is_a_policy_error_naming_pack_and_rule(bad_rule: Any, rule_label: str, reason: str) -> None:
    with pytest.raises(PolicyError) as caught:
        pack(bad_rule)
    error = caught.value
    assert (error.pack, error.rule) == ("clinic", rule_label)
    assert reason in error.reason
    assert str(error).startswith(f"policy pack 'clinic': rule {rule_label!r}: ")
    assert isinstance(error, PoisonRecordError)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"name": "clinic", "version": "2", "rules": []}, "version must be"),
        ({"name": "clinic", "version": "1.0.0", "rules": [], "priority": True}, "priority must be an integer"),
        ({"name": "clinic", "version": "1.0.0"}, "missing required field(s) ['rules']"),
        ({"name": "clinic", "version": "1.0.0", "rules": {}}, "rules must be a list"),
        (
            {"name": "clinic", "version": "1.0.0", "rules": [], "rulez": []},
            "unknown field 'rulez' (did you mean 'rules'?)",
        ),
        ({"name": "clinic", "version": "1.0.0", "rules": [rule(), rule()]}, "duplicate rule id"),
    ],
)
def test_bad_pack_is_a_policy_error_naming_the_pack(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(PolicyError) as caught:
        PolicyPack.from_mapping(data)
    assert caught.value.pack == "clinic"
    assert reason in str(caught.value)


def test_engine_rejects_clashing_packs_and_rule_ids() -> None:
    with pytest.raises(PolicyError, match="loaded twice"):
        PolicyEngine([pack(REVIEW_LEGAL), pack(ANSWER_HOURS)])
    with pytest.raises(PolicyError, match="rule id also used by pack 'a'") as caught:
        PolicyEngine([pack(REVIEW_LEGAL, name="a"), pack(REVIEW_LEGAL, name="b")])
    assert (caught.value.pack, caught.value.rule) == ("b", "c.legal")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"name": "clinic\n"}, "name must be"),
        ({"version": "1.0.0\n"}, "version must be"),
        ({"rules": [rule(id="c.bad\n")]}, "id must be"),
    ],
)
def test_a_trailing_newline_makes_a_name_version_or_rule_id_invalid(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(PolicyError, match=reason):
        PolicyPack.from_mapping({"name": "clinic", "version": "1.0.0", "rules": [], **fields})


def test_bad_yaml_and_pickling() -> None:
    with pytest.raises(PolicyError, match="invalid YAML"):
        PolicyPack.from_yaml("rules: [unclosed")
    error = PolicyError("bad", pack="p", rule="r")
    restored = pickle.loads(pickle.dumps(error))
    assert (restored.reason, restored.pack, restored.rule, str(restored)) == ("bad", "p", "r", str(error))


def test_a_review_rule_carries_its_risk_draft_choice_and_deadline() -> None:
    pack = PolicyPack.from_mapping(
        {
            "name": "r",
            "version": "1.0.0",
            "rules": [
                {
                    "id": "r.medical",
                    "when": {"keywords": ["dosage"]},
                    "action": "review",
                    "reason": "medical advice",
                    "risk": 0.9,
                    "draft": False,
                    "deadline_s": 600,
                }
            ],
        }
    )
    decision = PolicyEngine([pack]).decide("what dosage?", tenant="t")
    assert (decision.risk, decision.draft, decision.deadline_s) == (0.9, False, 600)
    assert pack.rules[0].to_mapping()["risk"] == 0.9


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"risk": 1.5}, "risk must be a number from 0 to 1"),
        ({"risk": True}, "risk must be a number from 0 to 1"),
        ({"draft": "no"}, "draft must be true or false"),
        ({"deadline_s": 0}, "deadline_s must be a whole number"),
    ],
)
def test_bad_review_fields_are_refused_with_the_rule_named(extra: dict[str, object], message: str) -> None:
    rule = {"id": "r.x", "when": {"keywords": ["x"]}, "action": "review", "reason": "x", **extra}
    with pytest.raises(PolicyError, match=message):
        PolicyPack.from_mapping({"name": "r", "version": "1.0.0", "rules": [rule]})


def test_only_review_rules_take_review_fields() -> None:
    rule = {"id": "r.x", "when": {"keywords": ["x"]}, "action": "reject", "reason": "x", "risk": 0.2}
    with pytest.raises(PolicyError, match="risk"):
        PolicyPack.from_mapping({"name": "r", "version": "1.0.0", "rules": [rule]})
