"""Labelled free text for the de-identification evaluation: demo-style ERP/CRM/log notes with every planted span.

The same kind of text the demo sends (agents/demo/data.py, whose value generators it reuses), written as clauses
that a seed picks and joins, so each planted value's offsets are known: document numbers, SKUs and trace ids that
must survive verbatim, person names (Chinese, English, and either inside the other language), public place names
that are not personal data, and the structured PII that must never survive.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from faker import Faker

from agents.demo.data import bank_card, phone_spelling, uscc

# Kinds of planted value that are not PII: they must come out exactly as they went in.
PROTECTED_KINDS = ("DOCUMENT_NUMBER", "SKU", "TRACE_ID")
# Country and city names: business facts in an answer ("ships from France"), kept under the default operators.
PLACE_KIND = "PLACE"
PERSON_KIND = "PERSON"
# The structured PII the pattern recognizers own (entity_types.PATTERN_TYPES); none may survive.
STRUCTURED_KINDS = ("CN_MOBILE", "CN_RESIDENT_ID", "BANK_CARD", "CN_USCC", "EMAIL_ADDRESS", "IP_ADDRESS")

_DOCUMENT_PREFIXES = ("SO", "INV", "PO", "DN", "RMA", "GRN")
_PLACES_EN = ("France", "Paris", "Germany", "Berlin", "Japan", "Tokyo", "Shanghai", "Singapore", "London", "Spain")
_PLACES_ZH = ("北京", "上海", "深圳", "广州", "杭州", "成都", "法国", "德国", "日本", "新加坡")


@dataclass(frozen=True)
class Planted:
    """One planted value: its kind and its span in the text."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class LabelledText:
    """A text, the languages its words are in ("en", "zh" or "mixed"), and what was planted in it."""

    text: str
    language: str
    planted: tuple[Planted, ...]

    def value(self, planted: Planted) -> str:
        return self.text[planted.start : planted.end]


# Clauses by the language of their words; {slots} are filled and labelled by _Writer. Slots: en/zh (names),
# doc, sku, trace, phone, email, id, card, uscc, ip, place_en, place_zh.
_EN_CLAUSES = (
    "Customer {en} asked about order {doc} and invoice {doc}; call back on {phone}.",
    "Deliver {doc} before Friday; contact {en} on {phone}.",
    "Follow-up call with {en}: wants a quote for 200 units of {sku}, reply to {email}.",
    "Met {en} at the {place_en} expo; ID on file {id}.",
    "{en} reported that {doc} was paid twice (trace {trace}).",
    "ERP sync failed for {doc}, request {trace}; CRM owner {en} was notified.",
    "Invoice {doc} for {doc} sent to {email}; ship to {place_en}.",
    "Dear {en}, your order {doc} ({sku}) left our {place_en} warehouse.",
    "API error on {doc}: trace_id={trace} user={email} ip={ip}",
    "Hi {en}, {sku} is back in stock and {doc} will ship from {place_en}.",
    "Refund for {doc} approved by {en}; card {card} credited.",
    "The CRM shows {en} as buyer for {doc}; SKU {sku} backordered.",
    "{en} and {en} signed off {doc} in the ERP.",
    "Login failed for {email} from {ip} while opening {doc}.",
    "Supplier contact {en} confirmed {sku} and {doc}, tax id {uscc}.",
    "Order {doc} for {en}: 3 x {sku}, delivered to {place_en}.",
)
_ZH_CLAUSES = (
    "客户{zh}要求加急发货，订单号{doc}，联系电话{phone}。",
    "发票{doc}已开具，统一社会信用代码{uscc}，付款卡号{card}。",
    "退货原因：包装破损。经办人{zh}，回访电话{phone}，原订单{doc}。",
    "{zh}来电投诉物流太慢，身份证号{id}，订单{doc}，已安抚。",
    "回访客户{zh}，对方表示满意，邮箱{email}，下周再联系。",
    "采购单{doc}由{zh}审批，物料编码{sku}，送货单{doc}。",
    "{zh}在{place_zh}仓库签收了{doc}。",
    "联系人：{zh}，手机{phone}，发货地{place_zh}。",
    "{zh}和{zh}一起核对了发票{doc}。",
    "系统日志：订单{doc}同步失败，追踪号{trace}。",
)
# Mixed clauses: Chinese text with English names or words, English text with Chinese names.
_MIXED_CLAUSES = (
    "客户{en}要求修改订单{doc}，联系电话{phone}。",
    "请联系{en}确认发票{doc}，邮箱{email}。",
    "{zh}和{en}在{place_zh}见面，讨论了订单{doc}。",
    "Customer {zh} called about {doc}; phone {phone}.",
    "Please ask {zh} to approve {doc} in the ERP.",
    "经理{en}已批准退款，发票{doc}，SKU {sku}。",
    "Met {zh} and {en} in {place_en}; quote for {sku} sent to {email}.",
    "{en}来电说{doc}还没到，身份证号{id}。",
    "销售{zh} emailed {en} about invoice {doc}.",
    "CRM备注：{en}（{place_en}）对{sku}有兴趣，trace {trace}。",
    "Contact person：{zh}，Tel {phone}，order {doc}",
    "{zh} from our {place_en} office will meet {en} next week about {doc}.",
    "{en}在ERP里下单{doc}，{zh}负责发货。",
    "Spoke to {zh} (采购) about {doc}, needs {sku} by Friday.",
    "{zh}先生 and {en} agreed on {doc}.",
    "收件人{en}，地址在{place_zh}，运单{doc}。",
)
_LANGUAGES = (("en", _EN_CLAUSES), ("zh", _ZH_CLAUSES), ("mixed", _MIXED_CLAUSES))


class _Writer:
    """Builds one text from clauses, recording the span of every value it writes into a slot."""

    def __init__(self, values: Callable[[str], tuple[str, str]]) -> None:
        self._values = values
        self._text: list[str] = []
        self._length = 0
        self.planted: list[Planted] = []

    def write(self, literal: str) -> None:
        self._text.append(literal)
        self._length += len(literal)

    def clause(self, template: str) -> None:
        for literal, slot, _, _ in string.Formatter().parse(template):
            self.write(literal)
            if slot is None:
                continue
            kind, value = self._values(slot)
            self.planted.append(Planted(kind, self._length, self._length + len(value)))
            self.write(value)

    @property
    def text(self) -> str:
        return "".join(self._text)


class DeidCorpus:
    """Labelled texts from one seed; the same seed always gives the same texts."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.zh = Faker("zh_CN")
        self.en = Faker("en_US")
        self.zh.seed_instance(seed)
        self.en.seed_instance(seed + 1)

    def _digits(self, count: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(count))

    def document_number(self) -> str:
        """SO-46342748, INV32954502, PO-2026-004411: how ERP systems print document numbers."""
        prefix = self.rng.choice(_DOCUMENT_PREFIXES)
        shape = self.rng.random()
        if shape < 0.7:
            return f"{prefix}-{self._digits(8)}"
        if shape < 0.85:
            return f"{prefix}{self._digits(8)}"
        return f"{prefix}-{self.rng.choice(('2025', '2026'))}-{self._digits(6)}"

    def sku(self) -> str:
        if self.rng.random() < 0.6:
            return f"SKU-{self._digits(self.rng.choice((4, 5, 6)))}"
        letters = "".join(self.rng.choice(string.ascii_uppercase) for _ in range(2))
        return f"{letters}-{self._digits(4)}-{self.rng.choice(('BLK', 'XL', 'A2', 'V3'))}"

    def trace_id(self) -> str:
        shape = self.rng.random()
        if shape < 0.4:
            return f"{self.rng.getrandbits(64):016x}"
        if shape < 0.7:
            return f"{self.rng.getrandbits(128):032x}"
        raw = f"{self.rng.getrandbits(128):032x}"
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"

    def _mobile(self) -> str:
        return "1" + self.rng.choice("3456789") + self._digits(9)

    def _value(self, slot: str) -> tuple[str, str]:
        makers: dict[str, Callable[[], tuple[str, str]]] = {
            "en": lambda: (PERSON_KIND, f"{self.en.first_name()} {self.en.last_name()}"),
            "zh": lambda: (PERSON_KIND, self.zh.name()),
            "doc": lambda: ("DOCUMENT_NUMBER", self.document_number()),
            "sku": lambda: ("SKU", self.sku()),
            "trace": lambda: ("TRACE_ID", self.trace_id()),
            "phone": lambda: ("CN_MOBILE", phone_spelling(self._mobile(), self.rng)),
            "email": lambda: ("EMAIL_ADDRESS", self.en.email()),
            "id": lambda: ("CN_RESIDENT_ID", self.zh.ssn()),
            "card": lambda: ("BANK_CARD", bank_card(self.rng)),
            "uscc": lambda: ("CN_USCC", uscc(self.rng)),
            "ip": lambda: ("IP_ADDRESS", self.en.ipv4_public()),
            "place_en": lambda: (PLACE_KIND, self.rng.choice(_PLACES_EN)),
            "place_zh": lambda: (PLACE_KIND, self.rng.choice(_PLACES_ZH)),
        }
        return makers[slot]()

    def text(self) -> LabelledText:
        """One or two clauses; two clauses of different languages make a mixed text."""
        writer = _Writer(self._value)
        languages = set()
        for index in range(self.rng.choice((1, 1, 2))):
            language, clauses = self.rng.choice(_LANGUAGES)
            languages.add(language)
            if index:
                writer.write(" ")
            writer.clause(self.rng.choice(clauses))
        language = languages.pop() if len(languages) == 1 else "mixed"
        return LabelledText(writer.text, language, tuple(writer.planted))

    def texts(self, count: int) -> list[LabelledText]:
        return [self.text() for _ in range(count)]
