"""De-identification that keeps business value: identifiers, role words and place names survive; PII does not."""

from __future__ import annotations

import re

import pytest

from models.deid.engine import DeidResult, PresidioDeidentifier
from models.deid.pseudonyms import pseudonym
from models.packs.linear_regex import compile_linear

from ._helpers import luhn, resident_id
from .conftest import KEY

# The shipped defaults for the NER types (agents/core/settings.py DEFAULT_OPERATORS); identifiers use pseudonyms.
OPERATORS = {"PLACE": "keep", "ADDRESS": "replace", "LOCATION": "replace", "ORGANIZATION": "replace"}
PERSON_PSEUDONYM = re.compile(r"<PERSON_[0-9a-f]{16}>")


@pytest.fixture(scope="module")
def engine() -> PresidioDeidentifier:
    return PresidioDeidentifier(pseudonym_key=KEY, operators=OPERATORS)


def one(engine: PresidioDeidentifier, text: str, **kwargs: object) -> DeidResult:
    return engine.deidentify_batch([text], **kwargs)[0]  # type: ignore[arg-type]


def test_order_numbers_survive_verbatim_among_a_name_and_a_phone(engine: PresidioDeidentifier) -> None:
    text = "客户Evelyn Nguyen（电话13812345678）下单SO-46342748，发票INV-32954502，物料SKU-4821。"
    result = one(engine, text)
    assert result.text == (
        f"客户{pseudonym('Evelyn Nguyen', 'PERSON', KEY)}（电话{pseudonym('13812345678', 'CN_MOBILE', KEY)}）"
        "下单SO-46342748，发票INV-32954502，物料SKU-4821。"
    )


@pytest.mark.parametrize(
    "text",
    [
        "ERP sync failed for PO-12345678, SKU-4821, trace 3f9a1c2b7d0e4f61",
        "Hi Derrick Dixon, LP-7218-A2 is back in stock and SO-22225418 will ship from Spain.",
        "Please ask 宗辉 to approve RMA-88136243 in the ERP.",
        "CRM备注：Sandy Mason（Germany）对SKU-835806有兴趣，trace dc7a92835604c3b667be9998f86668c1。",
    ],
)
def test_identifiers_the_ner_model_mislabels_are_kept(engine: PresidioDeidentifier, text: str) -> None:
    # Each of these identifiers was tagged PERSON, ORG or LOCATION by spaCy before they were protected.
    result = one(engine, text)
    for identifier in re.findall(r"\b[A-Z]{2,3}-[0-9A-Z-]+\b|\b[0-9a-f]{16,}\b", text):
        assert identifier in result.text


def test_customer_stays_outside_the_pseudonym(engine: PresidioDeidentifier) -> None:
    result = one(engine, "Customer Evelyn Nguyen asked about SO-46342748 via ERP.")
    assert result.text == f"Customer {pseudonym('Evelyn Nguyen', 'PERSON', KEY)} asked about SO-46342748 via ERP."


def test_a_person_gets_one_pseudonym_with_or_without_a_title(engine: PresidioDeidentifier) -> None:
    texts = ["Dr. Alice Brown called.", "Alice Brown called.", "Customer Alice Brown called."]
    pseudonyms = {tuple(PERSON_PSEUDONYM.findall(result.text)) for result in engine.deidentify_batch(texts)}
    assert pseudonyms == {(pseudonym("Alice Brown", "PERSON", KEY),)}


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("经理Katrina Mills已批准退款，请联系Brandi Morris确认。", ["Katrina Mills", "Brandi Morris"]),
        ("Met 陆敏 and Susan Mccarthy in Tokyo; Customer 段凤兰 called.", ["陆敏", "Susan Mccarthy", "段凤兰"]),
        ("客户张伟和Evelyn Nguyen在上海见面。", ["张伟", "Evelyn Nguyen"]),
    ],
)
def test_names_in_mixed_chinese_english_text_are_found(
    engine: PresidioDeidentifier, text: str, names: list[str]
) -> None:
    result = one(engine, text)
    persons = [text[entity.start : entity.end] for entity in result.entities if entity.type == "PERSON"]
    assert persons == names
    assert not any(name in result.text for name in names)


@pytest.mark.parametrize(
    ("order_number", "entity_type", "value"),
    [
        ("SO-" + resident_id("110105", "19491231", "002"), "CN_RESIDENT_ID", resident_id("110105", "19491231", "002")),
        ("INV-" + luhn("622202123456789"), "BANK_CARD", luhn("622202123456789")),
        ("PO-13812345678", "CN_MOBILE", "13812345678"),
    ],
)
def test_pii_shaped_like_an_order_number_is_still_replaced(
    engine: PresidioDeidentifier, order_number: str, entity_type: str, value: str
) -> None:
    # Protection applies to NER only: the checksum and phone recognizers run first and are never overruled, not
    # even by a pack pattern that matches the whole token.
    text = f"Refund {order_number} for Evelyn Nguyen."
    for protected in ((), (compile_linear(r"[A-Z]+-[0-9]+"),)):
        result = one(engine, text, protected=protected)
        assert value not in result.text
        assert [entity.type for entity in result.entities] == [entity_type, "PERSON"]
        assert pseudonym(value, entity_type, KEY) in result.text + "".join(result.subjects)


def test_a_pack_pattern_keeps_a_tenant_format_that_ner_takes_for_a_name(engine: PresidioDeidentifier) -> None:
    # A tenant's project codes are a word and a number; spaCy reads this one as a person.
    text = "Reference Morgan-1234 was approved by Evelyn Nguyen."
    assert "Morgan-1234" not in one(engine, text).text
    result = one(engine, text, protected=(compile_linear(r"[A-Z][a-z]+-[0-9]{4}"),))
    assert result.text == f"Reference Morgan-1234 was approved by {pseudonym('Evelyn Nguyen', 'PERSON', KEY)}."


def test_business_acronyms_are_not_entities(engine: PresidioDeidentifier) -> None:
    result = one(engine, "The API and CRM and SKU and ERP were down; HR asked IT.")
    assert result.entities == ()


def test_public_places_are_kept_and_addresses_replaced(engine: PresidioDeidentifier) -> None:
    text = "Order SO-46342748 shipped from France to 12 Baker Street, Paris; 北京仓库已发货。"
    result = one(engine, text)
    assert result.text == "Order SO-46342748 shipped from France to <ADDRESS>, Paris; 北京仓库已发货。"
    assert [entity.type for entity in result.entities] == ["PLACE", "ADDRESS", "PLACE", "PLACE"]


def test_a_chinese_street_address_is_replaced_whole(engine: PresidioDeidentifier) -> None:
    result = one(engine, "送货地址：北京市海淀区学院路12号3栋，联系人王伟。")
    assert result.text == f"送货地址：<ADDRESS>，联系人{pseudonym('王伟', 'PERSON', KEY)}。"


def test_a_name_the_model_calls_a_place_is_never_kept(engine: PresidioDeidentifier) -> None:
    for text in ("Tami Conway reported that RMA-17309365 was paid twice.", "收件人Shannon Hall，地址在法国。"):
        result = one(engine, text)
        assert "Conway" not in result.text and "Shannon" not in result.text
