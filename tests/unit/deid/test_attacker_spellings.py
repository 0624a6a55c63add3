"""The attacker's spellings: every formatting trick that hides an identifier from a regular expression, one row
each, and the ordinary text that must come through untouched.

Each row asserts the strongest outcome: the output is exactly the surrounding original text with one pseudonym
in place of the identifier (so no digit, numeral or invisible character of it survives), the entity is counted,
and the pseudonym is the one every other spelling of the same number gets.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.deid.detection_view import DetectionView, detection_views
from models.deid.engine import PresidioDeidentifier
from models.deid.entity_types import IDENTIFIER_TYPES
from models.deid.lookup import recognised_as
from models.deid.pseudonyms import pseudonym

from ._helpers import luhn, resident_id, uscc
from .conftest import KEY

PHONE = "13812345678"
PHONE_WITH_ZEROS = "13800138000"
ID = resident_id("110101", "19900307", "457")
ID_X = resident_id("110105", "19491231", "002")  # ends in X
CARD = luhn("622202123456789")
EMAIL = "zhang.wei@example.com"
IP = "192.168.10.23"

ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"
PERSIAN = "۰۱۲۳۴۵۶۷۸۹"
DEVANAGARI = "०१२३४५६७८९"
FULLWIDTH = "０１２３４５６７８９"
MATH_BOLD = "".join(chr(0x1D7CE + digit) for digit in range(10))
MATH_MONOSPACE = "".join(chr(0x1D7F6 + digit) for digit in range(10))
CIRCLED = "⓪①②③④⑤⑥⑦⑧⑨"
CHINESE = "〇一二三四五六七八九"
CHINESE_LING = "零一二三四五六七八九"
TELEPHONE = "洞幺两三四五六七八九".replace("洞", "〇")  # 幺 for 1 and 两 for 2, as read out on the phone
FINANCIAL = "零壹贰叁肆伍陆柒捌玖"


def spelled(value: str, digits: str) -> str:
    """``value`` with each ASCII digit written as the digit of the same value in ``digits``."""
    return "".join(digits[int(char)] if char.isdigit() else char for char in value)


def grouped(value: str, sizes: tuple[int, ...], separator: str) -> str:
    """``value`` cut into groups of ``sizes`` joined by ``separator``."""
    groups, start = [], 0
    for size in sizes:
        groups.append(value[start : start + size])
        start += size
    assert start == len(value)
    return separator.join(groups)


def phone(separator: str) -> str:
    return grouped(PHONE, (3, 4, 4), separator)


BEFORE, AFTER = "备注：", "，请回电。"

# (trick, text before, the spelling, text after, entity type, the value in its canonical spelling)
SPELLINGS: list[tuple[str, str, str, str, str, str]] = [
    # Invisible format characters between digit groups, or between every digit.
    *[
        (f"phone-{name}", BEFORE, phone(char), AFTER, "CN_MOBILE", PHONE)
        for name, char in [
            ("zwnj", "\u200c"),
            ("zwj", "\u200d"),
            ("cgj", "\u034f"),
            ("zwsp", "\u200b"),
            ("word-joiner", "\u2060"),
            ("soft-hyphen", "\u00ad"),
            ("bom", "\ufeff"),
            ("lrm", "\u200e"),
            ("rlm", "\u200f"),
            ("variation-selector", "\ufe0f"),
            ("hangul-filler", "\u3164"),
        ]
    ],
    ("phone-zwsp-every-digit", BEFORE, "\u200b".join(PHONE), AFTER, "CN_MOBILE", PHONE),
    ("phone-mixed-format-chars", BEFORE, "1\u200b38\u200c12\u00ad34\u2060567\ufeff8", AFTER, "CN_MOBILE", PHONE),
    ("id-zwsp", BEFORE, grouped(ID, (6, 8, 4), "\u200b"), AFTER, "CN_RESIDENT_ID", ID),
    ("card-zwnj", BEFORE, grouped(CARD, (4, 4, 4, 4), "\u200c"), AFTER, "BANK_CARD", CARD),
    ("email-zwsp", BEFORE, "zhang\u200b.wei@exam\u00adple.com", AFTER, "EMAIL_ADDRESS", EMAIL),
    # Separators other than a space or a dash, and odd groupings.
    *[
        (f"phone-separator-{name}", BEFORE, phone(separator), AFTER, "CN_MOBILE", PHONE)
        for name, separator in [
            ("dot", "."),
            ("slash", "/"),
            ("middle-dot", "·"),
            ("fullwidth-dot", "．"),
            ("fullwidth-slash", "／"),
            ("en-dash", "–"),
            ("em-dash", "—"),
            ("underscore", "_"),
            ("no-break-space", "\u00a0"),
            ("spaced-dash", " - "),
            ("two-spaces", "  "),
        ]
    ],
    ("phone-mixed-separators", BEFORE, "138.1234-5678", AFTER, "CN_MOBILE", PHONE),
    ("phone-4-3-4", BEFORE, grouped(PHONE, (4, 3, 4), " "), AFTER, "CN_MOBILE", PHONE),
    ("phone-3-8-slash", BEFORE, grouped(PHONE, (3, 8), "/"), AFTER, "CN_MOBILE", PHONE),
    ("phone-2-4-5", BEFORE, grouped(PHONE, (2, 4, 5), " "), AFTER, "CN_MOBILE", PHONE),
    ("phone-every-digit-spaced", BEFORE, " ".join(PHONE), AFTER, "CN_MOBILE", PHONE),
    ("phone-prefix-dots", BEFORE, "+86.138.1234.5678", AFTER, "CN_MOBILE", PHONE),
    ("phone-prefix-slashes", BEFORE, "0086/138/1234/5678", AFTER, "CN_MOBILE", PHONE),
    ("phone-prefix-regrouped", BEFORE, "+86 1381 234 5678", AFTER, "CN_MOBILE", PHONE),
    ("id-6-4-4-4", BEFORE, grouped(ID, (6, 4, 4, 4), " "), AFTER, "CN_RESIDENT_ID", ID),
    ("id-3-3-4-4-4", BEFORE, grouped(ID, (3, 3, 4, 4, 4), " "), AFTER, "CN_RESIDENT_ID", ID),
    ("id-dots", BEFORE, grouped(ID, (6, 8, 4), "."), AFTER, "CN_RESIDENT_ID", ID),
    ("id-slashes", BEFORE, grouped(ID, (6, 4, 4, 4), "/"), AFTER, "CN_RESIDENT_ID", ID),
    ("id-with-x-6-4-4-4", BEFORE, grouped(ID_X, (6, 4, 4, 4), " "), AFTER, "CN_RESIDENT_ID", ID_X),
    ("card-dots", BEFORE, grouped(CARD, (4, 4, 4, 4), "."), AFTER, "BANK_CARD", CARD),
    ("card-slashes", BEFORE, grouped(CARD, (4, 4, 4, 4), "/"), AFTER, "BANK_CARD", CARD),
    # Digits glued to letters.
    *[
        (f"phone-glued-{cue}", f"{BEFORE}{cue}", PHONE, AFTER, "CN_MOBILE", PHONE)
        for cue in ("Tel", "TEL", "tel", "Mobile", "Phone", "Cell", "call")
    ],
    ("phone-glued-after", BEFORE, PHONE, "ext12，请回电。", "CN_MOBILE", PHONE),
    ("phone-glued-with-prefix", f"{BEFORE}Tel", "+8613812345678", AFTER, "CN_MOBILE", PHONE),
    ("phone-glued-dotted", f"{BEFORE}Tel", "138.1234.5678", AFTER, "CN_MOBILE", PHONE),
    ("phone-glued-chinese-cue", f"{BEFORE}手机", PHONE, AFTER, "CN_MOBILE", PHONE),
    ("id-glued-ID", f"{BEFORE}ID", ID, AFTER, "CN_RESIDENT_ID", ID),
    ("id-glued-chinese-cue", f"{BEFORE}身份证", ID, AFTER, "CN_RESIDENT_ID", ID),
    ("id-with-x-glued-both-sides", f"{BEFORE}ID", ID_X.lower(), "tel", "CN_RESIDENT_ID", ID_X),
    ("card-glued", f"{BEFORE}Card", CARD, AFTER, "BANK_CARD", CARD),
    # Chinese numerals.
    ("phone-chinese-numerals", BEFORE, spelled(PHONE, CHINESE), AFTER, "CN_MOBILE", PHONE),
    ("phone-chinese-zero-〇", BEFORE, spelled(PHONE_WITH_ZEROS, CHINESE), AFTER, "CN_MOBILE", PHONE_WITH_ZEROS),
    ("phone-chinese-zero-零", BEFORE, spelled(PHONE_WITH_ZEROS, CHINESE_LING), AFTER, "CN_MOBILE", PHONE_WITH_ZEROS),
    ("phone-telephone-幺-两", BEFORE, spelled(PHONE, TELEPHONE), AFTER, "CN_MOBILE", PHONE),
    ("phone-financial-numerals", BEFORE, spelled(PHONE, FINANCIAL), AFTER, "CN_MOBILE", PHONE),
    ("phone-chinese-grouped", BEFORE, grouped(spelled(PHONE, CHINESE), (3, 4, 4), " "), AFTER, "CN_MOBILE", PHONE),
    ("phone-chinese-mixed-with-digits", BEFORE, "138一二三四5678", AFTER, "CN_MOBILE", PHONE),
    ("phone-chinese-then-word", BEFORE, spelled(PHONE, CHINESE), "号码，请回电。", "CN_MOBILE", PHONE),
    ("id-chinese-numerals", BEFORE, spelled(ID, CHINESE), AFTER, "CN_RESIDENT_ID", ID),
    ("card-chinese-numerals", BEFORE, spelled(CARD, CHINESE_LING), AFTER, "BANK_CARD", CARD),
    ("phone-circled-digits", BEFORE, spelled(PHONE, CIRCLED), AFTER, "CN_MOBILE", PHONE),
    # Decimal digits of other scripts.
    *[
        (f"phone-digits-{name}", BEFORE, spelled(PHONE, digits), AFTER, "CN_MOBILE", PHONE)
        for name, digits in [
            ("arabic-indic", ARABIC_INDIC),
            ("persian", PERSIAN),
            ("devanagari", DEVANAGARI),
            ("fullwidth", FULLWIDTH),
            ("math-bold", MATH_BOLD),
            ("math-monospace", MATH_MONOSPACE),
        ]
    ],
    ("phone-digits-mixed-scripts", BEFORE, "1٣8१2３4𝟓6۷8", AFTER, "CN_MOBILE", PHONE),
    ("id-arabic-indic", BEFORE, spelled(ID, ARABIC_INDIC), AFTER, "CN_RESIDENT_ID", ID),
    (
        "card-devanagari-grouped",
        BEFORE,
        grouped(spelled(CARD, DEVANAGARI), (4, 4, 4, 4), " "),
        AFTER,
        "BANK_CARD",
        CARD,
    ),
    ("ip-arabic-indic", BEFORE, spelled(IP, ARABIC_INDIC), AFTER, "IP_ADDRESS", IP),
    # Tricks stacked.
    (
        "phone-glued-arabic-dots",
        f"{BEFORE}TEL",
        grouped(spelled(PHONE, ARABIC_INDIC), (3, 4, 4), "."),
        AFTER,
        "CN_MOBILE",
        PHONE,
    ),
    (
        "phone-numerals-zwsp-slashes",
        BEFORE,
        grouped(spelled(PHONE, TELEPHONE), (3, 4, 4), "\u200b/"),
        AFTER,
        "CN_MOBILE",
        PHONE,
    ),
]


@pytest.fixture(scope="module")
def engine() -> PresidioDeidentifier:
    return PresidioDeidentifier(pseudonym_key=KEY, operators={}, ner_enabled=False)


@pytest.mark.parametrize(
    ("before", "spelling", "after", "entity_type", "canonical"),
    [row[1:] for row in SPELLINGS],
    ids=[row[0] for row in SPELLINGS],
)
def test_every_spelling_is_replaced_whole_by_the_pseudonym_of_the_canonical_value(
    engine: PresidioDeidentifier, before: str, spelling: str, after: str, entity_type: str, canonical: str
) -> None:
    text = before + spelling + after
    result = engine.deidentify_batch([text])[0]
    token = pseudonym(canonical, entity_type, KEY)
    # Exactly the identifier is replaced: the text around it is kept, and nothing of the spelling survives.
    assert result.text == before + token + after
    assert spelling not in result.text and canonical not in result.text
    assert result.entity_counts == {entity_type: 1}
    (entity,) = result.entities
    assert text[entity.start : entity.end] == spelling
    if entity_type in IDENTIFIER_TYPES:
        assert result.subjects == (token,)


@pytest.mark.parametrize(
    ("spelling", "entity_type", "canonical"),
    [(row[2], row[4], row[5]) for row in SPELLINGS],
    ids=[row[0] for row in SPELLINGS],
)
def test_every_spelling_is_recognised_by_the_lookup_and_has_the_same_pseudonym(
    spelling: str, entity_type: str, canonical: str
) -> None:
    assert recognised_as(spelling, entity_type) is True
    assert pseudonym(spelling, entity_type, KEY) == pseudonym(canonical, entity_type, KEY)


# --- what must come through unchanged --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "我们一起吃饭，第一次见面是一个月前，一些人三三两两地来了，乱七八糟，一二三四五六七八九十。",
        "零零散散，壹佰贰拾元整，两三个人，一五一十地说了。",
        "订单SO-46342748已发货，单号SO46342748，退货单RMA-2026-1120-0001。",
        "日期2026.11.20，另约2026/11/20或2026-11-20 14:30。",
        "金额1381234.5678元，版本10.0.19041.1234，分辨率1920x1080。",
        "脚注①②③，上标10⁹/L，序号⑴⑵。",
        "Order No.46342748 shipped on 2026.11.20 at 13.45.",
    ],
)
def test_ordinary_text_with_numerals_dates_and_order_numbers_is_unchanged(
    engine: PresidioDeidentifier, text: str
) -> None:
    result = engine.deidentify_batch([text])[0]
    assert (result.text, result.entities) == (text, ())


def test_a_date_next_to_a_phone_stays_a_date(engine: PresidioDeidentifier) -> None:
    result = engine.deidentify_batch([f"2026.11.20 {PHONE} 来电"])[0]
    assert result.text == f"2026.11.20 {pseudonym(PHONE, 'CN_MOBILE', KEY)} 来电"


@pytest.mark.parametrize("address", ["192.168.100.10", "192．168．100．10", "١٩٢.١٦٨.١٠٠.١٠"])
def test_an_ip_address_whose_digits_could_spell_a_phone_stays_an_ip_address(
    engine: PresidioDeidentifier, address: str
) -> None:
    result = engine.deidentify_batch([f"登录IP {address} 失败"])[0]
    assert [entity.type for entity in result.entities] == ["IP_ADDRESS"]


def test_a_numeral_word_after_a_phone_does_not_hide_the_phone(engine: PresidioDeidentifier) -> None:
    # 一 in 一直 is a word, not an eleventh-plus-one digit.
    result = engine.deidentify_batch([f"手机{PHONE}一直打不通"])[0]
    assert result.text == f"手机{pseudonym(PHONE, 'CN_MOBILE', KEY)}一直打不通"


def test_two_phones_held_apart_by_an_invisible_character_stay_two_phones(engine: PresidioDeidentifier) -> None:
    other = "13912345678"
    result = engine.deidentify_batch([f"{PHONE}\u200b{other}"])[0]
    # The invisible character belongs to neither number, so it stays between their pseudonyms.
    assert result.text == pseudonym(PHONE, "CN_MOBILE", KEY) + "\u200b" + pseudonym(other, "CN_MOBILE", KEY)


def test_an_id_glued_to_a_phone_is_both(engine: PresidioDeidentifier) -> None:
    result = engine.deidentify_batch([f"{ID_X}{PHONE}"])[0]
    assert result.text == pseudonym(ID_X, "CN_RESIDENT_ID", KEY) + pseudonym(PHONE, "CN_MOBILE", KEY)


def test_a_credit_code_with_letters_before_its_digits_stays_a_credit_code(engine: PresidioDeidentifier) -> None:
    # Splitting letters from long digit runs must not cut a USCC (…MA + 8 characters) into a phone or nothing.
    code = uscc("91110108MA0123456")
    result = engine.deidentify_batch([f"信用代码{code}，Tel{PHONE}"])[0]
    assert [entity.type for entity in result.entities] == ["CN_USCC", "CN_MOBILE"]


def test_a_glued_order_number_is_not_a_phone(engine: PresidioDeidentifier) -> None:
    text = "SO46342748123 and INV2026112000"
    assert engine.deidentify_batch([text])[0].entities == ()


# --- the views themselves ---------------------------------------------------------------------------


def test_plain_ascii_text_is_its_own_only_view() -> None:
    assert detection_views(f"call {PHONE} now") == (DetectionView(f"call {PHONE} now"),)


def test_the_regrouped_view_maps_each_identifier_back_to_its_original_span() -> None:
    text = "Tel\u200b138.1234.5678，ID 110101 1990 0307 457" + ID[-1]
    folded, regrouped = detection_views(text)
    assert folded.text == "Tel138.1234.5678,ID 110101 1990 0307 457" + ID[-1]
    assert regrouped.text == f"Tel {PHONE},ID {ID}"
    phone_at = regrouped.text.index(PHONE)
    id_at = regrouped.text.index(ID)
    assert regrouped.original_span(phone_at, phone_at + len(PHONE)) == (4, 17)
    assert regrouped.original_span(id_at, id_at + len(ID)) == (21, len(text))


_ALPHABET = "0123456789" + "一二三幺两〇零①٣१３" + " .-/·．\u200b\u200c\u00ad\n" + "TelIDXx+86手机号，"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=_ALPHABET, max_size=60))
def test_views_map_every_character_into_the_original_in_order(engine: PresidioDeidentifier, text: str) -> None:
    for view in detection_views(text):
        spans = [view.original_span(index, index + 1) for index in range(len(view.text))]
        assert all(0 <= start <= end <= len(text) for start, end in spans)
        assert [start for start, _ in spans] == sorted(start for start, _ in spans)
    # Whatever the views find, the engine's entities are ordered, disjoint spans of the original text.
    entities = engine.deidentify_batch([text])[0].entities
    bounds = [(entity.start, entity.end) for entity in entities]
    assert all(0 <= start < end <= len(text) for start, end in bounds)
    assert all(previous[1] <= following[0] for previous, following in itertools.pairwise(bounds))
