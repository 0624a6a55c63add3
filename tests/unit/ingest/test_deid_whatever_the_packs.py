"""De-identification does not depend on the cleaning packs: with the base pack tombstoned, with no pack at all,
or with a pack that respells identifiers, the identifiers are still found and replaced."""

from __future__ import annotations

import json

import pytest

from agents.core.messages import SourcePosition
from agents.ingest.deidentify import DeidentifyStage, RuleEngineRef
from models.cleaning import RuleEngine, RulePack, load_bundled_packs
from models.deid.engine import PresidioDeidentifier
from models.deid.fields import DeclaredFieldAnonymizer
from models.deid.pseudonyms import pseudonym

KEY = b"unit-test-pseudonym-key-32-bytes"
PHONE = "13812345678"


def _pack(name: str, *rules: dict[str, str]) -> RulePack:
    return RulePack.from_mapping(
        {"name": name, "version": "1.0.0", "description": f"{name}, built by a test", "rules": list(rules)}
    )


# A pack that writes every mobile number as 138.1234.5678: once a recognizer's spelling, it must still be found.
DOTTED_PHONES = _pack(
    "dotted-phones",
    {
        "id": "dotted.phones",
        "kind": "regex",
        "pattern": r"(1[3-9][0-9])([0-9]{4})([0-9]{4})",
        "replacement": r"\1.\2.\3",
    },
)
# A pack that slips a zero-width non-joiner between the groups (the base pack keeps ZWNJ, so stacking is no help).
HIDDEN_PHONES = _pack(
    "hidden-phones",
    {
        "id": "hidden.phones",
        "kind": "regex",
        "pattern": r"(1[3-9][0-9])([0-9]{4})([0-9]{4})",
        "replacement": "\\1\u200c\\2\u200c\\3",
    },
)
WITHOUT_BASE = [pack for pack in load_bundled_packs() if pack.name != "base"]


def _message(offset: int, notes: str) -> SourcePosition:
    value = json.dumps(
        {
            "event_id": f"e-{offset}",
            "tenant": "acme",
            "occurred_at": "2026-11-01T00:00:00Z",
            "payload": {"customer_id": "C-1", "channel": "phone", "notes": notes},
        },
        ensure_ascii=False,
    ).encode()
    return SourcePosition("crm.events.v1", 0, offset, b"k", value)


@pytest.fixture(scope="module")
def deidentifier() -> PresidioDeidentifier:
    return PresidioDeidentifier(pseudonym_key=KEY, operators={}, ner_enabled=False)


@pytest.mark.parametrize(
    "packs",
    [[], WITHOUT_BASE, [DOTTED_PHONES], [*load_bundled_packs(), DOTTED_PHONES], [*load_bundled_packs(), HIDDEN_PHONES]],
    ids=["no-packs", "base-tombstoned", "dotted-phones-only", "bundled-then-dotted-phones", "bundled-then-zwnj"],
)
@pytest.mark.parametrize(
    "notes",
    [
        f"客户来电，手机{PHONE}",
        # Full-width digits and ZWSP: what the base pack folds and strips before de-identification.
        "客户来电，手机１３８\u200b１２３４\u200b５６７８",
        "客户来电，Tel138\u00ad1234\u00ad5678",
        "客户来电，手机١٣٨١٢٣٤٥٦٧٨",
    ],
    ids=["plain", "fullwidth-zwsp", "glued-soft-hyphen", "arabic-indic"],
)
def test_the_phone_is_replaced_whatever_packs_are_loaded(
    deidentifier: PresidioDeidentifier, packs: list[RulePack], notes: str
) -> None:
    stage = DeidentifyStage(
        rules=RuleEngineRef(RuleEngine(packs)),
        deidentifier=deidentifier,
        fields=DeclaredFieldAnonymizer(pseudonym_key=KEY, operators={}),
        max_message_bytes=10_000,
    )
    (result,) = stage.run([_message(0, notes)]).results
    record = result.record
    assert record.entity_counts == {"CN_MOBILE": 1}
    assert record.subjects == [pseudonym(PHONE, "CN_MOBILE", KEY)]
    assert pseudonym(PHONE, "CN_MOBILE", KEY) in record.text
    # No group of the number survives, in any of the spellings the notes or the packs used.
    for group in ("138", "1234", "5678", "١٣٨", "１２３４"):
        assert group not in record.text
